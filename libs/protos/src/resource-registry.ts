/**
 * The JSON type registry of the xDS resources Skiff builds: Clusters, ClusterLoadAssignments,
 * Listeners and RouteConfigurations, and every message Skiff packs into their `Any` fields. Printing
 * resources needs only these files; `registry.ts` adds ADS, CSDS and the admin config dump (the
 * bootstrap among them) for the gateway's debug pages, which `skiffctl translate` never loads.
 */
import { toJson, type DescFile, type DescMessage, type JsonValue, type MessageShape, type Registry } from '@bufbuild/protobuf';
import { file_google_protobuf_any, file_google_protobuf_duration, file_google_protobuf_struct, file_google_protobuf_wrappers } from '@bufbuild/protobuf/wkt';
import { file_envoy_config_cluster_v3_cluster } from './gen/envoy/config/cluster/v3/cluster_pb.js';
import { file_envoy_config_endpoint_v3_endpoint } from './gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { file_envoy_config_listener_v3_listener } from './gen/envoy/config/listener/v3/listener_pb.js';
import { file_envoy_config_route_v3_route } from './gen/envoy/config/route/v3/route_pb.js';
import { file_envoy_extensions_clusters_dynamic_forward_proxy_v3_cluster } from './gen/envoy/extensions/clusters/dynamic_forward_proxy/v3/cluster_pb.js';
import { file_envoy_extensions_filters_http_fault_v3_fault } from './gen/envoy/extensions/filters/http/fault/v3/fault_pb.js';
import { file_envoy_extensions_filters_http_router_v3_router } from './gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from './gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { file_envoy_extensions_network_dns_resolver_cares_v3_cares_dns_resolver } from './gen/envoy/extensions/network/dns_resolver/cares/v3/cares_dns_resolver_pb.js';
import { file_envoy_extensions_retry_host_previous_hosts_v3_previous_hosts } from './gen/envoy/extensions/retry/host/previous_hosts/v3/previous_hosts_pb.js';
import { file_envoy_extensions_transport_sockets_proxy_protocol_v3_upstream_proxy_protocol } from './gen/envoy/extensions/transport_sockets/proxy_protocol/v3/upstream_proxy_protocol_pb.js';
import { file_envoy_extensions_transport_sockets_raw_buffer_v3_raw_buffer } from './gen/envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer_pb.js';
import { file_envoy_extensions_transport_sockets_tls_v3_tls } from './gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { file_envoy_extensions_upstreams_http_v3_http_protocol_options } from './gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { file_udpa_type_v1_typed_struct } from './gen/udpa/type/v1/typed_struct_pb.js';
import { lazyRegistry } from './lazy-registry.js';

/** The resource files and the payloads of their `Any` fields (each registry walks their imports). */
export function resourceFiles(): DescFile[] {
  return [
    file_envoy_config_cluster_v3_cluster,
    file_envoy_config_endpoint_v3_endpoint,
    file_envoy_config_listener_v3_listener,
    file_envoy_config_route_v3_route,
    file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
    file_envoy_extensions_filters_http_router_v3_router,
    file_envoy_extensions_filters_http_fault_v3_fault,
    file_envoy_extensions_upstreams_http_v3_http_protocol_options,
    file_envoy_extensions_network_dns_resolver_cares_v3_cares_dns_resolver,
    file_envoy_extensions_transport_sockets_tls_v3_tls,
    file_envoy_extensions_transport_sockets_raw_buffer_v3_raw_buffer,
    file_envoy_extensions_transport_sockets_proxy_protocol_v3_upstream_proxy_protocol,
    file_envoy_extensions_clusters_dynamic_forward_proxy_v3_cluster,
    file_envoy_extensions_retry_host_previous_hosts_v3_previous_hosts,
    file_udpa_type_v1_typed_struct,
    file_google_protobuf_any,
    file_google_protobuf_duration,
    file_google_protobuf_struct,
    file_google_protobuf_wrappers,
  ];
}

/** Every type an xDS resource built by Skiff can hold, built on first use. */
export const resourceRegistry: Registry = lazyRegistry(resourceFiles);

/** Proto-JSON of a resource (camelCase, `@type` on Any), exactly as Envoy's admin `config_dump` prints it. */
export function toResourceJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): JsonValue {
  return toJson(schema, message, { registry: resourceRegistry });
}
