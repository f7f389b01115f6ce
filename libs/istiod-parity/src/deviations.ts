/**
 * Where Skiff deliberately serves something other than istiod: only where istiod's own answer would
 * be refused by the proxy it is sent to. Each deviation is a rewrite of istiod's answer into what
 * the proxy can accept; it applies only when the proxy would refuse istiod's answer, and Skiff must
 * then equal the rewritten answer field for field. Anything else Skiff does differently is a
 * difference. docs/istio-compatibility.md lists them with the checks that prove the refusal.
 */
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { toBinary, fromJson } from '@bufbuild/protobuf';
import { envoyRegistry, TypeUrl } from '@skiff/protos';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { fitLocalityWeights } from '@skiff/xds-translate';
import type { ParityProxy } from './proxies.js';
import type { ResourceKind } from './resources.js';

export interface Deviation {
  readonly id: string;
  /** Why the proxy refuses istiod's answer. */
  readonly reason: string;
}

export const DEVIATIONS = {
  envoyEmptyAddress: {
    id: 'envoy-empty-endpoint-address',
    reason:
      "istiod lists a WorkloadEntry without address (a network-only entry with no gateway) as an endpoint with an empty socket address; Envoy refuses the whole assignment (SocketAddress.address has min_len 1 in envoy/config/core/v3/address.proto), so Skiff leaves the endpoint out",
  },
  grpcRefusedLbPolicy: {
    id: 'grpc-refused-lb-policy',
    reason:
      "istiod's gRPC generator writes a DestinationRule's LEAST_REQUEST or Maglev load balancer as the cluster's lb_policy, which grpc-js-xds refuses (cluster-resource-type.ts: unsupported lb_policy); Skiff keeps ROUND_ROBIN and reports it",
  },
  grpcRefusedRouteAction: {
    id: 'grpc-refused-route-action',
    reason:
      "istiod's gRPC generator writes a VirtualService's redirect or direct response as a route with a redirect or direct_response action, which grpc-js-xds refuses, and with it the whole RouteConfiguration (route-config-resource-type.ts: unsupported action); Skiff leaves those routes out and reports them",
  },
  grpcRefusedAssignment: {
    id: 'grpc-refused-assignment',
    reason:
      'istiod sends proxyless gRPC clients assignments that grpc-js-xds refuses whole (endpoint-resource-type.ts: unix sockets, an address:port listed twice, a locality listed twice, locality weights above 2^32-1); Skiff leaves out the endpoints the client cannot take, merges the localities and scales the weights',
  },
} as const satisfies Record<string, Deviation>;

type Resources = Readonly<Record<ResourceKind, readonly JsonValue[]>>;

interface GrpcDecoder {
  decode(context: unknown, resource: { type_url: string; value: Buffer }): { name: string; error?: string };
}

let endpointDecoder: GrpcDecoder | undefined;
let clusterDecoder: GrpcDecoder | undefined;
let routeDecoder: GrpcDecoder | undefined;

function grpcDecoder(file: string, exportName: string): GrpcDecoder {
  const require = createRequire(import.meta.url);
  (require('@grpc/grpc-js-xds') as { register(): void }).register();
  const module = require(`@grpc/grpc-js-xds/build/src/xds-resource-type/${file}`) as Record<string, { get(): GrpcDecoder }>;
  return module[exportName]!.get();
}

/** grpc-js-xds's own validation of an assignment (its `EndpointResourceType`); the error, or undefined when accepted. */
export function grpcClientRefusal(assignment: JsonValue): string | undefined {
  endpointDecoder ??= grpcDecoder('endpoint-resource-type.js', 'EndpointResourceType');
  const bytes = toBinary(ClusterLoadAssignmentSchema, fromJson(ClusterLoadAssignmentSchema, assignment, { registry: envoyRegistry }));
  const decoded = endpointDecoder.decode({ bootstrap: { certificateProviders: {} }, server: {} }, { type_url: TypeUrl.ClusterLoadAssignment, value: Buffer.from(bytes) });
  return decoded.error;
}

/**
 * grpc-js-xds's own validation of a cluster (its `ClusterResourceType`), with the `default`
 * certificate provider an Istio proxyless bootstrap has; the error, or undefined when accepted.
 */
export function grpcClientClusterRefusal(cluster: JsonValue): string | undefined {
  clusterDecoder ??= grpcDecoder('cluster-resource-type.js', 'ClusterResourceType');
  const bytes = toBinary(ClusterSchema, fromJson(ClusterSchema, cluster, { registry: envoyRegistry }));
  const decoded = clusterDecoder.decode({ bootstrap: { certificateProviders: { default: {} } }, server: {} }, { type_url: TypeUrl.Cluster, value: Buffer.from(bytes) });
  return decoded.error;
}

/** grpc-js-xds's own validation of a route configuration (its `RouteConfigurationResourceType`); the error, or undefined when accepted. */
export function grpcClientRouteRefusal(route: JsonValue): string | undefined {
  routeDecoder ??= grpcDecoder('route-config-resource-type.js', 'RouteConfigurationResourceType');
  const bytes = toBinary(RouteConfigurationSchema, fromJson(RouteConfigurationSchema, route, { registry: envoyRegistry }));
  const decoded = routeDecoder.decode({ bootstrap: { certificateProviders: {} }, server: {} }, { type_url: TypeUrl.RouteConfiguration, value: Buffer.from(bytes) });
  return decoded.error;
}

type Json = { [key: string]: JsonValue };
const asObject = (value: JsonValue | undefined): Json => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {});
const asArray = (value: JsonValue | undefined): JsonValue[] => (Array.isArray(value) ? value : []);

function socketAddressOf(lbEndpoint: JsonValue): Json | undefined {
  const address = asObject(asObject(asObject(lbEndpoint)['endpoint'])['address']);
  return 'socketAddress' in address ? asObject(address['socketAddress']) : undefined;
}

const weightOf = (lbEndpoint: JsonValue): number => {
  const weight = asObject(lbEndpoint)['loadBalancingWeight'];
  return typeof weight === 'number' ? weight : 1;
};

/** Rebuilds the localities from kept endpoints: each locality's weight the (saturated) sum of its endpoints'; empty localities dropped. */
function withEndpoints(assignment: Json, groups: { locality: JsonValue; endpoints: JsonValue[] }[], fitWeights: boolean): JsonObject {
  const kept = groups.filter((group) => group.endpoints.length > 0);
  const sums = kept.map((group) => Math.min(4_294_967_295, group.endpoints.reduce<number>((sum, e) => sum + weightOf(e), 0)));
  const weights = fitWeights ? fitLocalityWeights(sums) : sums;
  const out: JsonObject = { ...assignment };
  delete out['endpoints'];
  if (kept.length > 0) {
    out['endpoints'] = kept.map((group, i) => {
      const locality: JsonObject = { locality: group.locality, lbEndpoints: group.endpoints, loadBalancingWeight: weights[i]! };
      return locality;
    });
  }
  return out;
}

/** istiod's assignment without endpoints whose socket address is empty. */
function withoutEmptyAddresses(assignment: Json): { rewritten: JsonObject; changed: boolean } {
  let changed = false;
  const groups = asArray(assignment['endpoints']).map((group) => ({
    locality: asObject(group)['locality'] ?? {},
    endpoints: asArray(asObject(group)['lbEndpoints']).filter((e) => {
      const socket = socketAddressOf(e);
      const empty = socket !== undefined && (socket['address'] ?? '') === '';
      changed ||= empty;
      return !empty;
    }),
  }));
  return { rewritten: changed ? withEndpoints(assignment, groups, false) : { ...assignment }, changed };
}

const localityKey = (locality: JsonValue): string => {
  const l = asObject(locality);
  return JSON.stringify([l['region'] ?? '', l['zone'] ?? '', l['subZone'] ?? '']);
};

/** istiod's assignment as a gRPC client can take it: socket IP endpoints only, each address:port once, one entry per locality, weights fitted. */
function grpcAcceptable(assignment: Json): JsonObject {
  const seen = new Set<string>();
  const byLocality = new Map<string, { locality: JsonValue; endpoints: JsonValue[] }>();
  for (const group of asArray(assignment['endpoints'])) {
    const locality = asObject(group)['locality'] ?? {};
    const key = localityKey(locality);
    let merged = byLocality.get(key);
    if (merged === undefined) {
      merged = { locality, endpoints: [] };
      byLocality.set(key, merged);
    }
    for (const lbEndpoint of asArray(asObject(group)['lbEndpoints'])) {
      const socket = socketAddressOf(lbEndpoint);
      const address = typeof socket?.['address'] === 'string' ? socket['address'] : '';
      if (socket === undefined || isIP(address) === 0) continue;
      const key = `${address} ${String(socket['portValue'] ?? '')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      merged.endpoints.push(lbEndpoint);
    }
  }
  return withEndpoints(assignment, [...byLocality.values()], true);
}

export interface AppliedDeviation {
  readonly deviation: Deviation;
  readonly resource: string;
}

/**
 * istiod's answer for `proxy`, with each deviation applied where the proxy would refuse istiod's
 * assignment; the list says which applied, to which resource.
 */
export function rewriteRefusedAnswers(proxy: ParityProxy, istiod: Resources): { resources: Resources; applied: AppliedDeviation[] } {
  const applied: AppliedDeviation[] = [];
  const endpoints = istiod.endpoints.map((resource) => {
    const assignment = asObject(resource);
    const name = String(assignment['clusterName'] ?? '');
    if (proxy.kind === 'grpc') {
      if (grpcClientRefusal(resource) === undefined) return resource;
      applied.push({ deviation: DEVIATIONS.grpcRefusedAssignment, resource: `endpoints[${name}]` });
      return grpcAcceptable(assignment);
    }
    const { rewritten, changed } = withoutEmptyAddresses(assignment);
    if (!changed) return resource;
    applied.push({ deviation: DEVIATIONS.envoyEmptyAddress, resource: `endpoints[${name}]` });
    return rewritten;
  });
  const clusters = istiod.clusters.map((resource) => {
    if (proxy.kind !== 'grpc' || !/lb_policy/.test(grpcClientClusterRefusal(resource) ?? '')) return resource;
    const { lbPolicy: _lbPolicy, maglevLbConfig: _maglev, leastRequestLbConfig: _leastRequest, ...rest } = asObject(resource);
    applied.push({ deviation: DEVIATIONS.grpcRefusedLbPolicy, resource: `clusters[${String(rest['name'] ?? '')}]` });
    return rest;
  });
  const routes = istiod.routes.map((resource) => {
    if (proxy.kind !== 'grpc' || !/unsupported action/.test(grpcClientRouteRefusal(resource) ?? '')) return resource;
    const route = asObject(resource);
    applied.push({ deviation: DEVIATIONS.grpcRefusedRouteAction, resource: `routes[${String(route['name'] ?? '')}]` });
    const virtualHosts = asArray(route['virtualHosts']).map((virtualHost) => {
      const host = asObject(virtualHost);
      return { ...host, routes: asArray(host['routes']).filter((entry) => !('redirect' in asObject(entry)) && !('directResponse' in asObject(entry))) };
    });
    return { ...route, virtualHosts };
  });
  return { resources: { ...istiod, clusters, endpoints, routes }, applied };
}

/** An address as istiod keeps it (a full-length CIDR is its IP). */
function keptAddress(address: string): string {
  const [ip, bits] = address.split('/');
  if (ip !== undefined && isIP(ip) !== 0 && bits !== undefined && Number(bits) === (isIP(ip) === 4 ? 32 : 128)) return ip;
  return address;
}

export const UNPREDICTABLE_ADDRESS = '<one of the entry addresses>';

/**
 * Masks, on either side, the address istiod picks at random for a host with several addresses
 * (`multiAddressHosts`): the gRPC listener's address and the address domains of its route.
 */
export function maskUnpredictableAddresses(resources: Resources, hosts: ReadonlyMap<string, readonly string[]>): Resources {
  if (hosts.size === 0) return resources;
  const addressesOf = (host: string): Set<string> | undefined => {
    const written = hosts.get(host);
    return written === undefined ? undefined : new Set(written.map(keptAddress));
  };
  const listeners = resources.listeners.map((resource) => {
    const listener = asObject(resource);
    const name = String(listener['name'] ?? '');
    const addresses = addressesOf(name.slice(0, name.lastIndexOf(':')));
    const socket = asObject(asObject(listener['address'])['socketAddress']);
    if (addresses === undefined) return resource;
    return { ...listener, address: { socketAddress: { ...socket, address: UNPREDICTABLE_ADDRESS } } };
  });
  const routes = resources.routes.map((resource) => {
    const addresses = addressesOf(routeHost(resource));
    return addresses === undefined ? resource : withoutAddressDomains(resource, addresses);
  });
  return { ...resources, listeners, routes };
}

/** The host of a gRPC route named `outbound|PORT||HOST`. */
function routeHost(resource: JsonValue): string {
  return String(asObject(resource)['name'] ?? '').split('|')[3] ?? '';
}

/** A route without its address domains: `addresses`, or what istiod read from them (an IP or CIDR, bracketed when IPv6), with or without `:port`. */
function withoutAddressDomains(resource: JsonValue, addresses: ReadonlySet<string>): JsonValue {
  const route = asObject(resource);
  if (!('virtualHosts' in route)) return resource;
  const forms = new Set<string>();
  for (const address of addresses) {
    const bracketed = address.includes(':') ? `[${address}]` : address;
    forms.add(bracketed);
    forms.add(`${bracketed}:`);
  }
  const looksLikeAddress = (text: string): boolean => isIP(text.replace(/^\[|\]$/g, '').split('/')[0] ?? '') !== 0;
  const isAddressDomain = (domain: string): boolean => forms.has(domain) || looksLikeAddress(domain) || looksLikeAddress(domain.replace(/:\d+$/, ''));
  return {
    ...route,
    virtualHosts: asArray(route['virtualHosts']).map((vh) => ({ ...asObject(vh), domains: asArray(asObject(vh)['domains']).filter((d) => !isAddressDomain(String(d))) })),
  };
}

/**
 * Masks, on either side, the address domains of the gRPC routes of hosts that share an address with
 * another host (`sharedAddressHosts`): istiod gives them to one of those hosts, a different one from
 * run to run.
 */
export function maskSharedAddressDomains(resources: Resources, hosts: ReadonlySet<string>): Resources {
  if (hosts.size === 0) return resources;
  const routes = resources.routes.map((resource) => (hosts.has(routeHost(resource)) ? withoutAddressDomains(resource, new Set()) : resource));
  return { ...resources, routes };
}
