/**
 * The requests a proxy sends, as the istiod reference sends them (tools/istiod-reference/main.go
 * `queryProxy`): an Envoy sidecar or gateway asks CDS for everything, then EDS for its EDS clusters;
 * a proxyless gRPC client asks LDS for its targets, then RDS, CDS and EDS for what those reference.
 */
import { fromBinary, type JsonValue } from '@bufbuild/protobuf';
import { TypeUrl } from '@skiff/protos';
import { ClusterSchema, Cluster_DiscoveryType } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ListenerSchema } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { HttpConnectionManagerSchema } from '@skiff/protos/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import type { ParityProxy } from './proxies.js';
import { emptyResources, jsonOfBinary, type ResourceKind } from './resources.js';

/** Sends one request of `typeUrl` for `names` (none: wildcard) and returns the resources answered. */
export type AdsRequester = (typeUrl: string, names: readonly string[]) => Promise<readonly Uint8Array[]>;

const uniqueSorted = (names: Iterable<string>): string[] => [...new Set(names)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

export async function queryAsProxy(proxy: ParityProxy, request: AdsRequester): Promise<Record<ResourceKind, JsonValue[]>> {
  const result = emptyResources();
  let clusterNames: string[] = [];
  if (proxy.kind === 'grpc') {
    const routeNames: string[] = [];
    for (const bytes of await request(TypeUrl.Listener, proxy.listeners)) {
      result.listeners.push(jsonOfBinary('listeners', bytes));
      const api = fromBinary(ListenerSchema, bytes).apiListener?.apiListener;
      const manager = api === undefined ? undefined : anyUnpack(api, HttpConnectionManagerSchema);
      if (manager?.routeSpecifier.case === 'rds') routeNames.push(manager.routeSpecifier.value.routeConfigName);
    }
    // No listener answered: nothing to route (a request with no names would be a wildcard).
    if (routeNames.length === 0) return result;
    const clusters: string[] = [];
    for (const bytes of await request(TypeUrl.RouteConfiguration, uniqueSorted(routeNames))) {
      result.routes.push(jsonOfBinary('routes', bytes));
      for (const host of fromBinary(RouteConfigurationSchema, bytes).virtualHosts) {
        for (const route of host.routes) {
          if (route.action.case !== 'route') continue;
          const specifier = route.action.value.clusterSpecifier;
          if (specifier.case === 'cluster') clusters.push(specifier.value);
          if (specifier.case === 'weightedClusters') for (const weighted of specifier.value.clusters) clusters.push(weighted.name);
        }
      }
    }
    clusterNames = uniqueSorted(clusters);
    if (clusterNames.length === 0) return result;
  }
  const edsNames: string[] = [];
  for (const bytes of await request(TypeUrl.Cluster, clusterNames)) {
    result.clusters.push(jsonOfBinary('clusters', bytes));
    const cluster = fromBinary(ClusterSchema, bytes);
    if (cluster.clusterDiscoveryType.case === 'type' && cluster.clusterDiscoveryType.value === Cluster_DiscoveryType.EDS) {
      edsNames.push(cluster.edsClusterConfig?.serviceName || cluster.name);
    }
  }
  if (edsNames.length === 0) return result;
  for (const bytes of await request(TypeUrl.ClusterLoadAssignment, uniqueSorted(edsNames))) result.endpoints.push(jsonOfBinary('endpoints', bytes));
  return result;
}
