/** DestinationRule rules (istiod `ValidateDestinationRule` and the traffic policy checks it calls). */
import { describe, expect, test } from 'vitest';
import { findings, validate } from './test-support/objects.js';

const dr = (spec: unknown, metadata: Record<string, unknown> = {}) => findings('DestinationRule', spec, metadata);
const host = 'reviews.prod.svc.cluster.local';
const policy = (trafficPolicy: unknown) => dr({ host, trafficPolicy });

test('host is required and must be a (wildcard) domain', () => {
  expect(dr({}).errors).toEqual([['spec.host', 'empty domain name not allowed']]);
  expect(dr({ host: '*.example.com' }).errors).toEqual([]);
  expect(dr({ host: 'bad..host' }).errors).toEqual([['spec.host', 'domain name ".host" invalid (label "" invalid)']]);
});

describe('subsets', () => {
  test('names: required, DNS labels, unique', () => {
    expect(dr({ host, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v1' }, { labels: {} }, { name: 'V_2' }, null] }).errors).toEqual([
      ['spec.subsets[1].name', 'duplicate subset names: v1'],
      ['spec.subsets[2].name', 'subset name cannot be empty'],
      ['spec.subsets[3].name', 'subset name is invalid: V_2'],
      ['spec.subsets[4]', 'subset may not be null'],
    ]);
  });
  test('labels and traffic policy are checked', () => {
    expect(dr({ host, subsets: [{ name: 'v1', labels: { 'a b': 'c' }, trafficPolicy: {} }] }).errors).toEqual([
      ['spec.subsets[0].labels["a b"]', 'invalid tag key: "a b"'],
      ['spec.subsets[0].trafficPolicy', 'traffic policy must have at least one field'],
    ]);
  });
  test('subsets are kept in the typed object', () => {
    const result = validate('DestinationRule', { host, subsets: [{ name: 'v1', labels: { version: 'v1' } }] });
    expect(result.valid && result.object.kind === 'DestinationRule' ? result.object.spec.subsets : undefined).toEqual([
      { name: 'v1', labels: { version: 'v1' } },
    ]);
  });
});

describe('traffic policy', () => {
  test('must set something; tunnel and proxyProtocol exclude each other', () => {
    expect(policy({}).errors).toEqual([['spec.trafficPolicy', 'traffic policy must have at least one field']]);
    expect(policy({ tunnel: { targetHost: 'a.com', targetPort: 80 }, proxyProtocol: { version: 'V1' } }).errors).toEqual([
      ['spec.trafficPolicy', 'tunnel and proxyProtocol must not be set together'],
    ]);
  });

  test('warmup (the CRD fixtures)', () => {
    expect(policy({ loadBalancer: { warmup: { duration: '300s', minimumPercent: 5, aggression: 5 } } }).errors).toEqual([]);
    expect(policy({ loadBalancer: { warmup: { minimumPercent: 150, aggression: 0 } } }).errors).toEqual([
      ['spec.trafficPolicy.loadBalancer.warmup.duration', 'duration is required'],
      ['spec.trafficPolicy.loadBalancer.warmup.minimumPercent', 'minimumPercent value should be less than or equal to 100'],
      ['spec.trafficPolicy.loadBalancer.warmup.aggression', 'aggression should be greater than 0'],
    ]);
  });

  test('durations are Go durations of whole milliseconds, at least 1ms', () => {
    expect(policy({ outlierDetection: { interval: '8ms', baseEjectionTime: '1m' }, connectionPool: { tcp: { connectTimeout: '1.5s' } } }).errors).toEqual([]);
    expect(policy({ outlierDetection: { interval: '500us', baseEjectionTime: '1500us' }, connectionPool: { tcp: { connectTimeout: 'soon' } } }).errors).toEqual([
      ['spec.trafficPolicy.outlierDetection.baseEjectionTime', 'only durations to ms precision are supported'],
      ['spec.trafficPolicy.outlierDetection.interval', 'duration must be greater than 1ms'],
      ['spec.trafficPolicy.connectionPool.tcp.connectTimeout', 'invalid duration "soon": expected a duration such as "10s", "1m30s" or "250ms"'],
    ]);
  });

  test('outlier detection', () => {
    expect(policy({ outlierDetection: { consecutiveErrors: 5, consecutiveLocalOriginFailures: 3, maxEjectionPercent: 101, minHealthPercent: -1 } })).toEqual({
      errors: [
        ['spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures', 'outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false'],
        ['spec.trafficPolicy.outlierDetection.maxEjectionPercent', 'percentage 101 is not in range 0..100'],
        ['spec.trafficPolicy.outlierDetection.minHealthPercent', 'percentage -1 is not in range 0..100'],
      ],
      warnings: [['spec.trafficPolicy.outlierDetection.consecutiveErrors', 'outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead']],
    });
  });

  test('outlier detection HTTP error codes: a list of status codes as the CRD bounds them', () => {
    expect(policy({ outlierDetection: { consecutive5xxErrors: 3, outlierDetectionHttpErrorCodes: [503, 429] } }).errors).toEqual([]);
    expect(policy({ outlierDetection: { outlierDetectionHttpErrorCodes: [99, 600, '503', 404.5] } }).errors).toEqual([
      ['spec.trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes[0]', 'must be an integer between 100 and 599, not 99'],
      ['spec.trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes[1]', 'must be an integer between 100 and 599, not 600'],
      ['spec.trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes[2]', 'must be an integer, not a string ("503")'],
      ['spec.trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes[3]', 'must be an integer, not a number (404.5)'],
    ]);
    expect(policy({ outlierDetection: { outlierDetectionHttpErrorCodes: 503 } }).errors).toEqual([
      ['spec.trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes', 'must be a list, not a number (503)'],
    ]);
  });

  test('connection pool', () => {
    expect(policy({ connectionPool: {} }).errors).toEqual([['spec.trafficPolicy.connectionPool', 'connection pool must have at least one field']]);
    const http = { http1MaxPendingRequests: -1, http2MaxRequests: -1, maxRequestsPerConnection: -1, maxRetries: -1, maxConcurrentStreams: -1, h2UpgradePolicy: 'UPGRADE', useClientProtocol: true, http2KeepAlive: { interval: '15s' } };
    expect(policy({ connectionPool: { http, tcp: { maxConnections: -1, idleTimeout: '0s' } } }).errors).toEqual([
      ['spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests', 'http1 max pending requests must be non-negative'],
      ['spec.trafficPolicy.connectionPool.http.http2MaxRequests', 'http2 max requests must be non-negative'],
      ['spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection', 'max requests per connection must be non-negative'],
      ['spec.trafficPolicy.connectionPool.http.maxRetries', 'max retries must be non-negative'],
      ['spec.trafficPolicy.connectionPool.http.useClientProtocol', 'use client protocol must not be true when H2UpgradePolicy is UPGRADE'],
      ['spec.trafficPolicy.connectionPool.http.maxConcurrentStreams', 'max concurrent streams must be non-negative'],
      ['spec.trafficPolicy.connectionPool.http.http2KeepAlive.timeout', 'http2 keepalive timeout is required'],
      ['spec.trafficPolicy.connectionPool.tcp.maxConnections', 'max connections must be non-negative'],
    ]);
  });

  test('consistent hash', () => {
    const hash = (consistentHash: unknown) => policy({ loadBalancer: { consistentHash } }).errors;
    expect(hash({ httpCookie: { ttl: '0s', attributes: [{ name: 'a' }, { name: 'a' }, {}] } })).toEqual([
      ['spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name', 'name required for HttpCookie'],
      ['spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[1].name', 'duplicate cookie attribute name: a'],
      ['spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[2].name', 'cookie attribute name cannot be empty'],
    ]);
    expect(hash({ useSourceIp: true, maglev: { tableSize: 65537 } })).toEqual([]);
    expect(hash({ useSourceIp: true, maglev: { tableSize: 65536 } })).toEqual([
      ['spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize', 'tableSize must be a prime number for maglev'],
    ]);
    expect(hash({ useSourceIp: true, minimumRingSize: 1024, ringHash: { minimumRingSize: 1024 } })).toEqual([
      ['spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize', 'only one of MinimumRingSize or Maglev/Ringhash can be specified'],
    ]);
    expect(policy({ loadBalancer: { simple: 'ROUND_ROBIN', consistentHash: { useSourceIp: true } } }).errors).toEqual([
      ['spec.trafficPolicy.loadBalancer', 'only one of simple, consistentHash may be set, found simple and consistentHash'],
    ]);
  });

  test('locality and zone-aware settings exclude each other', () => {
    expect(policy({ loadBalancer: { localityLbSetting: { enabled: true }, zoneAwareLbSetting: {} } }).errors).toEqual([
      ['spec.trafficPolicy.loadBalancer', 'only one of localityLbSetting and zoneAwareLbSetting can be set'],
    ]);
  });

  test('client TLS', () => {
    expect(policy({ tls: { mode: 'ISTIO_MUTUAL' } }).errors).toEqual([]);
    expect(policy({ tls: { mode: 'MUTUAL' } }).errors).toEqual([
      ['spec.trafficPolicy.tls.clientCertificate', 'client certificate required for mutual tls'],
      ['spec.trafficPolicy.tls.privateKey', 'private key required for mutual tls'],
    ]);
    expect(policy({ tls: { mode: 'SIMPLE', credentialName: 'cred', caCertificates: '/ca.pem' } }).errors).toEqual([
      ['spec.trafficPolicy.tls', 'cannot specify client certificates or CA certificate or CA CRL If credentialName is set'],
    ]);
    expect(policy({ tls: { mode: 'SIMPLE', insecureSkipVerify: true, subjectAltNames: ['a'] } }).errors).toEqual([
      ['spec.trafficPolicy.tls', 'cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true'],
    ]);
    expect(policy({ tls: { mode: 'STRICT' } }).errors).toEqual([
      ['spec.trafficPolicy.tls.mode', 'unsupported value "STRICT": must be one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL'],
    ]);
  });

  test('port-level settings', () => {
    expect(policy({ portLevelSettings: [{ port: { number: 443 }, tls: { mode: 'SIMPLE' } }] }).errors).toEqual([]);
    expect(policy({ portLevelSettings: [{ tls: { mode: 'SIMPLE' } }, { port: { number: 80 } }, null] }).errors).toEqual([
      ['spec.trafficPolicy.portLevelSettings[0].port', 'portTrafficPolicy must have valid port'],
      ['spec.trafficPolicy.portLevelSettings[1]', 'port traffic policy must have at least one field'],
      ['spec.trafficPolicy.portLevelSettings[2]', 'traffic policy may not be null'],
    ]);
  });

  test('tunnel', () => {
    expect(policy({ tunnel: { protocol: 'CONNECT', targetHost: '10.0.0.1', targetPort: 8443 } }).errors).toEqual([]);
    expect(policy({ tunnel: { protocol: 'GET', targetHost: 'bad_host', targetPort: 0 } }).errors).toEqual([
      ['spec.trafficPolicy.tunnel.protocol', 'tunnel protocol must be "CONNECT" or "POST"'],
      ['spec.trafficPolicy.tunnel.targetHost', 'tunnel target host must be valid FQDN or IP address: domain name "bad_host" invalid (label "bad_host" invalid); bad_host is not a valid IP'],
      ['spec.trafficPolicy.tunnel.targetPort', 'tunnel target port is invalid: port number 0 must be in the range 1..65535'],
    ]);
  });
});

describe('workload selector and exportTo', () => {
  test('selector labels and the empty-selector warning', () => {
    expect(dr({ host, workloadSelector: { matchLabels: { app: '*' } } }).errors).toEqual([
      ['spec.workloadSelector.matchLabels.app', 'wildcard is not supported in selector: "app=*"'],
    ]);
    expect(dr({ host, workloadSelector: {} }).warnings).toEqual([['spec.workloadSelector', 'workload selector specified without labels']]);
  });
  test('a selector keeps the rule in its namespace; ~ is for ServiceEntries only', () => {
    expect(dr({ host, workloadSelector: { matchLabels: { app: 'a' } }, exportTo: ['*'] }).errors).toEqual([
      ['spec.exportTo', 'destination rule with workload selector cannot have exportTo beyond current namespace'],
    ]);
    expect(dr({ host, exportTo: ['~'] }).errors).toEqual([['spec.exportTo[0]', 'exportTo ~ (none) is not allowed for Istio configuration objects']]);
  });
});
