/**
 * CLI start-up: wall-clock time of whole `skiffctl` runs, median of N (hyperfine-style), after
 * `npm run build`. Most of a one-ServiceEntry `skiffctl translate` (the seed example) is Node start-up and module loading,
 * so this is what a change to the CLI's imports moves.
 *
 *   node bench/cli-startup.mjs [--runs N] [--warmup N]
 *
 * Each command runs `--warmup` times unmeasured (file cache, V8 compile cache when enabled), then
 * `--runs` times; printed: median, min and max in milliseconds. `node -e 0` is the floor: Node alone.
 */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/stats.mjs';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SKIFFCTL = join(REPO_ROOT, 'apps', 'skiffctl', 'bin', 'skiffctl.js');

/** The seed example: one ServiceEntry and the WorkloadEntry it selects. */
const INPUT = join(REPO_ROOT, 'examples', 'seed', 'example-app.yaml');

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '15' }, warmup: { type: 'string', default: '2' } },
  strict: true,
});
const runs = Number(values.runs);
const warmup = Number(values.warmup);

const commands = [
  { name: 'node -e 0 (Node alone)', args: ['-e', '0'] },
  { name: 'skiffctl --version', args: [SKIFFCTL, '--version'] },
  { name: 'skiffctl validate (seed example)', args: [SKIFFCTL, 'validate', '-f', INPUT] },
  { name: 'skiffctl translate (seed example)', args: [SKIFFCTL, 'translate', '-f', INPUT] },
];

function timeOnce(args) {
  const started = process.hrtime.bigint();
  execFileSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return Number(process.hrtime.bigint() - started) / 1e6;
}

console.log(`CLI start-up, median of ${runs} runs after ${warmup} warm-up runs; Node ${process.version}, load average ${loadavg()[0].toFixed(2)}`);
for (const command of commands) {
  for (let i = 0; i < warmup; i++) timeOnce(command.args);
  const times = Array.from({ length: runs }, () => timeOnce(command.args)).sort((a, b) => a - b);
  const ms = (value) => value.toFixed(0).padStart(5);
  console.log(`${command.name.padEnd(40)} median ${ms(median(times))} ms   min ${ms(times[0])}   max ${ms(times[times.length - 1])}`);
}
