/**
 * A gateway's `/debug/config_dump` decoded: Envoy's `admin.v3.ConfigDump` JSON read with protobuf-es
 * `fromJson` and Envoy's type registry into the resources of each type (`proxy-config-tables.ts`
 * formats them).
 */
import { fromJson, type DescMessage, type JsonValue, type MessageShape } from '@bufbuild/protobuf';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { envoyRegistry } from '@skiff/protos';
import { ConfigDumpSchema } from '@skiff/protos/gen/envoy/admin/v3/config_dump_pb.js';
import { ClustersConfigDumpSchema, EndpointsConfigDumpSchema, ListenersConfigDumpSchema, RoutesConfigDumpSchema } from '@skiff/protos/gen/envoy/admin/v3/config_dump_shared_pb.js';
import { ClusterSchema, type Cluster } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema, type Listener } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema, type RouteConfiguration } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';

/** The resources of one proxy's config dump, by type. */
export interface ProxyConfig {
  readonly clusters: Cluster[];
  readonly endpoints: ClusterLoadAssignment[];
  readonly listeners: Listener[];
  readonly routes: RouteConfiguration[];
}

/** The message in `any`, when there is one of that type. */
function unpackOptional<Desc extends DescMessage>(any: Any | undefined, schema: Desc): MessageShape<Desc> | undefined {
  return any === undefined ? undefined : anyUnpack(any, schema);
}

/** Decodes `/debug/config_dump` JSON (Envoy's `admin.v3.ConfigDump`); throws when it is not one. */
export function decodeConfigDump(json: unknown): ProxyConfig {
  const dump = fromJson(ConfigDumpSchema, json as JsonValue, { registry: envoyRegistry });
  const config: ProxyConfig = { clusters: [], endpoints: [], listeners: [], routes: [] };
  for (const any of dump.configs) {
    const message = anyUnpack(any, envoyRegistry);
    if (message === undefined) continue;
    switch (message.$typeName) {
      case ClustersConfigDumpSchema.typeName: {
        const clusters = anyUnpack(any, ClustersConfigDumpSchema)!;
        for (const entry of [...clusters.staticClusters, ...clusters.dynamicActiveClusters]) {
          const cluster = unpackOptional(entry.cluster, ClusterSchema);
          if (cluster) config.clusters.push(cluster);
        }
        break;
      }
      case EndpointsConfigDumpSchema.typeName: {
        const endpoints = anyUnpack(any, EndpointsConfigDumpSchema)!;
        for (const entry of [...endpoints.staticEndpointConfigs, ...endpoints.dynamicEndpointConfigs]) {
          const assignment = unpackOptional(entry.endpointConfig, ClusterLoadAssignmentSchema);
          if (assignment) config.endpoints.push(assignment);
        }
        break;
      }
      case ListenersConfigDumpSchema.typeName: {
        const listeners = anyUnpack(any, ListenersConfigDumpSchema)!;
        for (const entry of listeners.staticListeners) {
          const listener = unpackOptional(entry.listener, ListenerSchema);
          if (listener) config.listeners.push(listener);
        }
        for (const entry of listeners.dynamicListeners) {
          const listener = unpackOptional(entry.activeState?.listener, ListenerSchema);
          if (listener) config.listeners.push(listener);
        }
        break;
      }
      case RoutesConfigDumpSchema.typeName: {
        const routes = anyUnpack(any, RoutesConfigDumpSchema)!;
        for (const entry of [...routes.staticRouteConfigs, ...routes.dynamicRouteConfigs]) {
          const route = unpackOptional(entry.routeConfig, RouteConfigurationSchema);
          if (route) config.routes.push(route);
        }
        break;
      }
      // istiod answers `types=` with the resources themselves rather than their `*ConfigDump`.
      case ClusterSchema.typeName:
        config.clusters.push(anyUnpack(any, ClusterSchema)!);
        break;
      case ClusterLoadAssignmentSchema.typeName:
        config.endpoints.push(anyUnpack(any, ClusterLoadAssignmentSchema)!);
        break;
      case ListenerSchema.typeName:
        config.listeners.push(anyUnpack(any, ListenerSchema)!);
        break;
      case RouteConfigurationSchema.typeName:
        config.routes.push(anyUnpack(any, RouteConfigurationSchema)!);
        break;
      default:
        break;
    }
  }
  return config;
}
