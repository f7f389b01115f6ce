/**
 * Synthetic meshes for the watcher benchmark, as the Kubernetes API serves them: raw
 * `networking.istio.io/v1` ServiceEntry and WorkloadEntry objects (what an informer hands the watcher,
 * before validation and normalization). The shape follows `mesh.mjs` (the selector-index benchmark's
 * normalized mesh): one namespace, STATIC ServiceEntries `svc-<i>` with one or two ports and the
 * selector `{app: svc-<i>, tier: backend}`, WorkloadEntries `vm-<j>` spread round-robin, so every
 * ServiceEntry selects about workloads / serviceEntries of them.
 *
 * Besides the mesh, "probe" groups give the command-count scenario a WorkloadEntry selected by exactly
 * k ServiceEntries: group k has k ServiceEntries `probe-k-<i>` selecting `{probe-group: pk}` and
 * PROBE_GROUP_SIZE WorkloadEntries carrying that label (and no `app`, so no `svc-*` selects them).
 */
import { BENCH_NAMESPACE, seededRandom } from './mesh.mjs';

export const API_VERSION = 'networking.istio.io/v1';
/** WorkloadEntries per probe group: what a mesh ServiceEntry selects at the design's 20 per ServiceEntry. */
export const PROBE_GROUP_SIZE = 20;

const ZONES = ['zone-a', 'zone-b', 'zone-c'];
const CREATED = Date.parse('2026-01-01T00:00:00Z');

/** A distinct IPv4 address per index in `base.0.0.0/8`; `generation` moves it to another /8. */
function addressOf(index, generation = 0) {
  return `${10 + generation}.${(index >>> 16) & 255}.${(index >>> 8) & 255}.${index & 255}`;
}

/** Object metadata as the API server returns it (uid, resourceVersion, creation time, generation). */
function metadataOf(kind, name, serial, resourceVersion) {
  return {
    name,
    namespace: BENCH_NAMESPACE,
    uid: `${kind === 'ServiceEntry' ? 'se' : 'we'}-${serial.toString(16).padStart(12, '0')}`,
    resourceVersion: String(resourceVersion),
    generation: 1,
    creationTimestamp: new Date(CREATED + serial * 1000).toISOString().replace('.000Z', 'Z'),
  };
}

function serviceEntryObject(name, serial, selector, twoPorts) {
  const ports = [{ number: 8080, name: 'http', protocol: 'HTTP' }];
  if (twoPorts) ports.push({ number: 9090, name: 'grpc', protocol: 'GRPC' });
  return {
    apiVersion: API_VERSION,
    kind: 'ServiceEntry',
    metadata: metadataOf('ServiceEntry', name, serial, 1000 + serial),
    spec: {
      hosts: [`${name}.${BENCH_NAMESPACE}.internal`],
      ports,
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      workloadSelector: { labels: selector },
    },
  };
}

/** ServiceEntry `svc-<index>`. */
export function meshServiceEntry(index) {
  return serviceEntryObject(`svc-${index}`, index, { app: `svc-${index}`, tier: 'backend' }, index % 2 === 1);
}

/** WorkloadEntry `vm-<index>` with `labels`, at address generation `generation`. */
function workloadEntryObject(name, serial, labels, address, resourceVersion, index) {
  return {
    apiVersion: API_VERSION,
    kind: 'WorkloadEntry',
    metadata: metadataOf('WorkloadEntry', name, serial, resourceVersion),
    spec: {
      address,
      ports: { http: 8080, grpc: 9090 },
      labels,
      locality: `region-1/${ZONES[index % ZONES.length]}`,
      serviceAccount: 'vm-runner',
    },
  };
}

export function meshWorkloadEntry(index, service, { generation = 0, resourceVersion = 1_000_000 + index } = {}) {
  const labels = { app: `svc-${service}`, tier: 'backend', version: `v${index % 3}` };
  return workloadEntryObject(`vm-${index}`, index, labels, addressOf(index, generation), resourceVersion, index);
}

const probeLabel = (k) => `p${k}`;

/** The WorkloadEntries of probe group `k`; member 0 is the one the command-count scenario updates. */
export function probeWorkloadEntry(k, member, { generation = 0, resourceVersion = 2_000_000 + k * 100 + member } = {}) {
  const index = 0xf00000 + k * 256 + member;
  return workloadEntryObject(`probe-${k}-vm-${member}`, index, { 'probe-group': probeLabel(k), tier: 'backend' }, addressOf(index, generation), resourceVersion, member);
}

/**
 * The mesh as the source's initial list: ServiceEntries first, then WorkloadEntries (an informer
 * lists kinds one after the other), with `probeGroups` (e.g. [1, 3, 10]) appended.
 */
export function buildWatcherMesh({ serviceEntryCount, workloadCount, probeGroups = [] }) {
  const serviceEntries = Array.from({ length: serviceEntryCount }, (_, i) => meshServiceEntry(i));
  const workloadEntries = Array.from({ length: workloadCount }, (_, i) => meshWorkloadEntry(i, i % serviceEntryCount));
  for (const k of probeGroups) {
    for (let i = 0; i < k; i++) serviceEntries.push(serviceEntryObject(`probe-${k}-se-${i}`, 0xf00000 + k * 256 + i, { 'probe-group': probeLabel(k) }, false));
    for (let member = 0; member < PROBE_GROUP_SIZE; member++) workloadEntries.push(probeWorkloadEntry(k, member));
  }
  return { serviceEntryCount, workloadCount, serviceEntries, workloadEntries };
}

/**
 * `count` WorkloadEntry updates as watch events would carry them, on random mesh workloads, a share
 * `moveShare` of them label moves and the rest address changes:
 * - address: the VM got a new IP (one ServiceEntry's hash changes);
 * - move: its `app` label names another ServiceEntry (two hashes change: it leaves one, joins the other).
 * Each update is a complete new object with a new resourceVersion, as a MODIFIED event delivers it.
 */
export function buildWorkloadUpdates({ serviceEntryCount, workloadCount }, count, { moveShare = 0.2, seed = 7 } = {}) {
  const random = seededRandom(seed);
  const serviceOf = new Map();
  const generationOf = new Map();
  const updates = [];
  let resourceVersion = 10_000_000;
  let moves = 0;
  for (let n = 0; n < count; n++) {
    const index = Math.floor(random() * workloadCount);
    const service = serviceOf.get(index) ?? index % serviceEntryCount;
    // Deterministic share: the n-th update is a move when the running share of moves is below target.
    const move = serviceEntryCount > 1 && moves < Math.round((n + 1) * moveShare);
    resourceVersion += 1;
    if (move) {
      moves += 1;
      const target = (service + 1 + Math.floor(random() * (serviceEntryCount - 1))) % serviceEntryCount;
      serviceOf.set(index, target);
      updates.push({ kind: 'move', object: meshWorkloadEntry(index, target, { generation: generationOf.get(index) ?? 0, resourceVersion }) });
    } else {
      const generation = ((generationOf.get(index) ?? 0) % 200) + 1;
      generationOf.set(index, generation);
      updates.push({ kind: 'address', object: meshWorkloadEntry(index, service, { generation, resourceVersion }) });
    }
  }
  return updates;
}
