/**
 * The mesh of the gateway benchmark, as the Kubernetes API serves it (`networking.istio.io/v1`
 * ServiceEntry and WorkloadEntry objects): `namespaces` namespaces `mesh-<n>`, each with
 * `serviceEntriesPerNamespace` STATIC ServiceEntries `svc-<i>` (port 8080, and 9090 on odd `i`)
 * selecting `app: svc-<i>`, and `workloadsPerServiceEntry` WorkloadEntries each, in the same namespace
 * (a workload selector selects within its own namespace, docs/istio-behaviour.md#workload-selection).
 *
 * Every ServiceEntry is exported to its own namespace only (`exportTo: ["."]`): a sidecar then sees
 * the clusters of its namespace, as a mesh that scopes its services does. With Istio's default (public)
 * every sidecar's CDS wildcard would carry all of the mesh's clusters, and ten thousand simulated
 * sidecars would each receive and hold every one of them; scoping keeps the benchmark about pushes.
 */
import { seededRandom } from './mesh.mjs';

const API_VERSION = 'networking.istio.io/v1';
const ZONES = ['zone-a', 'zone-b', 'zone-c'];

export function namespaceName(n) {
  return `mesh-${String(n).padStart(2, '0')}`;
}

/** `svc-<i>` of namespace `n`; `i` counts across the mesh. */
function serviceIndex(layout, n, k) {
  return n * layout.serviceEntriesPerNamespace + k;
}

export function hostOf(namespace, index) {
  return `svc-${index}.${namespace}.internal`;
}

/** The ports of ServiceEntry `index`: 8080, and 9090 for odd indexes. */
export function portsOf(index) {
  return index % 2 === 1 ? [8080, 9090] : [8080];
}

/** Istio's sidecar cluster name, `outbound|<port>||<host>` (docs/istio-behaviour.md#cluster-names); also the EDS service name. */
export function clusterName(namespace, index, port) {
  return `outbound|${port}||${hostOf(namespace, index)}`;
}

function serviceEntry(namespace, index) {
  const ports = [{ number: 8080, name: 'http', protocol: 'HTTP' }];
  if (index % 2 === 1) ports.push({ number: 9090, name: 'grpc', protocol: 'GRPC' });
  return {
    apiVersion: API_VERSION,
    kind: 'ServiceEntry',
    metadata: { name: `svc-${index}`, namespace },
    spec: { hosts: [hostOf(namespace, index)], ports, location: 'MESH_INTERNAL', resolution: 'STATIC', workloadSelector: { labels: { app: `svc-${index}` } }, exportTo: ['.'] },
  };
}

/** A distinct IPv4 address per workload; `generation` moves it to another /8. */
function addressOf(workload, generation) {
  return `${10 + (generation % 200)}.${(workload >>> 16) & 255}.${(workload >>> 8) & 255}.${workload & 255}`;
}

/** WorkloadEntry `vm-<workload>` of ServiceEntry `index`, at address generation `generation`. */
export function workloadEntry(namespace, index, workload, generation = 0) {
  return {
    apiVersion: API_VERSION,
    kind: 'WorkloadEntry',
    metadata: { name: `vm-${workload}`, namespace },
    spec: {
      address: addressOf(workload, generation),
      ports: { http: 8080, grpc: 9090 },
      labels: { app: `svc-${index}`, version: `v${workload % 3}` },
      locality: `region-1/${ZONES[workload % ZONES.length]}`,
      serviceAccount: 'vm-runner',
    },
  };
}

/**
 * The mesh: `objects` (ServiceEntries first, as an informer lists kinds one after the other),
 * `services` (namespace, index, workloads and cluster names of each ServiceEntry) and `namespaces`.
 */
export function buildGatewayMesh(layout) {
  const objects = [];
  const services = [];
  const workloads = [];
  for (let n = 0; n < layout.namespaces; n++) {
    const namespace = namespaceName(n);
    for (let k = 0; k < layout.serviceEntriesPerNamespace; k++) {
      const index = serviceIndex(layout, n, k);
      objects.push(serviceEntry(namespace, index));
      const members = Array.from({ length: layout.workloadsPerServiceEntry }, (_, w) => index * layout.workloadsPerServiceEntry + w);
      for (const workload of members) workloads.push(workloadEntry(namespace, index, workload));
      services.push({ namespace, index, workloads: members, clusters: portsOf(index).map((port) => clusterName(namespace, index, port)) });
    }
  }
  const namespaces = Array.from({ length: layout.namespaces }, (_, n) => namespaceName(n));
  return { objects: [...objects, ...workloads], services, namespaces, serviceEntryCount: services.length, workloadCount: workloads.length };
}

/**
 * The `--clusters` file of skiff-loadgen for proxies spread over the mesh: one `[namespace]` group per
 * namespace listing its clusters, so proxies are dealt to namespaces in turn and take windows of them.
 */
export function spreadClusterFile(mesh) {
  const lines = [];
  for (const namespace of mesh.namespaces) {
    lines.push(`[${namespace}]`);
    for (const service of mesh.services) if (service.namespace === namespace) for (const cluster of service.clusters) lines.push(cluster);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Workload address moves, one at a time: each picks a random ServiceEntry not in `busy` and one of its
 * workloads, and returns the updated WorkloadEntry with the clusters whose endpoints it changes.
 */
export function workloadMoves(mesh, seed) {
  const random = seededRandom(seed);
  const generations = new Map();
  return {
    /** A move of a workload of `only`, or of a random ServiceEntry whose index is not in `busy`. */
    next({ busy = new Set(), only } = {}) {
      let service = only;
      for (let attempt = 0; service === undefined || (only === undefined && busy.has(service.index)); attempt++) {
        if (attempt > 1000) throw new Error('no ServiceEntry is free to change');
        service = mesh.services[Math.floor(random() * mesh.services.length)];
      }
      const workload = service.workloads[Math.floor(random() * service.workloads.length)];
      const generation = (generations.get(workload) ?? 0) + 1;
      generations.set(workload, generation);
      return { service, object: workloadEntry(service.namespace, service.index, workload, generation) };
    },
  };
}
