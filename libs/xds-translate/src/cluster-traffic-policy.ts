/**
 * A DestinationRule traffic policy applied to an Envoy cluster, step for step as istiod 1.30 does
 * (`pilot/pkg/networking/core/cluster_traffic_policy.go` `applyTrafficPolicy`, `applyH2Upgrade`,
 * `applyConnectionPool`, `applyOutlierDetection`, `applyLoadBalancer`, `ApplyRingHashLoadBalancer`;
 * `pilot/pkg/networking/core/loadbalancer/loadbalancer.go` `GetEffectiveLbSetting`,
 * `LocalityLBSettings.ApplyToCluster`; `cluster.go` `applyTCPKeepalive`). With no policy the result
 * is the cluster istiod builds without a rule.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { Duration } from '@bufbuild/protobuf/wkt';
import { PercentSchema } from '@skiff/protos/gen/envoy/type/v3/percent_pb.js';
import {
  CircuitBreakers_Thresholds_RetryBudgetSchema,
  CircuitBreakersSchema,
  type CircuitBreakers,
  type CircuitBreakers_Thresholds,
} from '@skiff/protos/gen/envoy/config/cluster/v3/circuit_breaker_pb.js';
import {
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  Cluster_CommonLbConfig_LocalityWeightedLbConfigSchema,
  Cluster_CommonLbConfig_ZoneAwareLbConfigSchema,
  Cluster_CommonLbConfigSchema,
  Cluster_LeastRequestLbConfigSchema,
  Cluster_MaglevLbConfigSchema,
  Cluster_RingHashLbConfigSchema,
  Cluster_RoundRobinLbConfigSchema,
  Cluster_SlowStartConfigSchema,
  UpstreamConnectionOptionsSchema,
  type Cluster,
  type Cluster_SlowStartConfig,
} from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { OutlierDetectionSchema, type OutlierDetection } from '@skiff/protos/gen/envoy/config/cluster/v3/outlier_detection_pb.js';
import { TcpKeepaliveSchema } from '@skiff/protos/gen/envoy/config/core/v3/address_pb.js';
import { HttpProtocolOptionsSchema as CommonHttpProtocolOptionsSchema, KeepaliveSettingsSchema } from '@skiff/protos/gen/envoy/config/core/v3/protocol_pb.js';
import { HttpProtocolOptionsSchema, type HttpProtocolOptions } from '@skiff/protos/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import {
  durationFromGo,
  field,
  secondsFromGo,
  type ConnectionPoolJson,
  type LoadBalancerJson,
  type OutlierDetectionJson,
  type ResolvedTrafficPolicy,
  type RetryBudgetJson,
  type TcpKeepaliveJson,
} from './destination-rule.js';
import { effectiveLbSetting, type EffectiveLbSetting, type MeshLbSettings } from './locality-lb.js';

const UINT32_MAX = 4_294_967_295;

/** A cluster being built and its upstream HTTP options, marshalled into the cluster at the end (`clusterWrapper`). */
export interface ClusterWrapper {
  readonly cluster: Cluster;
  httpProtocolOptions: HttpProtocolOptions | undefined;
  /** A DYNAMIC_DNS entry's dynamic forward proxy cluster (`isDFPCluster`): TLS takes the request's host. */
  readonly dynamicForwardProxy?: boolean;
}

export function discoveryTypeOf(cluster: Cluster): Cluster_DiscoveryType | undefined {
  return cluster.clusterDiscoveryType.case === 'type' ? cluster.clusterDiscoveryType.value : undefined;
}

function httpOptionsOf(wrapper: ClusterWrapper): HttpProtocolOptions {
  wrapper.httpProtocolOptions ??= create(HttpProtocolOptionsSchema);
  return wrapper.httpProtocolOptions;
}

/** An `upstream_protocol_options` choice built from its JSON-like shape. */
export function upstreamProtocol(choice: NonNullable<MessageInitShape<typeof HttpProtocolOptionsSchema>['upstreamProtocolOptions']>): HttpProtocolOptions['upstreamProtocolOptions'] {
  return create(HttpProtocolOptionsSchema, { upstreamProtocolOptions: choice }).upstreamProtocolOptions;
}

/** `setH2Options`: explicit HTTP/2 upstream, unless an upstream protocol is already chosen. */
export function setH2Options(wrapper: ClusterWrapper): void {
  const options = httpOptionsOf(wrapper);
  if (options.upstreamProtocolOptions.case === undefined) {
    options.upstreamProtocolOptions = upstreamProtocol({ case: 'explicitHttpConfig', value: { protocolConfig: { case: 'http2ProtocolOptions', value: {} } } });
  }
}

/** `setUseDownstreamProtocol`: follow the downstream protocol, keeping explicit HTTP/1 options if any. */
export function setUseDownstreamProtocol(wrapper: ClusterWrapper): void {
  const options = httpOptionsOf(wrapper);
  const explicit = options.upstreamProtocolOptions.case === 'explicitHttpConfig' ? options.upstreamProtocolOptions.value.protocolConfig : undefined;
  const http1 = explicit?.case === 'httpProtocolOptions' ? explicit.value : {};
  options.upstreamProtocolOptions = upstreamProtocol({ case: 'useDownstreamProtocolConfig', value: { httpProtocolOptions: http1, http2ProtocolOptions: {} } });
}

/** `isHttp2Cluster`: explicit HTTP/2 upstream options are set. */
export function isHttp2Cluster(wrapper: ClusterWrapper): boolean {
  const options = wrapper.httpProtocolOptions?.upstreamProtocolOptions;
  return options?.case === 'explicitHttpConfig' && options.value.protocolConfig.case === 'http2ProtocolOptions';
}

/**
 * `shouldH2Upgrade` with the mesh's default `h2UpgradePolicy` (DO_NOT_UPGRADE): only a rule's
 * `UPGRADE` upgrades, and `useClientProtocol` wins over it.
 */
export function shouldH2Upgrade(pool: ConnectionPoolJson | undefined): boolean {
  const http = field(pool?.http);
  if (http === undefined) return false;
  if (http.useClientProtocol === true) return false;
  return http.h2UpgradePolicy === 'UPGRADE';
}

/**
 * Every threshold at MaxUint32 (`getDefaultCircuitBreakerThresholds`): Envoy's defaults (1024, 3
 * retries) are too low for a mesh. `track_remaining` only with DISABLE_TRACK_REMAINING_CB_METRICS=false.
 */
export function buildDefaultCircuitBreakers(mesh: { readonly trackRemainingCircuitBreakers: boolean }): CircuitBreakers {
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


/** `applyRetryBudget`: 20 % and 3 concurrent retries unless the rule says otherwise. */
function applyRetryBudget(threshold: CircuitBreakers_Thresholds, budget: RetryBudgetJson | undefined): void {
  if (budget === undefined) return;
  const percent = field(budget.percent);
  const concurrency = field(budget.minRetryConcurrency) ?? 0;
  threshold.retryBudget = create(CircuitBreakers_Thresholds_RetryBudgetSchema, {
    budgetPercent: { value: percent ?? 20 },
    minRetryConcurrency: concurrency > 0 ? concurrency : 3,
  });
}

/** `setKeepAliveSettings`: an empty `tcp_keepalive` turns SO_KEEPALIVE on; set fields override the OS defaults. */
function applyTcpKeepalive(cluster: Cluster, keepalive: TcpKeepaliveJson | undefined): void {
  if (keepalive === undefined) return;
  cluster.upstreamConnectionOptions ??= create(UpstreamConnectionOptionsSchema, { tcpKeepalive: {} });
  const target = (cluster.upstreamConnectionOptions.tcpKeepalive ??= create(TcpKeepaliveSchema));
  const probes = field(keepalive.probes) ?? 0;
  if (probes > 0) target.keepaliveProbes = probes;
  const time = field(keepalive.time);
  if (time !== undefined) target.keepaliveTime = secondsFromGo(time);
  const interval = field(keepalive.interval);
  if (interval !== undefined) target.keepaliveInterval = secondsFromGo(interval);
}

export interface ConnectionPoolArgs {
  /** The mesh's `connectTimeout` (`applyDefaultConnectionPool`). */
  readonly defaultConnectTimeout: Duration;
  readonly trackRemainingCircuitBreakers: boolean;
}

/**
 * `applyConnectionPool` (always called, with an empty pool when the rule has none): circuit breaker
 * thresholds, connect timeout, TCP keepalive, and the common HTTP options (idle timeout, requests
 * and lifetime per connection, HTTP/2 streams and keepalive). Zero means unset, as in istiod.
 */
export function applyConnectionPool(wrapper: ClusterWrapper, pool: ConnectionPoolJson, retryBudget: RetryBudgetJson | undefined, args: ConnectionPoolArgs): void {
  const { cluster } = wrapper;
  const threshold = buildDefaultCircuitBreakers({ trackRemainingCircuitBreakers: args.trackRemainingCircuitBreakers }).thresholds[0]!;
  applyRetryBudget(threshold, retryBudget);

  const http = field(pool.http);
  const tcp = field(pool.tcp);
  let idleTimeout: string | undefined;
  let maxRequestsPerConnection = 0;
  let maxConcurrentStreams = 0;
  let maxConnectionDuration: string | undefined;
  let keepAlive: { readonly interval?: string; readonly timeout?: string } | undefined;
  if (http !== undefined) {
    if ((field(http.http2MaxRequests) ?? 0) > 0) threshold.maxRequests = http.http2MaxRequests!;
    if ((field(http.http1MaxPendingRequests) ?? 0) > 0) threshold.maxPendingRequests = http.http1MaxPendingRequests!;
    if ((field(http.maxRetries) ?? 0) > 0) threshold.maxRetries = http.maxRetries!;
    idleTimeout = field(http.idleTimeout);
    maxRequestsPerConnection = field(http.maxRequestsPerConnection) ?? 0;
    maxConcurrentStreams = field(http.maxConcurrentStreams) ?? 0;
    keepAlive = field(http.http2KeepAlive);
  }

  cluster.connectTimeout = args.defaultConnectTimeout;
  if (tcp !== undefined) {
    const connectTimeout = field(tcp.connectTimeout);
    if (connectTimeout !== undefined) cluster.connectTimeout = durationFromGo(connectTimeout);
    if ((field(tcp.maxConnections) ?? 0) > 0) threshold.maxConnections = tcp.maxConnections!;
    maxConnectionDuration = field(tcp.maxConnectionDuration);
    idleTimeout ??= field(tcp.idleTimeout);
  }
  applyTcpKeepalive(cluster, field(tcp?.tcpKeepalive));
  cluster.circuitBreakers = create(CircuitBreakersSchema, { thresholds: [threshold] });

  if (maxConnectionDuration !== undefined || idleTimeout !== undefined || maxRequestsPerConnection > 0 || maxConcurrentStreams > 0 || keepAlive !== undefined) {
    const options = httpOptionsOf(wrapper);
    options.commonHttpProtocolOptions ??= create(CommonHttpProtocolOptionsSchema);
    const common = options.commonHttpProtocolOptions;
    if (idleTimeout !== undefined) common.idleTimeout = durationFromGo(idleTimeout);
    if (maxRequestsPerConnection > 0) common.maxRequestsPerConnection = maxRequestsPerConnection;
    if (maxConnectionDuration !== undefined) common.maxConnectionDuration = durationFromGo(maxConnectionDuration);
    const upstream = options.upstreamProtocolOptions;
    const http2 = upstream.case === 'explicitHttpConfig' && upstream.value.protocolConfig.case === 'http2ProtocolOptions' ? upstream.value.protocolConfig.value : undefined;
    if (http2 !== undefined && maxConcurrentStreams > 0) http2.maxConcurrentStreams = maxConcurrentStreams;
    if (http2 !== undefined && keepAlive !== undefined) {
      const interval = field(keepAlive.interval);
      const timeout = field(keepAlive.timeout);
      http2.connectionKeepalive = create(KeepaliveSettingsSchema, {
        ...(interval === undefined ? {} : { interval: durationFromGo(interval) }),
        ...(timeout === undefined ? {} : { timeout: durationFromGo(timeout) }),
      });
    }
  }
  if (http?.useClientProtocol === true) setUseDownstreamProtocol(wrapper);
}

/**
 * `applyOutlierDetection`: success-rate ejection off, consecutive errors enforced at 100 %, and the
 * panic threshold set to `minHealthPercent` (0 unless set; ServiceEntries never force unhealthy
 * endpoints).
 */
export function applyOutlierDetection(cluster: Cluster, outlier: OutlierDetectionJson | undefined): void {
  if (outlier === undefined) return;
  const out: OutlierDetection = create(OutlierDetectionSchema, { enforcingSuccessRate: 0 });
  const consecutive5xx = field(outlier.consecutive5xxErrors);
  if (consecutive5xx !== undefined) {
    out.consecutive5xx = consecutive5xx;
    out.enforcingConsecutive5xx = consecutive5xx > 0 ? 100 : 0;
  }
  const gateway = field(outlier.consecutiveGatewayErrors);
  if (gateway !== undefined) {
    out.consecutiveGatewayFailure = gateway;
    out.enforcingConsecutiveGatewayFailure = gateway > 0 ? 100 : 0;
  }
  const interval = field(outlier.interval);
  if (interval !== undefined) out.interval = durationFromGo(interval);
  const baseEjectionTime = field(outlier.baseEjectionTime);
  if (baseEjectionTime !== undefined) out.baseEjectionTime = durationFromGo(baseEjectionTime);
  const maxEjectionPercent = field(outlier.maxEjectionPercent) ?? 0;
  if (maxEjectionPercent > 0) out.maxEjectionPercent = maxEjectionPercent;
  if (outlier.splitExternalLocalOriginErrors === true) {
    out.splitExternalLocalOriginErrors = true;
    const localOrigin = field(outlier.consecutiveLocalOriginFailures) ?? 0;
    if (localOrigin > 0) {
      out.consecutiveLocalOriginFailure = localOrigin;
      out.enforcingConsecutiveLocalOriginFailure = 100;
    }
    out.enforcingLocalOriginSuccessRate = 0;
  }
  cluster.outlierDetection = out;
  const minHealthPercent = field(outlier.minHealthPercent) ?? 0;
  if (minHealthPercent >= 0) {
    cluster.commonLbConfig ??= create(Cluster_CommonLbConfigSchema);
    cluster.commonLbConfig.healthyPanicThreshold = create(PercentSchema, { value: minHealthPercent });
  }
}

/** `setWarmup`: aggression 1 (linear) and 10 % minimum weight unless set. */
function warmupConfig(balancer: LoadBalancerJson): Cluster_SlowStartConfig | undefined {
  const warmup = field(balancer.warmup);
  if (warmup !== undefined) {
    const duration = field(warmup.duration);
    return create(Cluster_SlowStartConfigSchema, {
      ...(duration === undefined ? {} : { slowStartWindow: durationFromGo(duration) }),
      aggression: { defaultValue: field(warmup.aggression) ?? 1, runtimeKey: '(' },
      minWeightPercent: create(PercentSchema, { value: field(warmup.minimumPercent) ?? 10 }),
    });
  }
  // The deprecated `warmupDurationSecs` (`setSlowStartConfig`).
  const seconds = field(balancer.warmupDurationSecs);
  return seconds === undefined ? undefined : create(Cluster_SlowStartConfigSchema, { slowStartWindow: durationFromGo(seconds) });
}

function applyRoundRobin(cluster: Cluster, balancer: LoadBalancerJson | undefined): void {
  cluster.lbPolicy = Cluster_LbPolicy.ROUND_ROBIN;
  const slowStart = balancer === undefined ? undefined : warmupConfig(balancer);
  if (slowStart !== undefined) cluster.lbConfig = { case: 'roundRobinLbConfig', value: create(Cluster_RoundRobinLbConfigSchema, { slowStartConfig: slowStart }) };
}

function applyLeastRequest(cluster: Cluster, balancer: LoadBalancerJson | undefined): void {
  cluster.lbPolicy = Cluster_LbPolicy.LEAST_REQUEST;
  const slowStart = balancer === undefined ? undefined : warmupConfig(balancer);
  if (slowStart !== undefined) cluster.lbConfig = { case: 'leastRequestLbConfig', value: create(Cluster_LeastRequestLbConfigSchema, { slowStartConfig: slowStart }) };
}

/** `ApplyRingHashLoadBalancer`: MAGLEV or RING_HASH for a consistent hash (the deprecated `minimumRingSize` defaulting to 1024). */
export function applyRingHash(cluster: Cluster, balancer: LoadBalancerJson | undefined): void {
  const hash = field(balancer?.consistentHash);
  if (hash === undefined) return;
  const maglev = field(hash.maglev);
  const ringHash = field(hash.ringHash);
  if (maglev !== undefined) {
    cluster.lbPolicy = Cluster_LbPolicy.MAGLEV;
    const tableSize = field(maglev.tableSize) ?? 0;
    if (tableSize !== 0) cluster.lbConfig = { case: 'maglevLbConfig', value: create(Cluster_MaglevLbConfigSchema, { tableSize: BigInt(tableSize) }) };
  } else if (ringHash !== undefined) {
    cluster.lbPolicy = Cluster_LbPolicy.RING_HASH;
    const size = field(ringHash.minimumRingSize) ?? 0;
    if (size !== 0) cluster.lbConfig = { case: 'ringHashLbConfig', value: create(Cluster_RingHashLbConfigSchema, { minimumRingSize: BigInt(size) }) };
  } else {
    const size = field(hash.minimumRingSize) ?? 0;
    cluster.lbPolicy = Cluster_LbPolicy.RING_HASH;
    cluster.lbConfig = { case: 'ringHashLbConfig', value: create(Cluster_RingHashLbConfigSchema, { minimumRingSize: BigInt(size !== 0 ? size : 1024) }) };
  }
}

/**
 * The cluster side of locality load balancing (`GetEffectiveLbSetting` then `ApplyToCluster`), which
 * does not depend on the proxy: Envoy's zone-aware config for a zone-aware setting, or
 * `locality_weighted_lb_config` when the locality setting distributes traffic, or fails over (with
 * outlier detection) along explicit `failover`/`failoverPriority` settings. istiod's default mesh
 * setting (locality LB on, nothing configured) changes nothing on the cluster. Priorities and weights
 * of the endpoints depend on the calling proxy's locality and labels: the gateway applies them per
 * proxy (locality-lb.ts; docs/istio-behaviour.md#destinationrule-locality-load-balancing).
 */
function applyLocalityCluster(cluster: Cluster, effective: EffectiveLbSetting | undefined): void {
  if (effective === undefined) return;
  if ('zoneAware' in effective) {
    // `ZoneAwareLBSettings.ApplyToCluster`: Envoy's zone-aware config, with routing at 0% when the
    // setting turns it off (so Envoy's own zone-aware routing stays off too); `minClusterSize` carried over.
    const zoneAware = effective.zoneAware;
    const minClusterSize = field(zoneAware.minClusterSize);
    cluster.commonLbConfig ??= create(Cluster_CommonLbConfigSchema);
    cluster.commonLbConfig.localityConfigSpecifier = {
      case: 'zoneAwareLbConfig',
      value: create(Cluster_CommonLbConfig_ZoneAwareLbConfigSchema, {
        ...(field(zoneAware.enabled) === false ? { routingEnabled: create(PercentSchema, { value: 0 }) } : {}),
        ...(minClusterSize === undefined ? {} : { minClusterSize: BigInt(minClusterSize >>> 0) }),
      }),
    };
    return;
  }
  const setting = effective.locality;
  const failoverEnabled = cluster.outlierDetection !== undefined;
  const distribute = field(setting.distribute);
  const failover = field(setting.failover);
  const failoverPriority = field(setting.failoverPriority);
  if ((failoverEnabled && (failover !== undefined || failoverPriority !== undefined)) || distribute !== undefined) {
    cluster.commonLbConfig ??= create(Cluster_CommonLbConfigSchema);
    cluster.commonLbConfig.localityConfigSpecifier = { case: 'localityWeightedLbConfig', value: create(Cluster_CommonLbConfig_LocalityWeightedLbConfigSchema) };
  }
}

/**
 * `applyLoadBalancer` for a cluster istiod builds (not a dynamic forward proxy one, which keeps
 * CLUSTER_PROVIDED). Returns the discovery type after the policy: PASSTHROUGH turns any cluster
 * into ORIGINAL_DST and drops its inline endpoints.
 */
export function applyLoadBalancer(cluster: Cluster, balancer: LoadBalancerJson | undefined, supportsUnhealthyEndpoints: boolean, mesh: MeshLbSettings): void {
  cluster.commonLbConfig ??= create(Cluster_CommonLbConfigSchema);
  if (cluster.commonLbConfig.healthyPanicThreshold === undefined && supportsUnhealthyEndpoints) {
    cluster.commonLbConfig.healthyPanicThreshold = create(PercentSchema, { value: 0 });
  }
  applyLocalityCluster(cluster, effectiveLbSetting(mesh, balancer));
  if (discoveryTypeOf(cluster) === Cluster_DiscoveryType.ORIGINAL_DST) {
    cluster.lbPolicy = Cluster_LbPolicy.CLUSTER_PROVIDED;
    return;
  }
  switch (field(balancer?.simple)) {
    case 'LEAST_CONN':
    case 'LEAST_REQUEST':
      applyLeastRequest(cluster, balancer);
      break;
    case 'RANDOM':
      cluster.lbPolicy = Cluster_LbPolicy.RANDOM;
      break;
    case 'ROUND_ROBIN':
      applyRoundRobin(cluster, balancer);
      break;
    case 'PASSTHROUGH':
      cluster.lbPolicy = Cluster_LbPolicy.CLUSTER_PROVIDED;
      cluster.clusterDiscoveryType = { case: 'type', value: Cluster_DiscoveryType.ORIGINAL_DST };
      cluster.loadAssignment = undefined;
      break;
    default:
      // `applySimpleDefaultLoadBalancer`: Istio's default algorithm.
      applyLeastRequest(cluster, balancer);
  }
  applyRingHash(cluster, balancer);
}

/** The policy components `selectTrafficPolicyComponents` hands out, with YAML `null`s read as unset. */
export function policyComponents(policy: ResolvedTrafficPolicy | undefined) {
  return {
    connectionPool: field(policy?.connectionPool),
    outlierDetection: field(policy?.outlierDetection),
    loadBalancer: field(policy?.loadBalancer),
    tls: field(policy?.tls),
    proxyProtocol: field(policy?.proxyProtocol),
    retryBudget: field(policy?.retryBudget),
  };
}
