/**
 * Locality groups whose `lbEndpoints` messages are built only when something reads them.
 *
 * Why: the encoder only needs bytes, and writes each endpoint straight from its service instance
 * (`load-assignment-encoding.ts`); building the 300k `LbEndpoint` messages of a large mesh first, each
 * with its metadata structs, was most of the translation time of a cold build. Whoever reads the
 * messages (`toBinary`, `toJson`, tests, a caller that edits them) still gets them, built on first read.
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
