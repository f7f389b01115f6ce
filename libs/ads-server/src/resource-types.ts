/**
 * What the protocol needs to know about each xDS type, and nothing more: the order of a push cycle,
 * which types carry the full state in a state-of-the-world response, and which honour the legacy
 * wildcard. Every other type URL is served the same way as EDS (per name, no legacy wildcard), so a
 * type the provider does not know is answered with an empty response instead of an error.
 */
import { TypeUrl } from '@skiff/protos';

/**
 * Push order within one cycle: clusters, then their endpoints, then listeners, then their routes
 * (Istio `pilot/pkg/xds/ads.go` `PushOrder`; Envoy `xds_protocol.rst` "eventual consistency
 * considerations"). Other types follow in the order they were first requested.
 */
export const PUSH_ORDER: readonly string[] = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration];

/**
 * Listener and Cluster are "all resources required in SotW": a state-of-the-world response carries
 * every subscribed resource, and a missing one is deleted by the client (Envoy `xds_protocol.rst`
 * "Grouping resources into responses"; go-control-plane `ResourceRequiresFullStateInSotw`,
 * grpc-js-xds `allResourcesRequiredInSotW`). Endpoints and routes may be sent one by one.
 */
export function requiresFullStateInSotw(typeUrl: string): boolean {
  return typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener;
}

/**
 * The types where a stream that never named a resource is subscribed to everything (Envoy
 * `xds_protocol.rst` "How the client specifies what resources to return", legacy wildcard; Istio
 * `pkg/xds/server.go` applies it to the wildcard types only). Explicit `*` works on every type.
 */
export function allowsLegacyWildcard(typeUrl: string): boolean {
  return typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener;
}

/** The wildcard resource name (`xds_protocol.rst`: "the special resource name `*`"). */
export const WILDCARD = '*';

/** Short names for logs and metrics labels, as istiod's `pilot_xds_pushes{type}` uses them. */
export function shortTypeName(typeUrl: string): string {
  switch (typeUrl) {
    case TypeUrl.Cluster:
      return 'cds';
    case TypeUrl.ClusterLoadAssignment:
      return 'eds';
    case TypeUrl.Listener:
      return 'lds';
    case TypeUrl.RouteConfiguration:
      return 'rds';
    case TypeUrl.Secret:
      return 'sds';
    default:
      return typeUrl;
  }
}
