/**
 * A proxy's configuration as Envoy's admin `/config_dump` prints it (`envoy.admin.v3.ConfigDump`), built
 * the way istiod's `/debug/config_dump?proxyID=` builds it: from what the control plane would send the
 * proxy now for its subscriptions (`pilot/pkg/xds/debug.go` `ConfigDump`). Resources are the cached
 * bytes, wrapped in `Any` without decoding.
 */
import { create, type MessageShape } from '@bufbuild/protobuf';
import { anyPack, AnySchema, timestampFromMs, type Any } from '@bufbuild/protobuf/wkt';
import type { AdsSessionStatus, ProxyResourceView, ServedResource } from '@skiff/ads-server';
import { TypeUrl } from '@skiff/protos';
import { ConfigDumpSchema, type ConfigDump } from '@skiff/protos/gen/envoy/admin/v3/config_dump_pb.js';
import {
  ClustersConfigDump_DynamicClusterSchema,
  ClustersConfigDumpSchema,
  EndpointsConfigDump_DynamicEndpointConfigSchema,
  EndpointsConfigDumpSchema,
  ListenersConfigDump_DynamicListenerSchema,
  ListenersConfigDump_DynamicListenerStateSchema,
  ListenersConfigDumpSchema,
  RoutesConfigDump_DynamicRouteConfigSchema,
  RoutesConfigDumpSchema,
} from '@skiff/protos/gen/envoy/admin/v3/config_dump_shared_pb.js';

/** Short type names as istiod's `types=` query and istioctl use them. */
export type DumpType = 'cds' | 'eds' | 'lds' | 'rds';

export const DUMP_TYPE_URLS: Readonly<Record<DumpType, string>> = {
  cds: TypeUrl.Cluster,
  eds: TypeUrl.ClusterLoadAssignment,
  lds: TypeUrl.Listener,
  rds: TypeUrl.RouteConfiguration,
};

/** The resources of one type a session would be sent now: every visible one for a wildcard subscription, else those named. */
export function subscribedResources(view: ProxyResourceView, status: AdsSessionStatus, typeUrl: string): ServedResource[] {
  const type = status.types.find((t) => t.typeUrl === typeUrl);
  if (type === undefined) return [];
  const found = new Map<string, ServedResource>();
  if (type.wildcard) for (const [name, resource] of view.all(typeUrl)) found.set(name, resource);
  for (const name of type.names) {
    const resource = view.get(typeUrl, name);
    if (resource !== undefined) found.set(name, resource);
  }
  return [...found.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const asAny = (typeUrl: string, resource: ServedResource): Any => create(AnySchema, { typeUrl, value: resource.bytes });

/**
 * The config dump of one proxy. `types` limits it (istiod's `types=cds,eds`); endpoints are included
 * only when asked for, as istiod includes them only with `include_eds`.
 */
export function buildConfigDump(view: ProxyResourceView, status: AdsSessionStatus, types: ReadonlySet<DumpType>): ConfigDump {
  const versionOf = (typeUrl: string): string => status.types.find((t) => t.typeUrl === typeUrl)?.sentVersion ?? '';
  const sentAt = (typeUrl: string) => {
    const at = status.types.find((t) => t.typeUrl === typeUrl)?.sentAt;
    return at === undefined ? {} : { lastUpdated: timestampFromMs(at) };
  };
  const configs: Any[] = [];
  const pack = <S extends Parameters<typeof anyPack>[0]>(schema: S, message: MessageShape<S>): void => {
    configs.push(anyPack(schema, message));
  };
  if (types.has('cds')) {
    pack(
      ClustersConfigDumpSchema,
      create(ClustersConfigDumpSchema, {
        versionInfo: versionOf(TypeUrl.Cluster),
        dynamicActiveClusters: subscribedResources(view, status, TypeUrl.Cluster).map((resource) =>
          create(ClustersConfigDump_DynamicClusterSchema, { versionInfo: resource.version, cluster: asAny(TypeUrl.Cluster, resource), ...sentAt(TypeUrl.Cluster) }),
        ),
      }),
    );
  }
  if (types.has('lds')) {
    pack(
      ListenersConfigDumpSchema,
      create(ListenersConfigDumpSchema, {
        versionInfo: versionOf(TypeUrl.Listener),
        dynamicListeners: subscribedResources(view, status, TypeUrl.Listener).map((resource) =>
          create(ListenersConfigDump_DynamicListenerSchema, {
            name: resource.name,
            activeState: create(ListenersConfigDump_DynamicListenerStateSchema, { versionInfo: resource.version, listener: asAny(TypeUrl.Listener, resource), ...sentAt(TypeUrl.Listener) }),
          }),
        ),
      }),
    );
  }
  if (types.has('rds')) {
    pack(
      RoutesConfigDumpSchema,
      create(RoutesConfigDumpSchema, {
        dynamicRouteConfigs: subscribedResources(view, status, TypeUrl.RouteConfiguration).map((resource) =>
          create(RoutesConfigDump_DynamicRouteConfigSchema, { versionInfo: resource.version, routeConfig: asAny(TypeUrl.RouteConfiguration, resource), ...sentAt(TypeUrl.RouteConfiguration) }),
        ),
      }),
    );
  }
  if (types.has('eds')) {
    pack(
      EndpointsConfigDumpSchema,
      create(EndpointsConfigDumpSchema, {
        dynamicEndpointConfigs: subscribedResources(view, status, TypeUrl.ClusterLoadAssignment).map((resource) =>
          create(EndpointsConfigDump_DynamicEndpointConfigSchema, {
            versionInfo: resource.version,
            endpointConfig: asAny(TypeUrl.ClusterLoadAssignment, resource),
            ...sentAt(TypeUrl.ClusterLoadAssignment),
          }),
        ),
      }),
    );
  }
  return create(ConfigDumpSchema, { configs });
}

/** Parses istiod's `types=cds,eds` (default: cds, lds, rds, plus eds with `include_eds`). */
export function parseDumpTypes(query: URLSearchParams, defaultTypes: readonly DumpType[] = ['cds', 'lds', 'rds']): Set<DumpType> {
  const requested = query.get('types');
  const types = new Set<DumpType>(requested ? [] : defaultTypes);
  if (requested) {
    for (const name of requested.split(',').map((t) => t.trim().toLowerCase())) {
      if (name in DUMP_TYPE_URLS) types.add(name as DumpType);
    }
  }
  if (query.has('include_eds')) types.add('eds');
  return types;
}
