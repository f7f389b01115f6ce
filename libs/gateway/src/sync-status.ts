/**
 * Per-proxy sync state in istiod's shapes: the JSON of `/debug/syncz` (`pilot/pkg/xds/debug.go`
 * `SyncStatus`) and the `envoy.service.status.v3.ClientConfig` of the `istio.io/debug/syncz` xDS type
 * (`pilot/pkg/xds/statusgen.go`). Skiff adds `gateway` (the replica serving the proxy, for the fleet
 * view) and `namespace`.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { parseIstioNodeId, syncStatusOf, truncateUtf8, type AdsSessionStatus, type SyncStatus } from '@skiff/ads-server';
import { TypeUrl } from '@skiff/protos';
import { NodeSchema } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import {
  ClientConfig_GenericXdsConfigSchema,
  ClientConfigSchema,
  ConfigStatus,
  type ClientConfig,
} from '@skiff/protos/gen/envoy/service/status/v3/csds_pb.js';
import { UpdateFailureStateSchema } from '@skiff/protos/gen/envoy/admin/v3/config_dump_shared_pb.js';

/** One type's state for one proxy, as in istiod's `resources` map; times are RFC 3339. */
export interface TypeSyncState {
  readonly sent: string;
  readonly acked: string;
  /** Skiff: the `version_info` sent and acknowledged (content hashes: equal on every replica for equal content). */
  readonly sentVersion?: string;
  readonly ackedVersion?: string;
  readonly sentTime?: string;
  readonly ackedTime?: string;
  readonly lastError?: string;
  /** Skiff: SYNCED, STALE, NOT_SENT or ERROR, as istioctl derives it. */
  readonly status: SyncStatus;
}

/** One proxy in `/debug/syncz` (istiod's fields, snake_case as istiod's JSON tags). */
export interface ProxySyncStatus {
  readonly cluster_id: string;
  /** istiod's proxy ID: `pod.namespace` for Istio node ids, else the node id. */
  readonly proxy: string;
  readonly proxy_type: string;
  readonly proxy_version: string;
  readonly istio_version: string;
  readonly cluster_sent: string;
  readonly cluster_acked: string;
  readonly listener_sent: string;
  readonly listener_acked: string;
  readonly route_sent: string;
  readonly route_acked: string;
  readonly endpoint_sent: string;
  readonly endpoint_acked: string;
  readonly extensionconfig_sent: string;
  readonly extensionconfig_acked: string;
  readonly resources: Readonly<Record<string, TypeSyncState>>;
  /** Skiff: the full node id, the proxy's namespace and the gateway replica serving it. */
  readonly node_id: string;
  readonly namespace: string;
  readonly gateway: string;
  /** Skiff: when the stream connected (RFC 3339) and whether it speaks state of the world or delta. */
  readonly connected_at: string;
  readonly mode: string;
}

/** istiod's debug type prefix (`pilot/pkg/xds/v3` `DebugType`): `istio.io/debug`, `istio.io/debug/syncz`, ... */
export const DEBUG_TYPE_PREFIX = 'istio.io/debug';

/** A stream that asked only for debug types: istioctl or skiffctl asking about the proxies, not a proxy. */
export function isDebugClient(status: AdsSessionStatus): boolean {
  return status.types.length > 0 && status.types.every((type) => type.typeUrl.startsWith(DEBUG_TYPE_PREFIX));
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

/** A node metadata string, cut to 256 bytes: it travels in every fleet report. */
function metadataString(status: AdsSessionStatus, key: string): string {
  const value = status.node.metadata[key];
  return typeof value === 'string' ? truncateUtf8(value, 256) : '';
}

/** The sync state of one connected stream, as `/debug/syncz` shows it. */
export function proxySyncStatus(status: AdsSessionStatus, gateway: string): ProxySyncStatus {
  const istioId = parseIstioNodeId(status.node.id);
  const byType = new Map(status.types.map((type) => [type.typeUrl, type]));
  const sentAcked = (typeUrl: string): { sent: string; acked: string } => {
    const type = byType.get(typeUrl);
    return { sent: type?.sentNonce ?? '', acked: type?.ackedNonce ?? '' };
  };
  const resources: Record<string, TypeSyncState> = {};
  for (const type of status.types) {
    const sentTime = iso(type.sentAt);
    const ackedTime = iso(type.ackedAt);
    resources[type.typeUrl] = {
      sent: type.sentNonce ?? '',
      acked: type.ackedNonce ?? '',
      ...(type.sentVersion === undefined ? {} : { sentVersion: type.sentVersion }),
      ...(type.ackedVersion === undefined ? {} : { ackedVersion: type.ackedVersion }),
      ...(sentTime === undefined ? {} : { sentTime }),
      ...(ackedTime === undefined ? {} : { ackedTime }),
      ...(type.lastNack === undefined ? {} : { lastError: type.lastNack.message }),
      status: syncStatusOf(type),
    };
  }
  const cluster = sentAcked(TypeUrl.Cluster);
  const listener = sentAcked(TypeUrl.Listener);
  const route = sentAcked(TypeUrl.RouteConfiguration);
  const endpoint = sentAcked(TypeUrl.ClusterLoadAssignment);
  const version = metadataString(status, 'ISTIO_VERSION');
  return {
    cluster_id: metadataString(status, 'CLUSTER_ID') || status.node.cluster,
    proxy: istioId ? istioId.proxyId : status.node.id,
    proxy_type: istioId?.type ?? (metadataString(status, 'GENERATOR') === 'grpc' ? 'proxyless-grpc' : 'unknown'),
    proxy_version: version || status.node.userAgentVersion,
    istio_version: version,
    cluster_sent: cluster.sent,
    cluster_acked: cluster.acked,
    listener_sent: listener.sent,
    listener_acked: listener.acked,
    route_sent: route.sent,
    route_acked: route.acked,
    endpoint_sent: endpoint.sent,
    endpoint_acked: endpoint.acked,
    extensionconfig_sent: '',
    extensionconfig_acked: '',
    resources,
    node_id: status.node.id,
    namespace: status.profile?.namespace ?? '',
    gateway,
    connected_at: new Date(status.connectedAt).toISOString(),
    mode: status.mode,
  };
}

const CONFIG_STATUS: Readonly<Record<SyncStatus, ConfigStatus>> = {
  SYNCED: ConfigStatus.SYNCED,
  STALE: ConfigStatus.STALE,
  NOT_SENT: ConfigStatus.NOT_SENT,
  ERROR: ConfigStatus.ERROR,
};

/**
 * The CSDS `ClientConfig` istioctl's proxy-status reads, built as istiod's `debugSyncz` builds it: node
 * id = istiod's proxy ID (`pod.namespace`), metadata CLUSTER_ID, NAMESPACE and ISTIO_VERSION (empty
 * ones left out, as istiod's `omitempty`) plus Skiff's GATEWAY (the replica serving the proxy), and one
 * `generic_xds_configs` entry per type sorted by type URL, `last_updated` = the last send (what
 * istioctl's `SYNCED (5s)` ages), with the NACK details in `error_state`.
 */
export function clientConfigOf(status: ProxySyncStatus): ClientConfig {
  // google.protobuf.Struct is a plain JSON object in protobuf-es.
  const metadata: Record<string, string> = {};
  const fields: [string, string][] = [
    ['CLUSTER_ID', status.cluster_id],
    ['NAMESPACE', status.namespace],
    ['ISTIO_VERSION', status.istio_version],
    ['GATEWAY', status.gateway],
  ];
  for (const [key, value] of fields) if (value !== '') metadata[key] = value;
  return create(ClientConfigSchema, {
    node: create(NodeSchema, { id: status.proxy, metadata }),
    genericXdsConfigs: Object.keys(status.resources)
      .sort()
      .map((typeUrl) => {
        const state = status.resources[typeUrl] as TypeSyncState;
        const lastSent = state.sentTime === undefined ? undefined : timestampFromMs(Date.parse(state.sentTime));
        return create(ClientConfig_GenericXdsConfigSchema, {
          typeUrl,
          configStatus: CONFIG_STATUS[state.status],
          ...(lastSent === undefined ? {} : { lastUpdated: lastSent }),
          ...(state.lastError === undefined
            ? {}
            : { errorState: create(UpdateFailureStateSchema, { details: state.lastError, ...(lastSent === undefined ? {} : { lastUpdateAttempt: lastSent }) }) }),
        });
      }),
  });
}
