/**
 * A VirtualService's HTTP routes as istiod builds them for a proxyless gRPC client's route
 * configuration (`pilot/pkg/networking/core/route/route.go` `BuildHTTPRoutesForVirtualService`,
 * `TranslateRoute`, `TranslateRouteMatch`, `applyHTTPRouteDestination`, `GetRouteOperation`,
 * `TranslateFault`; `pilot/pkg/networking/core/route/retry/retry.go` `ConvertPolicy`). istiod's gRPC
 * generator sends the sidecar's routes as they are (`grpcgen/rds.go`); the client reads what it
 * supports.
 *
 * Which VirtualService applies to which client is chosen before (`chooseVirtualServices`): what
 * arrives here are the candidates for one host, in istiod's order, with the matches that do not apply
 * to the client (other gateways, source labels or namespace) already removed.
 */
import { create, type JsonObject, type MessageInitShape } from '@bufbuild/protobuf';
import { anyPack, DurationSchema, type Any, type Duration } from '@bufbuild/protobuf/wkt';
import { GRPC_STATUS_CODES, HTTP_STATUS_CODES, isAuthorityHeader, isInternalHeader, parseGoDuration } from '@skiff/model';
import { HeaderValueOption_HeaderAppendAction, type HeaderValueOptionSchema } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import {
  RouteSchema,
  type RouteAction_HashPolicySchema,
  type HeaderMatcherSchema,
  type QueryParameterMatcherSchema,
  type Route,
  type RouteActionSchema,
  type RouteMatchSchema,
  type RetryPolicySchema,
  type WeightedCluster_ClusterWeightSchema,
} from '@skiff/protos/gen/envoy/config/route/v3/route_components_pb.js';
import { HTTPFaultSchema } from '@skiff/protos/gen/envoy/extensions/filters/http/fault/v3/fault_pb.js';
import { PreviousHostsPredicateSchema } from '@skiff/protos/gen/envoy/extensions/retry/host/previous_hosts/v3/previous_hosts_pb.js';
import type { StringMatcherSchema } from '@skiff/protos/gen/envoy/type/matcher/v3/string_pb.js';
import { FractionalPercent_DenominatorType } from '@skiff/protos/gen/envoy/type/v3/percent_pb.js';
import { durationFromGo, type ConsistentHashJson } from './destination-rule.js';
import { ISTIO_METADATA_KEY } from './endpoint.js';
import { FAULT_FILTER_NAME } from './listener.js';
import { buildSubsetKey } from './names.js';

/** An HTTP route of a VirtualService as validated JSON (`HTTPRoute`). */
export type HttpRouteJson = Readonly<Record<string, unknown>>;

/** One VirtualService as it applies to a group of clients: the routes they get from it. */
export interface AppliedVirtualService {
  readonly namespace: string;
  readonly name: string;
  /**
   * `spec.http` with the destination hosts completed (`ResolveShortnameToFQDN`), each route's
   * `match` list cut to the matches that apply to these clients; a route all of whose matches were
   * cut is left out (istiod builds nothing from it).
   */
  readonly http: readonly HttpRouteJson[];
  /** The index in `spec.http` of each route of `http` (which skips the routes left out), for messages. */
  readonly specIndexes: readonly number[];
}

export interface VirtualServiceRouteArgs {
  readonly virtualService: AppliedVirtualService;
  /** The port the client reaches the host on (the route configuration's port). */
  readonly port: number;
  /** `retry.DefaultPolicy` as route.ts builds it, for routes without `retries`. */
  readonly retryOn: string;
  readonly retryAttempts: number;
  readonly previousHostsPredicateName: string;
  /**
   * The consistent hash of a route destination (`HashForHTTPDestination`): from the DestinationRule
   * the client gets for the destination's host. Undefined: none.
   */
  readonly destinationHash?: ((destination: JsonObject) => ConsistentHashJson | undefined) | undefined;
}

/** `gvk.KebabKind` of VirtualService, in the `istio.config` route metadata. */
const CONFIG_KIND = 'virtual-service';

const asObject = (value: unknown): JsonObject | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined);
const asList = (value: unknown): readonly unknown[] => (Array.isArray(value) ? value : []);
const asString = (value: unknown): string => (typeof value === 'string' ? value : '');
const asNumber = (value: unknown): number => (typeof value === 'number' ? value : 0);
const isSet = (value: unknown): boolean => value !== undefined && value !== null;

/** A validated duration string as a protobuf Duration. */
function durationOf(text: string): Duration {
  const nanos = parseGoDuration(text) ?? 0n;
  const seconds = nanos / 1_000_000_000n;
  return create(DurationSchema, { seconds, nanos: Number(nanos - seconds * 1_000_000_000n) });
}

/** `canBeConvertedToPresentMatch`: no match type, or the regex `*` (not RE2: istiod reads it as "present"). */
function isPresentMatch(match: JsonObject | undefined): boolean {
  if (match === undefined) return true;
  if (typeof match['exact'] === 'string' || typeof match['prefix'] === 'string') return false;
  return typeof match['regex'] !== 'string' || match['regex'] === '*';
}

/** `util.ConvertToEnvoyMatch`. */
function stringMatcher(match: JsonObject): MessageInitShape<typeof StringMatcherSchema> | undefined {
  if (typeof match['exact'] === 'string') return { matchPattern: { case: 'exact', value: match['exact'] } };
  if (typeof match['prefix'] === 'string') return { matchPattern: { case: 'prefix', value: match['prefix'] } };
  if (typeof match['regex'] === 'string') return { matchPattern: { case: 'safeRegex', value: { regex: match['regex'] } } };
  return undefined;
}

/** `translateHeaderMatch`. */
function headerMatcher(name: string, value: unknown): MessageInitShape<typeof HeaderMatcherSchema> {
  const match = asObject(value);
  if (isPresentMatch(match)) return { name, headerMatchSpecifier: { case: 'presentMatch', value: true } };
  const matcher = stringMatcher(match!);
  return matcher === undefined ? { name } : { name, headerMatchSpecifier: { case: 'stringMatch', value: matcher } };
}

/** `translateQueryParamMatch`. */
function queryParameterMatcher(name: string, value: unknown): MessageInitShape<typeof QueryParameterMatcherSchema> {
  const match = asObject(value);
  if (isPresentMatch(match)) return { name, queryParameterMatchSpecifier: { case: 'presentMatch', value: true } };
  const matcher = stringMatcher(match!);
  return matcher === undefined ? { name } : { name, queryParameterMatchSpecifier: { case: 'stringMatch', value: matcher } };
}

const byName = <T extends { readonly name?: string }>(a: T, b: T): number => ((a.name ?? '') < (b.name ?? '') ? -1 : (a.name ?? '') > (b.name ?? '') ? 1 : 0);

/**
 * `TranslateRouteMatch`: the path (prefix `/` unless the match names a URI), header and
 * without-header matchers sorted by name, then `:method`, `:authority` and `:scheme`, and the query
 * parameters. istiod walks Go maps for headers and query parameters: it sorts the headers, and the
 * query parameters come in map order (random), which Skiff makes stable by sorting them too.
 */
function routeMatch(match: JsonObject | undefined): MessageInitShape<typeof RouteMatchSchema> {
  if (match === undefined) return { pathSpecifier: { case: 'prefix', value: '/' } };
  const headers: MessageInitShape<typeof HeaderMatcherSchema>[] = [];
  for (const [name, value] of Object.entries(asObject(match['headers']) ?? {})) headers.push(headerMatcher(name, value));
  for (const [name, value] of Object.entries(asObject(match['withoutHeaders']) ?? {})) {
    // `treat_missing_header_as_empty` conflicts with a present match.
    const inverted = { ...headerMatcher(name, value), invertMatch: true };
    headers.push(isPresentMatch(asObject(value)) ? inverted : { ...inverted, treatMissingHeaderAsEmpty: true });
  }
  headers.sort(byName);
  let pathSpecifier: MessageInitShape<typeof RouteMatchSchema>['pathSpecifier'] = { case: 'prefix', value: '/' };
  const uri = asObject(match['uri']);
  if (uri !== undefined) {
    if (typeof uri['exact'] === 'string') pathSpecifier = { case: 'path', value: uri['exact'] };
    else if (typeof uri['prefix'] === 'string') pathSpecifier = { case: 'prefix', value: uri['prefix'] };
    else if (typeof uri['regex'] === 'string') pathSpecifier = { case: 'safeRegex', value: { regex: uri['regex'] } };
  }
  for (const [field, header] of [
    ['method', ':method'],
    ['authority', ':authority'],
    ['scheme', ':scheme'],
  ] as const) {
    if (match[field] !== undefined && match[field] !== null) headers.push(headerMatcher(header, match[field]));
  }
  const queryParameters = Object.entries(asObject(match['queryParams']) ?? {})
    .map(([name, value]) => queryParameterMatcher(name, value))
    .sort(byName);
  return {
    pathSpecifier,
    caseSensitive: match['ignoreUriCase'] !== true,
    ...(headers.length === 0 ? {} : { headers }),
    ...(queryParameters.length === 0 ? {} : { queryParameters }),
  };
}

/** `IsCatchAllRoute`: prefix `/` (or regex `.*`) with no header or query parameter condition. */
function isCatchAll(match: MessageInitShape<typeof RouteMatchSchema>): boolean {
  const path = match.pathSpecifier;
  const catchAll = (path?.case === 'prefix' && path.value === '/') || (path?.case === 'safeRegex' && path.value.regex === '.*');
  return catchAll && (match.headers ?? []).length === 0 && (match.queryParameters ?? []).length === 0;
}

interface HeaderOperations {
  readonly requestHeadersToAdd: MessageInitShape<typeof HeaderValueOptionSchema>[];
  readonly responseHeadersToAdd: MessageInitShape<typeof HeaderValueOptionSchema>[];
  readonly requestHeadersToRemove: string[];
  readonly responseHeadersToRemove: string[];
  readonly authority: string;
}

/** `translateAppendHeaders`: one option per header but the internal ones, sorted by name; the authority a set or add names. */
function appendHeaders(headers: JsonObject | undefined, append: boolean): { options: MessageInitShape<typeof HeaderValueOptionSchema>[]; authority: string } {
  let authority = '';
  const options: MessageInitShape<typeof HeaderValueOptionSchema>[] = [];
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (isAuthorityHeader(key)) authority = asString(value);
    if (isInternalHeader(key)) continue;
    options.push({
      header: { key, value: asString(value) },
      appendAction: append ? HeaderValueOption_HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD : HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    });
  }
  options.sort((a, b) => ((a.header?.key ?? '') < (b.header?.key ?? '') ? -1 : (a.header?.key ?? '') > (b.header?.key ?? '') ? 1 : 0));
  return { options, authority };
}

/** `TranslateHeadersOperations`: set before add; the authority of `set` wins over that of `add`. */
function headerOperations(value: unknown): HeaderOperations {
  const headers = asObject(value);
  const request = asObject(headers?.['request']);
  const response = asObject(headers?.['response']);
  const requestSet = appendHeaders(asObject(request?.['set']), false);
  const requestAdd = appendHeaders(asObject(request?.['add']), true);
  const keep = (names: unknown) => asList(names).map(asString).filter((name) => !isInternalHeader(name));
  return {
    requestHeadersToAdd: [...requestSet.options, ...requestAdd.options],
    responseHeadersToAdd: [...appendHeaders(asObject(response?.['set']), false).options, ...appendHeaders(asObject(response?.['add']), true).options],
    requestHeadersToRemove: keep(request?.['remove']),
    responseHeadersToRemove: keep(response?.['remove']),
    authority: requestSet.authority !== '' ? requestSet.authority : requestAdd.authority,
  };
}

/**
 * `GetDestinationCluster` for a client on `port`: `outbound|PORT|SUBSET|HOST` with the destination's
 * port, or the route's (the client reaches the service on that port, the only one istiod's routing
 * table keeps for it).
 */
function destinationCluster(destination: JsonObject | undefined, port: number): string {
  const host = asString(destination?.['host']);
  if (host === '') return 'UnknownService';
  const number = asNumber(asObject(destination?.['port'])?.['number']);
  return buildSubsetKey({ direction: 'outbound', port: number !== 0 ? number : port, subset: asString(destination?.['subset']), hostname: host });
}

/** `translatePercentToFractionalPercent`: per million, truncated as Go's `uint32(p * 10000)`. */
function fractionalPercent(percentage: unknown): { numerator: number; denominator: FractionalPercent_DenominatorType } {
  return { numerator: Math.trunc(asNumber(asObject(percentage)?.['value']) * 10000), denominator: FractionalPercent_DenominatorType.MILLION };
}

/** `TranslateFault`: a fixed delay and an HTTP or gRPC abort; nothing when neither is left. */
function faultFilter(value: unknown): Any | undefined {
  const fault = asObject(value);
  const delay = asObject(fault?.['delay']);
  const abort = asObject(fault?.['abort']);
  const init: MessageInitShape<typeof HTTPFaultSchema> = {};
  if (delay !== undefined && typeof delay['fixedDelay'] === 'string') {
    const percentage =
      delay['percentage'] !== undefined ? fractionalPercent(delay['percentage']) : { numerator: asNumber(delay['percent']), denominator: FractionalPercent_DenominatorType.HUNDRED };
    init.delay = { percentage, faultDelaySecifier: { case: 'fixedDelay', value: durationOf(delay['fixedDelay']) } };
  }
  if (abort !== undefined && (abort['httpStatus'] !== undefined || abort['grpcStatus'] !== undefined)) {
    init.abort = {
      ...(abort['percentage'] === undefined ? {} : { percentage: fractionalPercent(abort['percentage']) }),
      errorType:
        abort['httpStatus'] !== undefined
          ? { case: 'httpStatus', value: asNumber(abort['httpStatus']) }
          : { case: 'grpcStatus', value: GRPC_STATUS_CODES[asString(abort['grpcStatus'])] ?? 0 },
    };
  }
  return init.delay === undefined && init.abort === undefined ? undefined : anyPack(HTTPFaultSchema, create(HTTPFaultSchema, init));
}

type MirrorPolicy = NonNullable<MessageInitShape<typeof RouteActionSchema>['requestMirrorPolicies']>[number];

/**
 * The request mirror policies (`MirrorPercent`, `MirrorPercentByPolicy`, `TranslateRequestMirrorPolicy`):
 * `mirror` at `mirrorPercentage` (per million), the deprecated `mirrorPercent` (per hundred) or 100 %,
 * then each of `mirrors` at its `percentage` or 100 %; a percentage of 0 mirrors nothing. Not traced,
 * and without the `-shadow` host suffix (`DISABLE_SHADOW_HOST_SUFFIX`, true by default and not read).
 */
function mirrorPolicies(http: HttpRouteJson, port: number): MirrorPolicy[] {
  const hundred = (value: number) => ({ numerator: value, denominator: FractionalPercent_DenominatorType.HUNDRED });
  const policy = (destination: JsonObject | undefined, fraction: ReturnType<typeof hundred>): MirrorPolicy => ({
    cluster: destinationCluster(destination, port),
    runtimeFraction: { defaultValue: fraction },
    traceSampled: false,
    disableShadowHostSuffixAppend: true,
  });
  const out: MirrorPolicy[] = [];
  const mirror = asObject(http['mirror']);
  if (mirror !== undefined) {
    const percentage = asObject(http['mirrorPercentage']);
    // `mirrorPercent`, a `UInt32Value`, is written as its plain number.
    const percent = http['mirrorPercent'];
    if (percentage !== undefined) {
      if (asNumber(percentage['value']) > 0) out.push(policy(mirror, fractionalPercent(percentage)));
    } else if (typeof percent === 'number') {
      if (percent > 0) out.push(policy(mirror, hundred(percent)));
    } else {
      out.push(policy(mirror, hundred(100)));
    }
  }
  for (const item of asList(http['mirrors'])) {
    const entry = asObject(item);
    const destination = asObject(entry?.['destination']);
    if (destination === undefined) continue;
    const percentage = asObject(entry?.['percentage']);
    if (percentage === undefined) out.push(policy(destination, hundred(100)));
    else if (asNumber(percentage['value']) > 0) out.push(policy(destination, fractionalPercent(percentage)));
  }
  return out;
}

/**
 * `retry.ConvertPolicy`: the default without `retries`, none for `attempts: 0`. With a consistent
 * hash a retry stays on the same host (no previous-hosts predicate) unless `retryIgnorePreviousHosts` says otherwise.
 */
function retryPolicy(value: unknown, args: VirtualServiceRouteArgs, consistentHash: boolean): MessageInitShape<typeof RetryPolicySchema> | undefined {
  const predicate = [
    { name: args.previousHostsPredicateName, configType: { case: 'typedConfig' as const, value: anyPack(PreviousHostsPredicateSchema, create(PreviousHostsPredicateSchema)) } },
  ];
  const retries = asObject(value);
  const policy: MessageInitShape<typeof RetryPolicySchema> = {
    retryOn: args.retryOn,
    numRetries: args.retryAttempts,
    ...(consistentHash ? {} : { retryHostPredicate: predicate }),
    hostSelectionRetryMaxAttempts: 5n,
  };
  if (retries === undefined) return policy;
  const attempts = asNumber(retries['attempts']);
  if (attempts <= 0) return undefined;
  policy.numRetries = attempts;
  const retryOn = asString(retries['retryOn']);
  if (retryOn !== '') {
    const codes: number[] = [];
    const policies: string[] = [];
    for (const raw of retryOn.split(',')) {
      const part = raw.trim();
      if (part === '') continue;
      const code = /^[+-]?\d+$/.test(part) ? Number(part) : Number.NaN;
      if (HTTP_STATUS_CODES.has(code)) codes.push(code);
      else policies.push(part);
    }
    policy.retryOn = policies.join(',');
    if (codes.length > 0) {
      policy.retriableStatusCodes = codes;
      if (!policy.retryOn.includes('retriable-status-codes')) policy.retryOn += ',retriable-status-codes';
    }
  }
  if (typeof retries['perTryTimeout'] === 'string') policy.perTryTimeout = durationOf(retries['perTryTimeout']);
  if (typeof retries['retryIgnorePreviousHosts'] === 'boolean') policy.retryHostPredicate = retries['retryIgnorePreviousHosts'] ? predicate : [];
  if (typeof retries['backoff'] === 'string') policy.retryBackOff = { baseInterval: durationOf(retries['backoff']) };
  return policy;
}

/** `GetRouteOperation`: `HOST:PORT` of a single cluster (else `VS:PORT`) and the path matched. */
function routeOperation(match: MessageInitShape<typeof RouteMatchSchema>, cluster: string | undefined, virtualServiceName: string, port: number): string {
  const path = match.pathSpecifier;
  const suffix = path?.case === 'prefix' ? `${path.value}*` : path?.case === 'path' ? path.value : path?.case === 'safeRegex' ? (path.value.regex ?? '') : '/*';
  const parts = cluster?.split('|');
  if (parts !== undefined && parts.length === 4 && parts[0] === 'outbound' && /^\d+$/.test(parts[1]!)) return `${parts[3]}:${parts[1]}${suffix}`;
  return `${virtualServiceName}:${port}${suffix}`;
}

/**
 * The route's hash policy for a DestinationRule's consistent hash (`route.go` `ConsistentHashToHashPolicy`):
 * a header, a cookie (name, TTL when given, path, attributes), the source IP or a query parameter;
 * none for a ring or table size alone.
 */
export function buildHashPolicy(hash: ConsistentHashJson): MessageInitShape<typeof RouteAction_HashPolicySchema> | undefined {
  if (hash.httpHeaderName !== undefined) return { policySpecifier: { case: 'header', value: { headerName: hash.httpHeaderName } } };
  if (hash.httpCookie !== undefined) {
    const cookie = hash.httpCookie;
    return {
      policySpecifier: {
        case: 'cookie',
        value: {
          name: cookie.name ?? '',
          ...(cookie.ttl === undefined ? {} : { ttl: durationFromGo(cookie.ttl) }),
          path: cookie.path ?? '',
          attributes: (cookie.attributes ?? []).map((attribute) => ({ name: attribute.name ?? '', value: attribute.value ?? '' })),
        },
      },
    };
  }
  if (hash.useSourceIp !== undefined) return { policySpecifier: { case: 'connectionProperties', value: { sourceIp: hash.useSourceIp } } };
  if (hash.httpQueryParameterName !== undefined) return { policySpecifier: { case: 'queryParameter', value: { name: hash.httpQueryParameterName } } };
  return undefined;
}

/** `TranslateRoute` for one HTTP route and one of its matches (none: the route has no match list). */
function translateRoute(http: HttpRouteJson, match: JsonObject | undefined, args: VirtualServiceRouteArgs): { route: Route | undefined; catchAll: boolean } | undefined {
  // A match on another port does not apply to this one.
  const matchPort = asNumber(match?.['port']);
  if (matchPort !== 0 && matchPort !== args.port) return undefined;
  const translatedMatch = routeMatch(match);
  // istiod writes a redirect or direct response as such a route, which grpc-js-xds refuses with the
  // whole RouteConfiguration (`unsupported action`): Skiff leaves the route out, and what follows it
  // stays as istiod has it (nothing, when it matched everything).
  if (isSet(http['redirect']) || isSet(http['directResponse'])) return { route: undefined, catchAll: isCatchAll(translatedMatch) };
  const { virtualService } = args;
  const matchName = asString(match?.['name']);
  const name = matchName === '' ? asString(http['name']) : `${asString(http['name'])}.${matchName}`;
  const operations = headerOperations(http['headers']);
  let authority = operations.authority;
  const init: MessageInitShape<typeof RouteSchema> = {
    name,
    match: translatedMatch,
    metadata: {
      filterMetadata: { [ISTIO_METADATA_KEY]: { config: `/apis/networking.istio.io/v1/namespaces/${virtualService.namespace}/${CONFIG_KIND}/${virtualService.name}` } },
    },
    requestHeadersToAdd: operations.requestHeadersToAdd,
    responseHeadersToAdd: operations.responseHeadersToAdd,
    requestHeadersToRemove: operations.requestHeadersToRemove,
    responseHeadersToRemove: operations.responseHeadersToRemove,
  };
  if (asString(match?.['statPrefix']) !== '') init.statPrefix = asString(match?.['statPrefix']);

  let cluster: string | undefined;
  const timeout = typeof http['timeout'] === 'string' ? durationOf(http['timeout']) : create(DurationSchema, {});
  // Proxyless gRPC reads max_stream_duration (`setTimeout`), not the deprecated max_grpc_timeout.
  const action: MessageInitShape<typeof RouteActionSchema> = { timeout, maxStreamDuration: { maxStreamDuration: timeout } };
  const rewrite = asObject(http['rewrite']);
  if (rewrite !== undefined) {
    const regexRewrite = asObject(rewrite['uriRegexRewrite']);
    if (regexRewrite !== undefined) action.regexRewrite = { pattern: { regex: asString(regexRewrite['match']) }, substitution: asString(regexRewrite['rewrite']) };
    else if (asString(rewrite['uri']) !== '') action.prefixRewrite = asString(rewrite['uri']);
    if (asString(rewrite['authority']) !== '') authority = asString(rewrite['authority']);
  }
  if (authority !== '') action.hostRewriteSpecifier = { case: 'hostRewriteLiteral', value: authority };
  const mirrors = mirrorPolicies(http, args.port);
  if (mirrors.length > 0) action.requestMirrorPolicies = mirrors;
  const destinations = asList(http['route']).map((item) => asObject(item) ?? {});
  const hashPolicies: MessageInitShape<typeof RouteAction_HashPolicySchema>[] = [];
  const hashOf = (destination: JsonObject): ConsistentHashJson | undefined => {
    const target = asObject(destination['destination']);
    const hash = target === undefined ? undefined : args.destinationHash?.(target);
    const policy = hash === undefined ? undefined : buildHashPolicy(hash);
    if (policy !== undefined) hashPolicies.push(policy);
    return hash;
  };
  let consistentHash = false;
  if (destinations.length === 1) {
    const destination = destinations[0]!;
    cluster = destinationCluster(asObject(destination['destination']), args.port);
    action.clusterSpecifier = { case: 'cluster', value: cluster };
    consistentHash = hashOf(destination) !== undefined;
    if (destination['headers'] !== undefined) {
      const own = headerOperations(destination['headers']);
      init.requestHeadersToAdd = [...operations.requestHeadersToAdd, ...own.requestHeadersToAdd];
      init.requestHeadersToRemove = [...operations.requestHeadersToRemove, ...own.requestHeadersToRemove];
      init.responseHeadersToAdd = [...operations.responseHeadersToAdd, ...own.responseHeadersToAdd];
      init.responseHeadersToRemove = [...operations.responseHeadersToRemove, ...own.responseHeadersToRemove];
      if (own.authority !== '' && action.hostRewriteSpecifier === undefined) action.hostRewriteSpecifier = { case: 'hostRewriteLiteral', value: own.authority };
    }
  } else {
    const clusters: MessageInitShape<typeof WeightedCluster_ClusterWeightSchema>[] = [];
    for (const destination of destinations) {
      // A weight of 0 among several destinations sends nothing there.
      if (asNumber(destination['weight']) === 0) continue;
      const weighted: MessageInitShape<typeof WeightedCluster_ClusterWeightSchema> = {
        name: destinationCluster(asObject(destination['destination']), args.port),
        weight: asNumber(destination['weight']),
      };
      if (destination['headers'] !== undefined) {
        const own = headerOperations(destination['headers']);
        weighted.requestHeadersToAdd = own.requestHeadersToAdd;
        weighted.requestHeadersToRemove = own.requestHeadersToRemove;
        weighted.responseHeadersToAdd = own.responseHeadersToAdd;
        weighted.responseHeadersToRemove = own.responseHeadersToRemove;
        if (own.authority !== '') weighted.hostRewriteSpecifier = { case: 'hostRewriteLiteral', value: own.authority };
      }
      clusters.push(weighted);
      hashOf(destination);
    }
    action.clusterSpecifier = { case: 'weightedClusters', value: { clusters } };
  }
  if (hashPolicies.length > 0) action.hashPolicy = hashPolicies;
  const retry = retryPolicy(http['retries'], args, consistentHash);
  if (retry !== undefined) action.retryPolicy = retry;
  init.action = { case: 'route', value: action };
  init.decorator = { operation: routeOperation(translatedMatch, cluster, virtualService.name, args.port) };
  const fault = http['fault'] === undefined || http['fault'] === null ? undefined : faultFilter(http['fault']);
  if (fault !== undefined) init.typedPerFilterConfig = { [FAULT_FILTER_NAME]: fault };
  return { route: create(RouteSchema, init), catchAll: isCatchAll(translatedMatch) };
}

/**
 * `BuildHTTPRoutesForVirtualService` for one client port: a route per match of each HTTP route (one
 * for a route without matches), in order, up to the first that catches everything. Undefined when no
 * route applies to the port: the host then keeps its default route (an empty list is a claim whose
 * routes were all left out).
 */
export function buildVirtualServiceRoutes(args: VirtualServiceRouteArgs): Route[] | undefined {
  const routes: Route[] = [];
  let claimed = false;
  for (const http of args.virtualService.http) {
    const matches = asList(http['match']);
    let catchAll = false;
    for (const match of matches.length === 0 ? [undefined] : matches) {
      const built = translateRoute(http, asObject(match), args);
      if (built === undefined) continue;
      claimed = true;
      if (built.route !== undefined) routes.push(built.route);
      // A route without matches ends the list whatever it matched.
      if (built.catchAll || matches.length === 0) {
        catchAll = true;
        break;
      }
    }
    if (catchAll) break;
  }
  return claimed ? routes : undefined;
}

/**
 * HTTP route fields istiod builds into routes that Skiff does not: CORS (gRPC clients ignore it),
 * delegation (out of scope), remote-locality retries (no previous-priorities predicate type in Skiff's
 * protos), and redirects and direct responses (grpc-js-xds refuses them; the route is left out). A
 * route that sets one of the first three is built without it; each is reported.
 */
const UNTRANSLATED_HTTP_ROUTE_FIELDS: readonly string[] = ['corsPolicy', 'delegate', 'redirect', 'directResponse'];

/** The fields of `virtualService`'s routes that `buildVirtualServiceRoutes` leaves out, as `spec.http[i].field`. */
export function untranslatedVirtualServiceFields(virtualService: AppliedVirtualService): string[] {
  const out: string[] = [];
  virtualService.http.forEach((http, position) => {
    const index = virtualService.specIndexes[position] ?? position;
    for (const field of UNTRANSLATED_HTTP_ROUTE_FIELDS) {
      if (!isSet(http[field])) continue;
      const leftOut = field === 'redirect' || field === 'directResponse';
      out.push(`spec.http[${index}].${field}${leftOut ? ' (the route is left out: grpc-js-xds refuses the whole route configuration for it)' : ''}`);
    }
    if (asObject(http['retries'])?.['retryRemoteLocalities'] === true) out.push(`spec.http[${index}].retries.retryRemoteLocalities`);
  });
  return out;
}
