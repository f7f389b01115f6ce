/**
 * Endpoints written once: the encoded `LbEndpoint` of each service instance, kept between builds, and
 * locality groups whose `lbEndpoints` messages are only built when something reads them.
 *
 * Why: a ClusterLoadAssignment is a concatenation of length-delimited submessages, so its bytes can be
 * spliced from the bytes of its endpoints. A cold build then encodes each workload's endpoint once per
 * port, without first building the 300k `LbEndpoint` messages (and their metadata structs) a large mesh
 * has; an update re-encodes only the workloads whose endpoint bytes changed, not the 2,000 others of
 * the ServiceEntry. The bytes stay exactly those of `toBinary` (`load-assignment-encoding.test.ts`).
 */
import type { LbEndpoint, LocalityLbEndpoints } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_components_pb.js';
import type { ServiceInstance } from './instances.js';

/** What a group's endpoints are built from, until something reads its `lbEndpoints`. */
export interface DeferredLbEndpoints {
  readonly instances: readonly ServiceInstance[];
  readonly clusterId: string;
}

const deferred = new WeakMap<LocalityLbEndpoints, DeferredLbEndpoints>();

/**
 * Makes `group.lbEndpoints` the endpoints `build` makes from `source.instances`, built on first read
 * (by `toBinary`, `toJson`, a test, a caller that edits them). Until then the encoder writes the
 * group from `source` directly; after it, from the messages, so an edit is never lost.
 */
export function deferLbEndpoints(group: LocalityLbEndpoints, source: DeferredLbEndpoints, build: (instance: ServiceInstance) => LbEndpoint): LocalityLbEndpoints {
  const settle = (lbEndpoints: LbEndpoint[]): void => {
    deferred.delete(group);
    Object.defineProperty(group, 'lbEndpoints', { value: lbEndpoints, writable: true, enumerable: true, configurable: true });
  };
  Object.defineProperty(group, 'lbEndpoints', {
    enumerable: true,
    configurable: true,
    get(): LbEndpoint[] {
      settle(source.instances.map(build));
      return group.lbEndpoints;
    },
    set(lbEndpoints: LbEndpoint[]) {
      settle(lbEndpoints);
    },
  });
  deferred.set(group, source);
  return group;
}

/** The instances a group's endpoints are still to be built from, or undefined once they were built. */
export function deferredLbEndpoints(group: LocalityLbEndpoints): DeferredLbEndpoints | undefined {
  return deferred.get(group);
}

/** Entries per generation by default: two generations of 250k endpoints take about 150 MB. */
export const DEFAULT_ENDPOINT_CACHE_ENTRIES = 250_000;

/**
 * Encoded endpoints by content key (everything their bytes depend on), bounded: entries live in a
 * current and a previous generation of at most `capacity` each. A full current generation becomes
 * the previous one and the old previous one is dropped; a hit in the previous generation moves the
 * entry forward. So what every build still uses stays, at most 2 x `capacity` entries are kept, and
 * no per-entry bookkeeping is needed (an LRU approximated by generations).
 */
export class EndpointBytesCache {
  private current = new Map<string, Uint8Array>();
  private previous = new Map<string, Uint8Array>();
  private hitCount = 0;
  private missCount = 0;

  constructor(readonly capacity: number = DEFAULT_ENDPOINT_CACHE_ENTRIES) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`endpoint cache capacity must be a positive integer, got ${capacity}`);
  }

  get(key: string): Uint8Array | undefined {
    const found = this.current.get(key);
    if (found !== undefined) {
      this.hitCount++;
      return found;
    }
    const old = this.previous.get(key);
    if (old === undefined) {
      this.missCount++;
      return undefined;
    }
    this.hitCount++;
    this.previous.delete(key);
    this.set(key, old);
    return old;
  }

  set(key: string, bytes: Uint8Array): void {
    if (this.current.size >= this.capacity) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, bytes);
  }

  /** Entries held, both generations. */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  get stats(): { readonly hits: number; readonly misses: number; readonly entries: number } {
    return { hits: this.hitCount, misses: this.missCount, entries: this.size };
  }
}
