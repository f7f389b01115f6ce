/**
 * xDS type URLs, in a module of their own: every consumer needs them and none should pay for the
 * generated Envoy files or the JSON type registry (`registry.ts`) to get them.
 */
import type { DescMessage } from '@bufbuild/protobuf';

/** xDS v3 type URLs, as Envoy and gRPC clients send them in `DiscoveryRequest.type_url`. */
export const TypeUrl = {
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RouteConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  /** SDS over ADS: a `credentialName` certificate or CA (istiod's `SecretType`, `pkg/model/xds.go`). */
  Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;
export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** The `type.googleapis.com/` URL of a message, as used in `google.protobuf.Any`. */
export function typeUrlOf(schema: DescMessage): string {
  return `type.googleapis.com/${schema.typeName}`;
}
