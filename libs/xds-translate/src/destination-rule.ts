/**
 * The DestinationRule a host's clusters are built with, and the traffic policy istiod derives from it
 * for one port and subset (`pilot/pkg/networking/util/util.go` `GetPortLevelTrafficPolicy`,
 * `MergeSubsetTrafficPolicy`; `pilot/pkg/model/destination_rule.go` `MergeTrafficPolicy`,
 * `ShallowCopyTrafficPolicy`). Choosing and merging the rules a proxy sees is the caller's job
 * (`pilot/pkg/model/push_context.go` `destinationRule`, `mergeDestinationRule`); this module only reads
 * the result.
 *
 * The policy stays the Istio API JSON the model keeps (camelCase, durations as Go duration strings),
 * already validated by `validateDestinationRule`; the interfaces below name the fields istiod reads.
 */
import type { NormalizedDestinationRule, ObjectKey } from '@skiff/model';
import { parseGoDuration } from '@skiff/model';
import { create } from '@bufbuild/protobuf';
import { DurationSchema, type Duration } from '@bufbuild/protobuf/wkt';

/** The DestinationRule istiod applies to one host of the entry, for the proxies this build is for (already chosen, merged). */
export interface AppliedDestinationRule {
  /** The (merged) rule; only trafficPolicy and subsets are read here. */
  readonly rule: NormalizedDestinationRule;
  /** Every rule merged into it, in istiod's order (`ConsolidatedDestRule.from`), for the cluster's `istio.config` metadata. */
  readonly from: readonly ObjectKey[];
}

export interface TcpKeepaliveJson {
  readonly probes?: number;
  readonly time?: string;
  readonly interval?: string;
}

export interface ConnectionPoolJson {
  readonly tcp?: {
    readonly maxConnections?: number;
    readonly connectTimeout?: string;
    readonly tcpKeepalive?: TcpKeepaliveJson;
    readonly maxConnectionDuration?: string;
    readonly idleTimeout?: string;
  };
  readonly http?: {
    readonly http1MaxPendingRequests?: number;
    readonly http2MaxRequests?: number;
    readonly maxRequestsPerConnection?: number;
    readonly maxRetries?: number;
    readonly idleTimeout?: string;
    readonly h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';
    readonly useClientProtocol?: boolean;
    readonly maxConcurrentStreams?: number;
    readonly http2KeepAlive?: { readonly interval?: string; readonly timeout?: string };
  };
}

export interface OutlierDetectionJson {
  readonly splitExternalLocalOriginErrors?: boolean;
  readonly consecutiveLocalOriginFailures?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly consecutive5xxErrors?: number;
  readonly interval?: string;
  readonly baseEjectionTime?: string;
  readonly maxEjectionPercent?: number;
  readonly minHealthPercent?: number;
  readonly outlierDetectionHttpErrorCodes?: readonly number[];
}

export interface LocalityLbSettingJson {
  readonly distribute?: readonly { readonly from?: string; readonly to?: Readonly<Record<string, number>> }[];
  readonly failover?: readonly { readonly from?: string; readonly to?: string }[];
  readonly failoverPriority?: readonly string[];
  readonly enabled?: boolean;
}

export interface ConsistentHashJson {
  readonly httpHeaderName?: string;
  readonly httpCookie?: {
    readonly name?: string;
    readonly path?: string;
    readonly ttl?: string;
    readonly attributes?: readonly { readonly name?: string; readonly value?: string }[];
  };
  readonly useSourceIp?: boolean;
  readonly httpQueryParameterName?: string;
  readonly ringHash?: { readonly minimumRingSize?: number };
  readonly maglev?: { readonly tableSize?: number };
  readonly minimumRingSize?: number;
}

export interface LoadBalancerJson {
  readonly simple?: 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST';
  readonly consistentHash?: ConsistentHashJson;
  readonly localityLbSetting?: LocalityLbSettingJson;
  readonly zoneAwareLbSetting?: Readonly<Record<string, unknown>>;
  readonly warmupDurationSecs?: string;
  readonly warmup?: { readonly duration?: string; readonly minimumPercent?: number; readonly aggression?: number };
}

export interface ClientTlsJson {
  readonly mode?: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  readonly clientCertificate?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
  readonly credentialName?: string;
  readonly subjectAltNames?: readonly string[];
  readonly sni?: string;
  readonly insecureSkipVerify?: boolean;
  readonly caCrl?: string;
}

export interface RetryBudgetJson {
  readonly percent?: number;
  readonly minRetryConcurrency?: number;
}

/** `networking.TrafficPolicy` with the components istiod reads for a cluster. */
export interface TrafficPolicyJson {
  readonly connectionPool?: ConnectionPoolJson;
  readonly outlierDetection?: OutlierDetectionJson;
  readonly loadBalancer?: LoadBalancerJson;
  readonly tls?: ClientTlsJson;
  readonly portLevelSettings?: readonly (Omit<TrafficPolicyJson, 'portLevelSettings' | 'tunnel' | 'proxyProtocol' | 'retryBudget'> & {
    readonly port?: { readonly number?: number };
  })[];
  readonly tunnel?: Readonly<Record<string, unknown>>;
  readonly proxyProtocol?: { readonly version?: 'V1' | 'V2' };
  readonly retryBudget?: RetryBudgetJson;
}

/** The components of a policy once port-level settings and the subset are resolved (no `portLevelSettings`). */
export type ResolvedTrafficPolicy = Omit<TrafficPolicyJson, 'portLevelSettings'>;

const COMPONENTS = ['connectionPool', 'outlierDetection', 'loadBalancer', 'tls', 'tunnel', 'proxyProtocol', 'retryBudget'] as const;

/** JSON `null` (an empty YAML key) is what protobuf reads as unset. */
function present<T>(value: T | null | undefined): value is T {
  return value !== undefined && value !== null;
}

/** The policy as stored (`TrafficPolicyJson` of the model) read as the typed view; `null` is no policy. */
export function asTrafficPolicy(policy: Readonly<Record<string, unknown>> | null | undefined): TrafficPolicyJson | undefined {
  return present(policy) ? (policy as TrafficPolicyJson) : undefined;
}

/** `ShallowCopyTrafficPolicy`: every component but `portLevelSettings`, unset ones left out. */
function shallowCopy(policy: TrafficPolicyJson): { -readonly [K in keyof ResolvedTrafficPolicy]: ResolvedTrafficPolicy[K] } {
  const copy: { -readonly [K in keyof ResolvedTrafficPolicy]: ResolvedTrafficPolicy[K] } = {};
  for (const name of COMPONENTS) {
    const value = policy[name];
    if (present(value)) (copy as Record<string, unknown>)[name] = value;
  }
  return copy;
}

/**
 * `GetPortLevelTrafficPolicy`: the first `portLevelSettings` entry for the port REPLACES the
 * destination-level policy (only its connection pool, outlier detection, load balancer and TLS;
 * tunnel, proxy protocol and retry budget are not inherited either), per the API docs. Returns
 * whether a port-level entry was used.
 */
export function portLevelTrafficPolicy(policy: TrafficPolicyJson | undefined, port: number): { policy: ResolvedTrafficPolicy | undefined; portLevel: boolean } {
  if (policy === undefined) return { policy: undefined, portLevel: false };
  const match = (policy.portLevelSettings ?? []).find((setting) => present(setting) && present(setting.port) && setting.port.number === port);
  if (match === undefined) return { policy, portLevel: false };
  const resolved: { -readonly [K in keyof ResolvedTrafficPolicy]: ResolvedTrafficPolicy[K] } = {};
  for (const name of ['connectionPool', 'loadBalancer', 'outlierDetection', 'tls'] as const) {
    const value = match[name];
    if (present(value)) (resolved as Record<string, unknown>)[name] = value;
  }
  return { policy: resolved, portLevel: true };
}

/**
 * `MergeSubsetTrafficPolicy`: the rule's policy for the port, overridden per component by the
 * subset's policy for the port. A subset port-level entry replaces the four port-level components
 * even where it leaves them unset (`MergeTrafficPolicy` with `hasPortLevel`).
 */
export function mergeSubsetTrafficPolicy(
  rulePolicy: TrafficPolicyJson | undefined,
  subsetPolicy: TrafficPolicyJson | undefined,
  port: number,
): ResolvedTrafficPolicy | undefined {
  const original = portLevelTrafficPolicy(rulePolicy, port).policy;
  if (subsetPolicy === undefined) return original;
  const { policy: subset, portLevel } = portLevelTrafficPolicy(subsetPolicy, port);
  if (original === undefined) return subset;
  const merged = shallowCopy(original);
  const overrides = subset ?? {};
  for (const name of ['connectionPool', 'outlierDetection', 'loadBalancer', 'tls'] as const) {
    if (present(overrides[name]) || portLevel) {
      const value = overrides[name];
      if (present(value)) (merged as Record<string, unknown>)[name] = value;
      else delete merged[name];
    }
  }
  for (const name of ['tunnel', 'proxyProtocol', 'retryBudget'] as const) {
    const value = overrides[name];
    if (present(value)) (merged as Record<string, unknown>)[name] = value;
  }
  return merged;
}

/**
 * `util.AddConfigInfoMetadata`: the `istio.config` path of the rule whose metadata the merged rule
 * carries. istiod's merge keeps the first rule's `config.Meta` (`mergeDestinationRule` deep-copies
 * the first rule and appends the others' subsets), so the path names `from[0]`.
 */
export function destinationRuleConfigPath(applied: AppliedDestinationRule): string {
  const first = applied.from[0] ?? { namespace: applied.rule.namespace, name: applied.rule.name };
  return `/apis/networking.istio.io/v1/namespaces/${first.namespace}/destination-rule/${first.name}`;
}

/** A Go duration string of the API (`"6s"`, `"1m30s"`, `"250ms"`) as a protobuf Duration. */
export function durationFromGo(text: string): Duration {
  const nanos = parseGoDuration(text);
  if (nanos === undefined) throw new Error(`invalid duration ${JSON.stringify(text)} in a validated DestinationRule`);
  const seconds = nanos / 1_000_000_000n;
  return create(DurationSchema, { seconds, nanos: Number(nanos - seconds * 1_000_000_000n) });
}

/** Whole seconds of a Go duration string (`durationpb.Duration.Seconds`). */
export function secondsFromGo(text: string): number {
  return Number(durationFromGo(text).seconds);
}

/** Reads an optional field that YAML may have written as `null`. */
export function field<T>(value: T | null | undefined): T | undefined {
  return present(value) ? value : undefined;
}

/** `trafficPolicyTLSModeForPort`: the policy's TLS mode, a port-level entry with TLS for the port winning. */
function tlsModeForPort(policy: TrafficPolicyJson | undefined, port: number): ClientTlsJson['mode'] | undefined {
  if (policy === undefined) return undefined;
  let mode = present(policy.tls) ? (policy.tls.mode ?? 'DISABLE') : undefined;
  const setting = (policy.portLevelSettings ?? []).find((candidate) => present(candidate) && candidate.port?.number === port && present(candidate.tls));
  if (setting?.tls != null) mode = setting.tls.mode ?? 'DISABLE';
  return mode;
}

/**
 * The TLS mode a rule sets for a port and subset as istiod's endpoint builder reads it
 * (`pilot/pkg/xds/endpoints/mtls_checker.go` `tlsModeForDestinationRule`): the subset's, else the
 * rule's; undefined when neither sets one. When set, it alone decides whether endpoints may carry the
 * `tlsMode: istio` transport socket match (`checkMtlsEnabled`): only for ISTIO_MUTUAL.
 */
export function endpointTlsMode(rule: NormalizedDestinationRule, subset: string, port: number): ClientTlsJson['mode'] | undefined {
  const rulePolicy = asTrafficPolicy(rule.trafficPolicy);
  if (subset === '') return tlsModeForPort(rulePolicy, port);
  const match = rule.subsets.find((candidate) => candidate.name === subset);
  if (match === undefined) return undefined;
  return tlsModeForPort(asTrafficPolicy(match.trafficPolicy), port) ?? tlsModeForPort(rulePolicy, port);
}
