/**
 * Synthetic meshes for the benchmark, as normalized entries (what the watcher hands the index): one
 * namespace, as in the seed's example, where a platform team keeps its VMs; N STATIC ServiceEntries with
 * one or two ports and a selector; M WorkloadEntries spread round-robin, so every ServiceEntry selects
 * about M / N of them. Everything is derived from the indexes and a seeded generator, so two runs build
 * the same mesh and the same update sequence.
 */
import { NORMALIZED_SCHEMA_VERSION } from '@skiff/model';

export const BENCH_NAMESPACE = 'mesh';
const ZONES = ['zone-a', 'zone-b', 'zone-c'];

/** mulberry32: a small, fast, seeded PRNG (uniform in [0, 1)). */
export function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A distinct IPv4 address per index, in `base.0.0.0/8`. */
function addressOf(base, index) {
  return `${base}.${(index >>> 16) & 255}.${(index >>> 8) & 255}.${index & 255}`;
}

function serviceName(index) {
  return `svc-${index}`;
}

export function buildServiceEntry(index) {
  const name = serviceName(index);
  const ports = [{ number: 8080, name: 'http', protocol: 'HTTP', targetPort: 0 }];
  if (index % 2 === 1) ports.push({ number: 9090, name: 'grpc', protocol: 'GRPC', targetPort: 0 });
  return {
    schemaVersion: NORMALIZED_SCHEMA_VERSION,
    namespace: BENCH_NAMESPACE,
    name,
    creationTime: 1_700_000_000_000 + index,
    labels: {},
    hosts: [`${name}.${BENCH_NAMESPACE}.internal`],
    addresses: [],
    ports,
    location: 'MESH_INTERNAL',
    resolution: 'STATIC',
    exportTo: [],
    // Every selector shares `tier: backend`; the index must not file them all under it.
    workloadSelector: { app: name, tier: 'backend' },
    subjectAltNames: [],
  };
}

/** WorkloadEntry `index`, selected by ServiceEntry `service`. */
export function buildWorkload(index, service, address = addressOf(10, index)) {
  const name = `vm-${index}`;
  return {
    schemaVersion: NORMALIZED_SCHEMA_VERSION,
    source: { kind: 'WorkloadEntry', namespace: BENCH_NAMESPACE, name },
    address,
    ports: { http: 8080, grpc: 9090 },
    labels: { app: serviceName(service), tier: 'backend', version: `v${index % 3}` },
    network: '',
    locality: `region-1/${ZONES[index % ZONES.length]}`,
    weight: 0,
    serviceAccount: 'vm-runner',
    tlsMode: 'istio',
    workloadName: name,
    namespace: BENCH_NAMESPACE,
    healthy: true,
  };
}

/** `{ serviceEntries, workloads }` with workload `i` selected by ServiceEntry `i mod serviceEntryCount`. */
export function buildMesh({ serviceEntryCount, workloadCount }) {
  const serviceEntries = Array.from({ length: serviceEntryCount }, (_, i) => buildServiceEntry(i));
  const workloads = Array.from({ length: workloadCount }, (_, i) => buildWorkload(i, i % serviceEntryCount));
  return { serviceEntries, workloads };
}

function workloadNumber(workload) {
  return Number(workload.source.name.slice('vm-'.length));
}

function serviceNumber(workload) {
  return Number(workload.labels.app.slice('svc-'.length));
}

/**
 * `count` WorkloadEntry updates against `mesh`, alternating two kinds, on random workloads:
 * - `address`: the VM moved to a new IP; one ServiceEntry is affected (the workload is `updated`);
 * - `move`: its `app` label now names another ServiceEntry; two are affected (removed from one, added
 *   to the other), the case that made istiod walk every ServiceEntry.
 * Each update is a complete normalized endpoint, as the watcher would pass it on.
 */
export function buildUpdates(mesh, count, seed = 1) {
  const random = seededRandom(seed);
  const serviceEntryCount = mesh.serviceEntries.length;
  const byNumber = [];
  for (const workload of mesh.workloads) byNumber[workloadNumber(workload)] = workload;
  const serviceOf = byNumber.map(serviceNumber);
  const addressGeneration = new Map();
  const updates = [];
  for (let n = 0; n < count; n++) {
    const index = Math.floor(random() * byNumber.length);
    if (n % 2 === 0 || serviceEntryCount < 2) {
      const generation = (addressGeneration.get(index) ?? 0) + 1;
      addressGeneration.set(index, generation);
      const base = 11 + (generation % 100);
      updates.push({ kind: 'address', workload: buildWorkload(index, serviceOf[index], addressOf(base, index)) });
    } else {
      const target = (serviceOf[index] + 1 + Math.floor(random() * (serviceEntryCount - 1))) % serviceEntryCount;
      serviceOf[index] = target;
      const generation = addressGeneration.get(index) ?? 0;
      const address = generation === 0 ? addressOf(10, index) : addressOf(11 + (generation % 100), index);
      updates.push({ kind: 'move', workload: buildWorkload(index, target, address) });
    }
  }
  return updates;
}
