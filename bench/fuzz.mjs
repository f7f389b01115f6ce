/**
 * Long fuzzing runs: `npm run build && node bench/fuzz.mjs` fuzzes every target for 30 minutes
 * (`--seconds <n>`, `--target config|ads`, `--seed <n>` as `npm run fuzz` takes them). CI runs the
 * bounded form, `npm run fuzz -- --bounded` (a minute per target). A failure is shrunk and kept in
 * `libs/fuzz/corpus/<target>/` as a finding, which the regression tests replay from then on.
 */
import { main } from '../libs/fuzz/dist/run.js';

await main(process.argv.slice(2));
