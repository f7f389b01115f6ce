/**
 * CDS Clusters for one ServiceEntry host x port (and DestinationRule subset), field for field as
 * istiod 1.30 builds them (`pilot/pkg/networking/core/cluster_builder.go` `buildCluster`,
 * `applyDestinationRule`, `buildSubsetCluster`, `setUpstreamProtocol`, `maybeApplyEdsConfig`,
 * `clusterWrapper.build`; `cluster_traffic_policy.go` `applyTrafficPolicy`; `cluster_tls.go`;
 * `pilot/pkg/xds/filters/filters.go` `TCPClusterMx`), and the proxyless gRPC form
 * (`pilot/pkg/networking/grpcgen/cds.go` `edsCluster`, `applyTrafficPolicy`).
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
  ClusterSchema,
  type Cluster,
} from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { FilterSchema, type Filter } from '@skiff/protos/gen/envoy/config/cluster/v3/filter_pb.js';
import { MetadataSchema } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import { ApiVersion, ConfigSourceSchema, type ConfigSource } from '@skiff/protos/gen/envoy/config/core/v3/config_source_pb.js';
import { TypedExtensionConfigSchema } from '@skiff/protos/gen/envoy/config/core/v3/extension_pb.js';
import type { LocalityLbEndpoints } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_components_pb.js';
import { CaresDnsResolverConfigSchema } from '@skiff/protos/gen/envoy/extensions/network/dns_resolver/cares/v3/cares_dns_resolver_pb.js';
import { HttpProtocolOptionsSchema, type HttpProtocolOptions } from '@skiff/protos/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { TypedStructSchema } from '@skiff/protos/gen/udpa/type/v1/typed_struct_pb.js';
import { buildClusterLoadAssignment, ISTIO_METADATA_KEY } from './endpoint.js';
import { applyUpstreamProxyProtocol, applyUpstreamTls, buildGrpcIstioMutualTransportSocket } from './cluster-tls.js';
import {
  applyConnectionPool,
  applyLoadBalancer,
  applyOutlierDetection,
  applyRingHash,
  discoveryTypeOf,
  policyComponents,
  setH2Options,
  shouldH2Upgrade,
  upstreamProtocol,
  type ClusterWrapper,
} from './cluster-traffic-policy.js';
import type { ResolvedTrafficPolicy } from './destination-rule.js';
import { supportsUnhealthyEndpoints, type DnsLookupFamily, type MeshSettings } from './mesh.js';
import { buildDnsSrvSubsetKey, type ClusterNaming } from './names.js';
import { sharedMessage } from './shared-message.js';

/** Key of `typed_extension_protocol_options` for upstream HTTP settings (`v3.HttpProtocolOptionsType`). */
export const HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
/** Name and config type URL of Istio's TCP metadata exchange cluster filter (`xdsfilters.MxFilterName`, `MetadataExchangeTypeURL`). */
export const METADATA_EXCHANGE_FILTER_NAME = 'istio.metadata_exchange';
export const METADATA_EXCHANGE_TYPE_URL = 'type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange';
/** The custom cluster type of DYNAMIC_DNS entries (`envoy.clusters.dynamic_forward_proxy`). */
export const DYNAMIC_FORWARD_PROXY_CLUSTER_NAME = 'envoy.clusters.dynamic_forward_proxy';
/** The c-ares resolver extension name istiod sets on DNS clusters. */
export const CARES_DNS_RESOLVER_NAME = 'envoy.network.dns_resolver.cares';

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

/** `eds_config` pointing at ADS; `initial_fetch_timeout: 0s` so a cluster never waits on EDS to warm (`maybeApplyEdsConfig`). */
const ADS_EDS_CONFIG: ConfigSource = sharedMessage(
  create(ConfigSourceSchema, {
    configSourceSpecifier: { case: 'ads', value: {} },
    initialFetchTimeout: durationFromMs(0),
    resourceApiVersion: ApiVersion.V3,
  }),
);

/** The TCP metadata exchange filter, a TypedStruct with fields `protocol` and `enable_discovery`. */
const METADATA_EXCHANGE_FILTER: Filter = sharedMessage(
  create(FilterSchema, {
    name: METADATA_EXCHANGE_FILTER_NAME,
    typedConfig: anyPack(
      TypedStructSchema,
      create(TypedStructSchema, { typeUrl: METADATA_EXCHANGE_TYPE_URL, value: { enable_discovery: true, protocol: 'istio-peer-exchange' } }),
    ),
  }),
);

/** The TCP metadata exchange filter (shared and frozen: see `sharedMessage`). */
export function buildMetadataExchangeFilter(): Filter {
  return METADATA_EXCHANGE_FILTER;
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


/** A DestinationRule as applied to one cluster (the default cluster of a port, or one of its subsets). */
export interface ClusterRule {
  /** The policy for this port (and subset), port-level settings and the subset already merged in. */
  readonly policy: ResolvedTrafficPolicy | undefined;
  /** `istio.config` metadata: the API path of the rule (`util.AddConfigInfoMetadata`). */
  readonly configPath: string;
  /** Set for a subset cluster: its name goes into the `istio.subset` metadata. */
  readonly subset?: string;
  /** The rule has a `workloadSelector` (only then does a sidecar get `credentialName` TLS). */
  readonly withSelector: boolean;
  /**
   * PASSTHROUGH in the load balancer of the rule's top-level policy (default cluster) or of the
   * subset's own policy (subset cluster): istiod's mTLS inference (`BestEffortInferServiceMTLSMode`)
   * reads that policy, not the merged one.
   */
  readonly passthroughHint: boolean;
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
  /** The DestinationRule for the host, if one applies. */
  readonly destinationRule?: ClusterRule;
}

/** JSON object with its keys in code-unit order, as istiod's Struct metadata is printed. */
function sortedKeys(object: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(object).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The first steps of `applyTrafficPolicy` (with an empty policy when there is no rule): HTTP/2
 * upgrade, connection pool, outlier detection and its HTTP error codes. Returns the policy's
 * components for the steps after them.
 */
function applyConnectionPolicy(wrapper: ClusterWrapper, policy: ResolvedTrafficPolicy | undefined, mesh: MeshSettings): ReturnType<typeof policyComponents> {
  const parts = policyComponents(policy);
  const pool = parts.connectionPool ?? {};
  if (shouldH2Upgrade(pool)) setH2Options(wrapper);
  applyConnectionPool(wrapper, pool, parts.retryBudget, {
    defaultConnectTimeout: durationFromMs(mesh.connectTimeoutMs),
    trackRemainingCircuitBreakers: mesh.trackRemainingCircuitBreakers,
  });
  applyOutlierDetection(wrapper.cluster, parts.outlierDetection);
  return parts;
}

/**
 * The Envoy (sidecar / sni-dnat) cluster for one ServiceEntry host x port, or for one subset of it:
 * `buildCluster`, then `applyDestinationRule` / `buildSubsetCluster` with the rule's policy (none
 * without a rule), `maybeApplyEdsConfig`, the metadata exchange filter and the `istio` metadata.
 */
export function buildCluster(args: ClusterArgs): Cluster {
  const { serviceEntry, servicePort, mesh } = args;
  const rule = args.destinationRule;
  const cluster = create(ClusterSchema, {
    name: args.name,
    clusterDiscoveryType: { case: 'type', value: DISCOVERY_TYPES[args.discovery] },
    commonLbConfig: {},
    altStatName: buildAltStatName(args.name),
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

  // istiod records target ports as upstream port overrides only for resolution NONE (`convertServices`
  // `PassthroughTargetPorts`): a subset whose PASSTHROUGH load balancer makes another entry's cluster
  // ORIGINAL_DST (`buildSubsetCluster`) gets none.
  if (args.discovery === 'ORIGINAL_DST' && serviceEntry.resolution === 'NONE' && servicePort.targetPort > 0) {
    cluster.lbConfig = { case: 'originalDstLbConfig', value: create(Cluster_OriginalDstLbConfigSchema, { upstreamPortOverride: servicePort.targetPort }) };
  }

  const wrapper: ClusterWrapper = { cluster, httpProtocolOptions: buildHttpProtocolOptions(servicePort.protocol, args.naming) };

  const parts = applyConnectionPolicy(wrapper, rule?.policy, mesh);
  // Panic mode off where unhealthy endpoints are sent: in panic Envoy would route to them.
  applyLoadBalancer(cluster, parts.loadBalancer, supportsUnhealthyEndpoints(mesh), mesh);
  // istiod applies no TLS settings and no PROXY protocol to sni-dnat clusters.
  if (args.naming !== 'sni-dnat') {
    applyUpstreamTls(wrapper, {
      tls: parts.tls,
      serviceAccounts: args.subjectAltNames,
      istioMtlsSni: buildDnsSrvSubsetKey({ direction: 'outbound', port: servicePort.number, subset: rule?.subset ?? '', hostname: args.hostname }),
      meshExternal: serviceEntry.location === 'MESH_EXTERNAL',
      enableAutoMtls: mesh.enableAutoMtls,
      passthrough: serviceEntry.resolution === 'NONE' || (rule?.passthroughHint ?? false),
      instanceTlsModes: args.instanceTlsModes,
      ruleWithSelector: rule?.withSelector ?? false,
      metadataExchange: mesh.metadataExchange,
    });
    applyUpstreamProxyProtocol(cluster, parts.proxyProtocol);
  }

  // After the policy, which may have turned the cluster into ORIGINAL_DST (`maybeApplyEdsConfig`).
  if (discoveryTypeOf(cluster) === Cluster_DiscoveryType.EDS) {
    cluster.edsClusterConfig = create(Cluster_EdsClusterConfigSchema, { serviceName: args.name, edsConfig: ADS_EDS_CONFIG });
  }
  if (mesh.metadataExchange) cluster.filters = [buildMetadataExchangeFilter()];

  // `addTelemetryMetadata` (for a ServiceEntry the service's name is its host), then
  // `applyDestinationRule` (`external` on the default cluster only) or `buildSubsetCluster`.
  const istio: JsonObject = { services: [{ host: args.hostname, name: args.hostname, namespace: serviceEntry.namespace }] };
  if (serviceEntry.location === 'MESH_EXTERNAL' && rule?.subset === undefined) istio['external'] = true;
  if (rule !== undefined) {
    istio['config'] = rule.configPath;
    if (rule.subset !== undefined) istio['subset'] = rule.subset;
    // `AddALPNOverrideToMetadata`: the rule originates TLS, so the client's ALPN must not be forwarded.
    const mode = parts.tls?.mode;
    if (mode === 'SIMPLE' || mode === 'MUTUAL') istio['alpn_override'] = 'false';
  }
  cluster.metadata = create(MetadataSchema, { filterMetadata: { [ISTIO_METADATA_KEY]: sortedKeys(istio) } });

  finishHttpProtocolOptions(wrapper);
  return cluster;
}

/** `clusterWrapper.build`: HTTP options always name an upstream protocol (HTTP/1 when none was chosen). */
function finishHttpProtocolOptions(wrapper: ClusterWrapper): void {
  const options = wrapper.httpProtocolOptions;
  if (options === undefined) return;
  if (options.upstreamProtocolOptions.case === undefined) {
    options.upstreamProtocolOptions = upstreamProtocol({ case: 'explicitHttpConfig', value: { protocolConfig: { case: 'httpProtocolOptions', value: {} } } });
  }
  wrapper.cluster.typedExtensionProtocolOptions = { [HTTP_PROTOCOL_OPTIONS_KEY]: anyPack(HttpProtocolOptionsSchema, options) };
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
 *
 * A DestinationRule for the host is applied as to any cluster, with what a dynamic forward proxy
 * cluster leaves out: no subsets, no load balancer settings (`applyLoadBalancer` skips
 * CLUSTER_PROVIDED), and TLS against the request's host (no SNI or SANs of the service: `auto_sni`,
 * `auto_san_validation`). Only a rule's `tls` sets TLS; auto-mTLS is not inferred for these clusters.
 */
export function buildDynamicForwardProxyCluster(
  args: Pick<ClusterArgs, 'name' | 'serviceEntry' | 'hostname' | 'servicePort' | 'naming' | 'mesh' | 'destinationRule'>,
): Cluster {
  const { mesh } = args;
  const rule = args.destinationRule;
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
    lbPolicy: Cluster_LbPolicy.CLUSTER_PROVIDED,
  });
  const wrapper: ClusterWrapper = { cluster, httpProtocolOptions: buildHttpProtocolOptions(args.servicePort.protocol, args.naming), dynamicForwardProxy: true };

  const parts = applyConnectionPolicy(wrapper, rule?.policy, mesh);
  if (args.naming !== 'sni-dnat') {
    if (parts.tls !== undefined) {
      applyUpstreamTls(wrapper, {
        tls: parts.tls,
        serviceAccounts: [],
        istioMtlsSni: '',
        meshExternal: args.serviceEntry.location === 'MESH_EXTERNAL',
        enableAutoMtls: mesh.enableAutoMtls,
        passthrough: false,
        instanceTlsModes: [],
        ruleWithSelector: rule?.withSelector ?? false,
        metadataExchange: mesh.metadataExchange,
      });
    }
    applyUpstreamProxyProtocol(cluster, parts.proxyProtocol);
  }
  if (mesh.metadataExchange) cluster.filters = [buildMetadataExchangeFilter()];

  const istio: JsonObject = {};
  if (args.serviceEntry.location === 'MESH_EXTERNAL') istio['external'] = true;
  if (rule !== undefined) {
    istio['config'] = rule.configPath;
    const mode = parts.tls?.mode;
    if (mode === 'SIMPLE' || mode === 'MUTUAL') istio['alpn_override'] = 'false';
  }
  if (Object.keys(istio).length > 0) cluster.metadata = create(MetadataSchema, { filterMetadata: { [ISTIO_METADATA_KEY]: sortedKeys(istio) } });
  finishHttpProtocolOptions(wrapper);
  return cluster;
}

/** What the gRPC generator reads of a DestinationRule for one cluster. */
export interface GrpcClusterPolicy {
  /** The policy for this port (and subset), port-level settings and the subset already merged in. */
  readonly policy: ResolvedTrafficPolicy | undefined;
  /** The service's SANs (`push.ServiceAccounts`), checked on ISTIO_MUTUAL connections. */
  readonly subjectAltNames: readonly string[];
  readonly report: (code: 'GRPC_UNSUPPORTED_LB_POLICY', detail: string) => void;
}

/**
 * The proxyless gRPC EDS cluster (`grpcgen/cds.go` `edsCluster`): name, `alt_stat_name`, EDS over
 * ADS with `service_name` = name, and ROUND_ROBIN, the only `lb_policy` besides RING_HASH the
 * client accepts (it NACKs Istio's Envoy default LEAST_REQUEST). Nothing else: no connect
 * timeout, circuit breakers, filters or metadata, which the client ignores at best.
 *
 * With a DestinationRule, what `grpcgen/cds.go` `applyTrafficPolicy` applies: ISTIO_MUTUAL TLS with
 * the client's certificate providers (other modes are plain text there), a consistent hash as
 * RING_HASH, and `http2MaxRequests` as the only circuit breaker. istiod also writes LEAST_REQUEST
 * and MAGLEV, which grpc-js-xds NACKs (`cluster-resource-type.ts`): Skiff keeps ROUND_ROBIN for them
 * and reports it. Outlier detection and the other settings are not part of the gRPC generator's
 * output.
 */
export function buildGrpcEdsCluster(name: string, policy?: GrpcClusterPolicy): Cluster {
  const cluster = create(ClusterSchema, {
    name,
    altStatName: buildAltStatName(name),
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { serviceName: name, edsConfig: { configSourceSpecifier: { case: 'ads', value: {} } } },
    lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
  });
  if (policy === undefined) return cluster;
  const parts = policyComponents(policy.policy);
  if (parts.tls?.mode === 'ISTIO_MUTUAL') cluster.transportSocket = buildGrpcIstioMutualTransportSocket(policy.subjectAltNames);
  const balancer = parts.loadBalancer;
  if (balancer?.consistentHash != null) {
    applyRingHash(cluster, balancer);
    if (cluster.lbPolicy === Cluster_LbPolicy.MAGLEV) {
      cluster.lbPolicy = Cluster_LbPolicy.ROUND_ROBIN;
      cluster.lbConfig = { case: undefined };
      policy.report('GRPC_UNSUPPORTED_LB_POLICY', 'MAGLEV (consistentHash.maglev)');
    }
  } else if (balancer?.simple === 'LEAST_REQUEST') {
    policy.report('GRPC_UNSUPPORTED_LB_POLICY', 'LEAST_REQUEST');
  }
  const maxRequests = parts.connectionPool?.http?.http2MaxRequests ?? 0;
  if (maxRequests > 0) cluster.circuitBreakers = create(CircuitBreakersSchema, { thresholds: [{ maxRequests }] });
  return cluster;
}
