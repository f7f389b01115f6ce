/**
 * istiod's debug endpoints on the gateway's monitoring server, on istiod's paths and with its shapes
 * and error texts (`pilot/pkg/xds/debug.go`, docs/istio-behaviour.md#debug-endpoints).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { parseIstioNodeId } from '@skiff/ads-server';
import { toEnvoyJson, TypeUrl } from '@skiff/protos';
import { ConfigDumpSchema } from '@skiff/protos/gen/envoy/admin/v3/config_dump_pb.js';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { HttpError, type MonitoringServer } from '@skiff/runtime';
import { baseVariant } from '@skiff/store';
import { hostPortOfName } from '@skiff/xds-cache';
import { parseDumpTypes } from './config-dump.js';
import type { Gateway } from './gateway.js';

/** istiod's texts, kept word for word: scripts and people search for them. */
export const PROXY_ID_REQUIRED = 'You must provide a proxyID in the query string';
export const PROXY_NOT_CONNECTED = 'Proxy not connected to this Pilot instance. It may be connected to another instance.';

/** The variant whose resources stand for "the service" in registry-style pages: Envoy sidecars. */
const SIDECAR_VIEW = { flavor: 'envoy'} as const;

function requireProxy(gateway: Gateway, query: URLSearchParams) {
  const proxyId = query.get('proxyID');
  if (proxyId === null || proxyId === '') throw new HttpError(400, PROXY_ID_REQUIRED);
  const status = gateway.findSession(proxyId);
  if (status === undefined || status.profile === undefined) throw new HttpError(404, PROXY_NOT_CONNECTED);
  return { proxyId, status };
}

/** `outbound|80||host` -> `{ port: 80, host }` (sidecar cluster names only). */
function parseClusterName(name: string): { port: number; host: string } | undefined {
  const parts = name.split('|');
  if (parts.length !== 4 || parts[0] !== 'outbound') return undefined;
  return { port: Number(parts[1]), host: parts[3] as string };
}

export interface GatewayDebugOptions {
  /**
   * Serve `/debug/configz` from the gateway's ownership records (default true). The all-in-one turns it
   * off: there the watcher's `/debug/configz` shows the Istio objects themselves, as istiod's does.
   */
  readonly configz?: boolean;
}

export function registerGatewayDebug(monitoring: MonitoringServer, gateway: Gateway, options: GatewayDebugOptions = {}): void {
  monitoring.addReadinessCheck('gateway', () => gateway.isReady());
  // istioctl `x internal-debug <endpoint>` asks over ADS what these handlers answer over HTTP.
  gateway.serveDebugOverAds((pathAndQuery) => monitoring.invokeDebug(pathAndQuery));

  monitoring.addDebugHandler('/debug/syncz', 'Synchronization status of all proxies connected to any gateway replica', async (query) => {
    const namespace = query.get('namespace');
    const proxies = await gateway.fleetProxies();
    return { status: 200, body: namespace ? proxies.filter((p) => p.namespace === namespace) : proxies };
  });

  monitoring.addDebugHandler('/debug/config_dump', 'The configuration of a proxy connected to this replica, as Envoy config_dump JSON (?proxyID=, &types=, &include_eds)', (query) => {
    const { proxyId } = requireProxy(gateway, query);
    const dump = gateway.configDump(proxyId, parseDumpTypes(query));
    if (dump === undefined) throw new HttpError(404, PROXY_NOT_CONNECTED);
    return { status: 200, body: toEnvoyJson(ConfigDumpSchema, dump) };
  });

  monitoring.addDebugHandler('/debug/edsz', 'The endpoints of a proxy connected to this replica, as Envoy config_dump JSON (?proxyID=)', (query) => {
    const { proxyId } = requireProxy(gateway, query);
    const dump = gateway.configDump(proxyId, new Set(['eds']));
    if (dump === undefined) throw new HttpError(404, PROXY_NOT_CONNECTED);
    return { status: 200, body: toEnvoyJson(ConfigDumpSchema, dump) };
  });

  monitoring.addDebugHandler('/debug/adsz', 'Status and debug information for ADS connections to this replica (?proxyID=)', (query) => {
    const proxyId = query.get('proxyID');
    const sessions = gateway.sessions().filter((status) => proxyId === null || status.node.id === proxyId || parseIstioNodeId(status.node.id)?.proxyId === proxyId);
    return {
      status: 200,
      body: {
        totalClients: sessions.length,
        clients: sessions.map((status) => ({
          connectionId: status.id,
          connectedAt: new Date(status.connectedAt).toISOString(),
          address: status.peer,
          labels: status.node.metadata['LABELS'] ?? {},
          metadata: status.node.metadata,
          locality: status.node.locality,
          watches: Object.fromEntries(status.types.map((type) => [type.typeUrl, type.wildcard ? ['*', ...type.names] : [...type.names]])),
        })),
      },
    };
  });

  monitoring.addDebugHandler('/debug/sidecarz', 'The Sidecar scope of a proxy connected to this replica: its Sidecar and the services it leaves (?proxyID=)', (query) => {
    const { status } = requireProxy(gateway, query);
    const profile = status.profile!;
    const sidecar = gateway.cache.sidecarFor(profile);
    // istiod's `SidecarScope.MarshalJSON` fields that Skiff has: no version, virtual services or rules.
    const ports = new Map<string, Set<number>>();
    for (const name of gateway.cache.viewFor(profile).all(TypeUrl.Cluster).keys()) {
      const target = hostPortOfName(name);
      if (target === undefined) continue;
      let set = ports.get(target.host);
      if (set === undefined) ports.set(target.host, (set = new Set()));
      set.add(target.port);
    }
    return {
      status: 200,
      body: {
        name: sidecar?.name ?? 'default-sidecar',
        namespace: profile.namespace,
        outboundTrafficPolicy: sidecar?.outboundTrafficPolicy === undefined || sidecar.outboundTrafficPolicy === null ? null : { mode: sidecar.outboundTrafficPolicy },
        sidecar: sidecar === undefined ? null : { configNamespace: sidecar.namespace, workloadSelector: sidecar.workloadSelector, egress: sidecar.egress },
        services: [...ports].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([hostname, set]) => ({ hostname, ports: [...set].sort((a, b) => a - b) })),
      },
    };
  });

  monitoring.addDebugHandler('/debug/gatewayz', 'The Gateways that select a proxy connected to this replica, and whether it gets the sni-dnat clusters of an AUTO_PASSTHROUGH server (?proxyID=)', (query) => {
    const { status } = requireProxy(gateway, query);
    const profile = status.profile!;
    // The inputs and the outcome of istiod's `mergeGateways` / `ContainsAutoPassthroughGateways` for this proxy.
    const gateways = gateway.cache.gatewaysFor(profile);
    return {
      status: 200,
      body: {
        autoPassthrough: gateway.cache.getsSniDnatClusters(profile),
        gateways: gateways.map((selected) => ({ namespace: selected.namespace, name: selected.name, selector: selected.selector, servers: selected.servers })),
      },
    };
  });

  monitoring.addDebugHandler('/debug/connections', 'Information about the ADS connections to this replica', () => {
    const sessions = gateway.sessions();
    return {
      status: 200,
      body: { totalClients: sessions.length, clients: sessions.map((s) => ({ connectionId: s.id, connectedAt: new Date(s.connectedAt).toISOString(), address: s.peer })) },
    };
  });

  monitoring.addDebugHandler('/debug/push_status', 'Last push status: rejected configs per proxy, and the resource cache', () => {
    const rejects: Record<string, { proxy: string; message: string }> = {};
    for (const status of gateway.sessions()) {
      for (const type of status.types) {
        if (type.lastNack !== undefined) rejects[`${status.node.id} ${type.typeUrl}`] = { proxy: status.node.id, message: type.lastNack.message };
      }
    }
    return { status: 200, body: { pilot_total_xds_rejects: rejects, skiff_cache: gateway.cache.status() } };
  });

  if (options.configz !== false) {
    monitoring.addDebugHandler('/debug/configz', 'The ServiceEntries this replica serves, as ownership records in Kubernetes object shape', () => ({
    status: 200,
    body: gateway.cache.records().map((record) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: record.name, namespace: record.namespace, creationTimestamp: new Date(record.creationTime).toISOString() },
      spec: { hosts: record.hosts, exportTo: record.exportTo },
      status: { revision: record.revision, resources: record.resources },
    })),
    }));
  }

  monitoring.addDebugHandler('/debug/registryz', 'The services (ServiceEntry host x ports) this replica serves', () => {
    const services = gateway.cache.records().flatMap((record) => {
      const ports = new Map<string, number[]>();
      for (const ref of record.resources) {
        // Any policy scope (`envoy-sidecar.<scope>`): every scope builds the service's own clusters.
        if (ref.typeUrl !== TypeUrl.Cluster || baseVariant(ref.variant) !== 'envoy-sidecar') continue;
        const parsed = parseClusterName(ref.name);
        if (parsed && !(ports.get(parsed.host) ?? []).includes(parsed.port)) ports.set(parsed.host, [...(ports.get(parsed.host) ?? []), parsed.port]);
      }
      // istiod's model.Port: name, port, protocol (records written before ports were kept give numbers only).
      const servicePorts = (hostname: string) =>
        record.ports?.map((port) => ({ name: port.name, port: port.number, protocol: port.protocol })) ?? (ports.get(hostname) ?? []).sort((a, b) => a - b).map((port) => ({ port }));
      return record.hosts.map((hostname) => ({
        Attributes: { ServiceRegistry: 'External', Name: hostname, Namespace: record.namespace, ExportTo: record.exportTo },
        ports: servicePorts(hostname),
        creationTime: new Date(record.creationTime).toISOString(),
        hostname,
        ResourceVersion: String(record.revision),
        owner: `${record.namespace}/${record.name}`,
      }));
    });
    return { status: 200, body: services };
  });

  monitoring.addDebugHandler('/debug/endpointz', 'Endpoints per host and namespace, from the ClusterLoadAssignments this replica serves to sidecars', () => {
    const shards: Record<string, Record<string, { Shards: Record<string, unknown[]> }>> = {};
    for (const record of gateway.cache.records()) {
      const view = gateway.cache.viewFor({ namespace: record.namespace, ...SIDECAR_VIEW });
      const seen = new Set<string>();
      for (const ref of record.resources) {
        // Any policy scope; the view serves the one of a sidecar in the ServiceEntry's namespace.
        if (ref.typeUrl !== TypeUrl.ClusterLoadAssignment || baseVariant(ref.variant) !== 'envoy-sidecar' || seen.has(ref.name)) continue;
        seen.add(ref.name);
        const parsed = parseClusterName(ref.name);
        const served = view.get(TypeUrl.ClusterLoadAssignment, ref.name);
        if (parsed === undefined || served === undefined) continue;
        const servicePortName = record.ports?.find((port) => port.number === parsed.port)?.name ?? '';
        const endpoints = endpointzEntriesOf(served.bytes, parsed.port).map((entry) => ({ ...entry, ServicePortName: servicePortName, Namespace: record.namespace }));
        const byNamespace = (shards[parsed.host] ??= {});
        const entry = (byNamespace[record.namespace] ??= { Shards: {} });
        entry.Shards['External/Kubernetes'] = [...(entry.Shards['External/Kubernetes'] ?? []), ...endpoints];
      }
    }
    return { status: 200, body: shards };
  });
}

/** One endpoint as istiod's `/debug/endpointz` shows it, without its namespace. */
type EndpointzEntry = Record<string, unknown>;

/**
 * The endpointz entries of one ClusterLoadAssignment, decoded once per version: the cache serves one
 * `bytes` object per resource version, so a page load decodes only what changed since the last one
 * (decoding every assignment on every request made the page a way to load the gateway).
 */
const endpointzByBytes = new WeakMap<Uint8Array, Map<number, readonly EndpointzEntry[]>>();
export function endpointzEntriesOf(bytes: Uint8Array, port: number): readonly EndpointzEntry[] {
  let byPort = endpointzByBytes.get(bytes);
  if (byPort === undefined) {
    byPort = new Map();
    endpointzByBytes.set(bytes, byPort);
  }
  const cached = byPort.get(port);
  if (cached !== undefined) return cached;
  const assignment = fromBinary(ClusterLoadAssignmentSchema, bytes);
  const entries = assignment.endpoints.flatMap((locality) =>
    locality.lbEndpoints.map((lbEndpoint): EndpointzEntry => {
      const endpoint = lbEndpoint.hostIdentifier.case === 'endpoint' ? lbEndpoint.hostIdentifier.value : undefined;
      const address = endpoint?.address?.address;
      const socket = address?.case === 'socketAddress' ? address.value : undefined;
      // Struct fields arrive as plain JSON objects (protobuf-es unboxes google.protobuf.Struct).
      const workload = lbEndpoint.metadata?.filterMetadata['istio']?.['workload'];
      const tlsMode = lbEndpoint.metadata?.filterMetadata['envoy.transport_socket_match']?.['tlsMode'];
      return {
        Addresses: [socket?.address ?? (address?.case === 'pipe' ? `unix://${address.value.path}` : '')],
        ServicePortName: '',
        LegacyClusterPortKey: port,
        EndpointPort: socket?.portSpecifier.case === 'portValue' ? socket.portSpecifier.value : 0,
        LbWeight: lbEndpoint.loadBalancingWeight ?? 1,
        Locality: { Label: [locality.locality?.region, locality.locality?.zone, locality.locality?.subZone].filter((p) => p).join('/') },
        TLSMode: typeof tlsMode === 'string' ? tlsMode : 'disabled',
        WorkloadName: typeof workload === 'string' ? (workload.split(';')[0] ?? '') : '',
        HealthStatus: lbEndpoint.healthStatus,
      };
    }),
  );
  byPort.set(port, entries);
  return entries;
}
