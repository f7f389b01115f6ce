/**
 * The encoded `LbEndpoint` of each service instance, kept from one build of an owner (a ServiceEntry)
 * to the next, so that a rebuild writes only the endpoints whose bytes changed and splices the others
 * into the assignment (`load-assignment-encoding.ts`).
 *
 * Why: a ClusterLoadAssignment is a concatenation of length-delimited endpoints inside their locality
 * framing, so its bytes can be put together from bytes written before. When one WorkloadEntry of a
 * 2,000-endpoint ServiceEntry changes, the other 1,999 endpoints are the same bytes as last time.
 *
 * Entries are found by where the endpoint is (cluster name and address), not by a content key: building and hashing a key out of everything
 * an endpoint's bytes depend on cost more than writing the endpoint. An entry is used only when every
 * input of those bytes compares equal (`sameBytes`), so a changed workload is written again whatever
 * its key says. Each build of an owner keeps exactly the entries it used: an owner's cache never holds
 * more than its live endpoints, and `forget` drops an owner that went away.
 */
import type { NormalizedEndpoint } from '@skiff/model';
import { ISTIO_MUTUAL_TLS_MODE, type ServiceInstance } from './instances.js';

/** Labels checked, in order, for the canonical service name (`pkg/kube/labels` `CanonicalService`). */
export const CANONICAL_NAME_LABELS: readonly string[] = ['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app'];
/** Labels checked, in order, for the canonical revision; none means `latest`. */
export const CANONICAL_REVISION_LABELS: readonly string[] = ['service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version'];

export function firstLabel(labels: Readonly<Record<string, string>>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = labels[key];
    if (value !== undefined) return value;
  }
  return undefined;
}

/** One endpoint's bytes and everything they were written from. */
export interface CachedEndpoint {
  readonly address: string;
  readonly port: number;
  /** The weight as the instance gives it (0 is written as 1). */
  readonly weight: number;
  readonly istioMutualTls: boolean;
  readonly workloadName: string;
  readonly namespace: string;
  /** `firstLabel(labels, CANONICAL_NAME_LABELS)`. */
  readonly canonicalName: string | undefined;
  /** `firstLabel(labels, CANONICAL_REVISION_LABELS)`. */
  readonly canonicalRevision: string | undefined;
  readonly clusterId: string;
  /**
   * The labels object the instance had; the same object (normalized entries are immutable) has the same
   * canonical labels, which are looked up again only for another object.
   */
  readonly labels: Readonly<Record<string, string>>;
  /**
   * Where the `lb_endpoints` field (tag, length, message, as it sits in its `LocalityLbEndpoints`) is:
   * `bytes[start..end)`, the bytes of the group that last put it together, moved when another one
   * does (the same field there). Offsets rather than a view: one object less per endpoint.
   */
  bytes: Uint8Array;
  start: number;
  end: number;
  /** The last build of the owner that used it. */
  build: number;
}

/**
 * Whether `entry`'s bytes are those `instance` gives in a cluster of `clusterId`: the inputs of
 * `writeInstanceEndpoint` and `buildWorkloadMetadata`, compared one by one.
 */
export function sameBytes(entry: CachedEndpoint, instance: ServiceInstance, clusterId: string): boolean {
  return (
    entry.address === instance.address &&
    entry.port === instance.port &&
    entry.weight === instance.weight &&
    entry.istioMutualTls === (instance.tlsMode === ISTIO_MUTUAL_TLS_MODE) &&
    entry.workloadName === instance.workloadName &&
    entry.namespace === instance.namespace &&
    entry.clusterId === clusterId &&
    (entry.labels === instance.labels ||
      (entry.canonicalName === firstLabel(instance.labels, CANONICAL_NAME_LABELS) && entry.canonicalRevision === firstLabel(instance.labels, CANONICAL_REVISION_LABELS)))
  );
}

/** A locality group's `lb_endpoints` as last encoded: the entries, in order, and their bytes concatenated. */
export interface LocalityGroupBytes {
  /** The instances they were written from (in a cluster of `clusterId`): the same objects, in order, are the same bytes. */
  readonly instances: readonly ServiceInstance[];
  readonly clusterId: string;
  readonly entries: readonly CachedEndpoint[];
  readonly bytes: Uint8Array;
  /**
   * The `groupDigest` of the group's content when it was last versioned with these endpoints, and
   * the locality and the fields after the endpoints it was taken with.
   */
  digest: { readonly locality: Uint8Array; readonly tail: Uint8Array; readonly value: Uint8Array } | undefined;
}

/**
 * The entries of one assignment of an owner, changed in place by each build: an entry is replaced
 * when its endpoint changed, and those no build used are swept when the build ends.
 */
export class AssignmentEndpoints {
  /** By address (see `groupBytesOf` in `load-assignment-encoding.ts`). */
  readonly entries = new Map<string, CachedEndpoint>();
  /** The last build that encoded the assignment. */
  build = 0;
  /**
   * `build` wrote or replaced an entry or a group: it is swept when the build ends. A build that
   * reused every group whole used every entry the one before kept.
   */
  changed = false;
  /** The endpoints of each locality group as last encoded, by position: reused whole when they are the same entries. */
  groups: LocalityGroupBytes[] = [];

  /** The entry for `key` is `entry` for `build` (written now, or found unchanged). */
  use(key: string, entry: CachedEndpoint, previous: CachedEndpoint | undefined, build: number): void {
    if (entry !== previous) this.entries.set(key, entry);
    entry.build = build;
  }
}

/** A service instance and the last build of its owner that used it. */
interface KeptInstance {
  readonly instance: ServiceInstance;
  build: number;
}

/**
 * The service instances of one ServiceEntry port, by the endpoint each was built from, kept from one
 * build of the owner to the next like the endpoints' bytes: a rebuild builds instances only for the
 * endpoints that changed, and the encoder finds the others' bytes by the same instance objects.
 *
 * Keyed by the endpoint object: normalized entries are immutable (the selector index and the
 * translator's decoding hand over the same object for an unchanged workload), and an instance is
 * built from nothing else but the port's name, target port and number and the trust domain, which
 * the table is for (`ServiceInstancesArgs`). The hostname does not enter it: hosts share the table.
 */
export class PortInstances {
  private readonly byEndpoint = new Map<NormalizedEndpoint, KeptInstance>();
  /** The last build that used the table. */
  build = 0;
  /** Entries of `byEndpoint` that `build` used. */
  private used = 0;

  constructor(
    readonly portName: string,
    readonly targetPort: number,
    readonly trustDomain: string,
  ) {}

  /** The instance kept for `endpoint`, or the one `make` builds now (kept for the next build). */
  instanceOf(endpoint: NormalizedEndpoint, make: (endpoint: NormalizedEndpoint) => ServiceInstance): ServiceInstance {
    const kept = this.byEndpoint.get(endpoint);
    if (kept === undefined) {
      const instance = make(endpoint);
      this.byEndpoint.set(endpoint, { instance, build: this.build });
      this.used++;
      return instance;
    }
    if (kept.build !== this.build) {
      kept.build = this.build;
      this.used++;
    }
    return kept.instance;
  }

  /** Starts `build`'s use of the table. */
  begin(build: number): void {
    if (this.build === build) return;
    this.build = build;
    this.used = 0;
  }

  /** Drops the instances `build` did not use. */
  sweep(): void {
    if (this.byEndpoint.size === this.used) return;
    for (const [endpoint, kept] of this.byEndpoint) if (kept.build !== this.build) this.byEndpoint.delete(endpoint);
  }

  get size(): number {
    return this.byEndpoint.size;
  }
}

/** What an `EndpointBytesCache` keeps for one owner. */
interface OwnerState {
  /** By cluster name. */
  readonly assignments: Map<string, AssignmentEndpoints>;
  /** By port number. */
  readonly ports: Map<number, PortInstances>;
  last: EndpointBytesScope | undefined;
}

/** The endpoints one build of one owner reads and records. */
export class EndpointBytesScope {
  private closed = false;
  private readonly assignments: Map<string, AssignmentEndpoints>;
  private readonly ports: Map<number, PortInstances>;

  constructor(
    owner: Pick<OwnerState, 'assignments' | 'ports'>,
    /** Numbers the owner's builds, from 1. */
    readonly build: number,
    /** False: this build neither reads nor keeps endpoints (the encoder writes them all, as without a scope). */
    readonly recording = true,
  ) {
    this.assignments = owner.assignments;
    this.ports = owner.ports;
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
    table.begin(this.build);
    return table;
  }

  /** The entries of the assignment named `clusterName`, for this build to read and record. */
  assignment(clusterName: string): AssignmentEndpoints {
    let endpoints = this.assignments.get(clusterName);
    if (endpoints === undefined) {
      endpoints = new AssignmentEndpoints();
      this.assignments.set(clusterName, endpoints);
    }
    if (endpoints.build !== this.build) {
      endpoints.build = this.build;
      endpoints.changed = false;
    }
    return endpoints;
  }

  /**
   * Ends the build: what it did not use (an endpoint or assignment gone since the previous build)
   * is dropped, so an owner holds at most the endpoints of its latest build.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [clusterName, endpoints] of this.assignments) {
      if (endpoints.build !== this.build) {
        this.assignments.delete(clusterName);
      } else if (endpoints.changed) {
        for (const [key, entry] of endpoints.entries) if (entry.build !== this.build) endpoints.entries.delete(key);
      }
    }
    for (const [port, table] of this.ports) {
      if (table.build !== this.build) this.ports.delete(port);
      else table.sweep();
    }
  }
}

/**
 * Encoded endpoints per owner, each owner's being those its latest build used. Not shared between
 * processes and never part of what is published: output bytes are the same without it.
 */
export class EndpointBytesCache {
  private readonly owners = new Map<string, OwnerState>();

  /**
   * `keepFromSecondBuild`: an owner's first build keeps nothing, its later builds do. Keeping an
   * endpoint costs more than writing it once (an entry object and a map slot per endpoint and
   * cluster), and it pays only when the owner is built again: a translator's cold start builds every
   * ServiceEntry once, most of which may never change.
   */
  constructor(private readonly options: { readonly keepFromSecondBuild?: boolean } = {}) {}

  /**
   * Starts a build of `owner`, which reads the entries the owner's previous build left; `close` the
   * scope when the build is encoded (starting the next build closes it too).
   */
  scope(owner: string): EndpointBytesScope {
    let state = this.owners.get(owner);
    if (state === undefined) {
      state = { assignments: new Map(), ports: new Map(), last: undefined };
      this.owners.set(owner, state);
      if (this.options.keepFromSecondBuild === true) {
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
    for (const { assignments } of this.owners.values()) for (const endpoints of assignments.values()) size += endpoints.entries.size;
    return size;
  }

  /** Service instances held, over every owner and port. */
  get instanceCount(): number {
    let count = 0;
    for (const { ports } of this.owners.values()) for (const table of ports.values()) count += table.size;
    return count;
  }
}
