/**
 * CLI start-up: wall-clock time of whole `skiffctl` runs, median of N (hyperfine-style), after
 * `npm run build`. Most of a one-ServiceEntry `skiffctl translate` is Node start-up and module loading,
 * so this is what a change to the CLI's imports moves.
 *
 *   node bench/cli-startup.mjs [--runs N] [--warmup N]
 *
 * Each command runs `--warmup` times unmeasured (file cache, V8 compile cache when enabled), then
 * `--runs` times; printed: median, min and max in milliseconds. `node -e 0` is the floor: Node alone.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SKIFFCTL = join(REPO_ROOT, 'apps', 'skiffctl', 'bin', 'skiffctl.js');

const ONE_SERVICE_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: demo}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
`;

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '15' }, warmup: { type: 'string', default: '2' } },
  strict: true,
});
const runs = Number(values.runs);
const warmup = Number(values.warmup);

const dir = mkdtempSync(join(tmpdir(), 'skiff-cli-startup-'));
const input = join(dir, 'one-service-entry.yaml');
writeFileSync(input, ONE_SERVICE_ENTRY);

const commands = [
  { name: 'node -e 0 (Node alone)', args: ['-e', '0'] },
  { name: 'skiffctl --version', args: [SKIFFCTL, '--version'] },
  { name: 'skiffctl validate (1 ServiceEntry)', args: [SKIFFCTL, 'validate', '-f', input] },
  { name: 'skiffctl translate (1 ServiceEntry)', args: [SKIFFCTL, 'translate', '-f', input] },
];

function timeOnce(args) {
  const started = process.hrtime.bigint();
  execFileSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return Number(process.hrtime.bigint() - started) / 1e6;
}

try {
  console.log(`CLI start-up, median of ${runs} runs after ${warmup} warm-up runs; Node ${process.version}, load average ${(await import('node:os')).loadavg()[0].toFixed(2)}`);
  for (const command of commands) {
    for (let i = 0; i < warmup; i++) timeOnce(command.args);
    const times = Array.from({ length: runs }, () => timeOnce(command.args)).sort((a, b) => a - b);
    const median = times.length % 2 === 1 ? times[(times.length - 1) / 2] : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
    console.log(`${command.name.padEnd(40)} median ${median.toFixed(0).padStart(5)} ms   min ${times[0].toFixed(0).padStart(5)}   max ${times[times.length - 1].toFixed(0).padStart(5)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
