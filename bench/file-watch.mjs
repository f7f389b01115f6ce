/**
 * How file watchers see the ways configuration files change, and what they cost: `node
 * bench/file-watch.mjs` after `npm run build`. Results and the choice they support are in
 * docs/file-source.md.
 *
 * Watchers compared:
 * - `skiff`: the file source itself (libs/config-sources), an event being an object delivered;
 * - `fs.watch recursive`: Node's own recursive watcher, what the file source used before;
 * - `chokidar` and `@parcel/watcher`, when installed (`npm install --no-save chokidar @parcel/watcher`;
 *   they are not dependencies of the project), an event being a report naming the file.
 *
 * Patterns, each on a fresh directory: an in-place write; a second write after an atomic rename save
 * (what `sed -i` and editors do); a Kubernetes ConfigMap volume's `..data` swap; a symlinked file
 * edited where it lives; a file in a directory created after the start. Then, with `--files` files
 * (default 1000) in `--dirs` directories (default 20): time to start, latency of in-place writes
 * (p50/p99), CPU used per write, and CPU while idle.
 *
 *   --files <n>     files for the cost measurement (default 1000)
 *   --dirs <n>      directories they are spread over (default 20; 1 is the one-file-per-object layout
 *                   of a large mesh, every file in one directory)
 *   --writes <n>    writes timed (default 40)
 */
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FileSource, istioFileParser } from '@skiff/config-sources';
import { writeConfigMapVolume } from '@skiff/testing';

const { values } = parseArgs({ options: { files: { type: 'string', default: '1000' }, dirs: { type: 'string', default: '20' }, writes: { type: 'string', default: '40' } }, strict: true });
const FILES = Number(values.files);
const DIRS = Number(values.dirs);
const WRITES = Number(values.writes);
const TIMEOUT_MS = 2_000;

const workloadEntry = (name, address) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: bench}
spec: {address: ${address}}
`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Every watcher as one shape: `start(dir, onEvent)` resolves once watching, `onEvent(text)` receives
 * something that identifies the change (a file path for raw watchers, `name address` for skiff).
 */
async function watchers() {
  const list = [
    {
      name: 'skiff',
      async start(dir, onEvent) {
        const source = new FileSource({ dir, parse: istioFileParser(), rescanIntervalMs: 0 });
        await source.start({
          event: (event) => onEvent(event.type === 'upsert' ? `${event.object.metadata.name} ${event.object.spec.address}` : `delete ${event.ref.name}`),
          synced: () => {},
          problem: () => {},
        });
        return () => source.close();
      },
    },
    {
      name: 'fs.watch recursive',
      async start(dir, onEvent) {
        const watcher = watch(dir, { recursive: true }, (_event, filename) => onEvent(join(dir, String(filename))));
        return () => watcher.close();
      },
    },
  ];
  try {
    const { watch: chokidarWatch } = await import('chokidar');
    list.push({
      name: 'chokidar',
      async start(dir, onEvent) {
        const watcher = chokidarWatch(dir, { ignoreInitial: true, followSymlinks: true });
        watcher.on('all', (_event, path) => onEvent(path));
        await new Promise((resolve) => watcher.on('ready', resolve));
        return () => watcher.close();
      },
    });
  } catch {
    console.log('chokidar is not installed: skipped');
  }
  try {
    const parcel = await import('@parcel/watcher');
    list.push({
      name: '@parcel/watcher',
      async start(dir, onEvent) {
        const subscription = await parcel.subscribe(dir, (error, events) => {
          if (!error) for (const event of events) onEvent(event.path);
        });
        return () => subscription.unsubscribe();
      },
    });
  } catch {
    console.log('@parcel/watcher is not installed: skipped');
  }
  return list;
}

/** Resolves with the time until `match(text)` holds for an event, or undefined after the timeout. */
function waitFor(state, match) {
  const start = performance.now();
  return new Promise((resolve) => {
    const check = () => {
      if (state.seen.some(match)) {
        clearInterval(timer);
        resolve(performance.now() - start);
      } else if (performance.now() - start > TIMEOUT_MS) {
        clearInterval(timer);
        resolve(undefined);
      }
    };
    const timer = setInterval(check, 1);
  });
}

/** One pattern on a fresh directory: `prepare` before the watcher starts, `change` after; `expect` the event text looked for. */
async function pattern(watcher, { prepare, change }) {
  const base = await mkdtemp(join(tmpdir(), 'skiff-bench-watch-'));
  const dir = join(base, 'root');
  await mkdir(dir);
  const state = { seen: [] };
  const stop = await watcher.start(dir, (text) => state.seen.push(text)).catch((error) => error);
  try {
    if (typeof stop !== 'function') return `fails to start (${String(stop.message ?? stop).split('\n')[0]})`;
    await prepare?.(base, dir);
    await sleep(300);
    state.seen.length = 0;
    const expected = await change(base, dir);
    const ms = await waitFor(state, (text) => (watcher.name === 'skiff' ? text === expected.object : text === expected.path));
    return ms === undefined ? 'missed' : 'seen';
  } finally {
    if (typeof stop === 'function') await stop();
    await rm(base, { recursive: true, force: true });
  }
}

const PATTERNS = {
  'in-place write': {
    prepare: (_base, dir) => writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.1')),
    change: async (_base, dir) => {
      await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.2'));
      return { path: join(dir, 'a.yaml'), object: 'a 10.0.0.2' };
    },
  },
  'write after a rename save': {
    prepare: async (_base, dir) => {
      await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.1'));
      await sleep(300);
      await writeFile(join(dir, '.a.yaml.tmp'), workloadEntry('a', '10.0.0.2'));
      await rename(join(dir, '.a.yaml.tmp'), join(dir, 'a.yaml'));
    },
    change: async (_base, dir) => {
      await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.3'));
      return { path: join(dir, 'a.yaml'), object: 'a 10.0.0.3' };
    },
  },
  'ConfigMap ..data swap': {
    prepare: (_base, dir) => writeConfigMapVolume(dir, { 'a.yaml': workloadEntry('a', '10.0.0.1') }),
    change: async (_base, dir) => {
      await writeConfigMapVolume(dir, { 'a.yaml': workloadEntry('a', '10.0.0.2') });
      return { path: join(dir, 'a.yaml'), object: 'a 10.0.0.2' };
    },
  },
  'symlinked file edited': {
    prepare: async (base, dir) => {
      await writeFile(join(base, 'target.yaml'), workloadEntry('a', '10.0.0.1'));
      await symlink(join(base, 'target.yaml'), join(dir, 'a.yaml'));
    },
    change: async (base, dir) => {
      await writeFile(join(base, 'target.yaml'), workloadEntry('a', '10.0.0.2'));
      return { path: join(dir, 'a.yaml'), object: 'a 10.0.0.2' };
    },
  },
  'file in a new directory': {
    change: async (_base, dir) => {
      await mkdir(join(dir, 'new'));
      await writeFile(join(dir, 'new', 'a.yaml'), workloadEntry('a', '10.0.0.1'));
      return { path: join(dir, 'new', 'a.yaml'), object: 'a 10.0.0.1' };
    },
  },
};

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const cpuMs = (usage) => (usage.user + usage.system) / 1000;

/** Start time, write latency and CPU with FILES files in DIRS directories. */
async function cost(watcher) {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-bench-watch-cost-'));
  for (let d = 0; d < DIRS; d += 1) await mkdir(join(dir, `d${d}`));
  const path = (i) => join(dir, `d${i % DIRS}`, `f${i}.yaml`);
  for (let i = 0; i < FILES; i += 1) await writeFile(path(i), workloadEntry(`w${i}`, `10.1.${Math.floor(i / 250)}.${i % 250}`));
  const state = { seen: [] };
  const started = performance.now();
  const stop = await watcher.start(dir, (text) => state.seen.push(text));
  const startMs = performance.now() - started;
  try {
    await sleep(500);
    const idleFrom = process.cpuUsage();
    await sleep(2_000);
    const idleCpuMs = cpuMs(process.cpuUsage(idleFrom)) / 2;
    const latencies = [];
    let missed = 0;
    const writeFrom = process.cpuUsage();
    for (let n = 0; n < WRITES; n += 1) {
      const i = (n * 7919) % FILES;
      state.seen.length = 0;
      const address = `10.2.${Math.floor(n / 250)}.${n % 250}`;
      await writeFile(path(i), workloadEntry(`w${i}`, address));
      const ms = await waitFor(state, (text) => (watcher.name === 'skiff' ? text === `w${i} ${address}` : text === path(i)));
      if (ms === undefined) missed += 1;
      else latencies.push(ms);
      await sleep(20);
    }
    const perWriteCpuMs = cpuMs(process.cpuUsage(writeFrom)) / WRITES;
    latencies.sort((a, b) => a - b);
    return { startMs, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), missed, perWriteCpuMs, idleCpuMs };
  } finally {
    await stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const fixed = (n) => (n === undefined ? '-' : n.toFixed(1));
const list = await watchers();
console.log(`\n| watcher | ${Object.keys(PATTERNS).join(' | ')} |`);
console.log(`|---|${Object.keys(PATTERNS).map(() => '---').join('|')}|`);
for (const watcher of list) {
  const cells = [];
  for (const spec of Object.values(PATTERNS)) cells.push(await pattern(watcher, spec));
  console.log(`| ${watcher.name} | ${cells.join(' | ')} |`);
}
console.log(`\n${FILES} files in ${DIRS} ${DIRS === 1 ? 'directory' : 'directories'}, ${WRITES} in-place writes (Node ${process.version}):\n`);
console.log('| watcher | start (ms) | write latency p50 / p99 (ms) | missed writes | CPU per write (ms) | idle CPU (ms/s) |');
console.log('|---|---|---|---|---|---|');
for (const watcher of list) {
  const r = await cost(watcher);
  console.log(`| ${watcher.name} | ${fixed(r.startMs)} | ${fixed(r.p50)} / ${fixed(r.p99)} | ${r.missed} | ${fixed(r.perWriteCpuMs)} | ${fixed(r.idleCpuMs)} |`);
}
