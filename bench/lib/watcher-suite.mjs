/**
 * The watcher benchmark's scenarios, through the real watcher (`@skiff/watcher-core` `Watcher`: source
 * events -> DesiredState (validate, normalize, selector index) -> HashWriter (fenced, only changed
 * fields) -> `@skiff/store` Redis store) against a real Redis:
 *
 * (1) cold sync: a source delivers the initial list of N ServiceEntries and M WorkloadEntries; timed
 *     from its first event until the watcher reports the store converged (every hash written). Split
 *     into "apply" (the events through validation, normalization and the index, done synchronously as
 *     each event arrives) and "store" (the converge: fields encoded, diffed and written).
 * (2) update throughput: a stream of WorkloadEntry updates (address changes and label moves) delivered
 *     as fast as the watcher takes them, timed until every hash is written; the store is then compared
 *     with the desired state, hash by hash.
 * (3) Redis commands per update: `INFO commandstats` around single updates of a WorkloadEntry selected
 *     by 1, 3 and 10 ServiceEntries, in a small and a large mesh, on a private redis-server.
 *
 * Not a test: it measures, prints and records; `bench/run.mjs` is the command.
 */
import { createNoopMeter } from '@opentelemetry/api';
import { silentLogger } from '@skiff/runtime';
import { createRedisStore, serviceEntryFields } from '@skiff/store';
import { Watcher } from '@skiff/watcher-core';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BENCH_NAMESPACE } from './mesh.mjs';
import { commandStats, commandStatsDelta, connectAdmin, deleteKeys, serverVersion, startPrivateRedis, uniquePrefix } from './redis-bench.mjs';
import { nowMs, summarize } from './stats.mjs';
import { buildWatcherMesh, buildWorkloadUpdates, probeWorkloadEntry } from './watcher-mesh.mjs';

/** What a full run measures: the design's mesh (10k ServiceEntries, 200k WorkloadEntries, ~20 per ServiceEntry). */
export const WATCHER_FULL_PLAN = {
  mode: 'full',
  coldSync: {
    meshes: [
      { serviceEntryCount: 50, workloadCount: 1_000, repetitions: 3 },
      { serviceEntryCount: 500, workloadCount: 10_000, repetitions: 3 },
      { serviceEntryCount: 5_000, workloadCount: 100_000, repetitions: 3 },
      { serviceEntryCount: 10_000, workloadCount: 200_000, repetitions: 3 },
    ],
  },
  /** Runs on the last cold-sync mesh, which stays loaded. */
  updates: { count: 20_000, moveShare: 0.2, chunkSize: 100 },
  commands: {
    meshes: [
      { serviceEntryCount: 50, workloadCount: 1_000 },
      { serviceEntryCount: 10_000, workloadCount: 200_000 },
    ],
    probeGroups: [1, 3, 10],
    updatesPerProbe: 100,
    moves: 50,
  },
};

/** A smoke run: every code path, small sizes, seconds. Its numbers are not comparable with the targets. */
export const WATCHER_QUICK_PLAN = {
  mode: 'quick',
  coldSync: {
    meshes: [
      { serviceEntryCount: 10, workloadCount: 200, repetitions: 1 },
      { serviceEntryCount: 50, workloadCount: 1_000, repetitions: 1 },
    ],
  },
  updates: { count: 500, moveShare: 0.2, chunkSize: 100 },
  commands: {
    meshes: [
      { serviceEntryCount: 10, workloadCount: 200 },
      { serviceEntryCount: 50, workloadCount: 1_000 },
    ],
    probeGroups: [1, 3, 10],
    updatesPerProbe: 10,
    moves: 6,
  },
};

const ORIGIN = 'kubernetes';

/** A garbage collection between scenarios, so one scenario's garbage is not collected in the next one's timings. */
function collectGarbage() {
  if (typeof globalThis.gc !== 'function') setFlagsFromString('--expose-gc');
  const gc = typeof globalThis.gc === 'function' ? globalThis.gc : runInNewContext('gc');
  gc();
}

const nextMacrotask = () => new Promise((resolve) => setImmediate(resolve));

/** Waits (polling every millisecond) until `done()` is true. */
async function waitUntil(done, what, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * A configuration source that delivers a prepared list and then whatever the benchmark streams, the
 * way the Kubernetes source does: once a kind's list is in, its objects are delivered in one
 * synchronous run (client-node's ListWatch), then `synced`; watch events arrive a read at a time.
 * Fetching and parsing the objects from an API server is not part of what is measured.
 */
class SyntheticSource {
  name = 'synthetic';
  handler = undefined;
  /** Timestamps of the initial list's first and last event. */
  listStartedMs = 0;
  listDeliveredMs = 0;

  constructor(initialObjects) {
    this.initialObjects = initialObjects;
  }

  async start(handler) {
    this.handler = handler;
    this.listStartedMs = nowMs();
    for (const object of this.initialObjects) handler.event({ type: 'upsert', object, origin: ORIGIN });
    this.listDeliveredMs = nowMs();
    this.initialObjects = [];
    handler.synced();
  }

  async close() {
    this.handler = undefined;
  }

  /** Delivers `objects` as upserts, `chunkSize` per macrotask (one read of a watch stream each). */
  async stream(objects, chunkSize) {
    for (let i = 0; i < objects.length; i += chunkSize) {
      const end = Math.min(objects.length, i + chunkSize);
      for (let j = i; j < end; j++) this.handler.event({ type: 'upsert', object: objects[j], origin: ORIGIN });
      if (end < objects.length) await nextMacrotask();
    }
  }
}

/**
 * The watcher's store with its ServiceEntry writes counted (`writes`: ServiceEntry hashes sent a diff;
 * `calls`: store calls, each carrying a batch of them). A pass-through: every call goes to the Redis
 * store unchanged.
 */
function countingStore(store, counters) {
  const inner = store.serviceEntries;
  const serviceEntries = {
    ...inner,
    writeMany: async (changes, fence) => {
      const results = await inner.writeMany(changes, fence);
      counters.calls += 1;
      for (const change of changes) {
        if (!('diff' in change)) continue;
        counters.writes += 1;
        counters.fieldsSet += Object.keys(change.diff.set).length;
        counters.fieldsDeleted += change.diff.delete.length;
      }
      return results;
    },
  };
  // Every other facet and method is the store's own, so a facet the store gains reaches the watcher too
  // (a copy listing the facets once dropped a new one and the watcher never converged).
  return new Proxy(store, {
    get: (target, property) => {
      if (property === 'serviceEntries') return serviceEntries;
      const value = target[property];
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** An OpenTelemetry meter that keeps the watcher's sync-lag samples (event -> hash written) and drops the rest. */
function lagRecordingMeter() {
  const noop = createNoopMeter();
  const lagSeconds = [];
  const meter = Object.create(noop);
  meter.createHistogram = (name, options) => (name === 'skiff_watcher_sync_lag_seconds' ? { record: (value) => lagSeconds.push(value) } : noop.createHistogram(name, options));
  return { meter, lagSeconds };
}

/** A watcher on its own store prefix, loaded with `mesh`; `watcherOptions` go to the Watcher. */
async function startLoadedWatcher(redisUrl, mesh, label, watcherOptions = {}) {
  const prefix = uniquePrefix(label);
  const store = createRedisStore({ url: redisUrl, keyPrefix: prefix, connectionName: 'skiff-bench-watcher', commandRetries: 3 });
  await store.ping();
  const counters = { writes: 0, calls: 0, fieldsSet: 0, fieldsDeleted: 0 };
  const { meter, lagSeconds } = lagRecordingMeter();
  const source = new SyntheticSource([...mesh.serviceEntries, ...mesh.workloadEntries]);
  const watcher = new Watcher({ source, store: countingStore(store, counters), logger: silentLogger(), meter, holder: `bench-${prefix}`, ...watcherOptions });
  collectGarbage();
  const cpuBefore = process.cpuUsage();
  await watcher.start();
  await waitUntil(() => watcher.status().lastConverge !== null, 'the watcher to converge the store');
  const convergedMs = nowMs();
  const cpu = process.cpuUsage(cpuBefore);
  const report = watcher.status().lastConverge;
  const timing = {
    applyMs: source.listDeliveredMs - source.listStartedMs,
    convergeMs: report.durationMs,
    totalMs: convergedMs - source.listStartedMs,
    // This process's CPU time over the same span (both threads of work, watcher and Redis client, are in it).
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
  // What is left (lease acquisition, the wait for converge to begin, polling) is `waitMs`.
  timing.waitMs = timing.totalMs - timing.applyMs - timing.convergeMs;
  const run = { prefix, store, source, watcher, counters, lagSeconds, mesh };
  return { run, timing, report };
}

async function stopWatcher(run, admin) {
  await run.watcher.close();
  await run.store.close();
  await deleteKeys(admin, run.prefix);
}

/** Endpoint fields the store must hold: one per selected WorkloadEntry. */
function expectedEndpointFields(mesh, probeGroups) {
  return mesh.workloadCount + probeGroups.reduce((sum, k) => sum + k * 20, 0);
}

/** Checks the store holds one hash per ServiceEntry and one endpoint field per selection. */
async function checkHashCounts(admin, run, probeGroups) {
  const { mesh, store, prefix } = run;
  const keys = await store.serviceEntries.list();
  if (keys.length !== mesh.serviceEntries.length) throw new Error(`store holds ${keys.length} ServiceEntry hashes, expected ${mesh.serviceEntries.length}`);
  const pipeline = admin.pipeline();
  for (const key of keys) pipeline.hlen(`{${prefix}}:se:${key.namespace}/${key.name}`);
  const replies = await pipeline.exec();
  // Each hash has `se` and `rev` besides its endpoint fields.
  const endpointFields = replies.reduce((sum, [error, length]) => {
    if (error) throw error;
    return sum + Number(length) - 2;
  }, 0);
  const expected = expectedEndpointFields(mesh, probeGroups);
  if (endpointFields !== expected) throw new Error(`store holds ${endpointFields} endpoint fields, expected ${expected}`);
  return { hashes: keys.length, endpointFields };
}

/** Compares every stored hash with the watcher's desired state; throws on the first difference. */
async function checkStoreEqualsDesired(run) {
  const { watcher, store } = run;
  const keys = watcher.state.serviceEntryKeys();
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++];
      const stored = await store.serviceEntries.read(key);
      const desired = watcher.state.desiredFields(key);
      const storedFields = stored?.fields ?? {};
      const names = new Set([...Object.keys(storedFields), ...Object.keys(desired ?? {})]);
      for (const name of names) {
        if (storedFields[name] !== desired?.[name]) throw new Error(`store differs from the desired state: ${key.namespace}/${key.name} field ${name}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return keys.length;
}

/**
 * Time to encode every ServiceEntry's hash fields from scratch (canonical JSON of each entry), as the
 * converge did: measured apart, afterwards, because inside the converge it interleaves with the writes.
 * The mesh has no inline endpoints, so a ServiceEntry's endpoints are the workloads it selects.
 */
function timeFieldEncoding(run) {
  const { state } = run.watcher;
  const inputs = state.serviceEntryKeys().map((key) => [state.serviceEntry(key), state.index.selectedWorkloads(key)]);
  const start = nowMs();
  for (const [serviceEntry, endpoints] of inputs) serviceEntryFields(serviceEntry, endpoints);
  return nowMs() - start;
}

function meshLabel({ serviceEntryCount, workloadCount }) {
  return `${serviceEntryCount} SE / ${workloadCount} WE`;
}

/** (1) Cold sync over every mesh of the plan; keeps the last mesh's watcher running for (2). */
async function runColdSync(plan, redisUrl, admin, log) {
  const rows = [];
  let kept;
  for (let m = 0; m < plan.meshes.length; m++) {
    const size = plan.meshes[m];
    const runs = [];
    for (let r = 0; r < size.repetitions; r++) {
      // Each repetition lists objects of its own, as a watcher's start reads a fresh list from its
      // source; the previous repetition's objects are garbage by then.
      const mesh = buildWatcherMesh(size);
      const { run, timing, report } = await startLoadedWatcher(redisUrl, mesh, 'cold');
      const counts = await checkHashCounts(admin, run, []);
      const fieldEncodingMs = timeFieldEncoding(run);
      runs.push({ ...timing, fieldEncodingMs, written: report.written, writes: run.counters.writes, ...counts });
      const last = m === plan.meshes.length - 1 && r === size.repetitions - 1;
      if (last) kept = run;
      else await stopWatcher(run, admin);
    }
    const median = (pick) => summarize(runs.map(pick)).medianMs;
    const row = {
      serviceEntries: size.serviceEntryCount,
      workloads: size.workloadCount,
      repetitions: runs.length,
      applyMs: median((run) => run.applyMs),
      convergeMs: median((run) => run.convergeMs),
      fieldEncodingMs: median((run) => run.fieldEncodingMs),
      waitMs: median((run) => run.waitMs),
      totalMs: median((run) => run.totalMs),
      cpuMs: median((run) => run.cpuMs),
      applyPerObjectUs: (median((run) => run.applyMs) * 1000) / (size.serviceEntryCount + size.workloadCount),
      hashesWritten: runs[0].written,
      endpointFields: runs[0].endpointFields,
    };
    rows.push(row);
    log(`cold sync ${meshLabel(size)}: ${row.totalMs.toFixed(0)} ms (apply ${row.applyMs.toFixed(0)} ms, store ${row.convergeMs.toFixed(0)} ms; median of ${row.repetitions})`);
  }
  return { rows, kept };
}

/** (2) WorkloadEntry updates streamed into the loaded watcher; then the whole store is checked. */
async function runUpdateThroughput(plan, run, log) {
  const { mesh, watcher, source, counters } = run;
  const updates = buildWorkloadUpdates(mesh, plan.count, { moveShare: plan.moveShare });
  const objects = updates.map((update) => update.object);
  const moves = updates.filter((update) => update.kind === 'move').length;
  collectGarbage();
  const writesBefore = counters.writes;
  const callsBefore = counters.calls;
  run.lagSeconds.length = 0;
  const cpuBefore = process.cpuUsage();
  const start = nowMs();
  await source.stream(objects, plan.chunkSize);
  const deliveredMs = nowMs() - start;
  await watcher.flush();
  const totalMs = nowMs() - start;
  const cpu = process.cpuUsage(cpuBefore);
  if (watcher.status().backlog !== 0) throw new Error(`the watcher still has ${watcher.status().backlog} ServiceEntries to write after draining`);
  const writes = counters.writes - writesBefore;
  const lag = summarize(run.lagSeconds.map((seconds) => seconds * 1000));
  const checked = await checkStoreEqualsDesired(run);
  const row = {
    serviceEntries: mesh.serviceEntryCount,
    workloads: mesh.workloadCount,
    updates: updates.length,
    moves,
    chunkSize: plan.chunkSize,
    deliveredMs,
    totalMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    cpuUsPerUpdate: (cpu.user + cpu.system) / updates.length,
    // The rate the watcher's own CPU time allows: what the wall clock shows when nothing else competes for the core.
    updatesPerCpuSecond: (updates.length / (cpu.user + cpu.system)) * 1e6,
    updatesPerSecond: (updates.length / totalMs) * 1000,
    hashWrites: writes,
    storeCalls: counters.calls - callsBefore,
    hashWritesPerSecond: (writes / totalMs) * 1000,
    // Each address change dirties one ServiceEntry, each move two; the queue coalesces repeats.
    serviceEntryChanges: updates.length + moves,
    lagMedianMs: lag.medianMs,
    lagP99Ms: lag.p99Ms,
    lagMaxMs: lag.maxMs,
    hashesVerified: checked,
  };
  log(`updates ${meshLabel(mesh)}: ${row.updates} in ${totalMs.toFixed(0)} ms = ${Math.round(row.updatesPerSecond)}/s, ${writes} hash writes; store verified (${checked} hashes)`);
  return row;
}

/** Delivers one object and waits until its writes are done. */
async function applyOne(run, object) {
  await run.source.stream([object], 1);
  await run.watcher.flush();
}

/** (3) Commands per update of a WorkloadEntry selected by k ServiceEntries, per mesh size. */
async function runCommandCounts(plan, sharedUrl, log) {
  const privateServer = await startPrivateRedis();
  const url = privateServer?.url ?? sharedUrl;
  const admin = await connectAdmin(url);
  const server = { isolated: privateServer !== null, version: await serverVersion(admin) };
  if (!server.isolated) log('redis-server is not installed: counting commands on the shared server, where other clients add to the counts');
  const rows = [];
  const loads = [];
  try {
    for (const size of plan.meshes) {
      const mesh = buildWatcherMesh({ ...size, probeGroups: plan.probeGroups });
      // Lease renewals and epoch checks run on timers, not per update: keep them out of the window.
      const loadStats = await commandStats(admin);
      const { run, timing } = await startLoadedWatcher(url, mesh, 'commands', { leaseTtlMs: 600_000, epochCheckMs: 600_000 });
      const loadDelta = commandStatsDelta(loadStats, await commandStats(admin));
      await checkHashCounts(admin, run, plan.probeGroups);
      loads.push({
        serviceEntries: mesh.serviceEntries.length,
        workloads: mesh.workloadEntries.length,
        ...timing,
        // Redis's own time in the scripts (their usec include the commands they run) and all commands it ran.
        redisScriptMs: ((loadDelta.evalsha?.usec ?? 0) + (loadDelta.eval?.usec ?? 0)) / 1000,
        redisCommands: Object.values(loadDelta).reduce((sum, { calls }) => sum + calls, 0),
      });
      let generation = 0;
      const measure = async (label, selecting, objects) => {
        const writesBefore = run.counters.writes;
        const before = await commandStats(admin);
        const samples = [];
        for (const object of objects) {
          const start = nowMs();
          await applyOne(run, object);
          samples.push(nowMs() - start);
        }
        const delta = commandStatsDelta(before, await commandStats(admin));
        const updates = objects.length;
        const perCommand = Object.fromEntries(Object.entries(delta).map(([command, { calls }]) => [command, calls / updates]));
        const commandsPerUpdate = Object.values(delta).reduce((sum, { calls }) => sum + calls, 0) / updates;
        const serverUsecPerUpdate = ((delta.evalsha?.usec ?? 0) + (delta.eval?.usec ?? 0)) / updates;
        const latency = summarize(samples);
        const row = {
          serviceEntries: mesh.serviceEntryCount,
          workloads: mesh.workloadCount,
          scenario: label,
          selectingServiceEntries: selecting,
          updates,
          hashWritesPerUpdate: (run.counters.writes - writesBefore) / updates,
          commandsPerUpdate,
          commandsPerServiceEntry: commandsPerUpdate / selecting,
          scriptCallsPerUpdate: (delta.evalsha?.calls ?? 0) / updates + (delta.eval?.calls ?? 0) / updates,
          serverUsecPerUpdate,
          latencyMedianMs: latency.medianMs,
          latencyP99Ms: latency.p99Ms,
          perCommand,
        };
        rows.push(row);
        log(`commands ${meshLabel(mesh)}, ${label}: ${commandsPerUpdate.toFixed(1)} per update in ${row.scriptCallsPerUpdate.toFixed(1)} script calls, median ${(latency.medianMs * 1000).toFixed(0)} us`);
      };
      for (const k of plan.probeGroups) {
        const objects = Array.from({ length: plan.updatesPerProbe }, () => probeWorkloadEntry(k, 0, { generation: (++generation % 200) + 1, resourceVersion: 3_000_000 + generation }));
        await measure(`address change, selected by ${k}`, k, objects);
      }
      // A label move between probe groups 1 and 3: the workload leaves 1 ServiceEntry and joins 3, then back.
      const [from, to] = [plan.probeGroups[0], plan.probeGroups[1]];
      const moves = Array.from({ length: plan.moves }, (_, i) => {
        const object = probeWorkloadEntry(from, 1, { resourceVersion: 4_000_000 + i });
        object.spec.labels['probe-group'] = `p${i % 2 === 0 ? to : from}`;
        return object;
      });
      await measure(`label move between ${from} and ${to} ServiceEntries`, from + to, moves);
      await checkStoreEqualsDesired(run);
      const load = loads[loads.length - 1];
      log(`  load of ${meshLabel(mesh)} on this server: ${timing.totalMs.toFixed(0)} ms, of which Redis ran scripts for ${load.redisScriptMs.toFixed(0)} ms`);
      await stopWatcher(run, admin);
    }
  } finally {
    admin.disconnect();
    await privateServer?.stop();
  }
  return { server, rows, loads };
}

/** Runs every scenario of `plan` against the Redis at `redisUrl`; `log` receives progress lines. */
export async function runWatcherSuite(plan, { redisUrl, log = () => {} }) {
  const admin = await connectAdmin(redisUrl);
  let kept;
  try {
    const redisVersion = await serverVersion(admin);
    const cold = await runColdSync(plan.coldSync, redisUrl, admin, log);
    kept = cold.kept;
    const updates = await runUpdateThroughput(plan.updates, kept, log);
    await stopWatcher(kept, admin);
    kept = undefined;
    collectGarbage();
    const commands = await runCommandCounts(plan.commands, redisUrl, log);
    return { mode: plan.mode, redis: { url: redisUrl.replace(/\/\/[^@]*@/, '//'), version: redisVersion }, namespace: BENCH_NAMESPACE, coldSync: cold.rows, updates, commands };
  } finally {
    if (kept !== undefined) await stopWatcher(kept, admin).catch(() => undefined);
    admin.disconnect();
  }
}
