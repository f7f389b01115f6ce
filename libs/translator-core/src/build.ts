/**
 * One ServiceEntry hash -> every resource the gateways serve for it. The gateway picks the variants per
 * proxy (node metadata `GENERATOR: grpc` -> proxyless gRPC; a router selected by an AUTO_PASSTHROUGH
 * Gateway -> the sni-dnat clusters on top of its usual ones), so the translator builds each variant
 * once and stores them side by side, tagged, under the ServiceEntry. A gRPC route that clients in one
 * namespace see with other domains is stored once more for that namespace (`namespacedVariant`). Pure:
 * no I/O, no clock.
 */
import type { NormalizedServiceEntry } from '@skiff/model';
import { contentVersion } from '@skiff/protos';
import { canonicalJson, namespacedVariant, scopedVariant, type BuiltResource, type DecodedServiceEntry, type Visibility } from '@skiff/store';
import {
  encodeLocalityLbPolicy,
  encodeNamespaceRoutes,
  encodeResources,
  INLINE_LOCALITY_LB_POLICY_TYPE_URL,
  LOCALITY_LB_POLICY_TYPE_URL,
  translateServiceEntry,
  type ClusterNaming,
  type DestinationRuleLookupOptions,
  type EndpointBytesScope,
  type Flavor,
  type MeshSettings,
  type TranslateError,
  type TranslateInput,
} from '@skiff/xds-translate';
import { policyScopesOf } from './policy-scopes.js';

/** One output the gateways serve: a flavour (Istio's generator) with a cluster naming, stored as `name`. */
export interface TranslationVariant {
  /** The `ResourceId.variant` tag in the store. */
  readonly name: string;
  readonly flavor: Flavor;
  readonly naming: ClusterNaming;
}

/**
 * What the gateways serve: Envoy proxies (`outbound|80||host`), istiod's sni-dnat clusters
 * (`outbound_.80_._.host`, added for routers an AUTO_PASSTHROUGH Gateway selects), and proxyless gRPC clients, which always use the sidecar names (istiod's
 * grpcgen builds `outbound|PORT|SUBSET|HOST` only: `pilot/pkg/networking/grpcgen/cds.go`).
 * The gateway's cache maps a proxy profile to the same names (`variantOf` in `@skiff/xds-cache`).
 */
export const SERVED_VARIANTS: readonly TranslationVariant[] = Object.freeze([
  Object.freeze({ name: 'envoy-sidecar', flavor: 'envoy', naming: 'sidecar' }),
  Object.freeze({ name: 'envoy-sni-dnat', flavor: 'envoy', naming: 'sni-dnat' }),
  Object.freeze({ name: 'grpc', flavor: 'grpc', naming: 'sidecar' }),
] satisfies TranslationVariant[]);

/**
 * The variants a translator may leave unbuilt until a proxy needs them (`TranslatorOptions.buildOnRequest`):
 * sni-dnat clusters serve only routers an AUTO_PASSTHROUGH Gateway selects, gRPC resources only
 * proxyless clients, and a mesh of sidecars has neither.
 */
export const VARIANTS_BUILT_ON_REQUEST: readonly string[] = Object.freeze(['envoy-sni-dnat', 'grpc']);

/**
 * The attributes istiod's `canMergeServices` (`pilot/pkg/model/sidecar.go`) compares besides the
 * namespace, resolution and exportTo: two same-host entries of one namespace merge only when these are
 * equal too. Go's `maps.Equal` holds a missing selector equal to an empty one.
 */
export function sameHostMergeKey(serviceEntry: NormalizedServiceEntry): string {
  return canonicalJson({ labels: serviceEntry.labels, selector: serviceEntry.workloadSelector ?? {} });
}

/** What the gateways need to decide who sees the ServiceEntry's resources (docs/istio-behaviour.md#visibility). */
export function visibilityOf(serviceEntry: NormalizedServiceEntry): Visibility {
  return {
    namespace: serviceEntry.namespace,
    name: serviceEntry.name,
    exportTo: [...serviceEntry.exportTo],
    creationTime: serviceEntry.creationTime,
    hosts: [...serviceEntry.hosts],
    ports: serviceEntry.ports.map((port) => ({ name: port.name, number: port.number, protocol: port.protocol })),
    resolution: serviceEntry.resolution,
    mergeKey: sameHostMergeKey(serviceEntry),
  };
}

export interface ServiceEntryBuild {
  /**
   * Every variant's resources, once per policy scope, each tagged with its scoped variant
   * (`scopedVariant`); names are unique per (tag, type).
   */
  readonly resources: BuiltResource[];
  /** Entry-level problems per (unscoped) variant; what they name was left out, the rest is in `resources`. */
  readonly errors: readonly { readonly variant: string; readonly error: TranslateError }[];
  /** The ownership record's visibility, with the policy scope table when some proxy gets a DestinationRule. */
  readonly visibility: Visibility;
  /** Problems choosing the scopes (too many selectors); the build went ahead without telling those proxies apart. */
  readonly scopeProblems: readonly string[];
}

/**
 * Translates and encodes one decoded ServiceEntry hash for every variant and every policy scope of the
 * DestinationRules and VirtualServices stored beside it (`policyScopesOf`). Without rules there is one scope, the default,
 * and the build is exactly the plain variants. `endpointBytes`, the ServiceEntry's scope in the
 * caller's `EndpointBytesCache`, only saves building service instances and writing endpoints again
 * (every variant and scope of the build shares what it keeps): the output is the same without it.
 */
export function buildServiceEntry(
  decoded: Omit<DecodedServiceEntry, 'destinationRules' | 'siblings' | 'virtualServices'> & {
    readonly destinationRules?: DecodedServiceEntry['destinationRules'];
    readonly siblings?: DecodedServiceEntry['siblings'];
    readonly virtualServices?: DecodedServiceEntry['virtualServices'];
  },
  variants: readonly TranslationVariant[],
  mesh: MeshSettings,
  lookupOptions: Partial<DestinationRuleLookupOptions> = {},
  endpointBytes?: EndpointBytesScope,
): ServiceEntryBuild {
  const scopes = policyScopesOf(decoded.serviceEntry, decoded.destinationRules ?? [], lookupOptions, decoded.virtualServices ?? []);
  const resources: BuiltResource[] = [];
  const errors: { variant: string; error: TranslateError }[] = [];
  for (const variant of variants) {
    const seen = new Set<string>();
    for (const [scope, destinationRules] of scopes.scopes) {
      const virtualServices = scopes.routes.get(scope);
      const input: TranslateInput = {
        serviceEntry: decoded.serviceEntry,
        endpoints: decoded.endpoints,
        ...(destinationRules.size === 0 ? {} : { destinationRules }),
        ...(decoded.siblings === undefined || decoded.siblings.length === 0 ? {} : { siblings: decoded.siblings }),
        ...(virtualServices === undefined ? {} : { virtualServices }),
      };
      const result = translateServiceEntry(input, { flavor: variant.flavor, naming: variant.naming, mesh }, endpointBytes);
      const tag = scopedVariant(variant.name, scope);
      for (const encoded of encodeResources(result, endpointBytes)) {
        resources.push({ typeUrl: encoded.typeUrl, name: encoded.name, variant: tag, version: encoded.version, bytes: encoded.bytes });
      }
      // Routes that clients of one namespace get instead (`namespacedVariant`), chosen by the gateway.
      for (const { namespace, encoded } of encodeNamespaceRoutes(result)) {
        resources.push({ typeUrl: encoded.typeUrl, name: encoded.name, variant: namespacedVariant(tag, namespace), version: encoded.version, bytes: encoded.bytes });
      }
      // Beside each assignment istiod rewrites per proxy, the policy the gateways apply per proxy locality (never sent).
      // A DNS cluster's policy goes beside the cluster, under its own type: an EDS cluster and its assignment share a name.
      for (const { clusterName, policy, inline } of result.localityLbPolicies) {
        const bytes = encodeLocalityLbPolicy(policy);
        const typeUrl = inline === true ? INLINE_LOCALITY_LB_POLICY_TYPE_URL : LOCALITY_LB_POLICY_TYPE_URL;
        resources.push({ typeUrl, name: clusterName, variant: tag, version: contentVersion(bytes), bytes });
      }
      // The same problem in several scopes is one problem of the variant.
      for (const error of result.errors) {
        if (seen.has(error.message)) continue;
        seen.add(error.message);
        errors.push({ variant: variant.name, error });
      }
    }
  }
  const visibility = visibilityOf(decoded.serviceEntry);
  return { resources, errors, visibility: scopes.table === undefined ? visibility : { ...visibility, policyScopes: scopes.table }, scopeProblems: scopes.problems };
}
