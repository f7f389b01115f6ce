/**
 * One ServiceEntry hash -> every resource the gateways serve for it. The gateway picks a variant per
 * proxy (node metadata `GENERATOR: grpc` -> proxyless gRPC; `ROUTER_MODE: sni-dnat` -> DNS-SRV cluster
 * names), so the translator builds each variant once and stores them side by side, tagged, under the
 * ServiceEntry. Pure: no I/O, no clock.
 */
import type { NormalizedServiceEntry } from '@skiff/model';
import type { BuiltResource, DecodedServiceEntry, Visibility } from '@skiff/store';
import { encodeResources, translateServiceEntry, type ClusterNaming, type Flavor, type MeshSettings, type TranslateError } from '@skiff/xds-translate';

/** One output the gateways serve: a flavour (Istio's generator) with a cluster naming, stored as `name`. */
export interface TranslationVariant {
  /** The `ResourceId.variant` tag in the store. */
  readonly name: string;
  readonly flavor: Flavor;
  readonly naming: ClusterNaming;
}

/**
 * What the gateways serve: Envoy sidecars (`outbound|80||host`), Envoy with `ROUTER_MODE: sni-dnat`
 * (`outbound_.80_._.host`), and proxyless gRPC clients, which always use the sidecar names (istiod's
 * grpcgen builds `outbound|PORT|SUBSET|HOST` only: `pilot/pkg/networking/grpcgen/cds.go`).
 * The gateway's cache maps a proxy profile to the same names (`variantOf` in `@skiff/xds-cache`).
 */
export const SERVED_VARIANTS: readonly TranslationVariant[] = Object.freeze([
  Object.freeze({ name: 'envoy-sidecar', flavor: 'envoy', naming: 'sidecar' }),
  Object.freeze({ name: 'envoy-sni-dnat', flavor: 'envoy', naming: 'sni-dnat' }),
  Object.freeze({ name: 'grpc', flavor: 'grpc', naming: 'sidecar' }),
] satisfies TranslationVariant[]);

/** What the gateways need to decide who sees the ServiceEntry's resources (docs/istio-behaviour.md#visibility). */
export function visibilityOf(serviceEntry: NormalizedServiceEntry): Visibility {
  return {
    namespace: serviceEntry.namespace,
    name: serviceEntry.name,
    exportTo: [...serviceEntry.exportTo],
    creationTime: serviceEntry.creationTime,
    hosts: [...serviceEntry.hosts],
    ports: serviceEntry.ports.map((port) => ({ name: port.name, number: port.number, protocol: port.protocol })),
  };
}

export interface ServiceEntryBuild {
  /** Every variant's resources, each tagged with its variant; names are unique per (variant, type). */
  readonly resources: BuiltResource[];
  /** Entry-level problems per variant; what they name was left out, the rest is in `resources`. */
  readonly errors: readonly { readonly variant: string; readonly error: TranslateError }[];
}

/** Translates and encodes one decoded ServiceEntry hash for every variant. */
export function buildServiceEntry(decoded: DecodedServiceEntry, variants: readonly TranslationVariant[], mesh: MeshSettings): ServiceEntryBuild {
  const resources: BuiltResource[] = [];
  const errors: { variant: string; error: TranslateError }[] = [];
  for (const variant of variants) {
    const result = translateServiceEntry({ serviceEntry: decoded.serviceEntry, endpoints: decoded.endpoints }, { flavor: variant.flavor, naming: variant.naming, mesh });
    for (const encoded of encodeResources(result)) {
      resources.push({ typeUrl: encoded.typeUrl, name: encoded.name, variant: variant.name, version: encoded.version, bytes: encoded.bytes });
    }
    for (const error of result.errors) errors.push({ variant: variant.name, error });
  }
  return { resources, errors };
}
