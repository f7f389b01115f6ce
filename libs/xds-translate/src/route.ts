/**
 * Route configurations for proxyless gRPC clients (`pilot/pkg/networking/grpcgen/rds.go`
 * `buildHTTPRoute`). istiod names them with the cluster key `outbound|PORT||HOST` and builds them
 * with the sidecar's outbound virtual hosts (`pilot/pkg/networking/core/httproute.go`
 * `BuildSidecarOutboundVirtualHosts`), keeping the one whose domains match the host: without a
 * VirtualService, one route to the default cluster with the mesh's default retry policy
 * (`pilot/pkg/networking/core/route/retry/retry.go` `DefaultPolicy`); with a VirtualService, its
 * routes for the port (`virtual-service.ts`). Ports that do not carry HTTP get a route configuration
 * with no virtual host.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack, DurationSchema } from '@bufbuild/protobuf/wkt';
import { isHttpProtocol, isIP, type Protocol } from '@skiff/model';
import { PreviousHostsPredicateSchema } from '@skiff/protos/gen/envoy/extensions/retry/host/previous_hosts/v3/previous_hosts_pb.js';
import { RouteConfigurationSchema, type RouteConfiguration } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { RetryPolicySchema, RouteMatchSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_components_pb.js';
import type { ConsistentHashJson } from './destination-rule.js';
import { serviceAddress } from './listener.js';
import { joinHostPort } from './names.js';
import { sharedMessage } from './shared-message.js';
import { buildHashPolicy, buildVirtualServiceRoutes, type AppliedVirtualService, type VirtualServiceRouteArgs } from './virtual-service.js';

/** `retry.DefaultPolicy`: what the mesh retries without a VirtualService. */
export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';
export const DEFAULT_RETRY_ATTEMPTS = 2;
/** `wellknown` name of the previous-hosts retry predicate. */
export const PREVIOUS_HOSTS_PREDICATE_NAME = 'envoy.retry_host_predicates.previous_hosts';
/** The DNS zone of Kubernetes services as proxies see it (`NS.svc.cluster.local` domains). */
const KUBERNETES_SERVICE_ZONE = '.svc.cluster.local';
/** The address istiod leaves out of domains (`constants.UnspecifiedIP`). */
const UNSPECIFIED_IP = '0.0.0.0';

/** Ports whose traffic istiod routes over HTTP: the HTTP family (`IsHTTP`) and unset (sniffed). */
export function isHttpRoutedProtocol(protocol: Protocol): boolean {
  return protocol === '' || isHttpProtocol(protocol);
}

/** `util.IPv6Compliant`: an IPv6 address in brackets, anything else as it is. */
function ipv6Compliant(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export interface GrpcRouteArgs {
  /** `outbound|PORT||HOST`. */
  readonly name: string;
  readonly hostname: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly clusterName: string;
  /** The ServiceEntry's `addresses`, as written (IPs or CIDRs). */
  readonly addresses: readonly string[];
  /** `PILOT_ENABLE_ABSOLUTE_FQDN_VHOST_DOMAIN`: also match `HOST.` and `HOST.:PORT`. */
  readonly absoluteFqdnDomains: boolean;
  /** The port's consistent hash from the host's DestinationRule (`hashForService`), if any. */
  readonly consistentHash?: ConsistentHashJson | undefined;
  /**
   * The namespace of the clients the route is for, when it is the host's own Kubernetes namespace
   * (`kubernetesNamespaceOf`): they also reach the host by its bare name. Unset: clients of any
   * other namespace.
   */
  readonly clientNamespace?: string | undefined;
  /**
   * The VirtualServices that may claim the host for these clients, in istiod's order
   * (`chooseVirtualServices`): the first with a route on the port gives the host its routes.
   */
  readonly virtualServices?: readonly AppliedVirtualService[] | undefined;
  /** The consistent hash of a VirtualService route destination (`HashForHTTPDestination`). */
  readonly destinationHash?: VirtualServiceRouteArgs['destinationHash'];
}

/**
 * The namespace a host in the cluster's DNS zone names (`NAME.NS.svc.cluster.local` -> `NS`), when it
 * is one a client can be in (a DNS label); clients there get the host's bare-name domains.
 */
export function kubernetesNamespaceOf(hostname: string): string | undefined {
  const zone = hostname.indexOf('.svc.');
  const firstDot = hostname.indexOf('.');
  if (!hostname.endsWith(KUBERNETES_SERVICE_ZONE) || zone <= 0 || firstDot + 1 > zone) return undefined;
  const namespace = hostname.slice(firstDot + 1, zone);
  return namespace !== '' && !namespace.includes('.') ? namespace : undefined;
}

/**
 * The virtual host's domains (`generateVirtualHostDomains`): the host and `host:port`, their
 * absolute forms (`host.`, `host.:port`), then the entry's address and `address:port`.
 */
export function buildVirtualHostDomains(args: Pick<GrpcRouteArgs, 'hostname' | 'port' | 'addresses' | 'absoluteFqdnDomains' | 'clientNamespace'>): string[] {
  const domains = [ipv6Compliant(args.hostname), joinHostPort(args.hostname, args.port)];
  if (args.absoluteFqdnDomains) {
    if (!isIP(args.hostname)) domains.push(`${args.hostname}.`);
    domains.push(joinHostPort(`${args.hostname}.`, args.port));
  }
  // A host in the cluster's DNS zone (`NAME.NS.svc.cluster.local`) is also reachable as `NAME.NS`
  // and `NAME.NS.svc`, and from NS itself as `NAME` (`GenerateAltVirtualHosts`,
  // `generateAltVirtualHostsForKubernetesService`, with the proxy's DNS domain `NS.svc.cluster.local`).
  const zone = args.hostname.indexOf('.svc.');
  const firstDot = args.hostname.indexOf('.');
  if (args.hostname.endsWith(KUBERNETES_SERVICE_ZONE) && zone > 0 && firstDot + 1 <= zone) {
    const nameAndNamespace = args.hostname.slice(0, zone);
    const withSvc = `${nameAndNamespace}.svc`;
    if (args.clientNamespace !== undefined && args.hostname.slice(firstDot + 1, zone) === args.clientNamespace) {
      const name = args.hostname.slice(0, firstDot);
      domains.push(name, joinHostPort(name, args.port), withSvc, joinHostPort(withSvc, args.port), nameAndNamespace, joinHostPort(nameAndNamespace, args.port));
    } else {
      domains.push(nameAndNamespace, joinHostPort(nameAndNamespace, args.port), withSvc, joinHostPort(withSvc, args.port));
    }
  }
  // istiod makes one service per address of an entry and serves a host from one of them (which
  // one varies from push to push), so a route carries one address: here always the first.
  const first = args.addresses[0];
  const address = first === undefined ? '' : serviceAddress(first);
  if (address !== '' && address !== UNSPECIFIED_IP) domains.push(ipv6Compliant(address), joinHostPort(address, args.port));
  return domains;
}

/** The parts of the default route that are the same for every host (`sharedMessage`). */
const DEFAULT_ROUTE_MATCH = sharedMessage(create(RouteMatchSchema, { pathSpecifier: { case: 'prefix', value: '/' } }));
const NO_TIMEOUT = sharedMessage(create(DurationSchema, {}));
const DEFAULT_RETRY_POLICY = sharedMessage(
  create(RetryPolicySchema, {
    retryOn: DEFAULT_RETRY_ON,
    numRetries: DEFAULT_RETRY_ATTEMPTS,
    retryHostPredicate: [{ name: PREVIOUS_HOSTS_PREDICATE_NAME, configType: { case: 'typedConfig', value: anyPack(PreviousHostsPredicateSchema, create(PreviousHostsPredicateSchema)) } }],
    hostSelectionRetryMaxAttempts: 5n,
  }),
);

/**
 * The route configuration for `HOST:PORT`. On an HTTP-routed port: one virtual host named
 * `HOST:PORT` counting attempts (`x-envoy-attempt-count`), with one route `default` matching every
 * path (`/`) to the cluster, no timeout (`0s`, also for gRPC's own deadline header), the default
 * retry policy and a decorator naming the operation `HOST:PORT/*`. Otherwise no virtual host.
 */
export function buildGrpcRouteConfiguration(args: GrpcRouteArgs): RouteConfiguration {
  if (!isHttpRoutedProtocol(args.protocol)) return create(RouteConfigurationSchema, { name: args.name });
  const authority = joinHostPort(args.hostname, args.port);
  // A VirtualService without a route on this port leaves the host to the next one, then to the
  // default route (`buildSidecarVirtualHostsForVirtualService` returns no virtual host for it).
  for (const virtualService of args.virtualServices ?? []) {
    const routes = buildVirtualServiceRoutes({
      virtualService,
      port: args.port,
      retryOn: DEFAULT_RETRY_ON,
      retryAttempts: DEFAULT_RETRY_ATTEMPTS,
      previousHostsPredicateName: PREVIOUS_HOSTS_PREDICATE_NAME,
      destinationHash: args.destinationHash,
    });
    if (routes !== undefined) {
      return create(RouteConfigurationSchema, {
        name: args.name,
        virtualHosts: [{ name: authority, domains: buildVirtualHostDomains(args), routes, includeRequestAttemptCount: true }],
      });
    }
  }
  const hashPolicy = args.consistentHash === undefined ? undefined : buildHashPolicy(args.consistentHash);
  return create(RouteConfigurationSchema, {
    name: args.name,
    virtualHosts: [
      {
        name: authority,
        domains: buildVirtualHostDomains(args),
        routes: [
          {
            name: 'default',
            match: DEFAULT_ROUTE_MATCH,
            action: {
              case: 'route',
              value: {
                clusterSpecifier: { case: 'cluster', value: args.clusterName },
                timeout: NO_TIMEOUT,
                retryPolicy: DEFAULT_RETRY_POLICY,
                maxGrpcTimeout: NO_TIMEOUT,
                ...(hashPolicy === undefined ? {} : { hashPolicy: [hashPolicy] }),
              },
            },
            decorator: { operation: `${authority}/*` },
          },
        ],
        includeRequestAttemptCount: true,
      },
    ],
  });
}
