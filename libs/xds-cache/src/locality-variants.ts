/**
 * Per-proxy ClusterLoadAssignments for locality load balancing (docs/istio-behaviour.md#destinationrule-locality-load-balancing).
 *
 * istiod rewrites an assignment for each proxy from the proxy's locality and labels
 * (`pilot/pkg/xds/endpoints/endpoint_builder.go` `BuildClusterLoadAssignment`), and caches the result
 * under a key that includes the locality and the failover-priority label values (`EndpointBuilder.WriteHash`).
 * It does the same to the inline `load_assignment` of a STRICT_DNS / LOGICAL_DNS cluster
 * (`pilot/pkg/networking/core/cluster_traffic_policy.go` `applyLoadBalancer` -> `ApplyToCluster`),
 * whose cache key holds the proxy's locality too (`cluster_cache.go` `clusterCache.Key`).
 * Here the translator stores the policy beside the assignment or the DNS cluster; for each version of
 * one the gateway keeps one rewritten copy per variant key, encoded once and shared by every proxy with
 * that key, so ten thousand proxies in three zones cost three encodes. A rewrite equal to the stored
 * resource is the stored resource itself.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { servedResource, type ProxyResourceView, type ServedResource } from '@skiff/ads-server';
import { TypeUrl } from '@skiff/protos';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { applyLocalityLbPolicy, applyLocalityLbPolicyToCluster, localityVariantKey, type LocalityLbPolicy, type LocalityProxy } from '@skiff/xds-translate';

/** Variants kept per assignment version before the oldest are dropped (distinct localities x label values in a mesh). */
const MAX_VARIANTS = 256;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The per-proxy rewrite of one resource's bytes: an EDS assignment, or a DNS cluster's inline one. */
function rewrite(typeUrl: string, bytes: Uint8Array, policy: LocalityLbPolicy, proxy: LocalityProxy): Uint8Array {
  if (typeUrl === TypeUrl.Cluster) return toBinary(ClusterSchema, applyLocalityLbPolicyToCluster(fromBinary(ClusterSchema, bytes), policy, proxy));
  return toBinary(ClusterLoadAssignmentSchema, applyLocalityLbPolicy(fromBinary(ClusterLoadAssignmentSchema, bytes), policy, proxy));
}

/** The rewritten copies of one assignment (or DNS cluster) version under one policy. */
export class LocalityVariants {
  private readonly variants = new Map<string, ServedResource>();
  private encodes = 0;

  constructor(
    /** `TypeUrl.ClusterLoadAssignment` or `TypeUrl.Cluster`. */
    private readonly typeUrl: string,
    private readonly base: ServedResource,
    readonly policy: LocalityLbPolicy,
    /** The stored policy's version, to tell a changed policy from the same one. */
    readonly policyVersion: string,
  ) {}

  /** How many rewrites were encoded (tests, benchmarks). */
  get encoded(): number {
    return this.encodes;
  }

  /** The assignment `proxy` gets: built on the first request of its variant key, then shared. */
  variantFor(proxy: LocalityProxy): ServedResource {
    const key = localityVariantKey(this.policy, proxy);
    const held = this.variants.get(key);
    if (held !== undefined) return held;
    const bytes = rewrite(this.typeUrl, this.base.bytes, this.policy, proxy);
    this.encodes++;
    const variant = sameBytes(bytes, this.base.bytes) ? this.base : servedResource(this.typeUrl, this.base.name, bytes);
    if (this.variants.size >= MAX_VARIANTS) this.variants.delete(this.variants.keys().next().value!);
    this.variants.set(key, variant);
    return variant;
  }
}

/** A resource that may carry locality variants (`CachedResource` for an assignment or DNS cluster with a policy). */
interface MaybeLocalized extends ServedResource {
  readonly locality?: LocalityVariants | undefined;
}

function localized(resource: ServedResource, proxy: LocalityProxy): ServedResource {
  const variants = (resource as MaybeLocalized).locality;
  return variants === undefined ? resource : variants.variantFor(proxy);
}

/** The types whose resources may carry locality variants. */
const LOCALIZED_TYPES: ReadonlySet<string> = new Set([TypeUrl.ClusterLoadAssignment, TypeUrl.Cluster]);

/**
 * A proxy's view with its locality applied: assignments and DNS clusters that carry a policy are
 * served as the proxy's variant, everything else as the underlying view has it.
 */
export class LocalityView implements ProxyResourceView {
  constructor(
    private readonly inner: ProxyResourceView,
    private readonly proxy: LocalityProxy,
  ) {}

  all(typeUrl: string): ReadonlyMap<string, ServedResource> {
    const all = this.inner.all(typeUrl);
    if (!LOCALIZED_TYPES.has(typeUrl)) return all;
    let out: Map<string, ServedResource> | undefined;
    for (const [name, resource] of all) {
      const served = localized(resource, this.proxy);
      if (served === resource) continue;
      out ??= new Map(all);
      out.set(name, served);
    }
    return out ?? all;
  }

  get(typeUrl: string, name: string): ServedResource | undefined {
    const resource = this.inner.get(typeUrl, name);
    if (resource === undefined || !LOCALIZED_TYPES.has(typeUrl)) return resource;
    return localized(resource, this.proxy);
  }
}
