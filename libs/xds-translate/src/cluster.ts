/**
 * CDS Clusters for one ServiceEntry host x port, field for field as istiod 1.30 builds them for a
 * proxy with no DestinationRule (`pilot/pkg/networking/core/cluster_builder.go` `buildCluster`,
 * `applyDestinationRule`, `setUpstreamProtocol`, `maybeApplyEdsConfig`, `clusterWrapper.build`;
 * `cluster_traffic_policy.go` `applyTrafficPolicy`; `cluster_tls.go`; `pilot/pkg/xds/filters/filters.go`
 * `TCPClusterMx`), and the proxyless gRPC form (`pilot/pkg/networking/grpcgen/cds.go` `edsCluster`).
 */
import { create, type JsonObject } from '@bufbuild/protobuf';
import { anyPack, DurationSchema, type Duration } from '@bufbuild/protobuf/wkt';
import type { NormalizedPort, NormalizedServiceEntry, Protocol } from '@skiff/model';
import { CircuitBreakersSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/circuit_breaker_pb.js';
import { ClusterConfigSchema } from '@skiff/protos/gen/envoy/extensions/clusters/dynamic_forward_proxy/v3/cluster_pb.js';
import {
  Cluster_DiscoveryType,
  Cluster_DnsLookupFamily,
  Cluster_EdsClusterConfigSchema,
  Cluster_LbPolicy,
  Cluster_OriginalDstLbConfigSchema,
  Cluster_TransportSocketMatchSchema,
  ClusterSchema,
  type Cluster,
  type Cluster_TransportSocketMatch,
} from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { FilterSchema, type Filter } from '@skiff/protos/gen/envoy/config/cluster/v3/filter_pb.js';
import { MetadataSchema, TransportSocketSchema, type TransportSocket } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import { ApiConfigSource_ApiType, ApiVersion, ConfigSourceSchema, type ConfigSource } from '@skiff/protos/gen/envoy/config/core/v3/config_source_pb.js';
import { TypedExtensionConfigSchema } from '@skiff/protos/gen/envoy/config/core/v3/extension_pb.js';
import type { LocalityLbEndpoints } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_components_pb.js';
import { CaresDnsResolverConfigSchema } from '@skiff/protos/gen/envoy/extensions/network/dns_resolver/cares/v3/cares_dns_resolver_pb.js';
import { RawBufferSchema } from '@skiff/protos/gen/envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer_pb.js';
import { TlsParameters_TlsProtocol } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js';
import { SdsSecretConfigSchema, type SdsSecretConfig } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { UpstreamTlsContextSchema } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { HttpProtocolOptionsSchema, type HttpProtocolOptions } from '@skiff/protos/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { TypedStructSchema } from '@skiff/protos/gen/udpa/type/v1/typed_struct_pb.js';
import { buildClusterLoadAssignment, ISTIO_METADATA_KEY } from './endpoint.js';
import { ISTIO_MUTUAL_TLS_MODE } from './instances.js';
import { supportsUnhealthyEndpoints, type DnsLookupFamily, type MeshSettings } from './mesh.js';
import { buildDnsSrvSubsetKey, type ClusterNaming } from './names.js';

/** Key of `typed_extension_protocol_options` for upstream HTTP settings (`v3.HttpProtocolOptionsType`). */
export const HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
/** Name and config type URL of Istio's TCP metadata exchange cluster filter (`xdsfilters.MxFilterName`, `MetadataExchangeTypeURL`). */
export const METADATA_EXCHANGE_FILTER_NAME = 'istio.metadata_exchange';
export const METADATA_EXCHANGE_TYPE_URL = 'type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange';
/** `wellknown.TransportSocketTLS`, `wellknown.TransportSocketRawBuffer`. */
export const TLS_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.tls';
export const RAW_BUFFER_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.raw_buffer';
/** The custom cluster type of DYNAMIC_DNS entries (`envoy.clusters.dynamic_forward_proxy`). */
export const DYNAMIC_FORWARD_PROXY_CLUSTER_NAME = 'envoy.clusters.dynamic_forward_proxy';
/** The c-ares resolver extension name istiod sets on DNS clusters. */
export const CARES_DNS_RESOLVER_NAME = 'envoy.network.dns_resolver.cares';
/** SDS: the proxy agent's cluster and the two secrets every sidecar has (`pkg/model/authentication.go`). */
export const SDS_CLUSTER_NAME = 'sds-grpc';
export const SDS_DEFAULT_RESOURCE_NAME = 'default';
export const SDS_ROOT_RESOURCE_NAME = 'ROOTCA';

const UINT32_MAX = 4_294_967_295;

/** Envoy cluster discovery type chosen for a ServiceEntry resolution. */
export type ClusterDiscovery = 'EDS' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'ORIGINAL_DST';

export function durationFromMs(ms: number): Duration {
  return create(DurationSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });
}

/** `protocol.IsHTTP2()`: ports whose upstream connections are HTTP/2 from the start. */
export function isHttp2Protocol(protocol: Protocol): boolean {
  return protocol === 'HTTP2' || protocol === 'GRPC' || protocol === 'GRPC-Web';
}

/** `<name>;` (`util.DelimitedStatsPrefix`, `constants.StatPrefixDelimiter`). */
export function buildAltStatName(clusterName: string): string {
  return `${clusterName};`;
}

/**
 * Every threshold at MaxUint32 (`getDefaultCircuitBreakerThresholds`): Envoy's defaults (1024, 3
 * retries) are too low for a mesh. `track_remaining` only with DISABLE_TRACK_REMAINING_CB_METRICS=false.
 */
export function buildDefaultCircuitBreakers(mesh: Pick<MeshSettings, 'trackRemainingCircuitBreakers'>) {
  return create(CircuitBreakersSchema, {
    thresholds: [
      {
        maxConnections: UINT32_MAX,
        maxPendingRequests: UINT32_MAX,
        maxRequests: UINT32_MAX,
        maxRetries: UINT32_MAX,
        trackRemaining: mesh.trackRemainingCircuitBreakers,
      },
    ],
  });
}

/** `eds_config` pointing at ADS; `initial_fetch_timeout: 0s` so a cluster never waits on EDS to warm (`maybeApplyEdsConfig`). */
function buildAdsEdsConfig(): ConfigSource {
  return create(ConfigSourceSchema, {
    configSourceSpecifier: { case: 'ads', value: {} },
    initialFetchTimeout: durationFromMs(0),
    resourceApiVersion: ApiVersion.V3,
  });
}

/** The TCP metadata exchange filter, a TypedStruct with fields `protocol` and `enable_discovery`. */
export function buildMetadataExchangeFilter(): Filter {
  return create(FilterSchema, {
    name: METADATA_EXCHANGE_FILTER_NAME,
    typedConfig: anyPack(
      TypedStructSchema,
      create(TypedStructSchema, { typeUrl: METADATA_EXCHANGE_TYPE_URL, value: { enable_discovery: true, protocol: 'istio-peer-exchange' } }),
    ),
  });
}

/**
 * Upstream HTTP protocol options, or undefined when none apply (`setUpstreamProtocol`):
 * HTTP/2-family ports get explicit HTTP/2; a port with no protocol (sniffed) follows the
 * downstream protocol, but only on sidecars: istiod skips it on gateways, which is what the
 * sni-dnat naming models.
 */
export function buildHttpProtocolOptions(protocol: Protocol, naming: ClusterNaming): HttpProtocolOptions | undefined {
  if (isHttp2Protocol(protocol)) {
    return create(HttpProtocolOptionsSchema, {
      upstreamProtocolOptions: { case: 'explicitHttpConfig', value: { protocolConfig: { case: 'http2ProtocolOptions', value: {} } } },
    });
  }
  if (protocol === '' && naming === 'sidecar') {
    return create(HttpProtocolOptionsSchema, {
      upstreamProtocolOptions: { case: 'useDownstreamProtocolConfig', value: { httpProtocolOptions: {}, http2ProtocolOptions: {} } },
    });
  }
  return undefined;
}


function buildSdsSecretConfig(name: string): SdsSecretConfig {
  return create(SdsSecretConfigSchema, {
    name,
    sdsConfig: {
      configSourceSpecifier: {
        case: 'apiConfigSource',
        value: {
          apiType: ApiConfigSource_ApiType.GRPC,
          setNodeOnFirstMessageOnly: true,
          transportApiVersion: ApiVersion.V3,
          grpcServices: [{ targetSpecifier: { case: 'envoyGrpc', value: { clusterName: SDS_CLUSTER_NAME } } }],
        },
      },
      initialFetchTimeout: durationFromMs(0),
      resourceApiVersion: ApiVersion.V3,
    },
  });
}

export interface IstioMutualTlsArgs {
  readonly subjectAltNames: readonly string[];
  readonly sni: string;
  readonly http2: boolean;
  readonly metadataExchange: boolean;
}

/**
 * The ISTIO_MUTUAL upstream TLS socket (`buildUpstreamClusterTLSContext`): TLS 1.2-1.3, the
 * workload certificate and root CA from the proxy agent over SDS, SANs matched exactly, SNI the
 * DNS-SRV cluster key, and ALPN `istio-peer-exchange, istio` (+ `h2` on HTTP/2 clusters; without
 * metadata exchange the `istio-peer-exchange` entry is left out).
 */
export function buildIstioMutualTransportSocket(args: IstioMutualTlsArgs): TransportSocket {
  const alpnProtocols = [...(args.metadataExchange ? ['istio-peer-exchange'] : []), 'istio', ...(args.http2 ? ['h2'] : [])];
  const context = create(UpstreamTlsContextSchema, {
    commonTlsContext: {
      tlsParams: {
        tlsMinimumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_2,
        tlsMaximumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_3,
      },
      tlsCertificateSdsSecretConfigs: [buildSdsSecretConfig(SDS_DEFAULT_RESOURCE_NAME)],
      validationContextType: {
        case: 'combinedValidationContext',
        value: {
          defaultValidationContext: {
            matchSubjectAltNames: args.subjectAltNames.map((san) => ({ matchPattern: { case: 'exact' as const, value: san } })),
          },
          validationContextSdsSecretConfig: buildSdsSecretConfig(SDS_ROOT_RESOURCE_NAME),
        },
      },
      alpnProtocols,
    },
    sni: args.sni,
  });
  return create(TransportSocketSchema, {
    name: TLS_TRANSPORT_SOCKET_NAME,
    configType: { case: 'typedConfig', value: anyPack(UpstreamTlsContextSchema, context) },
  });
}

/** Plain text (`xdsfilters.RawBufferTransportSocket`). */
function buildRawBufferTransportSocket(): TransportSocket {
  return create(TransportSocketSchema, {
    name: RAW_BUFFER_TRANSPORT_SOCKET_NAME,
    configType: { case: 'typedConfig', value: anyPack(RawBufferSchema, create(RawBufferSchema)) },
  });
}

/**
 * Auto-mTLS as a pair of matches (`applyUpstreamTLSSettings`, `defaultTransportSocketMatch`):
 * endpoints whose metadata says `tlsMode: istio` get Istio mTLS, all others plain text.
 */
function buildAutoMtlsTransportSocketMatches(mtls: TransportSocket): Cluster_TransportSocketMatch[] {
  return [
    create(Cluster_TransportSocketMatchSchema, { name: `tlsMode-${ISTIO_MUTUAL_TLS_MODE}`, match: { tlsMode: ISTIO_MUTUAL_TLS_MODE }, transportSocket: mtls }),
    create(Cluster_TransportSocketMatchSchema, { name: 'tlsMode-disabled', match: {}, transportSocket: buildRawBufferTransportSocket() }),
  ];
}

const DNS_LOOKUP_FAMILIES: Readonly<Record<DnsLookupFamily, Cluster_DnsLookupFamily>> = {
  V4_ONLY: Cluster_DnsLookupFamily.V4_ONLY,
  V6_ONLY: Cluster_DnsLookupFamily.V6_ONLY,
  ALL: Cluster_DnsLookupFamily.ALL,
};

const DISCOVERY_TYPES: Readonly<Record<ClusterDiscovery, Cluster_DiscoveryType>> = {
  EDS: Cluster_DiscoveryType.EDS,
  STRICT_DNS: Cluster_DiscoveryType.STRICT_DNS,
  LOGICAL_DNS: Cluster_DiscoveryType.LOGICAL_DNS,
  ORIGINAL_DST: Cluster_DiscoveryType.ORIGINAL_DST,
};

/**
 * How the cluster talks TLS upstream with no DestinationRule (`buildUpstreamTLSSettings`,
 * `BestEffortInferServiceMTLSMode`): never for MESH_EXTERNAL services, never with auto-mTLS off,
 * never on sni-dnat clusters (istiod applies no TLS settings to them). MESH_INTERNAL ORIGINAL_DST
 * clusters get a plain mTLS socket, and only when every endpoint of the port speaks Istio mTLS;
 * other MESH_INTERNAL clusters get the auto-mTLS matches.
 */
export function selectUpstreamTls(args: {
  readonly location: NormalizedServiceEntry['location'];
  readonly discovery: ClusterDiscovery;
  readonly naming: ClusterNaming;
  readonly enableAutoMtls: boolean;
  readonly instanceTlsModes: readonly string[];
}): 'none' | 'transport-socket' | 'transport-socket-matches' {
  if (args.naming === 'sni-dnat' || args.location === 'MESH_EXTERNAL' || !args.enableAutoMtls) return 'none';
  if (args.discovery === 'ORIGINAL_DST') {
    const allMtls = args.instanceTlsModes.length > 0 && args.instanceTlsModes.every((mode) => mode !== 'disabled');
    return allMtls ? 'transport-socket' : 'none';
  }
  return 'transport-socket-matches';
}

export interface ClusterArgs {
  readonly name: string;
  readonly discovery: ClusterDiscovery;
  readonly serviceEntry: NormalizedServiceEntry;
  readonly hostname: string;
  readonly servicePort: NormalizedPort;
  readonly naming: ClusterNaming;
  readonly mesh: MeshSettings;
  /** STRICT_DNS / LOGICAL_DNS: the inline assignment (istiod does not build these clusters without endpoints). */
  readonly inlineEndpoints: readonly LocalityLbEndpoints[];
  /** SANs for Istio mTLS: the entry's `subjectAltNames` plus its workloads' identities, sorted, unique. */
  readonly subjectAltNames: readonly string[];
  /** TLS modes of the port's instances, for the ORIGINAL_DST mTLS decision. */
  readonly instanceTlsModes: readonly string[];
}

/** The Envoy (sidecar / sni-dnat) cluster for one ServiceEntry host x port. */
export function buildCluster(args: ClusterArgs): Cluster {
  const { serviceEntry, servicePort, mesh } = args;
  const cluster = create(ClusterSchema, {
    name: args.name,
    clusterDiscoveryType: { case: 'type', value: DISCOVERY_TYPES[args.discovery] },
    // Panic mode off where unhealthy endpoints are sent (`applyLoadBalancer`): in panic Envoy would
    // route to them.
    commonLbConfig: supportsUnhealthyEndpoints(mesh) ? { healthyPanicThreshold: { value: 0 } } : {},
    altStatName: buildAltStatName(args.name),
    connectTimeout: durationFromMs(mesh.connectTimeoutMs),
    circuitBreakers: buildDefaultCircuitBreakers(mesh),
    // Istio's default algorithm; ORIGINAL_DST clusters must let the cluster pick (`applyLoadBalancer`).
    lbPolicy: args.discovery === 'ORIGINAL_DST' ? Cluster_LbPolicy.CLUSTER_PROVIDED : Cluster_LbPolicy.LEAST_REQUEST,
  });

  if (args.discovery === 'STRICT_DNS' || args.discovery === 'LOGICAL_DNS') {
    cluster.dnsLookupFamily = DNS_LOOKUP_FAMILIES[mesh.dnsLookupFamily];
    cluster.typedDnsResolverConfig = create(TypedExtensionConfigSchema, {
      name: CARES_DNS_RESOLVER_NAME,
      typedConfig: anyPack(CaresDnsResolverConfigSchema, create(CaresDnsResolverConfigSchema, { udpMaxQueries: mesh.dnsResolverUdpMaxQueries })),
    });
    cluster.dnsRefreshRate = durationFromMs(mesh.dnsRefreshRateMs);
    cluster.respectDnsTtl = true;
    cluster.dnsJitter = durationFromMs(mesh.dnsJitterMs);
    cluster.loadAssignment = buildClusterLoadAssignment(args.name, args.inlineEndpoints);
  }

  // istiod records target ports as upstream port overrides only for resolution NONE (`convertServices`).
  if (args.discovery === 'ORIGINAL_DST' && servicePort.targetPort > 0) {
    cluster.lbConfig = { case: 'originalDstLbConfig', value: create(Cluster_OriginalDstLbConfigSchema, { upstreamPortOverride: servicePort.targetPort }) };
  }

  const httpOptions = buildHttpProtocolOptions(servicePort.protocol, args.naming);
  if (httpOptions !== undefined) {
    cluster.typedExtensionProtocolOptions = { [HTTP_PROTOCOL_OPTIONS_KEY]: anyPack(HttpProtocolOptionsSchema, httpOptions) };
  }

  const tls = selectUpstreamTls({
    location: serviceEntry.location,
    discovery: args.discovery,
    naming: args.naming,
    enableAutoMtls: mesh.enableAutoMtls,
    instanceTlsModes: args.instanceTlsModes,
  });
  if (tls !== 'none') {
    const mtls = buildIstioMutualTransportSocket({
      subjectAltNames: args.subjectAltNames,
      sni: buildDnsSrvSubsetKey({ direction: 'outbound', port: servicePort.number, subset: '', hostname: args.hostname }),
      http2: isHttp2Protocol(servicePort.protocol),
      metadataExchange: mesh.metadataExchange,
    });
    if (tls === 'transport-socket') cluster.transportSocket = mtls;
    else cluster.transportSocketMatches = buildAutoMtlsTransportSocketMatches(mtls);
  }

  if (args.discovery === 'EDS') {
    cluster.edsClusterConfig = create(Cluster_EdsClusterConfigSchema, { serviceName: args.name, edsConfig: buildAdsEdsConfig() });
  }
  if (mesh.metadataExchange) cluster.filters = [buildMetadataExchangeFilter()];

  // `addTelemetryMetadata` + `applyDestinationRule`: for a ServiceEntry the service's name is its host.
  const istio: JsonObject = {};
  if (serviceEntry.location === 'MESH_EXTERNAL') istio['external'] = true;
  istio['services'] = [{ host: args.hostname, name: args.hostname, namespace: serviceEntry.namespace }];
  cluster.metadata = create(MetadataSchema, { filterMetadata: { [ISTIO_METADATA_KEY]: istio } });
  return cluster;
}

/** `model.BuildDNSCacheName`: the dynamic forward proxy's DNS cache of one wildcard host. */
export function buildDnsCacheName(hostname: string): string {
  return `${hostname}_dfp_dns_cache`;
}

/** Ports a dynamic forward proxy cluster is built for (`buildOutboundClusters`). */
export function supportsDynamicForwardProxy(protocol: Protocol): boolean {
  return protocol === 'HTTP' || protocol === 'TLS' || protocol === 'GRPC' || protocol === 'HTTP2';
}

/**
 * A DYNAMIC_DNS ServiceEntry's wildcard host as a dynamic forward proxy cluster
 * (`cluster_builder.go` `buildDFPCluster`, then `applyDestinationRule`): Envoy resolves each
 * request's host itself through a DNS cache named after the wildcard, and picks the host
 * (`CLUSTER_PROVIDED`). No endpoints, no panic threshold and no service telemetry metadata.
 */
export function buildDynamicForwardProxyCluster(args: Pick<ClusterArgs, 'name' | 'serviceEntry' | 'hostname' | 'servicePort' | 'naming' | 'mesh'>): Cluster {
  const { mesh } = args;
  const cluster = create(ClusterSchema, {
    name: args.name,
    altStatName: buildAltStatName(args.name),
    clusterDiscoveryType: {
      case: 'clusterType',
      value: {
        name: DYNAMIC_FORWARD_PROXY_CLUSTER_NAME,
        typedConfig: anyPack(
          ClusterConfigSchema,
          create(ClusterConfigSchema, {
            clusterImplementationSpecifier: {
              case: 'dnsCacheConfig',
              value: { name: buildDnsCacheName(args.hostname), dnsLookupFamily: DNS_LOOKUP_FAMILIES[mesh.dnsLookupFamily] },
            },
          }),
        ),
      },
    },
    connectTimeout: durationFromMs(mesh.connectTimeoutMs),
    lbPolicy: Cluster_LbPolicy.CLUSTER_PROVIDED,
    circuitBreakers: buildDefaultCircuitBreakers(mesh),
  });
  const httpOptions = buildHttpProtocolOptions(args.servicePort.protocol, args.naming);
  if (httpOptions !== undefined) {
    cluster.typedExtensionProtocolOptions = { [HTTP_PROTOCOL_OPTIONS_KEY]: anyPack(HttpProtocolOptionsSchema, httpOptions) };
  }
  if (args.serviceEntry.location === 'MESH_EXTERNAL') {
    cluster.metadata = create(MetadataSchema, { filterMetadata: { [ISTIO_METADATA_KEY]: { external: true } } });
  }
  if (mesh.metadataExchange) cluster.filters = [buildMetadataExchangeFilter()];
  return cluster;
}

/**
 * The proxyless gRPC EDS cluster (`grpcgen/cds.go` `edsCluster`): name, `alt_stat_name`, EDS over
 * ADS with `service_name` = name, and ROUND_ROBIN, the only `lb_policy` besides RING_HASH the
 * client accepts (it NACKs Istio's Envoy default LEAST_REQUEST). Nothing else: no connect
 * timeout, circuit breakers, filters or metadata, which the client ignores at best.
 */
export function buildGrpcEdsCluster(name: string): Cluster {
  return create(ClusterSchema, {
    name,
    altStatName: buildAltStatName(name),
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { serviceName: name, edsConfig: { configSourceSpecifier: { case: 'ads', value: {} } } },
    lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
  });
}
