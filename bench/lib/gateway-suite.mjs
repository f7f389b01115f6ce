/**
 * The gateway benchmark's scenarios: Skiff end to end through a real Redis, every service a process
 * of its own, as deployed.
 *
 *   fake Kubernetes API server (this process) --watch--> skiff-watcher --> Redis --> skiff-translator
 *     --> Redis --> skiff-gateway ==ADS==> skiff-loadgen (simulated proxies, its own process)
 *
 * The source is the Kubernetes API (`@skiff/k8s-fake-apiserver`, the list/watch server the watcher's
 * Kubernetes source is tested against), so a change is timed from the moment the API server commits
 * a WorkloadEntry update, exactly where a `kubectl apply` would land, to the moment each subscribed
 * proxy has received the new ClusterLoadAssignment (the load generator's arrival time; both
 * processes read the same wall clock).
 *
 * (1) load: the mesh listed by the watcher, written to Redis, built by the translator and held by the
 *     gateway (context for the rest, not a target here: the watcher and translator benchmarks own it).
 * (2) spread: `spread.proxies` Envoy sidecars over every namespace, each with the CDS wildcard and EDS
 *     for `clustersPerProxy` clusters of its namespace, so every cluster has a few subscribers. A
 *     WorkloadEntry moves to a new address `ratePerSecond` times a second (on ServiceEntries without a
 *     change in flight); latency per (change, subscribed proxy).
 * (3) fan-out: `fanout.proxies` sidecars of one namespace, all subscribed to the same cluster; one of
 *     its WorkloadEntries moves, the benchmark waits until every proxy has the new assignment, pauses,
 *     and again. (3b) repeats it with the same proxies split over two load-generator processes, and
 *     (3c) with them split over two gateway replicas on the same Redis (the gateway scaled out, as
 *     its Deployment is), one load generator process each.
 * Gateway memory (VmRSS, and heap and external memory from its `/metrics`) is read after a full garbage
 * collection before the proxies come, with them, and after they left, with the peak (VmHWM) of each
 * part; pushes per second come from `pilot_xds_pushes_total`.
 *
 * Not a test: it measures, prints and records; `bench/run.mjs` is the command.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer, istioNetworkingResources } from '@skiff/k8s-fake-apiserver';
import { buildGatewayMesh, spreadClusterFile, workloadMoves } from './gateway-mesh.mjs';
import { BINS, collectGarbage, freePort, LoadgenProcess, peakResidentMiB, processCpuMs, resetPeakResident, ServiceProcess, sleep, waitFor } from './gateway-processes.mjs';
import { connectAdmin, deleteKeys, uniquePrefix } from './redis-bench.mjs';
import { nowMs, percentile } from './stats.mjs';

/**
 * The allocator the image runs every service with (`ENV` in the repository's Dockerfile; the bench
 * test checks the two agree): jemalloc, preloaded, with a background thread returning freed pages to
 * the system within about a second. Under glibc's allocator the gateway's C heap (HTTP/2 sessions and
 * streams) grew by 20 to 50 MiB with every storm of 10,000 connecting and leaving streams and kept it
 * (resident size after three storms 1.19x, 1.25x, 1.33x the loaded gateway's; under jemalloc 1.08x,
 * 1.07x, 1.08x; docs/BENCHMARKS.md, gateway section).
 */
export const IMAGE_MALLOC_CONF = 'background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0';
export const JEMALLOC_LIBRARY = 'libjemalloc.so.2';
/** Twice `IMAGE_MALLOC_CONF`'s `dirty_decay_ms`: by then jemalloc has returned what was freed before. */
const ALLOCATOR_RETURN_MS = 2 * Number(/(?:^|,)dirty_decay_ms:(\d+)/.exec(IMAGE_MALLOC_CONF)[1]);
/** Where Debian's libjemalloc2 puts it (amd64, arm64), and where the image links it. */
const JEMALLOC_DIRECTORIES = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/local/lib'];

/** The environment that gives a service the image's allocator on this machine; throws when jemalloc is not installed. */
export function imageAllocatorEnv() {
  const library = JEMALLOC_DIRECTORIES.map((directory) => join(directory, JEMALLOC_LIBRARY)).find((path) => existsSync(path));
  if (library === undefined) {
    throw new Error(`the services run with the image's allocator, jemalloc, and ${JEMALLOC_LIBRARY} is in none of ${JEMALLOC_DIRECTORIES.join(', ')}: install it (Debian: apt-get install libjemalloc2)`);
  }
  return { LD_PRELOAD: library, MALLOC_CONF: IMAGE_MALLOC_CONF };
}

/** Throws unless `service` has jemalloc mapped: a preload that fails only prints a warning and leaves glibc's allocator in place. */
function assertJemallocLoaded(service) {
  const maps = readFileSync(`/proc/${service.pid}/maps`, 'utf8');
  if (!maps.includes(`/${JEMALLOC_LIBRARY}`)) throw new Error(`${service.name} runs without ${JEMALLOC_LIBRARY} despite LD_PRELOAD:\n${service.output}`);
}

/** The issue's sizes: 10k ServiceEntries; 1k proxies spread over the clusters; 10k proxies on one cluster. */
export const GATEWAY_FULL_PLAN = {
  mode: 'full',
  mesh: { namespaces: 100, serviceEntriesPerNamespace: 100, workloadsPerServiceEntry: 2 },
  loadTimeoutMs: 300_000,
  readyTimeoutMs: 180_000,
  /** One connection per proxy, as sidecars have. */
  spread: { proxies: 1_000, clustersPerProxy: 30, changes: 400, ratePerSecond: 40, connectRate: 1_000, streamsPerConnection: 1 },
  fanout: { proxies: 10_000, changes: 30, pauseMs: 300, connectRate: 1_000, split: { processes: 2, changes: 20 }, replicas: { gateways: 2, processes: 2, changes: 20 } },
  /** Idle time before memory is read, so the heap settles after a phase. */
  settleMs: 5_000,
  arrivalTimeoutMs: 30_000,
};

/** A smoke run: every step, small sizes, seconds. Its numbers are not comparable with the targets. */
export const GATEWAY_QUICK_PLAN = {
  mode: 'quick',
  mesh: { namespaces: 4, serviceEntriesPerNamespace: 10, workloadsPerServiceEntry: 2 },
  loadTimeoutMs: 60_000,
  readyTimeoutMs: 30_000,
  spread: { proxies: 20, clustersPerProxy: 5, changes: 20, ratePerSecond: 20, connectRate: 0, streamsPerConnection: 1 },
  fanout: { proxies: 50, changes: 5, pauseMs: 50, connectRate: 0, split: { processes: 2, changes: 3 }, replicas: { gateways: 2, processes: 2, changes: 3 } },
  settleMs: 500,
  arrivalTimeoutMs: 10_000,
};

/** Count, nearest-rank percentiles, mean and max of millisecond samples. */
function latencyOf(samples) {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1],
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
  };
}

/** The part of skiff-loadgen's summary worth keeping in the results. */
function loadgenFacts(summary) {
  return {
    connections: summary.connections,
    streams: summary.streams,
    readyMs: summary.readyMs,
    allReadyMs: summary.allReadyMs,
    responses: summary.responses,
    newVersions: summary.newVersions,
    bytesReceived: summary.bytesReceived,
    acks: summary.acks,
    pushedVersions: summary.pushedVersions,
  };
}

async function pushesOf(gateway) {
  return gateway.counter('pilot_xds_pushes_total');
}

async function pushesOfAll(gateways) {
  let pushes = 0;
  for (const gateway of gateways) pushes += await pushesOf(gateway);
  return pushes;
}

function cpuMsOfAll(processes) {
  return processes.reduce((sum, process) => sum + processCpuMs(process.pid), 0);
}

/**
 * The stages each service times itself, as Prometheus histogram sums and counts: the watcher from a
 * source event to its hash written; the translator from reading a change to its resources stored and
 * the change acknowledged; the gateway from an invalidation arriving to the EDS response written (its
 * 10 ms push debounce included). What none of them times is the hops between them.
 */
const STAGES = [
  { id: 'watcher', service: 'watcher', metric: 'skiff_watcher_sync_lag_seconds', labels: {} },
  { id: 'translator', service: 'translator', metric: 'skiff_translator_build_time', labels: { outcome: 'applied' } },
  { id: 'gateway', service: 'gateway', metric: 'pilot_xds_push_time', labels: { type: 'eds' } },
];

async function stageTotals(context) {
  const totals = {};
  for (const stage of STAGES) {
    const service = context[stage.service];
    totals[stage.id] = { sum: await service.counter(`${stage.metric}_sum`, stage.labels), count: await service.counter(`${stage.metric}_count`, stage.labels) };
  }
  return totals;
}

/** Mean milliseconds per stage between two `stageTotals`. */
function stageMeans(before, after) {
  const means = {};
  for (const stage of STAGES) {
    const count = after[stage.id].count - before[stage.id].count;
    means[stage.id] = { count, meanMs: count === 0 ? Number.NaN : ((after[stage.id].sum - before[stage.id].sum) * 1000) / count };
  }
  return means;
}

function describeStages(stages) {
  return STAGES.map((stage) => `${stage.id} ${stages[stage.id].meanMs.toFixed(1)} ms (n=${stages[stage.id].count})`).join(', ');
}

/**
 * The gateway's memory after `settleMs` of idleness and a full garbage collection (through its
 * inspector), so what is read is live data: VmRSS from `/proc/<pid>/status`, and from its `/metrics`
 * the JavaScript heap in use and the memory outside the heap (buffers), in MiB. Resident memory above
 * the two is what the allocators keep after the collector freed it. `peakRssMiB` is the largest
 * resident size since the phase began (VmHWM), connection storm and garbage included.
 */
export async function settledMemory(gateway, settleMs) {
  await sleep(settleMs);
  await collectGarbage(gateway.inspectorPort);
  const mib = (bytes) => bytes / 1048576;
  const heapUsedMiB = mib(await gateway.counter('nodejs_heap_size_used_bytes'));
  const externalMiB = mib(await gateway.counter('nodejs_external_memory_bytes'));
  // The buffers the collection freed go back to the system over jemalloc's decay time, from its
  // background thread: the resident size is read once they have (the heap, at once, before the
  // gateway's work fills it again).
  await sleep(ALLOCATOR_RETURN_MS);
  return { rssMiB: gateway.residentMiB(), peakRssMiB: peakResidentMiB(gateway.pid), heapUsedMiB, externalMiB };
}

/**
 * `memory` for the log. `peakSince` says where its peak (VmHWM) was reset: after the streams left, it
 * starts from the resident size they left, garbage included, and is not the departure's own.
 */
function describeMemory(memory, peakSince = 'peak') {
  return `RSS ${memory.rssMiB.toFixed(0)} MiB after a GC (heap in use ${memory.heapUsedMiB.toFixed(0)}, external ${memory.externalMiB.toFixed(0)}; ${peakSince} ${memory.peakRssMiB.toFixed(0)})`;
}

const AFTER_LEAVING = 'peak from when they had left, the garbage they left included';

/**
 * Starts `processes` load generators sharing `proxies`; resolves once every simulated proxy is ready.
 * `context.loadgenTransport` picks the generators' transport (their default, http2, when unset).
 * Generator i connects to `xdsAddresses[i]` modulo their number (default: the first gateway's), as a
 * Service spreads connections over a Deployment's replicas.
 */
export async function startLoadgens(context, { proxies, processes = 1, args, readyTimeoutMs, xdsAddresses = [context.xdsAddress] }) {
  const started = nowMs();
  const loadgens = [];
  const transport = context.loadgenTransport === undefined ? [] : ['--transport', context.loadgenTransport];
  for (let i = 0; i < processes; i++) {
    const share = Math.floor(proxies / processes) + (i < proxies % processes ? 1 : 0);
    const loadgen = LoadgenProcess.start(['--xds-addr', xdsAddresses[i % xdsAddresses.length], '--proxies', String(share), ...transport, ...args]);
    context.cleanups.push(() => loadgen.kill());
    loadgens.push(loadgen);
  }
  for (const loadgen of loadgens) {
    const { ready, status } = await loadgen.ask({ op: 'ready', timeoutMs: readyTimeoutMs });
    if (!ready) throw new Error(`only ${status.ready} of ${status.proxies} simulated proxies got their configuration within ${readyTimeoutMs} ms`);
  }
  return { loadgens, connectMs: nowMs() - started };
}

/** Every load generator's arrivals of `name` since `since`, merged. */
async function arrivalsOf(loadgens, name, since, timeoutMs) {
  const replies = await Promise.all(loadgens.map((loadgen) => loadgen.ask({ op: 'arrivals', type: 'eds', name, since, timeoutMs })));
  return {
    subscribers: replies.reduce((sum, reply) => sum + reply.subscribers, 0),
    missing: replies.reduce((sum, reply) => sum + reply.missing, 0),
    delaysMs: replies.flatMap((reply) => reply.delaysMs).sort((a, b) => a - b),
  };
}

/** (2) Proxies spread over the namespaces; WorkloadEntry moves at a steady rate. */
async function measureSpread(context, plan, log) {
  const { mesh, fake, gateway } = context;
  const spread = plan.spread;
  const clusterFile = join(context.scratch, 'spread-clusters.txt');
  writeFileSync(clusterFile, spreadClusterFile(mesh));
  const before = await settledMemory(gateway, 0);
  resetPeakResident(gateway.pid);
  const { loadgens, connectMs } = await startLoadgens(context, {
    proxies: spread.proxies,
    args: ['--clusters', clusterFile, '--clusters-per-proxy', String(spread.clustersPerProxy), '--connect-rate', String(spread.connectRate), '--streams-per-connection', String(spread.streamsPerConnection)],
    readyTimeoutMs: plan.readyTimeoutMs,
  });
  const [loadgen] = loadgens;
  const withStreams = await settledMemory(gateway, plan.settleMs);
  log(`  ${spread.proxies} proxies ready in ${Math.round(connectMs)} ms; gateway ${describeMemory(withStreams)}`);
  resetPeakResident(gateway.pid);

  const busy = new Set();
  const delays = [];
  let missing = 0;
  let subscribers = 0;
  const inFlight = [];
  const pushesBefore = await pushesOf(gateway);
  const stagesBefore = await stageTotals(context);
  const started = Date.now();
  for (let i = 0; i < spread.changes; i++) {
    const due = started + (i * 1000) / spread.ratePerSecond;
    if (due > Date.now()) await sleep(due - Date.now());
    const { service, object } = context.moves.next({ busy });
    busy.add(service.index);
    const since = Date.now();
    fake.apply(object);
    inFlight.push(
      Promise.all(service.clusters.map((name) => arrivalsOf([loadgen], name, since, plan.arrivalTimeoutMs)))
        .then((replies) => {
          for (const reply of replies) {
            for (const item of reply.delaysMs) delays.push(item);
            missing += reply.missing;
            subscribers += reply.subscribers;
          }
        })
        .finally(() => busy.delete(service.index)),
    );
  }
  await Promise.all(inFlight);
  const durationMs = Date.now() - started;
  const pushes = (await pushesOf(gateway)) - pushesBefore;
  const stages = stageMeans(stagesBefore, await stageTotals(context));
  const peakDuringChangesMiB = peakResidentMiB(gateway.pid);
  const summary = await loadgen.stop();
  resetPeakResident(gateway.pid);
  const after = await settledMemory(gateway, plan.settleMs);
  const latency = latencyOf(delays);
  log(`  ${spread.changes} changes, ${delays.length} arrivals (${missing} missing): p50 ${latency.p50} ms, p99 ${latency.p99} ms; ${Math.round((pushes * 1000) / durationMs)} pushes/s; peak RSS during the changes ${peakDuringChangesMiB.toFixed(0)} MiB; after they left: ${describeMemory(after, AFTER_LEAVING)}`);
  log(`  stage means: ${describeStages(stages)}`);
  return {
    proxies: spread.proxies,
    clustersPerProxy: spread.clustersPerProxy,
    changes: spread.changes,
    ratePerSecond: spread.ratePerSecond,
    connectMs,
    subscribers,
    arrivals: delays.length,
    missing,
    latencyMs: latency,
    stages,
    durationMs,
    pushes,
    pushesPerSecond: (pushes * 1000) / durationMs,
    memory: { before, withStreams, peakDuringChangesMiB, after },
    loadgen: loadgenFacts(summary),
  };
}

/**
 * (3) Every proxy on one cluster; one change at a time, each waited for at every proxy. The load
 * generator is one process (`processes` 1), or the same proxies split over several processes, which
 * shows how much of the latency is the simulation itself: one process reads and ACKs every proxy's
 * response in turn, where real proxies do so side by side. With `gateways` above 1 the proxies are
 * split over that many gateway replicas (`scaleGatewaysTo` first), load generator i connecting to
 * replica i modulo their number.
 */
export async function measureFanout(context, plan, log, variant) {
  const { mesh, fake, gateway } = context;
  /** The gateway replicas serving the proxies: CPU and pushes are their sums; memory and stages are the first one's. */
  const replicas = context.gateways.slice(0, variant.gateways ?? 1);
  const fanout = plan.fanout;
  const hot = mesh.services[0];
  const clusterFile = join(context.scratch, 'fanout-clusters.txt');
  // The changed cluster, then as many more of its namespace as `edsClusters` asks (one by default),
  // so that each stream's endpoint subscription can be as large as a sidecar's.
  const neighbours = mesh.services.filter((service) => service.namespace === hot.namespace).flatMap((service) => service.clusters);
  const edsClusters = [hot.clusters[0], ...neighbours.filter((cluster) => cluster !== hot.clusters[0])].slice(0, fanout.edsClusters ?? 1);
  writeFileSync(clusterFile, `[${hot.namespace}]\n${edsClusters.join('\n')}\n`);
  const before = await settledMemory(gateway, plan.settleMs);
  resetPeakResident(gateway.pid);
  const { loadgens, connectMs } = await startLoadgens(context, {
    proxies: fanout.proxies,
    processes: variant.processes,
    xdsAddresses: context.xdsAddresses.slice(0, replicas.length),
    args: ['--clusters', clusterFile, '--connect-rate', String(fanout.connectRate / variant.processes)],
    readyTimeoutMs: plan.readyTimeoutMs,
  });
  const withStreams = await settledMemory(gateway, plan.settleMs);
  log(`  ${fanout.proxies} proxies (${variant.processes} load generator process${variant.processes === 1 ? '' : 'es'}) ready in ${Math.round(connectMs)} ms; gateway ${describeMemory(withStreams)}`);
  resetPeakResident(gateway.pid);

  const delays = [];
  const rounds = [];
  /** CPU milliseconds per change: the gateway's, and the load generators' together. */
  const gatewayCpu = [];
  const loadgenCpu = [];
  const loadAverages = [];
  let missing = 0;
  let roundsMs = 0;
  let pushesInRounds = 0;
  const stagesBefore = await stageTotals(context);
  for (let i = 0; i < variant.changes; i++) {
    const { object } = context.moves.next({ only: hot });
    const pushesBefore = await pushesOfAll(replicas);
    const gatewayCpuBefore = cpuMsOfAll(replicas);
    const loadgenCpuBefore = loadgens.map((loadgen) => processCpuMs(loadgen.pid));
    const since = Date.now();
    fake.apply(object);
    const reply = await arrivalsOf(loadgens, hot.clusters[0], since, plan.arrivalTimeoutMs);
    roundsMs += Date.now() - since;
    // Read once every proxy has the change; the ACKs still in flight land in the next round's count.
    gatewayCpu.push(cpuMsOfAll(replicas) - gatewayCpuBefore);
    loadgenCpu.push(loadgens.reduce((sum, loadgen, index) => sum + processCpuMs(loadgen.pid) - loadgenCpuBefore[index], 0));
    loadAverages.push(loadavg()[0]);
    for (const item of reply.delaysMs) delays.push(item);
    missing += reply.missing;
    rounds.push({ first: reply.delaysMs[0] ?? Number.NaN, last: reply.delaysMs[reply.delaysMs.length - 1] ?? Number.NaN });
    pushesInRounds += (await pushesOfAll(replicas)) - pushesBefore;
    await sleep(fanout.pauseMs);
  }
  const stages = stageMeans(stagesBefore, await stageTotals(context));
  const peakDuringChangesMiB = peakResidentMiB(gateway.pid);
  const summaries = [];
  for (const loadgen of loadgens) summaries.push(await loadgen.stop());
  resetPeakResident(gateway.pid);
  const after = await settledMemory(gateway, plan.settleMs);
  const latency = latencyOf(delays);
  log(`  ${variant.changes} changes x ${fanout.proxies} proxies: p50 ${latency.p50} ms, p99 ${latency.p99} ms (${missing} missing); ${Math.round((pushesInRounds * 1000) / roundsMs)} pushes/s; peak RSS during the changes ${peakDuringChangesMiB.toFixed(0)} MiB; after they left: ${describeMemory(after, AFTER_LEAVING)}`);
  log(`  stage means: ${describeStages(stages)}`);
  const cpu = {
    gatewayMsPerChange: latencyOf(gatewayCpu),
    loadgenMsPerChange: latencyOf(loadgenCpu),
    loadAverage: { min: loadAverages.reduce((a, b) => Math.min(a, b), Infinity), max: loadAverages.reduce((a, b) => Math.max(a, b), 0) },
  };
  cpu.gatewayUsPerProxy = (cpu.gatewayMsPerChange.mean * 1000) / fanout.proxies;
  log(`  ${replicas.length === 1 ? 'gateway' : `${replicas.length} gateways'`} CPU per change: mean ${cpu.gatewayMsPerChange.mean.toFixed(0)} ms, p50 ${cpu.gatewayMsPerChange.p50} ms (${cpu.gatewayUsPerProxy.toFixed(1)} us per proxy); load generator ${cpu.loadgenMsPerChange.mean.toFixed(0)} ms; load average ${cpu.loadAverage.min.toFixed(1)}-${cpu.loadAverage.max.toFixed(1)}`);
  return {
    proxies: fanout.proxies,
    processes: variant.processes,
    gateways: replicas.length,
    cpu,
    changes: variant.changes,
    connectMs,
    arrivals: delays.length,
    missing,
    latencyMs: latency,
    firstArrivalMs: latencyOf(rounds.map((round) => round.first)),
    lastArrivalMs: latencyOf(rounds.map((round) => round.last)),
    stages,
    pushes: pushesInRounds,
    pushesPerSecond: (pushesInRounds * 1000) / roundsMs,
    memory: { before, withStreams, peakDuringChangesMiB, after },
    rssPerStreamKiB: ((withStreams.rssMiB - before.rssMiB) * 1024) / fanout.proxies,
    heapPerStreamKiB: ((withStreams.heapUsedMiB - before.heapUsedMiB) * 1024) / fanout.proxies,
    loadgen: summaries.map(loadgenFacts),
  };
}

/** Idle windows, each two fleet heartbeats (5 s) long: V8's collections after the streams came can fall in one. */
const IDLE_WINDOWS = 3;
const IDLE_WINDOW_MS = 10_000;

/** The gateway's CPU milliseconds per second in each of `IDLE_WINDOWS` consecutive windows, nothing else happening. */
async function idleCpu(gateway) {
  const perSecond = [];
  for (let i = 0; i < IDLE_WINDOWS; i++) {
    const before = processCpuMs(gateway.pid);
    await sleep(IDLE_WINDOW_MS);
    perSecond.push(((processCpuMs(gateway.pid) - before) * 1000) / IDLE_WINDOW_MS);
  }
  return perSecond;
}

/**
 * (4) Memory alone: `plan.streams.proxies` sidecars on the fan-out cluster connect (100 streams per
 * connection) and stay; the gateway's memory after a GC before, with them, and after they left, and
 * its CPU while they sit idle (`idleCpuMsPerSecond`, one figure per window).
 */
export async function measureStreamsMemory(context, plan, log) {
  const { mesh, gateway } = context;
  const { proxies, connectRate } = plan.streams;
  const hot = mesh.services[0];
  const clusterFile = join(context.scratch, 'streams-clusters.txt');
  writeFileSync(clusterFile, `[${hot.namespace}]\n${hot.clusters[0]}\n`);
  const before = await settledMemory(gateway, plan.settleMs);
  resetPeakResident(gateway.pid);
  const { loadgens, connectMs } = await startLoadgens(context, { proxies, args: ['--clusters', clusterFile, '--connect-rate', String(connectRate)], readyTimeoutMs: plan.readyTimeoutMs });
  const withStreams = await settledMemory(gateway, plan.settleMs);
  log(`  ${proxies} streams ready in ${Math.round(connectMs)} ms; gateway ${describeMemory(withStreams)}`);
  const idleCpuMsPerSecond = await idleCpu(gateway);
  log(`  gateway CPU while they sit idle (fleet heartbeats, timers): ${idleCpuMsPerSecond.map((ms) => ms.toFixed(1)).join(', ')} ms per second over ${IDLE_WINDOW_MS / 1000} s windows`);
  for (const loadgen of loadgens) await loadgen.stop();
  resetPeakResident(gateway.pid);
  const after = await settledMemory(gateway, plan.settleMs);
  log(`  after they left: ${describeMemory(after, AFTER_LEAVING)}`);
  return {
    proxies,
    connectMs,
    memory: { before, withStreams, after },
    idleCpuMsPerSecond,
    rssPerStreamKiB: ((withStreams.rssMiB - before.rssMiB) * 1024) / proxies,
    heapPerStreamKiB: ((withStreams.heapUsedMiB - before.heapUsedMiB) * 1024) / proxies,
    loadAverage: loadavg()[0],
  };
}

/** Starts one more gateway process on the suite's Redis, with its own ADS port; `context.gateways` lists them in order. */
async function startGatewayProcess(context) {
  const { store, env, nodeArgs } = context.gatewayStart;
  const xdsAddress = `127.0.0.1:${await freePort()}`;
  // The inspector (on 127.0.0.1) lets memory be read after a full garbage collection.
  const gateway = await ServiceProcess.start('skiff-gateway', BINS.gateway, [...store, '--xds-addr', xdsAddress], { nodeArgs, inspect: true, env });
  context.cleanups.push(() => gateway.stop());
  assertJemallocLoaded(gateway);
  context.gateways.push(gateway);
  context.xdsAddresses.push(xdsAddress);
  return gateway;
}

async function untilGatewayHoldsMesh(context, plan, gateway) {
  const expected = context.mesh.serviceEntryCount;
  await waitFor(
    async () => {
      const { skiff_cache: cache } = await gateway.debug('/debug/push_status');
      return cache.owners === expected && cache.pendingOwnerSyncs === 0 ? true : undefined;
    },
    {
      timeoutMs: plan.loadTimeoutMs,
      intervalMs: 250,
      describe: async () => `the gateway holds ${(await gateway.debug('/debug/push_status')).skiff_cache.owners} of ${expected} ServiceEntries`,
    },
  );
}

/**
 * Scales the gateway out to `count` replicas on the same Redis, as a Deployment's replicas behind a
 * Service: each new one reads the stored mesh and is ready once it holds every ServiceEntry.
 */
export async function scaleGatewaysTo(context, plan, count) {
  while (context.gateways.length < count) await untilGatewayHoldsMesh(context, plan, await startGatewayProcess(context));
}

/** (1) The mesh into the API server; the services started; waits until the gateway holds every ServiceEntry. */
export async function loadMesh(context, plan, options, log) {
  const { mesh } = context;
  const fake = await FakeApiServer.start({ resources: istioNetworkingResources(['v1']) });
  context.fake = fake;
  context.cleanups.push(() => fake.close());
  for (const object of mesh.objects) fake.apply(object);
  const kubeconfig = join(context.scratch, 'kubeconfig.json');
  writeFileSync(kubeconfig, fake.kubeconfig());

  const store = ['--redis-url', options.redisUrl, '--key-prefix', context.prefix];
  const env = imageAllocatorEnv();
  const started = nowMs();
  const translator = await ServiceProcess.start('skiff-translator', BINS.translator, store, { env });
  context.cleanups.push(() => translator.stop());
  context.gatewayStart = { store, env, nodeArgs: options.gatewayCpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.gatewayCpuProfileDir] };
  context.gateways = [];
  context.xdsAddresses = [];
  const gateway = await startGatewayProcess(context);
  const watcher = await ServiceProcess.start('skiff-watcher', BINS.watcher, [...store, '--kubeconfig', kubeconfig], { readyTimeoutMs: plan.loadTimeoutMs, env });
  context.cleanups.push(() => watcher.stop());
  for (const service of [translator, watcher]) assertJemallocLoaded(service);
  context.gateway = gateway;
  context.translator = translator;
  context.watcher = watcher;
  context.xdsAddress = context.xdsAddresses[0];
  await untilGatewayHoldsMesh(context, plan, gateway);
  const loadMs = nowMs() - started;
  const cache = (await gateway.debug('/debug/push_status')).skiff_cache;
  const memory = await settledMemory(gateway, plan.settleMs);
  log(`  ${mesh.serviceEntryCount} ServiceEntries, ${mesh.workloadCount} WorkloadEntries listed, built and held by the gateway in ${(loadMs / 1000).toFixed(1)} s; ${cache.resources} resources; gateway ${describeMemory(memory)}`);
  return { namespaces: mesh.namespaces.length, serviceEntries: mesh.serviceEntryCount, workloads: mesh.workloadCount, gatewayResources: cache.resources, loadMs, memory, allocator: env };
}

/**
 * Runs the plan against Redis at `redisUrl`: keys under a unique prefix, deleted afterwards; every
 * process stopped whatever happens. `gatewayCpuProfileDir` runs the gateway with `--cpu-prof`.
 */
export async function runGatewaySuite(plan, { redisUrl, log = () => {}, gatewayCpuProfileDir }) {
  const admin = await connectAdmin(redisUrl);
  const mesh = buildGatewayMesh(plan.mesh);
  const context = {
    mesh,
    // One sequence of moves for the whole run, so every change gives its workload a new address.
    moves: workloadMoves(mesh, 11),
    prefix: uniquePrefix('gateway'),
    scratch: mkdtempSync(join(tmpdir(), 'skiff-bench-gateway-')),
    cleanups: [],
  };
  const removeSignalHandlers = cleanUpOnSignal(context, admin, log);
  try {
    log('(1) load the mesh through the watcher, the translator and the gateway');
    const load = await loadMesh(context, plan, { redisUrl, gatewayCpuProfileDir }, log);
    log(`(2) ${plan.spread.proxies} proxies spread over ${context.mesh.namespaces.length} namespaces`);
    const spread = await measureSpread(context, plan, log);
    log(`(3) ${plan.fanout.proxies} proxies subscribed to one cluster, one load generator process`);
    const fanout = await measureFanout(context, plan, log, { processes: 1, changes: plan.fanout.changes });
    log(`(3b) the same proxies from ${plan.fanout.split.processes} load generator processes`);
    const fanoutSplit = await measureFanout(context, plan, log, plan.fanout.split);
    const { replicas } = plan.fanout;
    log(`(3c) the same proxies over ${replicas.gateways} gateway replicas, ${replicas.processes} load generator processes`);
    await scaleGatewaysTo(context, plan, replicas.gateways);
    const fanoutReplicas = await measureFanout(context, plan, log, replicas);
    return { mode: plan.mode, plan, load, spread, fanout, fanoutSplit, fanoutReplicas };
  } finally {
    removeSignalHandlers();
    await cleanUp(context, admin, log);
  }
}

/**
 * A run stopped from outside (a timeout, Ctrl-C) stops its services and deletes its keys before the
 * process leaves (exit code 130); otherwise the services it started outlive it. Returns the function
 * that removes the handlers, for a run that ended on its own.
 */
export function cleanUpOnSignal(context, admin, log) {
  const handlers = ['SIGINT', 'SIGTERM'].map((signal) => {
    const handler = () => {
      log(`${signal}: cleaning up`);
      cleanUp(context, admin, log).finally(() => process.exit(130));
    };
    process.once(signal, handler);
    return [signal, handler];
  });
  return () => {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
  };
}

/** Stops what a run started (in reverse), deletes its keys and scratch directory; logs a cleanup that fails. */
export async function cleanUp(context, admin, log) {
  for (const cleanup of context.cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      log(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  await deleteKeys(admin, context.prefix);
  admin.disconnect();
  rmSync(context.scratch, { recursive: true, force: true });
}
