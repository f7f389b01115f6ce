/**
 * The soak: Skiff end to end, as in the gateway benchmark (fake Kubernetes API server -> skiff-watcher
 * -> Redis -> skiff-translator -> Redis -> skiff-gateway ==ADS==> skiff-loadgen), held under load for a
 * long time to show that the gateway's memory does not grow:
 *
 * - `streams` simulated sidecars stay connected, spread over every namespace;
 * - `changesPerSecond` WorkloadEntries move to a new address, without pause, through the API server;
 * - every `stormEveryMs` the load generators are killed and started again: every stream drops at once
 *   and every proxy reconnects as fast as it can (a gateway or network restart, as proxies see it);
 * - every `sampleEveryMs` the gateway's resident memory (VmRSS), JavaScript heap in use and external
 *   memory (from its `/metrics`), connected streams (`pilot_xds`) and pushes are sampled, and just
 *   before each storm its memory is read again after a full garbage collection (live data only).
 *
 * Flat means: the live memory at the end of the run is within `flatWithin` (10 %) of the live memory at
 * the end of the first full storm period after warm-up (`evaluateFlatness`). Not a test:
 * `bench/soak.mjs` is the command; its quick mode is.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGatewayMesh, spreadClusterFile, workloadMoves } from './gateway-mesh.mjs';
import { peakResidentMiB, sleep } from './gateway-processes.mjs';
import { cleanUp, cleanUpOnSignal, loadMesh, settledMemory, startLoadgens } from './gateway-suite.mjs';
import { connectAdmin, uniquePrefix } from './redis-bench.mjs';
import { nowMs } from './stats.mjs';

/** The soak: 30 minutes, 10k streams, 100 WorkloadEntry changes a second, a reconnect storm every 5 minutes. */
export const SOAK_FULL_PLAN = {
  mode: 'full',
  mesh: { namespaces: 20, serviceEntriesPerNamespace: 50, workloadsPerServiceEntry: 2 },
  loadTimeoutMs: 300_000,
  readyTimeoutMs: 300_000,
  durationMs: 30 * 60_000,
  streams: 10_000,
  loadgenProcesses: 2,
  clustersPerProxy: 5,
  changesPerSecond: 100,
  stormEveryMs: 5 * 60_000,
  sampleEveryMs: 10_000,
  flatWithin: 0.1,
  settleMs: 5_000,
};

/** Every step in a minute with small sizes: a smoke run whose numbers mean nothing. */
export const SOAK_QUICK_PLAN = {
  mode: 'quick',
  mesh: { namespaces: 4, serviceEntriesPerNamespace: 10, workloadsPerServiceEntry: 2 },
  loadTimeoutMs: 60_000,
  readyTimeoutMs: 60_000,
  durationMs: 60_000,
  streams: 200,
  loadgenProcesses: 2,
  clustersPerProxy: 3,
  changesPerSecond: 20,
  stormEveryMs: 20_000,
  sampleEveryMs: 2_000,
  flatWithin: 0.1,
  settleMs: 500,
};

const mib = (bytes) => bytes / 1048576;

/**
 * Reads `gateway`'s metrics once, retried: under the soak's load the gateway's HTTP server may close an idle
 * keep-alive connection just as the next scrape reuses it (ECONNRESET), which says nothing about the gateway.
 * A gateway that has exited fails at once, with its output.
 */
async function sample(gateway, startedAt) {
  for (let attempt = 1; ; attempt += 1) {
    if (gateway.child.exitCode !== null || gateway.child.signalCode !== null) {
      throw new Error(`the gateway exited (${gateway.child.exitCode ?? gateway.child.signalCode}) during the soak:\n${gateway.output}`);
    }
    try {
      return await sampleOnce(gateway, startedAt);
    } catch (error) {
      if (attempt === 3) throw error;
      await sleep(500);
    }
  }
}

async function sampleOnce(gateway, startedAt) {
  return {
    atSeconds: Math.round((nowMs() - startedAt) / 1000),
    rssMiB: gateway.residentMiB(),
    heapUsedMiB: mib(await gateway.counter('nodejs_heap_size_used_bytes')),
    externalMiB: mib(await gateway.counter('nodejs_external_memory_bytes')),
    streams: await gateway.counter('pilot_xds'),
    pushes: await gateway.counter('pilot_xds_pushes_total'),
    refused: await gateway.counter('skiff_xds_refused_total'),
  };
}

function mean(values) {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** Mean RSS and heap of the samples in [from, to) seconds. */
function windowOf(samples, fromSeconds, toSeconds) {
  const inside = samples.filter((s) => s.atSeconds >= fromSeconds && s.atSeconds < toSeconds);
  return { fromSeconds, toSeconds, samples: inside.length, rssMiB: mean(inside.map((s) => s.rssMiB)), heapUsedMiB: mean(inside.map((s) => s.heapUsedMiB)) };
}

/**
 * Whether the gateway's memory stays flat: its live memory, read after a full garbage collection with
 * every stream connected (`settled`), at the end of the first full storm period after warm-up and at
 * the end of the run, within `plan.flatWithin`. Memory sampled between collections is a sawtooth whose
 * height follows V8's pacing (how much is allocated before the next collection depends on the
 * allocation rate, so on how much CPU the gateway got): the means of those samples over the same two
 * periods are reported beside the verdict (`sampled`), not used for it.
 */
export function evaluateFlatness(samples, settled, plan) {
  const period = plan.stormEveryMs / 1000;
  const end = plan.durationMs / 1000;
  const first = settled.find((reading) => reading.atSeconds >= 2 * period - 1) ?? settled[0];
  const last = settled[settled.length - 1];
  const rssGrowth = last.rssMiB / first.rssMiB - 1;
  const heapGrowth = last.heapUsedMiB / first.heapUsedMiB - 1;
  const sampledFirst = windowOf(samples, period, 2 * period);
  const sampledLast = windowOf(samples, Math.max(period, end - period), end + 1);
  return {
    first,
    last,
    rssGrowth,
    heapGrowth,
    flat: Math.abs(rssGrowth) <= plan.flatWithin && Math.abs(heapGrowth) <= plan.flatWithin,
    sampled: { first: sampledFirst, last: sampledLast, rssGrowth: sampledLast.rssMiB / sampledFirst.rssMiB - 1, heapGrowth: sampledLast.heapUsedMiB / sampledFirst.heapUsedMiB - 1 },
  };
}

/** Runs the soak against Redis at `redisUrl`; every process is stopped and every key deleted whatever happens. */
export async function runSoak(plan, { redisUrl, log = () => {} }) {
  const admin = await connectAdmin(redisUrl);
  const mesh = buildGatewayMesh(plan.mesh);
  const context = { mesh, moves: workloadMoves(mesh, 17), prefix: uniquePrefix('soak'), scratch: mkdtempSync(join(tmpdir(), 'skiff-soak-')), cleanups: [] };
  const removeSignalHandlers = cleanUpOnSignal(context, admin, log);
  try {
    log('(1) load the mesh through the watcher, the translator and the gateway');
    const load = await loadMesh(context, { ...plan, settleMs: plan.settleMs }, { redisUrl }, log);
    const { gateway, fake } = context;
    const clusterFile = join(context.scratch, 'clusters.txt');
    writeFileSync(clusterFile, spreadClusterFile(mesh));
    const loadgenArgs = ['--clusters', clusterFile, '--clusters-per-proxy', String(plan.clustersPerProxy), '--connect-rate', '0', '--streams-per-connection', '1'];
    const connect = () => startLoadgens(context, { proxies: plan.streams, processes: plan.loadgenProcesses, args: loadgenArgs, readyTimeoutMs: plan.readyTimeoutMs });

    log(`(2) ${plan.streams} streams, ${plan.changesPerSecond} WorkloadEntry changes/s, a reconnect storm every ${plan.stormEveryMs / 1000} s, for ${plan.durationMs / 1000} s`);
    let { loadgens, connectMs } = await connect();
    log(`  ${plan.streams} streams ready in ${Math.round(connectMs)} ms`);
    const startedAt = nowMs();
    const deadline = startedAt + plan.durationMs;
    const samples = [];
    const settled = [];
    const storms = [];
    let changes = 0;
    let running = true;

    // A failing loop stops the soak: its error is kept and thrown by the storm loop, so the processes are still
    // stopped in `finally` (an unhandled rejection would end the process and leave them running).
    let failure;
    const stopOnFailure = (loop) =>
      loop.catch((error) => {
        failure ??= error;
        running = false;
      });
    /** Sleeps until `untilMs`, waking early when a loop has failed. */
    const sleepUntil = async (untilMs) => {
      while (running && nowMs() < untilMs) await sleep(Math.min(1000, untilMs - nowMs()));
      if (failure !== undefined) throw failure;
    };
    const changeLoop = stopOnFailure((async () => {
      const interval = 1000 / plan.changesPerSecond;
      let due = nowMs();
      while (running) {
        fake.apply(context.moves.next().object);
        changes += 1;
        due += interval;
        const wait = due - nowMs();
        if (wait > 0) await sleep(wait);
      }
    })());
    const sampleLoop = stopOnFailure((async () => {
      while (running) {
        samples.push(await sample(gateway, startedAt));
        const last = samples[samples.length - 1];
        log(`  ${String(last.atSeconds).padStart(5)} s  RSS ${last.rssMiB.toFixed(0)} MiB  heap ${last.heapUsedMiB.toFixed(0)} MiB  streams ${last.streams}  pushes ${last.pushes}`);
        await sleep(plan.sampleEveryMs);
      }
    })());

    for (let next = startedAt + plan.stormEveryMs; next < deadline; next += plan.stormEveryMs) {
      await sleepUntil(next);
      // Live memory just before the storm (a full GC through the gateway's inspector).
      settled.push({ atSeconds: Math.round((nowMs() - startedAt) / 1000), ...(await settledMemory(gateway, 0)) });
      const stormStarted = nowMs();
      for (const loadgen of loadgens) loadgen.kill();
      ({ loadgens } = await connect());
      const stormMs = nowMs() - stormStarted;
      storms.push({ atSeconds: Math.round((stormStarted - startedAt) / 1000), reconnectMs: stormMs });
      log(`  storm at ${storms[storms.length - 1].atSeconds} s: ${plan.streams} streams dropped and back in ${Math.round(stormMs)} ms`);
    }
    await sleepUntil(deadline);
    running = false;
    await Promise.all([changeLoop, sampleLoop]);
    if (failure !== undefined) throw failure;
    samples.push(await sample(gateway, startedAt));
    // The last period's live memory, every stream still connected.
    settled.push({ atSeconds: Math.round((nowMs() - startedAt) / 1000), ...(await settledMemory(gateway, 0)) });
    const durationMs = nowMs() - startedAt;
    const summaries = [];
    for (const loadgen of loadgens) summaries.push(await loadgen.stop());
    const after = await settledMemory(gateway, plan.settleMs);
    const flatness = evaluateFlatness(samples, settled, plan);
    log(`  ${changes} changes in ${(durationMs / 1000).toFixed(0)} s`);
    return {
      mode: plan.mode,
      plan,
      load,
      durationMs,
      changes,
      changesPerSecond: (changes * 1000) / durationMs,
      connectMs,
      storms,
      samples,
      settled,
      after,
      peakRssMiB: peakResidentMiB(gateway.pid),
      flatness,
      loadgen: summaries.map((summary) => ({ connections: summary.connections, streams: summary.streams, responses: summary.responses, acks: summary.acks })),
    };
  } finally {
    removeSignalHandlers();
    await cleanUp(context, admin, log);
  }
}
