/**
 * `skiffctl proxy-config cluster|endpoint|listener|route <proxy-id> [--gateway URL] [-o short|json|yaml]`:
 * what the gateway sent one proxy, from `/debug/config_dump?proxyID=` of the replica that serves it,
 * in `istioctl proxy-config`'s tables, or as the Envoy resources (Envoy's config_dump JSON of each)
 * for scripts. A proxy the replica does not serve gets istiod's one-line hint, plus the replica that
 * does serve it when the fleet view knows one.
 */
import { stringify } from 'yaml';
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { toEnvoyJson } from '@skiff/protos';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { decodeConfigDump, type ProxyConfig } from '../config-dump.js';
import {
  assignmentsMatching,
  CLUSTER_HEADER,
  clusterMatches,
  clusterRows,
  ENDPOINT_HEADER,
  endpointRows,
  listenerMatches,
  listenerTable,
  ROUTE_HEADER,
  routeRows,
  type ClusterFilter,
  type EndpointFilter,
  type ListenerFilter,
} from '../proxy-config-tables.js';
import { GatewayHttpError, GatewayUnreachableError, type GatewayClient } from '../gateway-client.js';
import { ExitCode, writeLine, type CommandIO } from '../io.js';
import { formatTable } from '../table.js';

export type ProxyConfigKind = 'cluster' | 'endpoint' | 'listener' | 'route';

export interface ProxyConfigOptions {
  readonly gateway: GatewayClient;
  readonly kind: ProxyConfigKind;
  /** istiod's proxy ID (`pod.namespace`) or the full node id. */
  readonly proxyId: string;
  readonly output: 'short' | 'json' | 'yaml';
  readonly clusterFilter?: ClusterFilter;
  readonly endpointFilter?: EndpointFilter;
  readonly listenerFilter?: ListenerFilter;
  readonly routeName?: string;
}

/** The part of the dump each kind needs: istiod's `types=` (endpoints are in a dump only with `include_eds`). */
const DUMP_QUERY: Readonly<Record<ProxyConfigKind, Record<string, string>>> = {
  cluster: { types: 'cds' },
  endpoint: { types: 'eds', include_eds: '' },
  listener: { types: 'lds' },
  route: { types: 'rds' },
};

interface Rendered {
  readonly table: string;
  readonly resources: unknown[];
}

function asJson<Desc extends DescMessage>(schema: Desc, messages: readonly MessageShape<Desc>[]): unknown[] {
  return messages.map((message) => toEnvoyJson(schema, message));
}

function render(config: ProxyConfig, options: ProxyConfigOptions): Rendered {
  switch (options.kind) {
    case 'cluster': {
      const clusters = config.clusters.filter((cluster) => clusterMatches(cluster, options.clusterFilter ?? {}));
      return { table: formatTable(CLUSTER_HEADER, clusterRows(clusters), { padding: 5 }), resources: asJson(ClusterSchema, clusters) };
    }
    case 'endpoint': {
      const filter = options.endpointFilter ?? {};
      return {
        table: formatTable(ENDPOINT_HEADER, endpointRows(config.endpoints, filter), { padding: 5 }),
        resources: asJson(ClusterLoadAssignmentSchema, assignmentsMatching(config.endpoints, filter)),
      };
    }
    case 'listener': {
      const listeners = config.listeners.filter((listener) => listenerMatches(listener, options.listenerFilter ?? {}));
      const { header, rows } = listenerTable(listeners);
      // istioctl's listener table is the one it pads with a single space.
      return { table: formatTable(header, rows, { padding: 1 }), resources: asJson(ListenerSchema, listeners) };
    }
    case 'route': {
      const routes = config.routes.filter((route) => options.routeName === undefined || route.name === options.routeName);
      return { table: formatTable(ROUTE_HEADER, routeRows(routes), { padding: 5 }), resources: asJson(RouteConfigurationSchema, routes) };
    }
  }
}

/** The fleet view's proxies (`/debug/syncz` of any replica), for the not-connected hint; undefined when unknown. */
async function fleetProxies(gateway: GatewayClient): Promise<{ proxy: string; nodeId: string; gateway: string }[] | undefined> {
  try {
    const entries = await gateway.getJson('/debug/syncz');
    if (!Array.isArray(entries)) return undefined;
    return entries.map((entry: { proxy?: unknown; node_id?: unknown; gateway?: unknown }) => ({
      proxy: String(entry.proxy ?? ''),
      nodeId: String(entry.node_id ?? ''),
      gateway: String(entry.gateway ?? ''),
    }));
  } catch {
    return undefined;
  }
}

/**
 * What to tell about a proxy this replica does not serve: istiod's hint when the fleet view is not
 * available; else the replica that serves it, or that none does, with the IDs the user may have meant
 * (`client-1` for `client-1.demo`: a proxy ID is `pod.namespace`, or a proxyless client's node id).
 */
async function notConnectedHint(gateway: GatewayClient, proxyId: string, istiodHint: string): Promise<string> {
  const fleet = await fleetProxies(gateway);
  if (fleet === undefined) return `${proxyId}: ${istiodHint}`;
  const replicas = [...new Set(fleet.filter((entry) => entry.proxy === proxyId || entry.nodeId === proxyId).map((entry) => entry.gateway).filter((replica) => replica !== ''))];
  if (replicas.length > 0) return `${proxyId}: not connected to the gateway replica at ${gateway.baseUrl}; the fleet view shows it on replica ${replicas.join(', ')}: ask that replica's monitoring port.`;
  const bare = proxyId.split('.')[0] ?? proxyId;
  const similar = [...new Set(fleet.map((entry) => entry.proxy).filter((proxy) => proxy.startsWith(`${proxyId}.`) || proxy === bare || proxy.split('.')[0] === bare))].sort();
  const guess = similar.length === 0 ? ' (skiffctl proxy-status lists the connected proxies)' : `; did you mean ${similar.join(' or ')}?`;
  return `${proxyId}: no gateway replica serves a proxy with this ID${guess}`;
}

/** Why a table came out empty, when the proxy was sent nothing of the kind at all. */
function whyEmpty(kind: ProxyConfigKind, config: ProxyConfig): string | undefined {
  const sent = { cluster: config.clusters.length, endpoint: config.endpoints.length, listener: config.listeners.length, route: config.routes.length }[kind];
  if (sent > 0) return undefined;
  if (kind === 'listener' || kind === 'route') {
    return `the proxy was sent no ${kind}s: Skiff sends listeners and routes to proxyless gRPC clients (node metadata GENERATOR: grpc) only; Envoy proxies get clusters and endpoints`;
  }
  return `the proxy was sent no ${kind}s: no ServiceEntry is visible to its namespace, or it has not asked for them yet`;
}

export async function runProxyConfig(options: ProxyConfigOptions, io: CommandIO): Promise<ExitCode> {
  let body: unknown;
  try {
    body = await options.gateway.getJson('/debug/config_dump', { proxyID: options.proxyId, ...DUMP_QUERY[options.kind] });
  } catch (error) {
    if (error instanceof GatewayHttpError && error.status === 404) {
      writeLine(io.stderr, `skiffctl: ${await notConnectedHint(options.gateway, options.proxyId, error.message)}`);
      return ExitCode.Findings;
    }
    if (error instanceof GatewayUnreachableError || error instanceof GatewayHttpError) {
      writeLine(io.stderr, `skiffctl: ${error.message}`);
      return ExitCode.Usage;
    }
    throw error;
  }
  let config: ProxyConfig;
  try {
    config = decodeConfigDump(body);
  } catch (error) {
    writeLine(io.stderr, `skiffctl: ${options.gateway.baseUrl}/debug/config_dump is not an Envoy config dump: ${error instanceof Error ? error.message : String(error)}`);
    return ExitCode.Usage;
  }
  const rendered = render(config, options);
  if (options.output === 'json') io.stdout.write(`${JSON.stringify(rendered.resources, null, 2)}\n`);
  else if (options.output === 'yaml') io.stdout.write(stringify(rendered.resources));
  else io.stdout.write(rendered.table);
  const empty = whyEmpty(options.kind, config);
  if (empty !== undefined) writeLine(io.stderr, empty);
  return ExitCode.Ok;
}
