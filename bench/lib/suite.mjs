/**
 * The benchmark scenarios. Not a test: it measures, prints and records; `bench/run.mjs` is the command.
 *
 * (a) cold build: every ServiceEntry and WorkloadEntry into the index, then every ServiceEntry
 *     translated and encoded;
 * (b) one WorkloadEntry update at a time (index lookup + rebuild and encode of the affected
 *     ServiceEntries), over meshes that grow while each ServiceEntry keeps selecting ~20 workloads, so
 *     the work an update must do stays the same and only the mesh around it grows; and, for context,
 *     over meshes of 100 ServiceEntries where the affected assignments themselves grow with the mesh;
 * (c) the same updates through the two reference implementations (istiod <= 1.12's double loop and
 *     1.13-1.29's namespace scan), whose outputs are checked against the index's, byte for byte.
 */
import { TypeUrl } from '@skiff/protos';
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { buildMesh, buildUpdates } from './mesh.mjs';
import { IndexedControlPlane } from './pipeline.mjs';
import { DoubleLoopReference } from './reference-double-loop.mjs';
import { NamespaceScanReference } from './reference-namespace-scan.mjs';
import { nowMs, summarize } from './stats.mjs';

/** What a full run measures. Repetitions shrink with size to keep a run within a few minutes on 2 cores. */
export const FULL_PLAN = {
  mode: 'full',
  coldBuild: {
    workloadCounts: [1_000, 10_000, 100_000, 200_000],
    serviceEntryCounts: [100, 10_000],
    repetitions: (workloads, serviceEntries) => (workloads > 10_000 || serviceEntries > 100 ? 3 : 5),
  },
  constantSelection: {
    meshes: [
      { serviceEntryCount: 50, workloadCount: 1_000 },
      { serviceEntryCount: 500, workloadCount: 10_000 },
      { serviceEntryCount: 5_000, workloadCount: 100_000 },
      { serviceEntryCount: 10_000, workloadCount: 200_000 },
    ],
    warmupUpdates: 500,
    measuredUpdates: 5_000,
    rounds: 10,
    // One double-loop update walks SE x WE pairs: 2 billion at the largest size, about a minute here.
    doubleLoopUpdates: (workloads) => (workloads <= 10_000 ? 20 : workloads <= 100_000 ? 2 : 1),
    namespaceScanUpdates: 500,
  },
  fixedServiceEntries: {
    meshes: [
      { serviceEntryCount: 100, workloadCount: 1_000 },
      { serviceEntryCount: 100, workloadCount: 10_000 },
      { serviceEntryCount: 100, workloadCount: 100_000 },
      { serviceEntryCount: 100, workloadCount: 200_000 },
    ],
    warmupUpdates: 20,
    measuredUpdates: (workloads) => (workloads <= 10_000 ? 1_000 : 150),
    rounds: 5,
  },
};

/** A smoke run: every code path, small sizes, seconds. Its numbers are not comparable with the targets. */
export const QUICK_PLAN = {
  mode: 'quick',
  coldBuild: { workloadCounts: [500, 2_000], serviceEntryCounts: [20, 200], repetitions: () => 1 },
  constantSelection: {
    meshes: [
      { serviceEntryCount: 25, workloadCount: 500 },
      { serviceEntryCount: 100, workloadCount: 2_000 },
    ],
    warmupUpdates: 20,
    measuredUpdates: 60,
    rounds: 2,
    doubleLoopUpdates: () => 5,
    namespaceScanUpdates: 20,
  },
  fixedServiceEntries: {
    meshes: [
      { serviceEntryCount: 20, workloadCount: 500 },
      { serviceEntryCount: 20, workloadCount: 2_000 },
    ],
    warmupUpdates: 5,
    measuredUpdates: () => 20,
    rounds: 2,
  },
};

/** A garbage collection between scenarios, so one scenario's garbage is not collected in the next one's timings. */
function collectGarbage() {
  if (typeof globalThis.gc !== 'function') setFlagsFromString('--expose-gc');
  const gc = typeof globalThis.gc === 'function' ? globalThis.gc : runInNewContext('gc');
  gc();
}

function countResources(encodedPerServiceEntry) {
  let clusters = 0;
  let loadAssignments = 0;
  let bytes = 0;
  for (const encoded of encodedPerServiceEntry) {
    for (const resource of encoded) {
      if (resource.typeUrl === TypeUrl.Cluster) clusters++;
      else if (resource.typeUrl === TypeUrl.ClusterLoadAssignment) loadAssignments++;
      bytes += resource.bytes.byteLength;
    }
  }
  return { clusters, loadAssignments, bytes };
}

/** One ServiceEntry's encoded resources as a comparable string: `name@version` of each. */
function fingerprint(encoded) {
  return encoded.map((resource) => `${resource.name}@${resource.version}`).join(',');
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >>> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Cold builds, repeated in rounds that alternate between the sizes (in reverse order every other
 * round), so load from other processes falls on every size alike. Each run starts from a freshly built
 * mesh and an empty heap of its own.
 */
function runColdBuild(plan, log) {
  const configurations = [];
  for (const serviceEntryCount of plan.serviceEntryCounts) {
    for (const workloadCount of plan.workloadCounts) {
      configurations.push({ serviceEntryCount, workloadCount, repetitions: plan.repetitions(workloadCount, serviceEntryCount), runs: [] });
    }
  }
  const rounds = configurations.reduce((most, configuration) => Math.max(most, configuration.repetitions), 0);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? configurations : [...configurations].reverse();
    for (const configuration of order) {
      if (configuration.runs.length >= configuration.repetitions) continue;
      let mesh = buildMesh(configuration);
      collectGarbage();
      const plane = new IndexedControlPlane();
      const timing = plane.coldBuild(mesh, nowMs);
      configuration.runs.push({ ...timing, ...countResources(plane.resources.values()) });
      mesh = undefined;
    }
  }
  return configurations.map(({ serviceEntryCount, workloadCount, runs }) => {
    const row = {
      serviceEntries: serviceEntryCount,
      workloads: workloadCount,
      repetitions: runs.length,
      indexMs: median(runs.map((run) => run.indexMs)),
      translateMs: median(runs.map((run) => run.translateMs)),
      encodeMs: median(runs.map((run) => run.encodeMs)),
      totalMs: median(runs.map((run) => run.totalMs)),
      minTotalMs: runs.reduce((least, run) => Math.min(least, run.totalMs), Infinity),
      clusters: runs[0].clusters,
      loadAssignments: runs[0].loadAssignments,
      bytes: runs[0].bytes,
      loadAverage: loadavg()[0],
    };
    log(`cold build ${serviceEntryCount} SE / ${workloadCount} WE: ${row.totalMs.toFixed(0)} ms (median of ${row.repetitions}, best ${row.minTotalMs.toFixed(0)} ms)`);
    return row;
  });
}

/**
 * Times `apply(update)` for each update. With `record`, also returns each update's affected
 * ServiceEntries and output fingerprints (computed outside the timed region) for cross-checking.
 */
function timeUpdates(updates, apply, { record = false } = {}) {
  const samples = [];
  const results = [];
  let affected = 0;
  for (const update of updates) {
    const start = nowMs();
    const result = apply(update.workload);
    samples.push(nowMs() - start);
    affected += result.affected.length;
    if (record) results.push(`${result.affected.join(' ')}|${result.outputs.map(fingerprint).join(';')}`);
  }
  return { samples, affected, results };
}

function checkSameOutputs(name, expected, actual) {
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new Error(`${name} disagrees with the index on update ${i}:\n  index:     ${expected[i]}\n  reference: ${actual[i]}`);
    }
  }
}

/** Builds one mesh of a series, cold-builds its control plane and runs its warm-up updates. */
function prepareMesh(plan, size, withReferences) {
  const { serviceEntryCount, workloadCount } = size;
  const mesh = buildMesh(size);
  const measured = typeof plan.measuredUpdates === 'function' ? plan.measuredUpdates(workloadCount) : plan.measuredUpdates;
  const referenceUpdates = withReferences ? Math.max(plan.doubleLoopUpdates(workloadCount), plan.namespaceScanUpdates) : 0;
  const warmup = Math.max(plan.warmupUpdates, referenceUpdates);
  const updates = buildUpdates(mesh, warmup + measured, serviceEntryCount + workloadCount);
  const plane = new IndexedControlPlane();
  plane.coldBuild(mesh, nowMs);
  // The references start from the state before the first update, so take it now.
  const initial = withReferences ? new Map(mesh.serviceEntries.map((se) => [se, plane.index.selectedWorkloads(se)])) : undefined;
  const warm = timeUpdates(updates.slice(0, warmup), (workload) => plane.upsertWorkload(workload), { record: withReferences });
  return { size, mesh, plane, initial, warm, updates, measuredUpdates: updates.slice(warmup), samples: [], affected: 0, roundMedians: [] };
}

/**
 * Measures one series: every mesh is prepared first, then the measured updates run in rounds that
 * alternate between the meshes (in reverse order every other round), so load from other processes on
 * a shared machine falls on every size alike instead of skewing the ratio between sizes.
 */
function runUpdateSeries(plan, { withReferences }, label, log) {
  const prepared = plan.meshes.map((size) => prepareMesh(plan, size, withReferences));
  collectGarbage();
  for (let round = 0; round < plan.rounds; round++) {
    const order = round % 2 === 0 ? prepared : [...prepared].reverse();
    for (const mesh of order) {
      const perRound = Math.ceil(mesh.measuredUpdates.length / plan.rounds);
      const batch = mesh.measuredUpdates.slice(round * perRound, (round + 1) * perRound);
      if (batch.length === 0) continue;
      const { samples, affected } = timeUpdates(batch, (workload) => mesh.plane.upsertWorkload(workload));
      for (const item of samples) mesh.samples.push(item);
      mesh.affected += affected;
      mesh.roundMedians.push(summarize(samples).medianMs);
    }
  }

  const rows = [];
  for (const mesh of prepared) {
    const { serviceEntryCount, workloadCount } = mesh.size;
    const summary = summarize(mesh.samples);
    const row = {
      serviceEntries: serviceEntryCount,
      workloads: workloadCount,
      workloadsPerServiceEntry: workloadCount / serviceEntryCount,
      updates: summary.count,
      affectedPerUpdate: mesh.affected / summary.count,
      medianMs: summary.medianMs,
      p99Ms: summary.p99Ms,
      meanMs: summary.meanMs,
      updatesPerSecond: 1000 / summary.meanMs,
      roundMedianMs: mesh.roundMedians,
      loadAverage: loadavg()[0],
    };
    log(`${label} ${serviceEntryCount} SE / ${workloadCount} WE: median ${(row.medianMs * 1000).toFixed(0)} us, p99 ${(row.p99Ms * 1000).toFixed(0)} us`);

    if (withReferences) {
      const load = { serviceEntries: mesh.mesh.serviceEntries, workloads: mesh.mesh.workloads, selectedWorkloads: (se) => mesh.initial.get(se) };
      row.references = {};
      for (const [name, Reference, count] of [
        ['namespaceScan', NamespaceScanReference, plan.namespaceScanUpdates],
        ['doubleLoop', DoubleLoopReference, plan.doubleLoopUpdates(workloadCount)],
      ]) {
        collectGarbage();
        // The plane's endpoint bytes: they only save work, and the outputs are compared with the index's.
        const reference = new Reference((serviceEntry, endpoints) => mesh.plane.rebuild(serviceEntry, endpoints));
        reference.load(load);
        const run = timeUpdates(mesh.updates.slice(0, count), (workload) => reference.upsertWorkload(workload), { record: true });
        checkSameOutputs(name, mesh.warm.results, run.results);
        const referenceSummary = summarize(run.samples);
        row.references[name] = {
          updates: referenceSummary.count,
          medianMs: referenceSummary.medianMs,
          p99Ms: referenceSummary.p99Ms,
          meanMs: referenceSummary.meanMs,
          slowdown: referenceSummary.medianMs / row.medianMs,
        };
        log(
          `  reference ${name}: median ${referenceSummary.medianMs.toFixed(2)} ms over ${referenceSummary.count} updates ` +
            `(${row.references[name].slowdown.toFixed(1)}x the index)`,
        );
      }
    }
    rows.push(row);
  }
  return rows;
}

/** Runs every scenario of `plan`; `log` receives one progress line per measurement. */
export function runSuite(plan, log = () => {}) {
  const coldBuild = runColdBuild(plan.coldBuild, log);
  const constantSelection = runUpdateSeries(plan.constantSelection, { withReferences: true }, 'updates (constant selection)', log);
  const fixedServiceEntries = runUpdateSeries(plan.fixedServiceEntries, { withReferences: false }, 'updates (fixed ServiceEntries)', log);
  return { mode: plan.mode, coldBuild, updates: { constantSelection, fixedServiceEntries } };
}
