/**
 * What a gateway sent one proxy, in the tables of `istioctl proxy-config`
 * (`istioctl/pkg/writer/envoy/configdump/` for clusters, listeners and routes;
 * `istioctl/pkg/writer/envoy/clusters/` for endpoints). istioctl reads the proxy's Envoy admin;
 * skiffctl reads what the gateway sent that proxy, so endpoints come from the ClusterLoadAssignments
 * and there is no outlier state (always `OK`).
 */
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { Cluster_DiscoveryType, type Cluster } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { Metadata } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import { HealthStatus } from '@skiff/protos/gen/envoy/config/core/v3/health_check_pb.js';
import type { ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import type { FilterChainMatch, Filter } from '@skiff/protos/gen/envoy/config/listener/v3/listener_components_pb.js';
import { type Listener } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteMatch } from '@skiff/protos/gen/envoy/config/route/v3/route_components_pb.js';
import { type RouteConfiguration } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { HttpConnectionManagerSchema, type HttpConnectionManager } from '@skiff/protos/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { parseSubsetKey } from '@skiff/xds-translate';

const compare = (a: string | number, b: string | number): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * istioctl's DESTINATION RULE / VIRTUAL SERVICE cell (`describeManagement`): the `istio` filter
 * metadata's `config` path `/apis/networking.istio.io/<v>/namespaces/<ns>/<kind>/<name>` as
 * `<name>.<ns>`; empty when there is none (a cluster without a DestinationRule, a route without a
 * VirtualService).
 */
function describeManagement(metadata: Metadata | undefined): string {
  const config = metadata?.filterMetadata['istio']?.['config'];
  if (typeof config !== 'string') return '';
  if (!config.startsWith('/apis/networking.istio.io/')) return '<unknown>';
  const pieces = config.split('/');
  return pieces.length === 8 ? `${pieces[7]}.${pieces[5]}` : '';
}

// ---------------------------------------------------------------------------------------------------
// Clusters: `SERVICE FQDN  PORT  SUBSET  DIRECTION  TYPE  DESTINATION RULE`

export interface ClusterFilter {
  readonly fqdn?: string | undefined;
  readonly port?: number | undefined;
  readonly subset?: string | undefined;
  readonly direction?: string | undefined;
}

/** istioctl's `ClusterFilter.Verify`: substring matches on the cluster name. */
export function clusterMatches(cluster: Cluster, filter: ClusterFilter): boolean {
  const { name } = cluster;
  const key = parseSubsetKey(name);
  if (filter.fqdn !== undefined && !name.includes(filter.fqdn)) return false;
  if (filter.direction !== undefined && !name.includes(filter.direction)) return false;
  if (filter.subset !== undefined && !name.includes(filter.subset)) return false;
  if (filter.port !== undefined && key?.port !== filter.port) return false;
  return true;
}

function clusterType(cluster: Cluster): string {
  const discovery = cluster.clusterDiscoveryType;
  if (discovery.case === 'type') return Cluster_DiscoveryType[discovery.value] ?? String(discovery.value);
  if (discovery.case === 'clusterType') return discovery.value.name;
  return Cluster_DiscoveryType[Cluster_DiscoveryType.STATIC];
}

/** Clusters sorted as istioctl sorts them: by host, subset, port, direction. Both naming forms are parsed (istiod's `ParseSubsetKey`). */
export function clusterRows(clusters: readonly Cluster[]): string[][] {
  const parsed = clusters.map((cluster) => ({ cluster, key: parseSubsetKey(cluster.name) }));
  parsed.sort(
    (a, b) =>
      compare(a.key?.hostname ?? a.cluster.name, b.key?.hostname ?? b.cluster.name) ||
      compare(a.key?.subset ?? '', b.key?.subset ?? '') ||
      compare(a.key?.port ?? 0, b.key?.port ?? 0) ||
      compare(a.key?.direction ?? '', b.key?.direction ?? ''),
  );
  return parsed.map(({ cluster, key }) =>
    key === undefined
      ? [cluster.name, '-', '-', '-', clusterType(cluster), describeManagement(cluster.metadata)]
      : [key.hostname, String(key.port), key.subset === '' ? '-' : key.subset, key.direction, clusterType(cluster), describeManagement(cluster.metadata)],
  );
}

export const CLUSTER_HEADER = ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE'];

// ---------------------------------------------------------------------------------------------------
// Endpoints: `ENDPOINT  STATUS  OUTLIER CHECK  CLUSTER`

export interface EndpointFilter {
  readonly address?: string | undefined;
  readonly port?: number | undefined;
  readonly cluster?: string | undefined;
  readonly status?: string | undefined;
}

interface EndpointRow {
  readonly address: string;
  readonly port: number;
  readonly status: string;
  readonly cluster: string;
}

/** Envoy reports an endpoint EDS sent without a health status as HEALTHY; any other status as sent. */
function healthName(status: HealthStatus): string {
  return status === HealthStatus.UNKNOWN ? 'HEALTHY' : (HealthStatus[status] ?? String(status));
}

function endpointsOf(assignment: ClusterLoadAssignment): EndpointRow[] {
  return assignment.endpoints.flatMap((locality) =>
    locality.lbEndpoints.map((lbEndpoint) => {
      const address = lbEndpoint.hostIdentifier.case === 'endpoint' ? lbEndpoint.hostIdentifier.value.address?.address : undefined;
      let host = 'unknown';
      let port = 0;
      if (address?.case === 'socketAddress') {
        host = address.value.address;
        port = address.value.portSpecifier.case === 'portValue' ? address.value.portSpecifier.value : 0;
      } else if (address?.case === 'pipe') {
        host = `unix://${address.value.path}`;
      }
      return { address: host, port, status: healthName(lbEndpoint.healthStatus), cluster: assignment.clusterName };
    }),
  );
}

/** istioctl's `EndpointFilter.Verify` (case-insensitive address, cluster and status). */
function endpointMatches(row: EndpointRow, filter: EndpointFilter): boolean {
  if (filter.address !== undefined && row.address.toLowerCase() !== filter.address.toLowerCase()) return false;
  if (filter.port !== undefined && row.port !== filter.port) return false;
  if (filter.cluster !== undefined && row.cluster.toLowerCase() !== filter.cluster.toLowerCase()) return false;
  if (filter.status !== undefined && row.status.toLowerCase() !== filter.status.toLowerCase()) return false;
  return true;
}

/** Assignments with at least one endpoint that passes the filter (what `-o json` prints). */
export function assignmentsMatching(assignments: readonly ClusterLoadAssignment[], filter: EndpointFilter): ClusterLoadAssignment[] {
  return assignments.filter((assignment) => endpointsOf(assignment).some((row) => endpointMatches(row, filter)));
}

/** One row per endpoint, sorted by address, port, cluster. */
export function endpointRows(assignments: readonly ClusterLoadAssignment[], filter: EndpointFilter): string[][] {
  const rows = assignments.flatMap(endpointsOf).filter((row) => endpointMatches(row, filter));
  rows.sort((a, b) => compare(a.address, b.address) || compare(a.port, b.port) || compare(a.cluster, b.cluster));
  return rows.map((row) => [row.port === 0 ? row.address : `${row.address}:${row.port}`, row.status, 'OK', row.cluster]);
}

export const ENDPOINT_HEADER = ['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'];

// ---------------------------------------------------------------------------------------------------
// Listeners: `ADDRESSES  PORT  MATCH  DESTINATION`, with `NAME` first when there are gRPC API listeners

export interface ListenerFilter {
  readonly address?: string | undefined;
  readonly port?: number | undefined;
}

const HTTP_CONNECTION_MANAGER = 'envoy.filters.network.http_connection_manager';

function listenerAddress(listener: Listener): string {
  const address = listener.address?.address;
  if (address?.case === 'socketAddress') return address.value.address;
  if (address?.case === 'pipe') return address.value.path;
  return '';
}

function listenerPort(listener: Listener): number {
  const address = listener.address?.address;
  return address?.case === 'socketAddress' && address.value.portSpecifier.case === 'portValue' ? address.value.portSpecifier.value : 0;
}

function listenerAddresses(listener: Listener): string[] {
  const extra = listener.additionalAddresses.map((additional) => (additional.address?.address.case === 'socketAddress' ? additional.address.address.value.address : ''));
  return [listenerAddress(listener), ...extra];
}

/** istioctl's `ListenerFilter.Verify`. */
export function listenerMatches(listener: Listener, filter: ListenerFilter): boolean {
  if (filter.address !== undefined && !listenerAddresses(listener).some((a) => a.toLowerCase() === filter.address!.toLowerCase())) return false;
  if (filter.port !== undefined && listenerPort(listener) !== filter.port) return false;
  return true;
}

/** Named application-protocol sets istioctl recognises (`protDescrs`). */
const PROTOCOL_DESCRIPTIONS: readonly (readonly [string, readonly string[]])[] = [
  ['App: HTTP TLS', ['http/1.0', 'http/1.1', 'h2c', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2']],
  ['App: Istio HTTP Plain', ['istio', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2']],
  ['App: TCP TLS', ['istio-peer-exchange', 'istio']],
  ['App: HTTP', ['http/1.0', 'http/1.1', 'h2c']],
];

/** istioctl's `getMatches`: SNI, transport, application protocols and destination address, or `ALL`. */
function describeFilterChainMatch(match: FilterChainMatch | undefined): string {
  const parts: string[] = [];
  if (match !== undefined) {
    if (match.serverNames.length > 0) parts.push(`SNI: ${match.serverNames.join(',')}`);
    if (match.transportProtocol !== '') parts.push(`Trans: ${match.transportProtocol}`);
    if (match.applicationProtocols.length > 0) {
      const known = PROTOCOL_DESCRIPTIONS.find(([, protocols]) => protocols.length === match.applicationProtocols.length && protocols.every((p, i) => p === match.applicationProtocols[i]));
      parts.push(known ? known[0] : `App: ${match.applicationProtocols.join(',')}`);
    }
    const port = match.destinationPort === undefined ? '' : `:${match.destinationPort}`;
    if (match.prefixRanges.length > 0) parts.push(`Addr: ${match.prefixRanges.map((range) => `${range.addressPrefix}/${range.prefixLen ?? 0}`).join(',')}${port}`);
    else if (port !== '') parts.push(`Addr: *${port}`);
  }
  return parts.length === 0 ? 'ALL' : parts.join('; ');
}

/** Where an HTTP connection manager sends requests: `Route: <rds name>`, an inline route, or `HTTP`. */
function describeConnectionManager(manager: HttpConnectionManager): string {
  const specifier = manager.routeSpecifier;
  if (specifier.case === 'rds' && specifier.value.routeConfigName !== '') return `Route: ${specifier.value.routeConfigName}`;
  if (specifier.case === 'routeConfig') return `Inline Route: ${specifier.value.virtualHosts.map((vh) => vh.name).join('; ')}`;
  return 'HTTP';
}

/** istioctl's `getFilterType`, for the filters Skiff's protos decode. */
function describeFilters(filters: readonly Filter[]): string {
  for (const filter of filters) {
    if (filter.name !== HTTP_CONNECTION_MANAGER || filter.configType.case !== 'typedConfig') continue;
    const manager = anyUnpack(filter.configType.value, HttpConnectionManagerSchema);
    return manager === undefined ? 'HTTP' : describeConnectionManager(manager);
  }
  return filters.length === 0 ? 'Non-HTTP/Non-TCP' : filters.map((f) => f.name).join(', ');
}

export interface ListenerTable {
  readonly header: string[];
  readonly rows: string[][];
}

/**
 * One row per filter chain, sorted by port and address, as istioctl prints them; a gRPC API listener
 * (no filter chains) gets one row whose destination is its route, and then the table names each
 * listener, since the name is what a gRPC client's `xds:///` target asks for.
 */
export function listenerTable(listeners: readonly Listener[]): ListenerTable {
  const sorted = [...listeners].sort((a, b) => compare(listenerPort(a), listenerPort(b)) || compare(listenerAddress(a), listenerAddress(b)) || compare(a.name, b.name));
  const withNames = sorted.some((listener) => listener.apiListener !== undefined);
  const rows: string[][] = [];
  for (const listener of sorted) {
    const lead = [...(withNames ? [listener.name] : []), listenerAddresses(listener).join(','), String(listenerPort(listener))];
    const api = listener.apiListener?.apiListener;
    if (api !== undefined) {
      const manager = anyUnpack(api, HttpConnectionManagerSchema);
      rows.push([...lead, 'ALL', manager === undefined ? api.typeUrl : describeConnectionManager(manager)]);
      continue;
    }
    const chains = [...listener.filterChains, ...(listener.defaultFilterChain ? [listener.defaultFilterChain] : [])];
    const described = chains.map((chain) => ({ match: describeFilterChainMatch(chain.filterChainMatch), destination: describeFilters(chain.filters) }));
    // istioctl lists a listener's chains by destination, descending.
    described.sort((a, b) => compare(b.destination, a.destination));
    for (const chain of described) rows.push([...lead, chain.match, chain.destination]);
  }
  return { header: [...(withNames ? ['NAME'] : []), 'ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'], rows };
}

// ---------------------------------------------------------------------------------------------------
// Routes: `NAME  VHOST NAME  DOMAINS  MATCH  VIRTUAL SERVICE`

const PASSTHROUGH_CLUSTER = 'PassthroughCluster';

/** istioctl's `describeRouteDomains`: one domain as is; else up to two without a port, `+ N more...`. */
function describeRouteDomains(domains: readonly string[]): string {
  if (domains.length <= 1) return domains[0] ?? '';
  const withoutPort = domains.filter((d) => !d.includes(':') || ((d.match(/:/g) ?? []).length > 2 && d.endsWith(']')));
  const unique = new Set(withoutPort);
  const shortened = withoutPort.filter((d) => {
    const full = d.endsWith('.svc.cluster.local') ? d.slice(0, -'.svc.cluster.local'.length) : d;
    const partial = d.endsWith('.svc') ? d.slice(0, -'.svc'.length) : d;
    return !((full !== d && unique.has(full)) || (partial !== d && unique.has(partial)));
  });
  return shortened.length > 2 ? `${shortened.slice(0, 2).join(', ')} + ${shortened.length - 2} more...` : shortened.join(', ');
}

/** istioctl's `describeMatch`: prefix `/*`, path-separated prefix, exact path, regex. */
function describeRouteMatch(match: RouteMatch | undefined): string {
  const specifier = match?.pathSpecifier;
  switch (specifier?.case) {
    case 'prefix':
      return specifier.value === '' ? '' : `${specifier.value}*`;
    case 'pathSeparatedPrefix':
      return `PathPrefix:${specifier.value}`;
    case 'path':
      return specifier.value;
    case 'safeRegex':
      return `regex ${specifier.value.regex}`;
    default:
      return '';
  }
}

export function routeRows(routes: readonly RouteConfiguration[], name?: string): string[][] {
  const rows: string[][] = [];
  for (const route of [...routes].sort((a, b) => compare(a.name, b.name))) {
    if (name !== undefined && route.name !== name) continue;
    for (const virtualHost of route.virtualHosts) {
      const domains = describeRouteDomains(virtualHost.domains);
      for (const entry of virtualHost.routes) {
        const action = entry.action;
        if (action.case === 'route' && action.value.clusterSpecifier.case === 'cluster' && action.value.clusterSpecifier.value === PASSTHROUGH_CLUSTER) continue;
        rows.push([route.name, virtualHost.name, domains, describeRouteMatch(entry.match), describeManagement(entry.metadata)]);
      }
      if (virtualHost.routes.length === 0) rows.push([route.name, virtualHost.name, domains, '/*', '404']);
    }
  }
  return rows;
}

export const ROUTE_HEADER = ['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE'];
