/**
 * CLI start-up: whole `skiffctl` runs, median of N (hyperfine-style), after `npm run build`. Most of
 * a one-ServiceEntry `skiffctl translate -o json` is Node start-up and module loading, so this is
 * what a change to the CLI's imports or its bundle moves; issue 13 wants that run, and the one of
 * 100 ServiceEntries with 1,000 WorkloadEntries, no slower than istiod's equivalent
 * (`bench/istiod.mjs`'s CLI comparison, which writes the same two inputs).
 *
 *   node bench/cli-startup.mjs [--runs N] [--warmup N] [--compare OTHER_CHECKOUT]
 *
 * Each command runs `--warmup` times unmeasured (file cache), then `--runs` times; printed: median,
 * min and max wall-clock milliseconds, and the median CPU time (user + system) of the process, which
 * other work on the machine disturbs much less than wall time (read from /proc, in clock ticks, so
 * only on Linux). `node -e 0` is the floor: Node alone. With `--compare`, every run of a command
 * alternates between this checkout's skiffctl and the other checkout's (built too), so a before/after
 * pair sees the same machine load.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildGatewayMesh } from './lib/gateway-mesh.mjs';
import { median } from './lib/stats.mjs';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SKIFFCTL_PATH = join('apps', 'skiffctl', 'bin', 'skiffctl.js');

/** The seed example: one ServiceEntry and the WorkloadEntry it selects. */
const SEED = join(REPO_ROOT, 'examples', 'seed', 'example-app.yaml');

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '15' }, warmup: { type: 'string', default: '2' }, compare: { type: 'string' } },
  strict: true,
});
const runs = Number(values.runs);
const warmup = Number(values.warmup);

/** The skiffctl builds measured: this checkout's, and the `--compare` checkout's. */
const builds = [{ label: '', bin: join(REPO_ROOT, SKIFFCTL_PATH) }];
if (values.compare !== undefined) {
  const other = join(resolve(values.compare), SKIFFCTL_PATH);
  if (!existsSync(other)) throw new Error(`--compare: ${other} does not exist`);
  builds[0].label = 'this checkout';
  builds.push({ label: 'compared', bin: other });
}

/**
 * An input of the CLI comparison, as `bench/lib/istiod-suite.mjs` writes it for istiod and skiffctl:
 * the ServiceEntries over at most 10 namespaces (the full plan's), the WorkloadEntries spread evenly
 * over them, as JSON documents.
 */
function writeMeshFile(dir, serviceEntries, workloads) {
  const namespaces = Math.min(10, serviceEntries);
  const mesh = buildGatewayMesh({
    namespaces,
    serviceEntriesPerNamespace: Math.max(1, Math.round(serviceEntries / namespaces)),
    workloadsPerServiceEntry: Math.max(1, Math.round(workloads / serviceEntries)),
  });
  const file = join(dir, `mesh-${serviceEntries}-${workloads}.yaml`);
  writeFileSync(file, mesh.objects.map((object) => JSON.stringify(object)).join('\n---\n'));
  return file;
}

/** CPU time (user + system) of this process's waited-for children, in milliseconds; undefined off Linux. */
function childrenCpuMs() {
  if (!existsSync('/proc/self/stat')) return undefined;
  // Fields after the parenthesised command name; cutime and cstime are the 16th and 17th fields, in ticks of 1/100 s (USER_HZ).
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

function timeOnce(args) {
  const cpuBefore = childrenCpuMs();
  const started = process.hrtime.bigint();
  execFileSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const cpuAfter = childrenCpuMs();
  return { wallMs, cpuMs: cpuBefore === undefined || cpuAfter === undefined ? Number.NaN : cpuAfter - cpuBefore };
}

const scratch = mkdtempSync(join(tmpdir(), 'skiff-cli-startup-'));
try {
  const oneServiceEntry = writeMeshFile(scratch, 1, 1);
  const thousandWorkloads = writeMeshFile(scratch, 100, 1_000);
  const commands = [
    { name: 'node -e 0 (Node alone)', args: () => ['-e', '0'], node: true },
    { name: 'skiffctl --version', args: (bin) => [bin, '--version'] },
    { name: 'skiffctl validate (seed example)', args: (bin) => [bin, 'validate', '-f', SEED] },
    { name: 'skiffctl translate -o json (seed example)', args: (bin) => [bin, 'translate', '-f', SEED, '-o', 'json'] },
    { name: 'skiffctl translate -o json (1 SE file)', args: (bin) => [bin, 'translate', '-f', oneServiceEntry, '-o', 'json'] },
    { name: 'skiffctl translate -o json (100 SE / 1k WE file)', args: (bin) => [bin, 'translate', '-f', thousandWorkloads, '-o', 'json'] },
  ];

  console.log(`CLI start-up, median of ${runs} runs after ${warmup} warm-up runs; Node ${process.version}, load average ${loadavg()[0].toFixed(2)}`);
  for (const command of commands) {
    const measured = command.node ? [builds[0]] : builds;
    for (const build of measured) for (let i = 0; i < warmup; i++) timeOnce(command.args(build.bin));
    const samples = measured.map(() => []);
    for (let i = 0; i < runs; i++) measured.forEach((build, b) => samples[b].push(timeOnce(command.args(build.bin))));
    measured.forEach((build, b) => {
      const wall = samples[b].map((sample) => sample.wallMs).sort((x, y) => x - y);
      const ms = (value) => value.toFixed(0).padStart(5);
      const name = build.label === '' || command.node ? command.name : `${command.name} [${build.label}]`;
      console.log(`${name.padEnd(60)} median ${ms(median(wall))} ms   min ${ms(wall[0])}   max ${ms(wall[wall.length - 1])}   CPU median ${ms(median(samples[b].map((sample) => sample.cpuMs)))} ms`);
    });
  }
  console.log(`load average at the end ${loadavg()[0].toFixed(2)}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
