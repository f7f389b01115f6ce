/**
 * DestinationRule validation after istiod's webhook (`ValidateDestinationRule`, `validateTrafficPolicy`
 * and the functions it calls in `pkg/config/validation/validation.go`; `ValidateTLS` in
 * `pkg/config/validation/agent/validation.go`). Skiff does not serve DestinationRules yet, but real Istio
 * YAML carries them beside ServiceEntries, so they are checked with istiod's messages.
 *
 * The rules follow istio HEAD, the version of the CRD test fixtures; HEAD differs from 1.30 in warmup
 * aggression (> 0 instead of >= 1), HTTP/2 keepalive settings and zone-aware load balancing.
 * Not checked: the contents of `localityLbSetting` and `zoneAwareLbSetting`, and `configmap://`
 * credential names.
 */
import type { FieldIssues } from './field-error.js';
import {
  validateDuration,
  validateExportTo,
  validateFQDN,
  validateLabels,
  validatePercent,
  validatePort,
  validateSelectorLabels,
  validateWildcardDomain,
  isDNS1123Label,
} from './istio-rules.js';
import { isIP } from './net.js';
import type { DestinationRuleSpec, ObjectMeta } from './objects.js';
import {
  checkOneOf,
  fieldPath,
  indexPath,
  isSet,
  INT32,
  keyPath,
  readBoolean,
  readDuration,
  readEnum,
  readInteger,
  readList,
  readNumber,
  readObject,
  readString,
  readStringList,
  readStringMap,
  UINT32,
  type JsonObject,
} from './read-fields.js';

function checkDuration(object: JsonObject, name: string, at: string, issues: FieldIssues): bigint | undefined {
  const path = fieldPath(at, name);
  const nanos = readDuration(object[name], path, issues);
  if (nanos === undefined) return undefined;
  const reason = validateDuration(nanos);
  if (reason !== undefined) issues.error(path, reason);
  return nanos;
}

/** A proto wrapper (`UInt32Value`, `DoubleValue`, `BoolValue`) is written as its plain value. */
function readUInt32(object: JsonObject, name: string, at: string, issues: FieldIssues): number | undefined {
  return readInteger(object[name], fieldPath(at, name), issues, UINT32);
}

function readInt32(object: JsonObject, name: string, at: string, issues: FieldIssues): number {
  return readInteger(object[name], fieldPath(at, name), issues, INT32) ?? 0;
}

function nonNegative(object: JsonObject, name: string, at: string, issues: FieldIssues, reason: string): void {
  if (readInt32(object, name, at, issues) < 0) issues.error(fieldPath(at, name), reason);
}

/** An HTTP status code as the CRD schema bounds `outlierDetectionHttpErrorCodes`. */
const HTTP_STATUS_CODE = { min: 100, max: 599 };

function validateOutlierDetection(outlier: JsonObject, at: string, issues: FieldIssues): void {
  if (outlier['baseEjectionTime'] !== undefined) checkDuration(outlier, 'baseEjectionTime', at, issues);
  if (readInt32(outlier, 'consecutiveErrors', at, issues) !== 0) {
    issues.warning(
      fieldPath(at, 'consecutiveErrors'),
      'outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead',
    );
  }
  readUInt32(outlier, 'consecutiveGatewayErrors', at, issues);
  readUInt32(outlier, 'consecutive5xxErrors', at, issues);
  const split = readBoolean(outlier['splitExternalLocalOriginErrors'], fieldPath(at, 'splitExternalLocalOriginErrors'), issues) ?? false;
  const localOriginFailures = readUInt32(outlier, 'consecutiveLocalOriginFailures', at, issues) ?? 0;
  if (!split && localOriginFailures > 0) {
    issues.error(
      fieldPath(at, 'consecutiveLocalOriginFailures'),
      'outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false',
    );
  }
  if (outlier['interval'] !== undefined) checkDuration(outlier, 'interval', at, issues);
  for (const name of ['maxEjectionPercent', 'minHealthPercent']) {
    const reason = validatePercent(readInt32(outlier, name, at, issues));
    if (reason !== undefined) issues.error(fieldPath(at, name), reason);
  }
  // `repeated uint32`; istiod's webhook checks nothing more, the CRD schema keeps each code in
  // [100, 599] (istio.io/api `outlier_detection_http_error_codes`, list-value-validation), so a
  // Kubernetes API server refuses anything else before istiod sees it.
  const codesPath = fieldPath(at, 'outlierDetectionHttpErrorCodes');
  (readList(outlier['outlierDetectionHttpErrorCodes'], codesPath, issues) ?? []).forEach((code, index) =>
    readInteger(code, indexPath(codesPath, index), issues, HTTP_STATUS_CODE),
  );
}

/** istiod `validateConnectionPool` (DestinationRule traffic policies and Sidecar inbound pools share it). */
export function validateConnectionPool(pool: JsonObject, at: string, issues: FieldIssues): void {
  const httpPath = fieldPath(at, 'http');
  const tcpPath = fieldPath(at, 'tcp');
  const http = readObject(pool['http'], httpPath, issues);
  const tcp = readObject(pool['tcp'], tcpPath, issues);
  if (http === undefined && tcp === undefined) {
    issues.error(at, 'connection pool must have at least one field');
    return;
  }
  if (http !== undefined) {
    nonNegative(http, 'http1MaxPendingRequests', httpPath, issues, 'http1 max pending requests must be non-negative');
    nonNegative(http, 'http2MaxRequests', httpPath, issues, 'http2 max requests must be non-negative');
    nonNegative(http, 'maxRequestsPerConnection', httpPath, issues, 'max requests per connection must be non-negative');
    nonNegative(http, 'maxRetries', httpPath, issues, 'max retries must be non-negative');
    if (http['idleTimeout'] !== undefined) checkDuration(http, 'idleTimeout', httpPath, issues);
    const upgrade = readEnum(http['h2UpgradePolicy'], fieldPath(httpPath, 'h2UpgradePolicy'), issues, ['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']);
    const useClientProtocol = readBoolean(http['useClientProtocol'], fieldPath(httpPath, 'useClientProtocol'), issues) ?? false;
    if (upgrade === 'UPGRADE' && useClientProtocol) {
      issues.error(fieldPath(httpPath, 'useClientProtocol'), 'use client protocol must not be true when H2UpgradePolicy is UPGRADE');
    }
    nonNegative(http, 'maxConcurrentStreams', httpPath, issues, 'max concurrent streams must be non-negative');
    const keepAlivePath = fieldPath(httpPath, 'http2KeepAlive');
    const keepAlive = readObject(http['http2KeepAlive'], keepAlivePath, issues);
    if (keepAlive !== undefined) {
      for (const name of ['interval', 'timeout']) {
        if (keepAlive[name] === undefined || keepAlive[name] === null) issues.error(fieldPath(keepAlivePath, name), `http2 keepalive ${name} is required`);
        else checkDuration(keepAlive, name, keepAlivePath, issues);
      }
    }
  }
  if (tcp !== undefined) {
    nonNegative(tcp, 'maxConnections', tcpPath, issues, 'max connections must be non-negative');
    if (tcp['connectTimeout'] !== undefined) checkDuration(tcp, 'connectTimeout', tcpPath, issues);
    if (tcp['maxConnectionDuration'] !== undefined) checkDuration(tcp, 'maxConnectionDuration', tcpPath, issues);
    if (tcp['idleTimeout'] !== undefined) {
      // 0s turns the idle timeout off, so it is not held to the 1ms minimum.
      const idleTimeout = readDuration(tcp['idleTimeout'], fieldPath(tcpPath, 'idleTimeout'), issues);
      if (idleTimeout !== undefined && idleTimeout / 1_000_000n !== 0n) {
        const reason = validateDuration(idleTimeout);
        if (reason !== undefined) issues.error(fieldPath(tcpPath, 'idleTimeout'), reason);
      }
    }
    const keepalivePath = fieldPath(tcpPath, 'tcpKeepalive');
    const keepalive = readObject(tcp['tcpKeepalive'], keepalivePath, issues);
    if (keepalive !== undefined) {
      readUInt32(keepalive, 'probes', keepalivePath, issues);
      if (keepalive['time'] !== undefined) checkDuration(keepalive, 'time', keepalivePath, issues);
      if (keepalive['interval'] !== undefined) checkDuration(keepalive, 'interval', keepalivePath, issues);
    }
  }
}

/** Envoy's primality test for Maglev table sizes (istiod uses the same so both agree). */
function isPrime(value: number): boolean {
  if (value !== 0 && value < 4) return true;
  if (value % 2 === 0) return false;
  const limit = Math.floor(Math.sqrt(value));
  for (let factor = 3; factor <= limit; factor += 2) {
    if (value % factor === 0) return false;
  }
  return true;
}

const SIMPLE_LB = ['UNSPECIFIED', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST', 'LEAST_CONN'];

function validateConsistentHash(hash: JsonObject, at: string, issues: FieldIssues): void {
  checkOneOf(hash, ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'], at, issues);
  checkOneOf(hash, ['ringHash', 'maglev'], at, issues);
  const cookiePath = fieldPath(at, 'httpCookie');
  const cookie = readObject(hash['httpCookie'], cookiePath, issues);
  if (cookie !== undefined) {
    if ((readString(cookie['name'], fieldPath(cookiePath, 'name'), issues) ?? '') === '') issues.error(fieldPath(cookiePath, 'name'), 'name required for HttpCookie');
    if (cookie['ttl'] !== undefined) readDuration(cookie['ttl'], fieldPath(cookiePath, 'ttl'), issues);
    const attributesPath = fieldPath(cookiePath, 'attributes');
    const seen = new Set<string>();
    (readList(cookie['attributes'], attributesPath, issues) ?? []).forEach((item, index) => {
      const attributePath = indexPath(attributesPath, index);
      const attribute = readObject(item, attributePath, issues) ?? {};
      const name = readString(attribute['name'], fieldPath(attributePath, 'name'), issues) ?? '';
      if (name === '') issues.error(fieldPath(attributePath, 'name'), 'cookie attribute name cannot be empty');
      else if (seen.has(name)) issues.error(fieldPath(attributePath, 'name'), `duplicate cookie attribute name: ${name}`);
      else seen.add(name);
    });
  }
  const minimumRingSize = readInteger(hash['minimumRingSize'], fieldPath(at, 'minimumRingSize'), issues, { min: 0, max: Number.MAX_SAFE_INTEGER }) ?? 0;
  if (minimumRingSize !== 0) {
    issues.warning(fieldPath(at, 'minimumRingSize'), "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead");
    if (isSet(hash, 'ringHash') || isSet(hash, 'maglev')) issues.error(fieldPath(at, 'minimumRingSize'), 'only one of MinimumRingSize or Maglev/Ringhash can be specified');
  }
  const maglevPath = fieldPath(at, 'maglev');
  const maglev = readObject(hash['maglev'], maglevPath, issues);
  if (maglev !== undefined) {
    const tableSizePath = fieldPath(maglevPath, 'tableSize');
    const tableSize = readInteger(maglev['tableSize'], tableSizePath, issues, { min: 0, max: Number.MAX_SAFE_INTEGER }) ?? 0;
    if (tableSize === 0) issues.error(tableSizePath, 'tableSize must be set for maglev');
    if (tableSize >= 5000011) issues.error(tableSizePath, 'tableSize must be less than 5000011 for maglev');
    if (!isPrime(tableSize)) issues.error(tableSizePath, 'tableSize must be a prime number for maglev');
  }
}

function validateLoadBalancer(balancer: JsonObject, at: string, issues: FieldIssues): void {
  checkOneOf(balancer, ['simple', 'consistentHash'], at, issues);
  readEnum(balancer['simple'], fieldPath(at, 'simple'), issues, SIMPLE_LB);
  const hash = readObject(balancer['consistentHash'], fieldPath(at, 'consistentHash'), issues);
  if (hash !== undefined) validateConsistentHash(hash, fieldPath(at, 'consistentHash'), issues);
  readObject(balancer['localityLbSetting'], fieldPath(at, 'localityLbSetting'), issues);
  readObject(balancer['zoneAwareLbSetting'], fieldPath(at, 'zoneAwareLbSetting'), issues);
  if (isSet(balancer, 'localityLbSetting') && isSet(balancer, 'zoneAwareLbSetting')) {
    issues.error(at, 'only one of localityLbSetting and zoneAwareLbSetting can be set');
  }
  const warmupPath = fieldPath(at, 'warmup');
  const warmup = readObject(balancer['warmup'], warmupPath, issues);
  if (warmup !== undefined) {
    if (warmup['duration'] === undefined || warmup['duration'] === null) issues.error(fieldPath(warmupPath, 'duration'), 'duration is required');
    else checkDuration(warmup, 'duration', warmupPath, issues);
    const minimumPercent = readNumber(warmup['minimumPercent'], fieldPath(warmupPath, 'minimumPercent'), issues);
    if (minimumPercent !== undefined && minimumPercent > 100) {
      issues.error(fieldPath(warmupPath, 'minimumPercent'), 'minimumPercent value should be less than or equal to 100');
    }
    const aggression = readNumber(warmup['aggression'], fieldPath(warmupPath, 'aggression'), issues);
    if (aggression !== undefined && aggression <= 0) issues.error(fieldPath(warmupPath, 'aggression'), 'aggression should be greater than 0');
  }
}

const TLS_MODES = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'];

function validateTls(tls: JsonObject, at: string, issues: FieldIssues): void {
  const mode = readEnum(tls['mode'], fieldPath(at, 'mode'), issues, TLS_MODES) ?? 'DISABLE';
  const text = (name: string): string => readString(tls[name], fieldPath(at, name), issues) ?? '';
  const credentialName = text('credentialName');
  const caCertificates = text('caCertificates');
  const clientCertificate = text('clientCertificate');
  const privateKey = text('privateKey');
  const caCrl = text('caCrl');
  text('sni');
  const hasSubjectAltNames = tls['subjectAltNames'] !== undefined && tls['subjectAltNames'] !== null;
  readStringList(tls['subjectAltNames'], fieldPath(at, 'subjectAltNames'), issues);
  const insecureSkipVerify = readBoolean(tls['insecureSkipVerify'], fieldPath(at, 'insecureSkipVerify'), issues) ?? false;
  if (insecureSkipVerify && mode === 'SIMPLE' && (caCertificates !== '' || credentialName !== '' || hasSubjectAltNames)) {
    issues.error(at, 'cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true');
  }
  if (insecureSkipVerify && mode === 'MUTUAL' && (caCertificates !== '' || hasSubjectAltNames)) {
    issues.error(at, 'cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true');
  }
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && credentialName !== '') {
    // Credentials come from the secret: inline file paths would be ignored.
    if (clientCertificate !== '' || caCertificates !== '' || privateKey !== '' || caCrl !== '') {
      issues.error(at, 'cannot specify client certificates or CA certificate or CA CRL If credentialName is set');
    }
    return;
  }
  if (mode === 'MUTUAL') {
    if (clientCertificate === '') issues.error(fieldPath(at, 'clientCertificate'), 'client certificate required for mutual tls');
    if (privateKey === '') issues.error(fieldPath(at, 'privateKey'), 'private key required for mutual tls');
  }
}

function validateTunnel(tunnel: JsonObject, at: string, issues: FieldIssues): void {
  const protocol = readString(tunnel['protocol'], fieldPath(at, 'protocol'), issues) ?? '';
  if (protocol !== '' && protocol !== 'CONNECT' && protocol !== 'POST') issues.error(fieldPath(at, 'protocol'), 'tunnel protocol must be "CONNECT" or "POST"');
  const targetHost = readString(tunnel['targetHost'], fieldPath(at, 'targetHost'), issues) ?? '';
  const fqdnError = validateFQDN(targetHost);
  if (fqdnError !== undefined && !isIP(targetHost)) {
    issues.error(fieldPath(at, 'targetHost'), `tunnel target host must be valid FQDN or IP address: ${fqdnError}; ${targetHost} is not a valid IP`);
  }
  const portError = validatePort(readUInt32(tunnel, 'targetPort', at, issues) ?? 0);
  if (portError !== undefined) issues.error(fieldPath(at, 'targetPort'), `tunnel target port is invalid: ${portError}`);
}

/** The parts a traffic policy and a port-level policy share. */
function validatePolicyParts(policy: JsonObject, at: string, issues: FieldIssues): void {
  const outlier = readObject(policy['outlierDetection'], fieldPath(at, 'outlierDetection'), issues);
  if (outlier !== undefined) validateOutlierDetection(outlier, fieldPath(at, 'outlierDetection'), issues);
  const pool = readObject(policy['connectionPool'], fieldPath(at, 'connectionPool'), issues);
  if (pool !== undefined) validateConnectionPool(pool, fieldPath(at, 'connectionPool'), issues);
  const balancer = readObject(policy['loadBalancer'], fieldPath(at, 'loadBalancer'), issues);
  if (balancer !== undefined) validateLoadBalancer(balancer, fieldPath(at, 'loadBalancer'), issues);
  const tls = readObject(policy['tls'], fieldPath(at, 'tls'), issues);
  if (tls !== undefined) validateTls(tls, fieldPath(at, 'tls'), issues);
}

const TRAFFIC_POLICY_PARTS = ['outlierDetection', 'connectionPool', 'loadBalancer', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget'];

function validatePortLevelSettings(value: unknown, at: string, issues: FieldIssues): void {
  (readList(value, at, issues) ?? []).forEach((item, index) => {
    const itemPath = indexPath(at, index);
    if (item === null) {
      issues.error(itemPath, 'traffic policy may not be null');
      return;
    }
    const setting = readObject(item, itemPath, issues);
    if (setting === undefined) return;
    const port = readObject(setting['port'], fieldPath(itemPath, 'port'), issues);
    if (port === undefined) issues.error(fieldPath(itemPath, 'port'), 'portTrafficPolicy must have valid port');
    else readUInt32(port, 'number', fieldPath(itemPath, 'port'), issues);
    if (!['outlierDetection', 'connectionPool', 'loadBalancer', 'tls'].some((name) => isSet(setting, name))) {
      issues.error(itemPath, 'port traffic policy must have at least one field');
    } else {
      validatePolicyParts(setting, itemPath, issues);
    }
  });
}

function validateTrafficPolicy(value: unknown, at: string, issues: FieldIssues): JsonObject | undefined {
  const policy = readObject(value, at, issues);
  if (policy === undefined) return undefined;
  if (!TRAFFIC_POLICY_PARTS.some((name) => isSet(policy, name))) {
    issues.error(at, 'traffic policy must have at least one field');
    return policy;
  }
  if (isSet(policy, 'tunnel') && isSet(policy, 'proxyProtocol')) {
    issues.error(at, 'tunnel and proxyProtocol must not be set together');
    return policy;
  }
  validatePolicyParts(policy, at, issues);
  validatePortLevelSettings(policy['portLevelSettings'], fieldPath(at, 'portLevelSettings'), issues);
  const tunnel = readObject(policy['tunnel'], fieldPath(at, 'tunnel'), issues);
  if (tunnel !== undefined) validateTunnel(tunnel, fieldPath(at, 'tunnel'), issues);
  const proxyProtocol = readObject(policy['proxyProtocol'], fieldPath(at, 'proxyProtocol'), issues);
  if (proxyProtocol !== undefined) {
    readEnum(proxyProtocol['version'], fieldPath(fieldPath(at, 'proxyProtocol'), 'version'), issues, ['V1', 'V2'], (name) => `proxy protocol version is invalid: ${name}`);
  }
  readObject(policy['retryBudget'], fieldPath(at, 'retryBudget'), issues);
  return policy;
}

/** istiod `ValidateDestinationRule`. */
export function validateDestinationRule(rawSpec: unknown, metadata: ObjectMeta, issues: FieldIssues): DestinationRuleSpec {
  const object = readObject(rawSpec, 'spec', issues) ?? {};
  const host = readString(object['host'], 'spec.host', issues) ?? '';
  const hostError = validateWildcardDomain(host);
  if (hostError !== undefined) issues.error('spec.host', hostError);
  const trafficPolicy = validateTrafficPolicy(object['trafficPolicy'], 'spec.trafficPolicy', issues);

  const subsets: { name: string; labels: Record<string, string>; trafficPolicy?: JsonObject }[] = [];
  const names = new Set<string>();
  (readList(object['subsets'], 'spec.subsets', issues) ?? []).forEach((item, index) => {
    const at = indexPath('spec.subsets', index);
    if (item === null) {
      issues.error(at, 'subset may not be null');
      return;
    }
    const subset = readObject(item, at, issues);
    if (subset === undefined) return;
    const name = readString(subset['name'], fieldPath(at, 'name'), issues) ?? '';
    if (names.has(name)) issues.error(fieldPath(at, 'name'), `duplicate subset names: ${name}`);
    names.add(name);
    if (name === '') issues.error(fieldPath(at, 'name'), 'subset name cannot be empty');
    else if (!isDNS1123Label(name)) issues.error(fieldPath(at, 'name'), `subset name is invalid: ${name}`);
    const labels = readStringMap(subset['labels'], fieldPath(at, 'labels'), issues);
    for (const { key, reason } of validateLabels(labels)) issues.error(keyPath(fieldPath(at, 'labels'), key), reason);
    const subsetPolicy = validateTrafficPolicy(subset['trafficPolicy'], fieldPath(at, 'trafficPolicy'), issues);
    subsets.push({ name, labels, ...(subsetPolicy === undefined ? {} : { trafficPolicy: subsetPolicy }) });
  });

  const exportTo = readStringList(object['exportTo'], 'spec.exportTo', issues);
  const selector = readObject(object['workloadSelector'], 'spec.workloadSelector', issues);
  for (const finding of validateExportTo(metadata.namespace, exportTo, false, selector !== undefined)) {
    issues.error(finding.index === undefined ? 'spec.exportTo' : indexPath('spec.exportTo', finding.index), finding.reason);
  }
  let workloadSelector: { matchLabels: Record<string, string> } | undefined;
  if (selector !== undefined) {
    workloadSelector = { matchLabels: readStringMap(selector['matchLabels'], 'spec.workloadSelector.matchLabels', issues) };
    for (const { key, reason } of validateSelectorLabels(workloadSelector.matchLabels)) issues.error(keyPath('spec.workloadSelector.matchLabels', key), reason);
    if (Object.keys(workloadSelector.matchLabels).length === 0) issues.warning('spec.workloadSelector', 'workload selector specified without labels');
  }
  return {
    host,
    ...(trafficPolicy === undefined ? {} : { trafficPolicy }),
    subsets,
    exportTo,
    ...(workloadSelector === undefined ? {} : { workloadSelector }),
  };
}
