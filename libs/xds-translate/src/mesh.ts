/**
 * Mesh-wide settings that shape the output, with istiod's defaults (`pkg/config/mesh/mesh.go`
 * `DefaultMeshConfig`, `pilot/pkg/features/pilot.go`). Translation reads no environment: whoever
 * calls it passes these in (istiod's environment flags through `meshSettingsFromEnvironment`).
 */
import type { NormalizedServiceEntry } from '@skiff/model';
import type { LocalityLbSettingJson, ZoneAwareLbSettingJson } from './destination-rule.js';

/** `Cluster.dns_lookup_family` for STRICT_DNS / LOGICAL_DNS clusters. */
export type DnsLookupFamily = 'V4_ONLY' | 'V6_ONLY' | 'ALL';

export interface MeshSettings {
  /** `connectTimeout`: every outbound cluster's `connect_timeout`. Default 10 s. */
  readonly connectTimeoutMs: number;
  /** `dnsRefreshRate`: `dns_refresh_rate` of DNS clusters. Default 60 s. */
  readonly dnsRefreshRateMs: number;
  /** `PILOT_DNS_JITTER_DURATION`: `dns_jitter` of DNS clusters. Default 100 ms. */
  readonly dnsJitterMs: number;
  /** `PILOT_DNS_CARES_UDP_MAX_QUERIES`: c-ares `udp_max_queries`. Default 100. */
  readonly dnsResolverUdpMaxQueries: number;
  /**
   * istiod derives this per proxy from the proxy's IPs (`SelectDNSLookupFamily`): `V4_ONLY` for a
   * proxy with no or only IPv4 addresses (the common case and the default), `V6_ONLY` for IPv6-only,
   * `ALL` for dual stack with `ISTIO_DUAL_STACK`. Skiff builds one cluster for every proxy, so it is a
   * mesh setting here.
   */
  readonly dnsLookupFamily: DnsLookupFamily;
  /** `defaultServiceExportTo`: visibility of a ServiceEntry without `exportTo`. Default `['*']`. */
  readonly defaultServiceExportTo: readonly string[];
  /** The registry's cluster ID: last field of the endpoint `istio.workload` metadata. Default `Kubernetes`. */
  readonly clusterId: string;
  /** `trustDomain`: service account SANs are `spiffe://<trustDomain>/ns/<ns>/sa/<sa>`. Default `cluster.local`. */
  readonly trustDomain: string;
  /** `enableAutoMtls`: MESH_INTERNAL clusters get the `tlsMode-istio` transport socket match. Default true. */
  readonly enableAutoMtls: boolean;
  /** `PILOT_ENABLE_METADATA_EXCHANGE`: the `istio.metadata_exchange` cluster filter and its ALPN. Default true. */
  readonly metadataExchange: boolean;
  /** `!DISABLE_TRACK_REMAINING_CB_METRICS`: `track_remaining` on circuit breaker thresholds. Default false. */
  readonly trackRemainingCircuitBreakers: boolean;
  /**
   * `PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS`: every service "supports unhealthy endpoints"
   * (`pilot/pkg/model/service.go` `SupportsUnhealthyEndpoints`): panic mode off and unhealthy
   * endpoints kept in assignments. Default true.
   */
  readonly autoSendUnhealthyEndpoints: boolean;
  /** `PILOT_SEND_UNHEALTHY_ENDPOINTS`: the same, forced for every service. Default false. */
  readonly sendUnhealthyEndpoints: boolean;
  /** `PILOT_ENABLE_ABSOLUTE_FQDN_VHOST_DOMAIN`: gRPC routes also match `HOST.` and `HOST.:PORT`. Default true. */
  readonly absoluteFqdnVhostDomain: boolean;
  /**
   * `localityLbSetting`: what a cluster whose rule sets none gets. istiod's default is enabled with
   * nothing configured, so only outlier detection turns on failover by locality.
   */
  readonly localityLbSetting: LocalityLbSettingJson | undefined;
  /**
   * `zoneAwareLbSetting`: what a cluster whose rule sets neither setting gets, before the mesh's
   * `localityLbSetting`. istiod's default is none.
   */
  readonly zoneAwareLbSetting: ZoneAwareLbSettingJson | undefined;
}

export const DEFAULT_MESH_SETTINGS: MeshSettings = Object.freeze({
  connectTimeoutMs: 10_000,
  dnsRefreshRateMs: 60_000,
  dnsJitterMs: 100,
  dnsResolverUdpMaxQueries: 100,
  dnsLookupFamily: 'V4_ONLY',
  defaultServiceExportTo: Object.freeze(['*']),
  clusterId: 'Kubernetes',
  trustDomain: 'cluster.local',
  enableAutoMtls: true,
  metadataExchange: true,
  trackRemainingCircuitBreakers: false,
  autoSendUnhealthyEndpoints: true,
  sendUnhealthyEndpoints: false,
  absoluteFqdnVhostDomain: true,
  localityLbSetting: Object.freeze({ enabled: true }),
  zoneAwareLbSetting: undefined,
});

/** Whether services keep unhealthy endpoints and turn panic mode off (`Service.SupportsUnhealthyEndpoints`). */
export function supportsUnhealthyEndpoints(mesh: Pick<MeshSettings, 'autoSendUnhealthyEndpoints' | 'sendUnhealthyEndpoints'>): boolean {
  return mesh.autoSendUnhealthyEndpoints || mesh.sendUnhealthyEndpoints;
}

/** DEFAULT_MESH_SETTINGS with some fields replaced. */
export function withMeshDefaults(overrides: Partial<MeshSettings> = {}): MeshSettings {
  return { ...DEFAULT_MESH_SETTINGS, ...overrides };
}

/**
 * Who may see a ServiceEntry's clusters (docs/istio-behaviour.md#visibility; `pilot/pkg/model/push_context.go`
 * `serviceExportTo`, `IsServiceVisible`): everyone, nobody (`~`: only the entry's own workloads,
 * which get no outbound config from it), or a set of namespaces.
 */
export type ServiceVisibility =
  | { readonly kind: 'public' }
  | { readonly kind: 'none' }
  | { readonly kind: 'namespaces'; readonly namespaces: readonly string[] };

/**
 * The effective `exportTo` of a ServiceEntry: an empty list falls back to the mesh default (and
 * an empty default to public); `*` anywhere wins; otherwise `~` hides; otherwise `.` means the
 * entry's own namespace and the rest are namespace names.
 */
export function serviceVisibility(
  serviceEntry: Pick<NormalizedServiceEntry, 'namespace' | 'exportTo'>,
  mesh: Pick<MeshSettings, 'defaultServiceExportTo'>,
): ServiceVisibility {
  let exportTo: readonly string[] = serviceEntry.exportTo.length > 0 ? serviceEntry.exportTo : mesh.defaultServiceExportTo;
  if (exportTo.length === 0) exportTo = ['*'];
  if (exportTo.includes('*')) return { kind: 'public' };
  if (exportTo.includes('~')) return { kind: 'none' };
  const namespaces = new Set(exportTo.map((entry) => (entry === '.' ? serviceEntry.namespace : entry)));
  return { kind: 'namespaces', namespaces: [...namespaces].sort() };
}

/** Whether a proxy in `namespace` may see a service with this visibility. */
export function isVisibleTo(visibility: ServiceVisibility, namespace: string): boolean {
  switch (visibility.kind) {
    case 'public':
      return true;
    case 'none':
      return false;
    case 'namespaces':
      return visibility.namespaces.includes(namespace);
  }
}
