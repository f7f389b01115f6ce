/**
 * VirtualService validation after istiod's webhook (`ValidateVirtualService`, `validateHTTPRoute`,
 * `validateHTTPRouteConflict`, `validateHTTPRouteMatchRequest`, `validateHTTPRouteDestinations`,
 * `validateHTTPRetry`, `validateHTTPFaultInjection`, `validateGatewayNames`, `validateDestination` in
 * `pkg/config/validation/validation.go` and `virtualservice.go`).
 *
 * Skiff translates the `http` routes of VirtualServices bound to the mesh into the route
 * configurations of proxyless gRPC clients; the spec is kept as validated JSON (`http`) so the
 * translator reads every field istiod reads. TCP and TLS routes configure listeners gRPC clients do
 * not use: their destinations are checked as istiod checks them, the rest of them is not read.
 *
 * Not checked (istiod checks them, Skiff accepts what istiod would reject there): the contents of
 * `corsPolicy`, `redirect`, `directResponse` and `rewrite` beyond their conflicts with each other,
 * the `%...%` variables of header values, TLS route `sniHosts`, and the unreachable-rule warnings.
 */
import type { FieldIssues } from './field-error.js';
import { hostsMatch } from './hosts.js';
import { isDNS1123Label, validateDuration, validateExportTo, validateFQDN, validatePort, validateSelectorLabels, validateWildcardDomain } from './istio-rules.js';
import { isIP } from './net.js';
import type { ObjectMeta, VirtualServiceSpec } from './objects.js';
import {
  fieldPath,
  indexPath,
  isJsonObject,
  keyPath,
  readBoolean,
  readDuration,
  readInteger,
  readList,
  readNumber,
  readObject,
  readString,
  readStringList,
  readStringMap,
  INT32,
  UINT32,
  type JsonObject,
} from './read-fields.js';

/** `constants.IstioMeshGateway`: the gateway name that binds a VirtualService to every sidecar. */
export const MESH_GATEWAY = 'mesh';

/** `tchars` of RFC 7230: what `validHeaderNameRegex` allows in a header name. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$/;
const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status']);
/** `jwt.HeaderJWTClaim`: header names that match JWT claims instead. */
const JWT_CLAIM_PREFIX = '@request.auth.claims';
/** `httpHeaderValueRegexp`: no control characters but tab. */
// eslint-disable-next-line no-control-regex
const HEADER_VALUE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;

/** `supportedRetryOnPolicies` (Envoy's `x-envoy-retry-on` and `x-envoy-retry-grpc-on` values). */
const RETRY_ON_POLICIES = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/** Go's `http.StatusText` codes: the numbers `retryOn` takes as status codes. */
export const HTTP_STATUS_CODES: ReadonlySet<number> = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407,
  408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508,
  510, 511,
]);

/** `grpc.SupportedGRPCStatus`: the status names a fault abort takes, with their codes. */
export const GRPC_STATUS_CODES: Readonly<Record<string, number>> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

/** `jwt.ToRoutingClaim(name).Match`: `@request.auth.claims.a.b` or `@request.auth.claims[a][b]`. */
export function isJwtClaimHeader(name: string): boolean {
  if (!name.toLowerCase().startsWith(JWT_CLAIM_PREFIX)) return false;
  const rest = name.slice(JWT_CLAIM_PREFIX.length);
  return (rest.startsWith('.') && rest.length > 1) || (rest.startsWith('[') && rest.endsWith(']') && rest.length > 2);
}

/** `isInternalHeader`: pseudo-headers and Host, which Envoy does not let routes change. */
export function isInternalHeader(name: string): boolean {
  return name.startsWith(':') || name.toLowerCase() === 'host';
}

/** `isAuthorityHeader`. */
export function isAuthorityHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === ':authority' || lower === 'host';
}

/** Whether a RE2 pattern compiles; JavaScript's `u` mode is the closest stand-in (RE2 has no lookaround or backreferences). */
function regexError(pattern: string): string | undefined {
  if (/\(\?[=!<]|\\[1-9]/.test(pattern)) return 'invalid or unsupported Perl syntax';
  try {
    new RegExp(pattern, 'u');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** `validateStringMatchRegexp`: a regex must be non-empty, at most 1024 characters, and compile. */
function checkRegexMatch(match: JsonObject, where: string, at: string, issues: FieldIssues): void {
  const regex = readString(match['regex'], fieldPath(at, 'regex'), issues);
  if (regex === undefined) return;
  if (regex === '') issues.error(at, `"${where}": regex string match should not be empty`);
  else if (regex.length > 1024) issues.error(at, `"${where}": regex is too large, max length allowed is 1024`);
  else {
    const reason = regexError(regex);
    if (reason !== undefined) issues.error(at, `"${where}": ${reason}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)`);
  }
}

/** A `StringMatch`: one of exact, prefix, regex. `allowEmptyPrefix` for `uri` (Envoy allows an empty path prefix). */
function checkStringMatch(value: unknown, where: string, at: string, issues: FieldIssues, allowEmptyPrefix = false): void {
  const match = readObject(value, at, issues);
  if (match === undefined) return;
  const set = ['exact', 'prefix', 'regex'].filter((name) => match[name] !== undefined && match[name] !== null);
  if (set.length > 1) issues.error(at, `only one of exact, prefix, regex may be set, found ${set.join(' and ')}`);
  readString(match['exact'], fieldPath(at, 'exact'), issues);
  const prefix = readString(match['prefix'], fieldPath(at, 'prefix'), issues);
  if (prefix === '' && !allowEmptyPrefix) issues.error(at, `"${where}": prefix string match should not be empty`);
  checkRegexMatch(match, where, at, issues);
}

/** `ValidateHTTPHeaderNameOrJwtClaimRoute`. */
function headerNameError(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  if (isJwtClaimHeader(name) || PSEUDO_HEADERS.has(name)) return undefined;
  return HEADER_NAME.test(name) ? undefined : `header name ${name} is not a valid header name`;
}

/** `validateGatewayNames`: `namespace/name` of DNS labels, or a (legacy) FQDN such as `mesh` or `gw.ns`. */
function checkGatewayNames(names: readonly string[], at: string, issues: FieldIssues): void {
  for (const [index, name] of names.entries()) {
    const path = indexPath(at, index);
    const slash = name.indexOf('/');
    if (slash === -1) {
      if (name.includes('.')) {
        const parts = name.split('.');
        issues.warning(path, `using legacy gatewayName format "${name}"; prefer the <namespace>/<name> format: "${parts[1]}/${parts[0]}"`);
      }
      const reason = validateFQDN(name);
      if (reason !== undefined) issues.error(path, reason);
      // istiod stops at the first name without a slash.
      return;
    }
    const namespace = name.slice(0, slash);
    const gateway = name.slice(slash + 1);
    if (namespace === '' || gateway === '') issues.error(path, 'config namespace and gateway name cannot be empty');
    if (!isDNS1123Label(namespace)) issues.error(path, `invalid value for namespace: "${namespace}"`);
    if (!isDNS1123Label(gateway)) issues.error(path, `invalid value for gateway name: "${gateway}"`);
  }
}

/** `validateDestination`: host (no bare `*`), subset name, port number. */
function checkDestination(value: unknown, at: string, issues: FieldIssues): void {
  const destination = readObject(value, at, issues);
  if (destination === undefined) return;
  const host = readString(destination['host'], fieldPath(at, 'host'), issues) ?? '';
  if (host === '*') issues.error(fieldPath(at, 'host'), `invalid destination host ${host}`);
  else {
    const reason = validateWildcardDomain(host);
    if (reason !== undefined) issues.error(fieldPath(at, 'host'), reason);
  }
  const subset = readString(destination['subset'], fieldPath(at, 'subset'), issues);
  if (subset !== undefined && subset !== '' && !isDNS1123Label(subset)) issues.error(fieldPath(at, 'subset'), `subset name is invalid: ${subset}`);
  const port = readObject(destination['port'], fieldPath(at, 'port'), issues);
  if (port !== undefined) {
    const number = readInteger(port['number'], fieldPath(fieldPath(at, 'port'), 'number'), issues, UINT32) ?? 0;
    const reason = validatePort(number);
    if (reason !== undefined) issues.error(fieldPath(fieldPath(at, 'port'), 'number'), reason);
  }
}

/** Header manipulation (`Headers`): names and values of request and response add/set/remove. */
function checkHeaderOperations(value: unknown, at: string, issues: FieldIssues): void {
  const headers = readObject(value, at, issues);
  if (headers === undefined) return;
  for (const side of ['request', 'response'] as const) {
    const sidePath = fieldPath(at, side);
    const operations = readObject(headers[side], sidePath, issues);
    if (operations === undefined) continue;
    for (const operation of ['set', 'add'] as const) {
      const opPath = fieldPath(sidePath, operation);
      for (const [name, text] of Object.entries(readStringMap(operations[operation], opPath, issues))) {
        const reason =
          name === ''
            ? 'header name cannot be empty'
            : side === 'request'
              ? isInternalHeader(name) && !isAuthorityHeader(name)
                ? `invalid header "${name}": header cannot have ":" prefix`
                : undefined
              : removableHeaderError(name);
        if (reason !== undefined) issues.error(keyPath(opPath, name), reason);
        if (!HEADER_VALUE.test(text)) issues.error(keyPath(opPath, name), `header value configuration ${text} is invalid`);
      }
    }
    const removePath = fieldPath(sidePath, 'remove');
    readStringList(operations['remove'], removePath, issues).forEach((name, index) => {
      const reason = removableHeaderError(name);
      if (reason !== undefined) issues.error(indexPath(removePath, index), reason);
    });
  }
}

/** `ValidateHTTPHeaderOperationName`. */
function removableHeaderError(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  if (name.toLowerCase() === 'host') return `invalid header "${name}": cannot set Host header`;
  if (isInternalHeader(name)) return `invalid header "${name}": header cannot have ":" prefix`;
  return undefined;
}

/** `validatePercentage`: 0, or between 0.0001 and 100. */
function checkPercentage(value: unknown, at: string, issues: FieldIssues): void {
  const percentage = readObject(value, at, issues);
  if (percentage === undefined) return;
  const number = readNumber(percentage['value'], fieldPath(at, 'value'), issues) ?? 0;
  if (number < 0 || number > 100 || (number > 0 && number < 0.0001)) issues.error(at, `percentage ${number} is neither 0.0, nor in range [0.0001, 100.0]`);
}

function checkDuration(value: unknown, at: string, issues: FieldIssues): void {
  const nanos = readDuration(value, at, issues);
  if (nanos === undefined) return;
  const reason = validateDuration(nanos);
  if (reason !== undefined) issues.error(at, reason);
}

/** `validateHTTPFaultInjection`: an abort (HTTP or gRPC status) and/or a fixed delay. */
function checkFault(value: unknown, at: string, issues: FieldIssues): void {
  const fault = readObject(value, at, issues);
  if (fault === undefined) return;
  const abortPath = fieldPath(at, 'abort');
  const delayPath = fieldPath(at, 'delay');
  const abort = readObject(fault['abort'], abortPath, issues);
  const delay = readObject(fault['delay'], delayPath, issues);
  if (abort === undefined && delay === undefined) issues.error(at, 'HTTP fault injection must have an abort and/or a delay');
  if (abort !== undefined) {
    checkPercentage(abort['percentage'], fieldPath(abortPath, 'percentage'), issues);
    if (abort['grpcStatus'] !== undefined) {
      const status = readString(abort['grpcStatus'], fieldPath(abortPath, 'grpcStatus'), issues);
      if (status !== undefined && !Object.hasOwn(GRPC_STATUS_CODES, status)) {
        issues.error(
          fieldPath(abortPath, 'grpcStatus'),
          `gRPC status "${status}" is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'`,
        );
      }
    } else if (abort['http2Error'] !== undefined) {
      issues.error(fieldPath(abortPath, 'http2Error'), 'HTTP/2 abort fault injection not supported yet');
    } else if (abort['httpStatus'] !== undefined) {
      const status = readInteger(abort['httpStatus'], fieldPath(abortPath, 'httpStatus'), issues, INT32);
      if (status !== undefined && (status < 200 || status > 600)) issues.error(fieldPath(abortPath, 'httpStatus'), `HTTP status ${status} is not in range 200-599`);
    } else {
      issues.warning(abortPath, 'abort configured, but error type not set');
    }
  }
  if (delay !== undefined) {
    checkPercentage(delay['percentage'], fieldPath(delayPath, 'percentage'), issues);
    if (delay['fixedDelay'] !== undefined) checkDuration(delay['fixedDelay'], fieldPath(delayPath, 'fixedDelay'), issues);
    if (delay['exponentialDelay'] !== undefined) {
      checkDuration(delay['exponentialDelay'], fieldPath(delayPath, 'exponentialDelay'), issues);
      issues.error(fieldPath(delayPath, 'exponentialDelay'), 'exponentialDelay not supported yet');
    }
  }
}

/** `validateHTTPRetry`. */
function checkRetries(value: unknown, at: string, issues: FieldIssues): void {
  const retries = readObject(value, at, issues);
  if (retries === undefined) return;
  const attempts = readInteger(retries['attempts'], fieldPath(at, 'attempts'), issues, INT32) ?? 0;
  if (attempts < 0) issues.error(fieldPath(at, 'attempts'), 'attempts cannot be negative');
  const retryOn = readString(retries['retryOn'], fieldPath(at, 'retryOn'), issues) ?? '';
  if (attempts === 0 && (retries['perTryTimeout'] !== undefined || retryOn !== '' || retries['retryRemoteLocalities'] !== undefined)) {
    issues.error(at, 'http retry policy configured when attempts are set to 0 (disabled)');
  }
  if (retries['perTryTimeout'] !== undefined) checkDuration(retries['perTryTimeout'], fieldPath(at, 'perTryTimeout'), issues);
  if (retryOn !== '') {
    for (const policy of retryOn.split(',')) {
      // Go's strconv.Atoi: an optional sign and decimal digits.
      const code = /^[+-]?\d+$/.test(policy) ? Number(policy) : 0;
      if (!HTTP_STATUS_CODES.has(code) && !RETRY_ON_POLICIES.has(policy)) issues.error(fieldPath(at, 'retryOn'), `"${policy}" is not a valid retryOn policy`);
    }
  }
  readBoolean(retries['retryRemoteLocalities'], fieldPath(at, 'retryRemoteLocalities'), issues);
  readBoolean(retries['retryIgnorePreviousHosts'], fieldPath(at, 'retryIgnorePreviousHosts'), issues);
  if (retries['backoff'] !== undefined) checkDuration(retries['backoff'], fieldPath(at, 'backoff'), issues);
}

/** `validateHTTPRouteMatchRequest` for one match. */
function checkMatch(value: unknown, at: string, issues: FieldIssues): void {
  const match = readObject(value, at, issues);
  if (match === undefined) return;
  for (const field of ['headers', 'withoutHeaders'] as const) {
    const mapPath = fieldPath(at, field);
    const headers = readObject(match[field], mapPath, issues) ?? {};
    for (const [name, header] of Object.entries(headers)) {
      const path = keyPath(mapPath, name);
      if (header === null && field === 'headers') issues.error(path, `header match ${name} cannot be null`);
      const reason = headerNameError(name);
      if (reason !== undefined) issues.error(path, reason);
      // `*` is no RE2 regex: istiod reads it as "present", and checks no further.
      if (field === 'withoutHeaders' && isJsonObject(header) && header['regex'] === '*') continue;
      checkStringMatch(header, field, path, issues);
    }
  }
  checkStringMatch(match['uri'], 'uri', fieldPath(at, 'uri'), issues, true);
  for (const field of ['scheme', 'method', 'authority'] as const) checkStringMatch(match[field], field, fieldPath(at, field), issues);
  const queryPath = fieldPath(at, 'queryParams');
  for (const [name, query] of Object.entries(readObject(match['queryParams'], queryPath, issues) ?? {})) checkStringMatch(query, 'queryParams', keyPath(queryPath, name), issues);
  const port = readInteger(match['port'], fieldPath(at, 'port'), issues, UINT32) ?? 0;
  if (port !== 0) {
    const reason = validatePort(port);
    if (reason !== undefined) issues.error(fieldPath(at, 'port'), reason);
  }
  const sourceLabels = readStringMap(match['sourceLabels'], fieldPath(at, 'sourceLabels'), issues);
  for (const { key, reason } of validateSelectorLabels(sourceLabels)) issues.error(keyPath(fieldPath(at, 'sourceLabels'), key), reason);
  checkGatewayNames(readStringList(match['gateways'], fieldPath(at, 'gateways'), issues), fieldPath(at, 'gateways'), issues);
  const sourceNamespace = readString(match['sourceNamespace'], fieldPath(at, 'sourceNamespace'), issues) ?? '';
  if (sourceNamespace !== '' && !isDNS1123Label(sourceNamespace)) issues.error(fieldPath(at, 'sourceNamespace'), `sourceNamespace match ${sourceNamespace} is invalid`);
  readBoolean(match['ignoreUriCase'], fieldPath(at, 'ignoreUriCase'), issues);
  readString(match['name'], fieldPath(at, 'name'), issues);
}

/** `validateHTTPRouteDestinations` (and `validateRouteDestinations` for TCP and TLS, which have no headers). */
function checkRouteDestinations(value: unknown, at: string, issues: FieldIssues): void {
  const list = readList(value, at, issues) ?? [];
  let total = 0;
  list.forEach((item, index) => {
    const path = indexPath(at, index);
    const destination = readObject(item, path, issues);
    if (destination === undefined) {
      issues.error(path, 'weight may not be nil');
      return;
    }
    if (destination['destination'] === undefined || destination['destination'] === null) issues.error(path, 'destination is required');
    checkHeaderOperations(destination['headers'], fieldPath(path, 'headers'), issues);
    checkDestination(destination['destination'], fieldPath(path, 'destination'), issues);
    const weight = readInteger(destination['weight'], fieldPath(path, 'weight'), issues, INT32) ?? 0;
    if (weight < 0) issues.error(fieldPath(path, 'weight'), `weight ${weight} < 0`);
    total += weight;
  });
  if (list.length > 1 && total === 0) issues.error(at, 'total destination weight = 0');
}

const isPresent = (route: JsonObject, name: string): boolean => route[name] !== undefined && route[name] !== null;

/** `validateHTTPRouteConflict` for a route of a VirtualService with hosts (not a delegate). */
function checkRouteConflicts(route: JsonObject, at: string, issues: FieldIssues): void {
  const hasRoute = (readList(route['route'], fieldPath(at, 'route'), issues) ?? []).length > 0;
  if (isPresent(route, 'redirect')) {
    if (hasRoute) issues.error(at, 'HTTP route cannot contain both route and redirect');
    if (isPresent(route, 'fault')) issues.error(at, 'HTTP route cannot contain both fault and redirect');
    if (isPresent(route, 'rewrite')) issues.error(at, 'HTTP route rule cannot contain both rewrite and redirect');
    if (isPresent(route, 'directResponse')) issues.error(at, 'HTTP route rule cannot contain both direct_response and redirect');
  } else if (isPresent(route, 'directResponse')) {
    if (hasRoute) issues.error(at, 'HTTP route cannot contain both route and direct_response');
    if (isPresent(route, 'fault')) issues.error(at, 'HTTP route cannot contain both fault and direct_response');
    if (isPresent(route, 'rewrite')) issues.error(at, 'HTTP route rule cannot contain both rewrite and direct_response');
  } else if (!hasRoute && !isPresent(route, 'delegate')) {
    issues.error(at, 'HTTP route, redirect or direct_response is required');
  }
  if (isPresent(route, 'mirror') && (readList(route['mirrors'], fieldPath(at, 'mirrors'), issues) ?? []).length > 0) {
    issues.error(at, 'HTTP route cannot contain both mirror and mirrors');
  }
}

/** `validateHTTPRoute` for one entry of `spec.http`. */
function checkHttpRoute(route: JsonObject, at: string, delegate: boolean, issues: FieldIssues): void {
  if (isPresent(route, 'delegate')) {
    // A root route (`getHTTPRouteType`): only the delegate may be given.
    if (isPresent(route, 'redirect')) issues.error(at, `root HTTP route ${String(route['name'] ?? '')} must not specify redirect`);
    if (isPresent(route, 'route')) issues.error(at, `root HTTP route ${String(route['name'] ?? '')} must not specify route`);
  } else {
    checkRouteConflicts(route, at, issues);
  }
  if (delegate && isPresent(route, 'delegate')) issues.error(at, 'delegate HTTP route cannot contain delegate');
  (readList(route['match'], fieldPath(at, 'match'), issues) ?? []).forEach((match, index) => checkMatch(match, indexPath(fieldPath(at, 'match'), index), issues));
  checkHeaderOperations(route['headers'], fieldPath(at, 'headers'), issues);
  checkFault(route['fault'], fieldPath(at, 'fault'), issues);
  // A `UInt32Value`: written as its plain number.
  const percent = readInteger(route['mirrorPercent'], fieldPath(at, 'mirrorPercent'), issues, UINT32);
  if (percent !== undefined) {
    if (percent > 100) issues.error(fieldPath(at, 'mirrorPercent'), `mirror_percent must have a max value of 100 (it has ${percent})`);
    issues.warning(fieldPath(at, 'mirrorPercent'), 'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead');
  }
  const mirrorPercentage = readObject(route['mirrorPercentage'], fieldPath(at, 'mirrorPercentage'), issues);
  if (mirrorPercentage !== undefined) {
    const percent = readNumber(mirrorPercentage['value'], fieldPath(fieldPath(at, 'mirrorPercentage'), 'value'), issues) ?? 0;
    if (percent > 100) issues.error(fieldPath(at, 'mirrorPercentage'), `mirror_percentage must have a max value of 100 (it has ${percent.toFixed(6)})`);
    if (percent < 0) issues.error(fieldPath(at, 'mirrorPercentage'), `mirror_percentage must have a min value of 0 (it has ${percent.toFixed(6)})`);
  }
  checkDestination(route['mirror'], fieldPath(at, 'mirror'), issues);
  (readList(route['mirrors'], fieldPath(at, 'mirrors'), issues) ?? []).forEach((item, index) => {
    const path = indexPath(fieldPath(at, 'mirrors'), index);
    const mirror = readObject(item, path, issues);
    if (mirror === undefined) return;
    if (mirror['destination'] === undefined || mirror['destination'] === null) issues.error(path, 'destination is required for mirrors');
    checkDestination(mirror['destination'], fieldPath(path, 'destination'), issues);
    checkPercentage(mirror['percentage'], fieldPath(path, 'percentage'), issues);
  });
  checkRetries(route['retries'], fieldPath(at, 'retries'), issues);
  checkRouteDestinations(route['route'], fieldPath(at, 'route'), issues);
  if (route['timeout'] !== undefined) checkDuration(route['timeout'], fieldPath(at, 'timeout'), issues);
  readString(route['name'], fieldPath(at, 'name'), issues);
  for (const name of ['redirect', 'directResponse', 'rewrite', 'corsPolicy', 'delegate']) readObject(route[name], fieldPath(at, name), issues);
}

/** Validates `VirtualService.spec` and returns what Skiff keeps of it. */
export function validateVirtualService(value: unknown, metadata: ObjectMeta, issues: FieldIssues): VirtualServiceSpec {
  const spec = readObject(value, 'spec', issues) ?? {};
  const hosts = readStringList(spec['hosts'], 'spec.hosts', issues);
  const gateways = readStringList(spec['gateways'], 'spec.gateways', issues);
  const httpList = readList(spec['http'], 'spec.http', issues) ?? [];
  const tcp = readList(spec['tcp'], 'spec.tcp', issues) ?? [];
  const tls = readList(spec['tls'], 'spec.tls', issues) ?? [];
  const exportTo = readStringList(spec['exportTo'], 'spec.exportTo', issues);
  const delegate = hosts.length === 0;
  if (delegate) {
    if (gateways.length > 0) issues.error('spec.gateways', 'delegate virtual service must have no gateways specified');
    if (tls.length > 0) issues.error('spec.tls', 'delegate virtual service must have no tls route specified');
    if (tcp.length > 0) issues.error('spec.tcp', 'delegate virtual service must have no tcp route specified');
  }
  // `isGateway`: bound to gateways only when `mesh` is not among them.
  const appliesToGateway = gateways.length > 0 && !gateways.includes(MESH_GATEWAY);
  const appliesToMesh = !appliesToGateway;
  if (gateways.length > 0) checkGatewayNames(gateways, 'spec.gateways', issues);

  const http: JsonObject[] = [];
  httpList.forEach((item, index) => {
    const at = indexPath('spec.http', index);
    if (item === null || item === undefined) {
      issues.error(at, 'http route may not be null');
      return;
    }
    const route = readObject(item, at, issues);
    if (route === undefined) return;
    http.push(route);
    if (!appliesToGateway) {
      // JWT claims are known only to gateways (the sidecar has no request authentication filter for them).
      (readList(route['match'], fieldPath(at, 'match'), issues) ?? []).forEach((match, matchIndex) => {
        if (!isJsonObject(match)) return;
        for (const field of ['headers', 'withoutHeaders']) {
          const headers = match[field];
          if (!isJsonObject(headers)) continue;
          for (const name of Object.keys(headers)) {
            if (isJwtClaimHeader(name)) {
              issues.error(
                keyPath(fieldPath(indexPath(fieldPath(at, 'match'), matchIndex), field), name),
                `JWT claim based routing (key: ${name}) is only supported for gateway, found no gateways: [${gateways.join(' ')}]`,
              );
            }
          }
        }
      });
    }
    checkHttpRoute(route, at, delegate, issues);
  });

  let allHostsValid = true;
  hosts.forEach((host, index) => {
    const reason = validateWildcardDomain(host);
    if (reason !== undefined) {
      if (!isIP(host)) {
        issues.error(indexPath('spec.hosts', index), reason);
        allHostsValid = false;
      }
    } else if (appliesToMesh && host === '*') {
      issues.error(indexPath('spec.hosts', index), 'wildcard host * is not allowed for virtual services bound to the mesh gateway');
      allHostsValid = false;
    }
  });
  if (allHostsValid) {
    for (let i = 0; i < hosts.length; i += 1) {
      for (let j = i + 1; j < hosts.length; j += 1) {
        if (hostsMatch(hosts[i]!, hosts[j]!)) issues.error('spec.hosts', `duplicate hosts in virtual service: ${hosts[i]} & ${hosts[j]}`);
      }
    }
  }
  if (httpList.length === 0 && tcp.length === 0 && tls.length === 0) issues.error('spec', 'http, tcp or tls must be provided in virtual service');

  for (const [field, routes] of [
    ['tcp', tcp],
    ['tls', tls],
  ] as const) {
    routes.forEach((item, index) => {
      const at = indexPath(`spec.${field}`, index);
      const route = readObject(item, at, issues);
      if (route === undefined) return;
      const matches = readList(route['match'], fieldPath(at, 'match'), issues) ?? [];
      if (field === 'tls' && matches.length === 0) issues.error(at, 'TLS route must have at least one match condition');
      matches.forEach((match, matchIndex) => {
        const matchPath = indexPath(fieldPath(at, 'match'), matchIndex);
        if (!isJsonObject(match)) {
          issues.error(matchPath, field === 'tls' ? 'TLS match may not be null' : 'tcp match may not be nil');
          return;
        }
        if (field === 'tls' && readStringList(match['sniHosts'], fieldPath(matchPath, 'sniHosts'), issues).length === 0) {
          issues.error(matchPath, 'TLS match must have at least one SNI host');
        }
        const port = readInteger(match['port'], fieldPath(matchPath, 'port'), issues, UINT32) ?? 0;
        const portReason = port === 0 ? undefined : validatePort(port);
        if (portReason !== undefined) issues.error(fieldPath(matchPath, 'port'), portReason);
        checkGatewayNames(readStringList(match['gateways'], fieldPath(matchPath, 'gateways'), issues), fieldPath(matchPath, 'gateways'), issues);
      });
      if ((readList(route['route'], fieldPath(at, 'route'), issues) ?? []).length === 0) issues.error(at, field === 'tls' ? 'TLS route is required' : 'TCP route is required');
      checkRouteDestinations(route['route'], fieldPath(at, 'route'), issues);
    });
  }

  for (const finding of validateExportTo(metadata.namespace, exportTo, false, false)) {
    issues.error(finding.index === undefined ? 'spec.exportTo' : indexPath('spec.exportTo', finding.index), finding.reason);
  }
  return { hosts, gateways, exportTo, http, hasTcpOrTls: tcp.length > 0 || tls.length > 0 };
}
