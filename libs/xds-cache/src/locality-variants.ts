/**
 * Per-proxy ClusterLoadAssignments for locality load balancing (docs/istio-behaviour.md#destinationrule-locality-load-balancing).
 *
 * istiod rewrites an assignment for each proxy from the proxy's locality and labels
 * (`pilot/pkg/xds/endpoints/endpoint_builder.go` `BuildClusterLoadAssignment`), and caches the result
 * under a key that includes the locality and the failover-priority label values (`EndpointBuilder.WriteHash`).
 * Here the translator stores the policy beside the assignment; for each version of an assignment the
 * gateway keeps one rewritten copy per variant key, encoded once and shared by every proxy with that
 * key, so ten thousand proxies in three zones cost three encodes. A rewrite equal to the stored
 * assignment is the stored resource itself.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { servedResource, type ProxyResourceView, type ServedResource } from '@skiff/ads-server';
import { TypeUrl } from '@skiff/protos';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { applyLocalityLbPolicy, localityVariantKey, type LocalityLbPolicy, type LocalityProxy } from '@skiff/xds-translate';

/** Variants kept per assignment version before the oldest are dropped (distinct localities x label values in a mesh). */
const MAX_VARIANTS = 256;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The rewritten copies of one assignment version under one policy. */
export class LocalityVariants {
  private readonly variants = new Map<string, ServedResource>();
  private encodes = 0;

  constructor(
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
    const assignment = applyLocalityLbPolicy(fromBinary(ClusterLoadAssignmentSchema, this.base.bytes), this.policy, proxy);
    const bytes = toBinary(ClusterLoadAssignmentSchema, assignment);
    this.encodes++;
    const variant = sameBytes(bytes, this.base.bytes) ? this.base : servedResource(TypeUrl.ClusterLoadAssignment, this.base.name, bytes);
    if (this.variants.size >= MAX_VARIANTS) this.variants.delete(this.variants.keys().next().value!);
    this.variants.set(key, variant);
    return variant;
  }
}

/** A resource that may carry locality variants (`CachedResource` for an assignment with a policy). */
interface MaybeLocalized extends ServedResource {
  readonly locality?: LocalityVariants | undefined;
}

function localized(resource: ServedResource, proxy: LocalityProxy): ServedResource {
  const variants = (resource as MaybeLocalized).locality;
  return variants === undefined ? resource : variants.variantFor(proxy);
}

/**
 * A proxy's view with its locality applied: assignments that carry a policy are served as the
 * proxy's variant, everything else as the underlying view has it.
 */
export class LocalityView implements ProxyResourceView {
  constructor(
    private readonly inner: ProxyResourceView,
    private readonly proxy: LocalityProxy,
  ) {}

  all(typeUrl: string): ReadonlyMap<string, ServedResource> {
    const all = this.inner.all(typeUrl);
    if (typeUrl !== TypeUrl.ClusterLoadAssignment) return all;
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
    if (resource === undefined || typeUrl !== TypeUrl.ClusterLoadAssignment) return resource;
    return localized(resource, this.proxy);
  }
}
