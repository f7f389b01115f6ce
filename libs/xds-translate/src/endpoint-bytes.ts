/**
 * What a build of an owner (a ServiceEntry) keeps for the next one: the service instances of each
 * port, and the encoded `LbEndpoint` of each instance in each locality group of each assignment, so
 * that a rebuild builds instances only for the endpoints that changed, writes only the endpoints
 * whose bytes changed and splices the others into the assignment (`load-assignment-encoding.ts`).
 *
 * Why: a ClusterLoadAssignment is a concatenation of length-delimited endpoints inside their locality
 * framing, so its bytes can be put together from bytes written before. When one WorkloadEntry of a
 * 2,000-endpoint ServiceEntry changes, the other 1,999 endpoints are the same instances and the same
 * bytes as last time.
 *
 * Both are found by walking this build's list beside the previous build's (`alignByIdentity`): an
 * unchanged endpoint is the same object in the same order, so the walk reads two arrays and compares
 * references, without hashing a key or reading the objects, scattered over a large heap. Where the
 * objects differ, an endpoint's bytes are still used when every input of them compares equal
 * (`sameBytes`: a DestinationRule's TLS mode makes copies of the instances on every build), and are
 * written again otherwise. A group's endpoints are kept as columns (their instances and where each
 * one's bytes end), not as an object each. Each build keeps only what it used: an owner's cache never
 * holds more than its live endpoints, and `forget` drops an owner that went away.
 */
import { isIP, type NormalizedEndpoint, type NormalizedPort, type NormalizedServiceEntry } from '@skiff/model';
import type { Cluster } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ISTIO_MUTUAL_TLS_MODE, type ServiceInstance } from './instances.js';
import type { MeshSettings } from './mesh.js';
import type { EncodedResource } from './version.js';

/**
 * The canonical service name label of a workload, the first present of `service.istio.io/canonical-name`,
 * `app.kubernetes.io/name` and `app` (`pkg/kube/labels` `CanonicalService`); undefined when none is.
 * Written as loads of constant names: looked up through a list of keys, the loads were keyed by a
 * variable, and the six of them per endpoint took about 5% of a cold build's CPU profile
 * (docs/BENCHMARKS.md, "Selector index buckets").
 */
export function canonicalNameLabel(labels: Readonly<Record<string, string>>): string | undefined {
  return labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app;
}

/** The canonical revision label: `service.istio.io/canonical-revision`, `app.kubernetes.io/version`, `version`; undefined (`latest`) when none is. */
export function canonicalRevisionLabel(labels: Readonly<Record<string, string>>): string | undefined {
  return labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels.version;
}

/**
 * Whether the bytes `written` gave in a cluster are those `instance` gives in the same cluster: the
 * same instance (instances are immutable), or the inputs of `writeInstanceEndpoint` and
 * `buildWorkloadMetadata`, compared one by one. The cluster is the group's (`LocalityGroupBytes`).
 */
export function sameBytes(written: ServiceInstance, instance: ServiceInstance): boolean {
  if (written === instance) return true;
  return (
    written.address === instance.address &&
    written.port === instance.port &&
    written.weight === instance.weight &&
    (written.tlsMode === ISTIO_MUTUAL_TLS_MODE) === (instance.tlsMode === ISTIO_MUTUAL_TLS_MODE) &&
    written.workloadName === instance.workloadName &&
    written.namespace === instance.namespace &&
    // The same labels object (normalized entries are immutable) has the same canonical labels.
    (written.labels === instance.labels ||
      (canonicalNameLabel(written.labels) === canonicalNameLabel(instance.labels) &&
        canonicalRevisionLabel(written.labels) === canonicalRevisionLabel(instance.labels)))
  );
}

/**
 * A locality group's `lb_endpoints` as last encoded, column by column: endpoint `i` is the field
 * (tag, length, message) `instances[i]` gives in a cluster of `clusterId`, at `[ends[i - 1], ends[i])`
 * of `bytes` (from 0 for the first). No object per endpoint: keeping a group costs two arrays, so a
 * build can keep what it wrote from the first build of an owner on.
 */
export interface LocalityGroupBytes {
  /** The group's `locality` field as encoded: what finds the group again in the next build. */
  readonly locality: Uint8Array;
  /**
   * What the endpoints give the bytes of, in order: the instances written, or later ones found to
   * give the same bytes (`sameBytes`). The same objects in the same order are the same bytes.
   */
  readonly instances: readonly ServiceInstance[];
  readonly clusterId: string;
  /** Where each endpoint's field ends in `bytes`; the next one starts there. */
  readonly ends: Uint32Array;
  /**
   * The endpoints' fields concatenated: a view into the assignment's latest bytes, moved there by each
   * encoding, so that the cache keeps one assignment's bytes alive, not one buffer per group.
   */
  bytes: Uint8Array;
  /** The `groupDigest` of the group's content when it was last versioned with these endpoints, and the fields after the endpoints it was taken with. */
  digest: { readonly tail: Uint8Array; readonly value: Uint8Array } | undefined;
}

/** The locality groups of one assignment of an owner as last encoded. */
export class AssignmentEndpoints {
  /** The last build that encoded the assignment. */
  build = 0;
  /** In assignment order. */
  groups: readonly LocalityGroupBytes[] = [];

  /** Endpoints held. */
  get size(): number {
    let size = 0;
    for (const group of this.groups) size += group.instances.length;
    return size;
  }
}

/** How far ahead an aligning walk looks for the next object before taking it for a new one. */
const ALIGNMENT_WINDOW = 8;

/**
 * For each of `items`, the index of the same object in `previous`, or -1, walking both in order:
 * lists that differ by a few insertions, removals and replacements align in one pass of identity
 * comparisons, which read only the two arrays (not the objects, scattered over a large heap). An
 * object moved further than `ALIGNMENT_WINDOW` counts as new. Returned as an array rather than
 * visited: the callers' loops then run without a call per item.
 */
export function alignByIdentity<T>(items: readonly T[], previous: readonly T[]): Int32Array {
  const previousIndexes = new Int32Array(items.length);
  let j = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (j < previous.length && previous[j] === item) {
      previousIndexes[i] = j++;
      continue;
    }
    let found = -1;
    for (let k = j + 1; k < previous.length && k <= j + ALIGNMENT_WINDOW; k++) {
      if (previous[k] === item) {
        found = k;
        break;
      }
    }
    if (found !== -1) j = found + 1;
    previousIndexes[i] = found;
  }
  return previousIndexes;
}

/** An instance's address: none (dropped and reported), one EDS cannot carry (a hostname: dropped), one it can (an IP, a unix socket). */
export const AddressKind = { None: 0, NotForEds: 1, Eds: 2 } as const;

function addressKindOf(instance: ServiceInstance): number {
  if (instance.address === '') return AddressKind.None;
  return instance.port === 0 || isIP(instance.address) ? AddressKind.Eds : AddressKind.NotForEds;
}

/** The kind of each address of a list of instances `PortInstances` handed out, known from the build that made each instance. */
const addressKinds = new WeakMap<readonly ServiceInstance[], Uint8Array>();

/** What `PortInstances` knows of the addresses of `instances`, if it handed them out. */
export function keptAddressKinds(instances: readonly ServiceInstance[]): Uint8Array | undefined {
  return addressKinds.get(instances);
}

/**
 * The service instances of one ServiceEntry port at the owner's latest build, with the endpoints
 * they were built from, so that a rebuild builds instances only for the endpoints that changed and
 * the encoder finds the others' bytes by the same instance objects.
 *
 * Endpoints are matched by object: normalized entries are immutable (the selector index and the
 * translator's decoding hand over the same object for an unchanged workload), and an instance is
 * built from nothing else but the port's name, target port and number and the trust domain, which
 * the table is for (`ServiceInstancesArgs`). The hostname does not enter it: hosts share the table.
 * Only the latest list is kept, so the table never holds more than the live endpoints.
 */
export class PortInstances {
  private endpoints: readonly NormalizedEndpoint[] = [];
  private instances: readonly ServiceInstance[] = [];
  private kinds: Uint8Array = new Uint8Array(0);
  /** The last build that used the table. */
  build = 0;

  constructor(
    readonly portName: string,
    readonly targetPort: number,
    readonly trustDomain: string,
  ) {}

  /**
   * The instances of `endpoints`: those of the same endpoint objects last time, `make`'s for the
   * others; kept for the next build.
   */
  instancesOf(endpoints: readonly NormalizedEndpoint[], make: (endpoint: NormalizedEndpoint) => ServiceInstance): ServiceInstance[] {
    const previous = this.instances;
    const previousKinds = this.kinds;
    const instances = new Array<ServiceInstance>(endpoints.length);
    const kinds = new Uint8Array(endpoints.length);
    const previousIndexes = alignByIdentity(endpoints, this.endpoints);
    for (let index = 0; index < endpoints.length; index++) {
      const previousIndex = previousIndexes[index] as number;
      if (previousIndex === -1) {
        const instance = make(endpoints[index] as NormalizedEndpoint);
        instances[index] = instance;
        kinds[index] = addressKindOf(instance);
      } else {
        instances[index] = previous[previousIndex] as ServiceInstance;
        kinds[index] = previousKinds[previousIndex] as number;
      }
    }
    this.endpoints = endpoints;
    this.instances = instances;
    this.kinds = kinds;
    addressKinds.set(instances, kinds);
    return instances;
  }

  get size(): number {
    return this.instances.length;
  }
}

/**
 * What `canonicalEndpoints` found at the owner's latest build: its input, and per input endpoint
 * its position in the healthy, ordered result (-1: unhealthy), or undefined when the result had to
 * be sorted (then nothing is known of the next build's endpoints).
 */
export interface CanonicalOrder {
  input: readonly NormalizedEndpoint[];
  positions: Int32Array | undefined;
}

/** What an `EndpointBytesCache` keeps for one owner. */
interface OwnerState {
  readonly order: CanonicalOrder;
  /** By cluster name. */
  readonly assignments: Map<string, AssignmentEndpoints>;
  /** By port number. */
  readonly ports: Map<number, PortInstances>;
  /** EDS clusters built without a DestinationRule, by cluster name. */
  readonly clusters: Map<string, KeptCluster>;
  last: EndpointBytesScope | undefined;
}

/**
 * Everything an EDS cluster without a DestinationRule is built from (`buildCluster`'s arguments, its
 * name aside): the normalized entry, its port and the mesh settings by identity (they are never
 * changed once made), the SANs by content. Its endpoints are in its assignment, not in it, and the
 * TLS modes of its instances decide only an ORIGINAL_DST cluster's mTLS (`selectUpstreamTls`), so a
 * workload that comes, goes or changes leaves the cluster as it was unless it changes the SANs.
 */
export interface EdsClusterInputs {
  readonly serviceEntry: NormalizedServiceEntry;
  readonly hostname: string;
  readonly servicePort: NormalizedPort;
  readonly naming: string;
  readonly mesh: MeshSettings;
  readonly subjectAltNames: readonly string[];
}

/** Whether `a` and `b` hold the same items (by identity) in the same order. */
export function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

function sameEdsClusterInputs(a: EdsClusterInputs, b: EdsClusterInputs): boolean {
  return (
    a.serviceEntry === b.serviceEntry &&
    a.hostname === b.hostname &&
    a.servicePort === b.servicePort &&
    a.naming === b.naming &&
    a.mesh === b.mesh &&
    sameItems(a.subjectAltNames, b.subjectAltNames)
  );
}

/** A cluster of the owner's latest build, what it was built from, and its encoding once made. */
interface KeptCluster {
  readonly inputs: EdsClusterInputs;
  readonly cluster: Cluster;
  encoded: EncodedResource | undefined;
  build: number;
}

/** The endpoints one build of one owner reads and records. */
export class EndpointBytesScope {
  private closed = false;
  private readonly assignments: Map<string, AssignmentEndpoints>;
  private readonly ports: Map<number, PortInstances>;
  private readonly clusters: Map<string, KeptCluster>;
  private readonly order: CanonicalOrder;

  constructor(
    owner: Pick<OwnerState, 'assignments' | 'ports' | 'clusters' | 'order'>,
    /** Numbers the owner's builds, from 1. */
    readonly build: number,
    /** False: this build neither reads nor keeps endpoints (the encoder writes them all, as without a scope). */
    readonly recording = true,
  ) {
    this.assignments = owner.assignments;
    this.ports = owner.ports;
    this.clusters = owner.clusters;
    this.order = owner.order;
  }

  /**
   * The EDS cluster named `name` the owner's previous build made from the same inputs, for this build
   * to hand out again (the same message: results are not modified once built); undefined when there
   * is none or the build keeps nothing. A change of one workload's address leaves its ServiceEntry's
   * clusters as they were: building and encoding them was more than half of such an update.
   */
  keptEdsCluster(name: string, inputs: EdsClusterInputs): Cluster | undefined {
    if (!this.recording) return undefined;
    const kept = this.clusters.get(name);
    if (kept === undefined || !sameEdsClusterInputs(kept.inputs, inputs)) return undefined;
    kept.build = this.build;
    return kept.cluster;
  }

  /** Keeps an EDS cluster this build made, with its inputs, for the next build. */
  keepEdsCluster(name: string, inputs: EdsClusterInputs, cluster: Cluster): void {
    if (this.recording) this.clusters.set(name, { inputs, cluster, encoded: undefined, build: this.build });
  }

  /** The encoding of `cluster` if it is a kept cluster (the same message) already encoded. */
  clusterEncoding(cluster: Cluster): EncodedResource | undefined {
    const kept = this.clusters.get(cluster.name);
    return kept?.cluster === cluster ? kept.encoded : undefined;
  }

  /** Keeps the encoding of `cluster`, if it is a kept cluster. */
  keepClusterEncoding(cluster: Cluster, encoded: EncodedResource): void {
    const kept = this.clusters.get(cluster.name);
    if (kept?.cluster === cluster) kept.encoded = encoded;
  }

  /** What `canonicalEndpoints` found at the owner's previous build, for this build to read and replace; undefined when the build keeps nothing. */
  canonicalOrder(): CanonicalOrder | undefined {
    return this.recording ? this.order : undefined;
  }

  /**
   * The instances of the port numbered `port.number` kept for this build to read and record, or
   * undefined when the build keeps none. A port whose other inputs of an instance changed starts empty.
   */
  instances(port: { readonly number: number; readonly name: string; readonly targetPort: number }, trustDomain: string): PortInstances | undefined {
    if (!this.recording) return undefined;
    let table = this.ports.get(port.number);
    if (table === undefined || table.portName !== port.name || table.targetPort !== port.targetPort || table.trustDomain !== trustDomain) {
      table = new PortInstances(port.name, port.targetPort, trustDomain);
      this.ports.set(port.number, table);
    }
    table.build = this.build;
    return table;
  }

  /** The entries of the assignment named `clusterName`, for this build to read and record. */
  assignment(clusterName: string): AssignmentEndpoints {
    let endpoints = this.assignments.get(clusterName);
    if (endpoints === undefined) {
      endpoints = new AssignmentEndpoints();
      this.assignments.set(clusterName, endpoints);
    }
    endpoints.build = this.build;
    return endpoints;
  }

  /**
   * Ends the build: what it did not use (an endpoint or assignment gone since the previous build)
   * is dropped, so an owner holds at most the endpoints of its latest build.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [clusterName, endpoints] of this.assignments) if (endpoints.build !== this.build) this.assignments.delete(clusterName);
    for (const [port, table] of this.ports) if (table.build !== this.build) this.ports.delete(port);
    for (const [name, cluster] of this.clusters) if (cluster.build !== this.build) this.clusters.delete(name);
  }
}

/**
 * How many endpoints an owner's first build needs to keep them (`EndpointBytesCache`). Measured with
 * the benchmark's meshes (bench/lib/pipeline.mjs): 100 ServiceEntries of 2,000 endpoints keep at no
 * cost in a cold build's time, 10,000 of 20 cost about a tenth more; an owner of 100 endpoints
 * rebuilds from nothing in well under a millisecond.
 */
export const FIRST_BUILD_KEEPS_FROM = 100;

/**
 * What each owner's latest build kept (service instances, encoded endpoints, group digests, the
 * order of its endpoints). Not shared between processes and never part of what is published: the
 * output is the same without it.
 */
export class EndpointBytesCache {
  private readonly owners = new Map<string, OwnerState>();

  /**
   * `firstBuildKeepsFrom`: the endpoints an owner's first build must have to keep what it made (its
   * later builds always keep); default `FIRST_BUILD_KEEPS_FROM`. Keeping costs per endpoint about
   * what writing it once does, but also a few objects per owner and port, and memory: it pays for
   * owners with many endpoints, whose first change after a start is then a splice rather than a
   * build from nothing, and not for a cold start of many small owners, most of which may never change.
   */
  constructor(private readonly options: { readonly firstBuildKeepsFrom?: number } = {}) {}

  /**
   * Starts a build of `owner`, which reads what the owner's previous build kept; pass the scope to
   * `translateServiceEntry` and `encodeResources`, and `close` it when the build is encoded (starting
   * the next build closes it too). `endpoints`: how many endpoints the build has, for
   * `firstBuildKeepsFrom` (unknown: as many as it takes).
   */
  scope(owner: string, endpoints = Number.POSITIVE_INFINITY): EndpointBytesScope {
    let state = this.owners.get(owner);
    if (state === undefined) {
      state = { assignments: new Map(), ports: new Map(), clusters: new Map(), order: { input: [], positions: undefined }, last: undefined };
      this.owners.set(owner, state);
      if (endpoints < (this.options.firstBuildKeepsFrom ?? FIRST_BUILD_KEEPS_FROM)) {
        state.last = new EndpointBytesScope(state, 1, false);
        return state.last;
      }
    }
    state.last?.close();
    const scope = new EndpointBytesScope(state, (state.last?.build ?? 0) + 1);
    state.last = scope;
    return scope;
  }

  /** Drops an owner's entries (its ServiceEntry was deleted). */
  forget(owner: string): void {
    this.owners.delete(owner);
  }

  /** Owners built (with entries, or whose first build kept none). */
  get ownerCount(): number {
    return this.owners.size;
  }

  /** Entries held, over every owner and assignment. */
  get size(): number {
    let size = 0;
    for (const { assignments } of this.owners.values()) for (const endpoints of assignments.values()) size += endpoints.size;
    return size;
  }

  /** Service instances held, over every owner and port. */
  get instanceCount(): number {
    let count = 0;
    for (const { ports } of this.owners.values()) for (const table of ports.values()) count += table.size;
    return count;
  }

  /** EDS clusters held (built without a DestinationRule), over every owner. */
  get clusterCount(): number {
    let count = 0;
    for (const { clusters } of this.owners.values()) count += clusters.size;
    return count;
  }
}
