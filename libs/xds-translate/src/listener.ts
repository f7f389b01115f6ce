/**
 * Listeners for proxyless gRPC clients (`pilot/pkg/networking/grpcgen/lds.go`
 * `buildOutboundListeners`). A gRPC client with target `xds:///HOST:PORT` asks LDS for exactly
 * `HOST:PORT` and reads only the `api_listener`: an HttpConnectionManager that names, through RDS
 * over ADS, the route configuration `outbound|PORT||HOST`.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { isIP } from '@skiff/model';
import { ListenerSchema, type Listener } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { HTTPFaultSchema } from '@skiff/protos/gen/envoy/extensions/filters/http/fault/v3/fault_pb.js';
import { RouterSchema } from '@skiff/protos/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { HttpConnectionManagerSchema, HttpFilterSchema, type HttpFilter } from '@skiff/protos/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { sharedMessage } from './shared-message.js';

/** `wellknown.Fault`: fault injection, a no-op without a VirtualService's `fault`. */
export const FAULT_FILTER_NAME = 'envoy.filters.http.fault';
/** `wellknown.Router`: the HTTP filter that forwards to the route's cluster. */
export const ROUTER_FILTER_NAME = 'envoy.filters.http.router';
/** The listener address when the ServiceEntry has no usable VIP (`constants.UnspecifiedIP`). */
export const UNSPECIFIED_ADDRESS = '0.0.0.0';

/**
 * A ServiceEntry address as istiod keeps it for a service (`serviceentry/conversion.go`): a `/32`
 * or `/128` CIDR is its IP, anything else stays as written (a wider CIDR included).
 */
export function serviceAddress(address: string): string {
  if (isIP(address)) return address;
  const [ip, bits] = address.split('/');
  if (ip !== undefined && isIP(ip) && ((bits === '32' && !ip.includes(':')) || (bits === '128' && ip.includes(':')))) return ip;
  return address;
}

/**
 * The address istiod gives the listener (`Service.GetAddressForProxy`): the ServiceEntry's first
 * address as the service keeps it, otherwise 0.0.0.0. gRPC clients do not connect to it.
 */
export function selectListenerAddress(addresses: readonly string[]): string {
  const first = addresses[0];
  return first === undefined || first === '' ? UNSPECIFIED_ADDRESS : serviceAddress(first);
}

export interface GrpcListenerArgs {
  /** `HOST:PORT`, the name the client subscribes to. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly routeConfigName: string;
}

/** The fault filter, then the router: the same in every gRPC listener (`sharedMessage`). */
const GRPC_HTTP_FILTERS: readonly HttpFilter[] = [
  sharedMessage(create(HttpFilterSchema, { name: FAULT_FILTER_NAME, configType: { case: 'typedConfig', value: anyPack(HTTPFaultSchema, create(HTTPFaultSchema)) } })),
  sharedMessage(create(HttpFilterSchema, { name: ROUTER_FILTER_NAME, configType: { case: 'typedConfig', value: anyPack(RouterSchema, create(RouterSchema)) } })),
];

/**
 * One API listener whose HttpConnectionManager has istiod's gRPC filter list
 * (`grpcgen/lds.go` `supportedFilters`): the fault filter (empty: no fault injected without a
 * VirtualService), then the router, which the client requires last.
 */
export function buildGrpcListener(args: GrpcListenerArgs): Listener {
  const connectionManager = create(HttpConnectionManagerSchema, {
    routeSpecifier: {
      case: 'rds',
      value: { configSource: { configSourceSpecifier: { case: 'ads', value: {} } }, routeConfigName: args.routeConfigName },
    },
    httpFilters: [...GRPC_HTTP_FILTERS],
  });
  return create(ListenerSchema, {
    name: args.name,
    address: { address: { case: 'socketAddress', value: { address: args.address, portSpecifier: { case: 'portValue', value: args.port } } } },
    apiListener: { apiListener: anyPack(HttpConnectionManagerSchema, connectionManager) },
  });
}
