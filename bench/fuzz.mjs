/**
 * Long fuzzing runs: `npm run build && node bench/fuzz.mjs` fuzzes every target for 30 minutes under each
 * engine, coverage-guided Jazzer.js and grammar-based fast-check (`--seconds <n>`, `--target config|ads`,
 * `--engine jazzer|fast-check`, `--seed <n>` as `npm run fuzz` takes them). The inputs Jazzer.js adds are
 * kept between runs in `~/.cache/skiff/fuzz-corpus/<target>` (`--work <dir>` to choose), so each long run
 * starts where the last one stopped. CI runs the bounded form, `npm run fuzz -- --bounded` (a minute per
 * target and engine). A failure is kept in `libs/fuzz/corpus/<target>/` as a finding, which the
 * regression tests replay from then on.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { main } from '../libs/fuzz/dist/run.js';

const argv = process.argv.slice(2);
if (!argv.includes('--work')) argv.push('--work', join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'skiff', 'fuzz-corpus'));
await main(argv);
