/**
 * Sharding over Redis Cluster: throughput of the watcher's writes and of the translators, with one shard
 * (the single-tag layout: everything on one master) and with three (one per master), on a local
 * 3-master + 3-replica Redis Cluster the benchmark starts on free ports (`LocalRedisCluster`).
 *
 *   node bench/redis-cluster.mjs [--quick] [--results-dir <dir>]
 *
 * Run after `npm run build` (it imports the built packages). Writes `bench/results/redis-cluster.json`
 * (`redis-cluster-quick.tmp.json` with --quick) and prints a Markdown table for docs/BENCHMARKS.md.
 *
 * - watcher writes: `WRITERS` concurrent fenced writes (`ServiceEntryWriter.write`, what the watcher's
 *   HashWriter issues), each changing one endpoint of one of `SERVICE_ENTRIES` ServiceEntries, for
 *   `WRITES` writes; with and without `replicaWaitMs` (each write waits for its replica).
 * - translators: with the change logs filled by those writes, one `Translator` (libs/translator-core, the
 *   real one) per shard, started together; the time until every ServiceEntry's resources are built from
 *   its last revision.
 */
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createShardedRedisStore, diffFields, serviceEntryFields } from '@skiff/store';
import { LocalRedisCluster, normalizedServiceEntry, normalizedWorkload } from '@skiff/testing';
import { createLogger } from '@skiff/runtime';
import { Translator } from '@skiff/translator-core';
import { DEFAULT_MESH_SETTINGS } from '@skiff/xds-translate';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const resultsDirIndex = process.argv.indexOf('--results-dir');
const resultsDir = resultsDirIndex === -1 ? resolve(REPO_ROOT, 'bench/results') : resolve(process.argv[resultsDirIndex + 1]);
const SERVICE_ENTRIES = quick ? 60 : 300;
const WRITES = quick ? 1500 : 12_000;
const WRITERS = 64;
const REPEATS = quick ? 1 : 3;

const load = () => Number(loadavg()[0].toFixed(2));

function fieldsOf(index, round) {
  const namespace = `ns-${index % 7}`;
  const name = `se-${index}`;
  const workloads = Array.from({ length: 4 }, (_, w) =>
    normalizedWorkload({ namespace, name: `${name}-w${w}`, address: `10.${w}.${Math.floor(round / 250) % 250}.${(round % 250) + 1}`, labels: { app: name } }),
  );
  return { key: { namespace, name }, fields: serviceEntryFields(normalizedServiceEntry({ namespace, name }), workloads) };
}

async function measure(cluster, shards, replicaWaitMs, round, log) {
  const prefix = `bench-cluster-${process.pid}-${shards}-${replicaWaitMs}-${round}`;
  const store = createShardedRedisStore({ cluster: cluster.seeds, keyPrefix: prefix, shards, replicaWaitMs });
  try {
    const grant = await store.lease.acquire('bench-watcher', 600_000);
    if (grant === null) throw new Error('the lease is held');
    // Every ServiceEntry once, so the timed writes are updates.
    for (let i = 0; i < SERVICE_ENTRIES; i++) {
      const { key, fields } = fieldsOf(i, 0);
      await store.serviceEntries.write(key, diffFields(null, fields), grant);
    }
    let next = 0;
    const loadBefore = load();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        for (;;) {
          const n = next++;
          if (n >= WRITES) return;
          const { key, fields } = fieldsOf(n % SERVICE_ENTRIES, Math.floor(n / SERVICE_ENTRIES) + 1);
          await store.serviceEntries.write(key, diffFields(null, fields), grant);
        }
      }),
    );
    const writeSeconds = (performance.now() - started) / 1000;
    const writesPerSecond = Math.round(WRITES / writeSeconds);
    log(`  ${shards} shard(s), replicaWaitMs ${replicaWaitMs}: ${writesPerSecond} writes/s (${WRITES} writes in ${writeSeconds.toFixed(2)} s)`);

    // Translators: one per shard, on the backlog the writes left in the change logs.
    const revisions = new Map();
    for (let i = 0; i < SERVICE_ENTRIES; i++) {
      const { key } = fieldsOf(i, 0);
      revisions.set(i, (await store.serviceEntries.read(key)).revision);
    }
    const backlog = (await Promise.all(store.shards.map((s) => s.changeLog.length()))).reduce((a, b) => a + b, 0);
    const translators = store.shards.map((shard, index) => new Translator({ store: shard, mesh: DEFAULT_MESH_SETTINGS, consumer: `bench-t${index}`, logger: createLogger({ level: 'warn', name: `bench-t${index}`, pretty: false }), blockMs: 50 }));
    const translateStarted = performance.now();
    await Promise.all(translators.map((t) => t.start()));
    for (;;) {
      if (performance.now() - translateStarted > 300_000) throw new Error('the translators did not build every ServiceEntry within 300 s');
      let done = 0;
      await Promise.all(
        [...revisions].map(async ([i, revision]) => {
          const { key } = fieldsOf(i, 0);
          const owned = await store.shards[store.shardOf(key)].resources.readOwner(key, []);
          if (owned !== null && owned.record.revision >= revision) done++;
        }),
      );
      if (done === SERVICE_ENTRIES) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const translateSeconds = (performance.now() - translateStarted) / 1000;
    await Promise.all(translators.map((t) => t.close()));
    const entriesPerSecond = Math.round(backlog / translateSeconds);
    log(`    translators: ${backlog} change-log entries (${SERVICE_ENTRIES} ServiceEntries) drained in ${translateSeconds.toFixed(2)} s: ${entriesPerSecond} entries/s`);
    return { shards, replicaWaitMs, writes: WRITES, writers: WRITERS, serviceEntries: SERVICE_ENTRIES, writeSeconds, writesPerSecond, backlog, translateSeconds, entriesPerSecond, loadBefore, loadAfter: load() };
  } finally {
    await store.close();
  }
}

const log = (line) => console.log(line);
log(`redis-cluster benchmark${quick ? ' (quick)' : ''}; ${cpus().length} CPUs, Node ${process.version}, load average ${load()}`);
const cluster = await LocalRedisCluster.start();
const attempts = [];
try {
  // Configurations interleaved, REPEATS rounds: on a shared machine the load drifts, and the median of
  // interleaved attempts compares the configurations under the same drift.
  for (let round = 0; round < REPEATS; round++) {
    for (const replicaWaitMs of [0, 1000]) for (const shards of [1, 3]) attempts.push(await measure(cluster, shards, replicaWaitMs, round, log));
  }
} finally {
  await cluster.stop();
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const runs = [];
for (const replicaWaitMs of [0, 1000]) {
  for (const shards of [1, 3]) {
    const mine = attempts.filter((a) => a.shards === shards && a.replicaWaitMs === replicaWaitMs);
    runs.push({
      shards,
      replicaWaitMs,
      writesPerSecond: median(mine.map((a) => a.writesPerSecond)),
      entriesPerSecond: median(mine.map((a) => a.entriesPerSecond)),
      writesPerSecondAll: mine.map((a) => a.writesPerSecond),
      entriesPerSecondAll: mine.map((a) => a.entriesPerSecond),
      backlog: mine[0].backlog,
      loadMin: mine.reduce((low, a) => Math.min(low, a.loadBefore, a.loadAfter), Infinity),
      loadMax: mine.reduce((high, a) => Math.max(high, a.loadBefore, a.loadAfter), 0),
    });
  }
}
const results = { name: 'redis-cluster', date: new Date().toISOString(), machine: { nproc: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version }, runs, attempts };
mkdirSync(resultsDir, { recursive: true });
const file = resolve(resultsDir, quick ? 'redis-cluster-quick.tmp.json' : 'redis-cluster.json');
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
log('');
log(`| shards | replica wait | watcher writes/s (median of ${REPEATS}; all) | translators: entries/s (median; all) | load average during |`);
log('|---:|---|---:|---:|---|');
for (const r of runs) {
  log(`| ${r.shards} | ${r.replicaWaitMs === 0 ? 'none' : `WAIT 1 (${r.replicaWaitMs} ms)`} | ${r.writesPerSecond} (${r.writesPerSecondAll.join(', ')}) | ${r.entriesPerSecond} (${r.entriesPerSecondAll.join(', ')}) | ${r.loadMin}-${r.loadMax} |`);
}
log(`results: ${file}`);
