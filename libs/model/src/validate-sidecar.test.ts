/** Sidecar rules (istiod `ValidateSidecar`; cases after `pkg/config/validation/validation_test.go` `TestValidateSidecar`). */
import { describe, expect, test } from 'vitest';
import { normalizeSidecar } from './normalize.js';
import { checkNormalizedSidecar } from './normalized.js';
import { findings, validate } from './test-support/objects.js';

const sidecar = (spec: unknown, metadata: Record<string, unknown> = {}) => findings('Sidecar', spec, metadata);
const egress = (...hosts: string[]) => sidecar({ egress: [{ hosts }] });

describe('egress hosts', () => {
  test.each([['*/*'], ['./*'], ['./foo.com'], ['~/*'], ['*/*', '~ns1/*'], ['*/*', '~/foo.com'], ['*/b.com', 'test/a.com'], ['ns1/*.example.com']])('%s is valid', (...hosts) => {
    // eslint-disable-next-line no-restricted-syntax -- a few hosts
    expect(egress(...hosts)).toEqual({ errors: [], warnings: [] });
  });
  test('a host must be namespace/dnsName with a FQDN or wildcard name', () => {
    expect(egress('*').errors).toEqual([['spec.egress[0].hosts[0]', 'host must be of form namespace/dnsName']]);
    expect(egress('/').errors).toEqual([
      ['spec.egress[0].hosts[0]', 'config namespace and dnsName in host entry cannot be empty'],
      ['spec.egress[0].hosts[0]', 'short names (non FQDN) are not allowed'],
      ['spec.egress[0].hosts[0]', 'empty domain name not allowed'],
    ]);
    expect(egress('*/*', '~Invalid_NS/*').errors).toEqual([['spec.egress[0].hosts[1]', 'invalid namespace value "~Invalid_NS" in sidecar']]);
    expect(egress('test/*a.com').errors).toEqual([['spec.egress[0].hosts[0]', 'partial wildcard "*a.com" not allowed']]);
    expect(egress('ns1/foo').errors).toEqual([['spec.egress[0].hosts[0]', 'short names (non FQDN) are not allowed']]);
  });
  test('a listener needs a host', () => {
    expect(egress().errors).toEqual([['spec.egress[0].hosts', 'sidecar: egress listener must contain at least one host']]);
  });
  test('hosts a broader import already covers are warnings', () => {
    expect(egress('*/*', 'test/a.com').warnings).toEqual([['spec.egress[0].hosts', '`*/*` host select all resources, no other hosts can be added']]);
    expect(egress('test/*', 'test/a.com').warnings).toEqual([['spec.egress[0].hosts[1]', 'duplicated egress host: test/a.com']]);
    expect(sidecar({ egress: [{ hosts: ['./*', 'bar/a.com'] }] }, { namespace: 'bar' }).warnings).toEqual([
      ['spec.egress[0].hosts[1]', 'duplicated egress host: bar/a.com'],
    ]);
  });
});

describe('egress listeners', () => {
  test('one catch-all listener, last', () => {
    expect(sidecar({ egress: [{ hosts: ['*/foo.com'] }, { hosts: ['ns1/bar.com'] }] }).errors).toEqual([
      ['spec.egress[0]', 'sidecar: the egress listener with empty port should be the last listener in the list'],
    ]);
    expect(sidecar({ egress: [{ hosts: ['*/foo.com'] }, { port: { protocol: 'http', number: 8080, name: 'h8080' }, hosts: ['ns1/bar.com'] }] }).errors).toEqual([
      ['spec.egress[0]', 'sidecar: the egress listener with empty port should be the last listener in the list'],
    ]);
  });
  test('ports: protocol, range, uniqueness, bind', () => {
    expect(sidecar({ egress: [{ port: { protocol: 'http1', number: 1000000, name: '' }, hosts: ['ns1/bar.com'] }] }).errors).toEqual([
      ['spec.egress[0].port.protocol', 'unsupported protocol: http1'],
      ['spec.egress[0].port.number', 'port number 1000000 must be in the range 1..65535'],
    ]);
    expect(
      sidecar({
        egress: [
          { port: { protocol: 'http', number: 90, name: 'foo' }, hosts: ['ns1/bar.com'] },
          { port: { protocol: 'tcp', number: 90, name: 'tcp' }, bind: '1.2.3.4.5', hosts: ['ns2/bar.com'] },
        ],
      }).errors,
    ).toEqual([
      ['spec.egress[1].bind', '1.2.3.4.5 is not a valid IP'],
      ['spec.egress[1].port.number', 'sidecar: ports on IP bound listeners must be unique'],
    ]);
    expect(sidecar({ egress: [{ port: { protocol: 'http', number: 90, name: 'foo', targetPort: 9090 }, hosts: ['ns1/bar.com'] }] }).errors).toEqual([
      ['spec.egress[0].port.targetPort', 'targetPort has no impact on Sidecars'],
    ]);
  });
  test('port 0 is a unix domain socket listener', () => {
    const uds = (bind: string, captureMode?: string) => ({ port: { protocol: 'http', number: 0, name: 'uds' }, bind, ...(captureMode === undefined ? {} : { captureMode }), hosts: ['ns1/bar.com'] });
    expect(sidecar({ egress: [uds('unix:///@foo/bar/com')] }).errors).toEqual([]);
    expect(sidecar({ egress: [uds('1.2.3.4')] }).errors).toEqual([['spec.egress[0].bind', 'sidecar: ports with 0 value must have a unix domain socket bind address']]);
    expect(sidecar({ egress: [uds('unix:///@foo', 'IPTABLES')] }).errors).toEqual([
      ['spec.egress[0].captureMode', 'sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners'],
    ]);
    expect(sidecar({ egress: [uds('unix:///@foo'), uds('unix:///@foo')] }).errors).toEqual([
      ['spec.egress[1].bind', 'sidecar: unix domain socket values for listeners must be unique'],
    ]);
  });
  test('null listeners', () => {
    expect(sidecar({ egress: [null, { hosts: ['*/*'] }] }).errors).toEqual([['spec.egress[0]', 'egress listener may not be null']]);
  });
});

describe('ingress listeners', () => {
  const http90 = { protocol: 'http', number: 90, name: 'foo' };
  test('port is required and unique; defaultEndpoint forms', () => {
    expect(sidecar({ ingress: [{ defaultEndpoint: '127.0.0.1:9999' }], egress: [{ hosts: ['*/*'] }] }).errors).toEqual([
      ['spec.ingress[0].port', 'sidecar: port is required for ingress listeners'],
    ]);
    expect(sidecar({ ingress: [{ port: http90, defaultEndpoint: '127.0.0.1:9999' }, { port: http90, defaultEndpoint: '[::1]:9999' }] }).errors).toEqual([
      ['spec.ingress[1].port.number', 'sidecar: ports on IP bound listeners must be unique'],
    ]);
    expect(sidecar({ ingress: [{ port: http90, defaultEndpoint: '1.1.1.1:90' }] }).errors).toEqual([
      ['spec.ingress[0].defaultEndpoint', 'sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset'],
    ]);
    expect(sidecar({ ingress: [{ port: http90, defaultEndpoint: 'unix://' }] }).errors).toEqual([['spec.ingress[0].defaultEndpoint', 'unix address must not be empty']]);
    expect(sidecar({ ingress: [{ port: http90, defaultEndpoint: '127.0.0.1:hi' }] }).errors).toEqual([
      ['spec.ingress[0].defaultEndpoint', 'sidecar: defaultEndpoint port (hi) is not a number: strconv.Atoi: parsing "hi": invalid syntax'],
    ]);
    expect(sidecar({ ingress: [{ port: http90 }] }).errors).toEqual([]);
  });
  test('tls is restricted', () => {
    expect(sidecar({ ingress: [{ port: http90, defaultEndpoint: '127.0.0.1:9999', tls: { mode: 'ISTIO_MUTUAL' } }] }).errors).toEqual([
      ['spec.ingress[0].tls.mode', 'configuration is invalid: cannot set mode to ISTIO_MUTUAL in sidecar ingress tls'],
      ['spec.ingress[0].tls', 'server cannot have TLS settings for non HTTPS/TLS ports'],
    ]);
  });
});

describe('the spec as a whole', () => {
  test('empty configuration', () => {
    expect(sidecar({}).errors).toEqual([['spec', 'sidecar: empty configuration provided']]);
    expect(sidecar({ outboundTrafficPolicy: { mode: 'ALLOW_ANY' } }).errors).toEqual([]);
  });
  test('workload selector: no wildcards; no labels is a warning', () => {
    expect(sidecar({ workloadSelector: { labels: {} }, egress: [{ hosts: ['*/*'] }] })).toEqual({
      errors: [],
      warnings: [['spec.workloadSelector', 'sidecar: workload selector specified without labels, will be applied to all services in namespace']],
    });
    expect(sidecar({ workloadSelector: { labels: { app: '*' } }, egress: [{ hosts: ['*/*'] }] }).errors).toEqual([
      ['spec.workloadSelector.labels.app', 'wildcard is not supported in selector: "app=*"'],
    ]);
  });
  test('outbound traffic policy and egress proxy', () => {
    const withPolicy = (outboundTrafficPolicy: unknown) => sidecar({ outboundTrafficPolicy, egress: [{ hosts: ['*/*'] }] }).errors;
    expect(withPolicy({ mode: 'ALLOW_ANY' })).toEqual([]);
    expect(withPolicy({ egressProxy: { host: 'foo.bar', port: { number: 80 } } })).toEqual([
      ['spec.outboundTrafficPolicy.egressProxy', 'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode'],
    ]);
    expect(withPolicy({ mode: 'ALLOW_ANY', egressProxy: { host: 'foo.bar', port: { number: 80 } } })).toEqual([]);
    expect(withPolicy({ mode: 'ALLOW_ANY', egressProxy: { host: 'foo.bar' } })).toEqual([
      ['spec.outboundTrafficPolicy.egressProxy.port', 'sidecar: egress_proxy port must be non-nil'],
    ]);
    expect(withPolicy({ mode: 'ALLOW_ANY_DYNAMIC_DNS' })).toEqual([
      ['spec.outboundTrafficPolicy.mode', 'sidecar: ALLOW_ANY_DYNAMIC_DNS mode is only supported in MeshConfig, not in Sidecar resource'],
    ]);
  });
});

test('normalization keeps what scopes the proxy and matches the schema', () => {
  const result = validate(
    'Sidecar',
    {
      workloadSelector: { labels: { app: 'a' } },
      egress: [{ port: { number: 8080, protocol: 'http', name: 'web' }, hosts: ['./*'] }, { hosts: ['istio-system/*', '~foo/*'] }],
      ingress: [{ port: { number: 90, protocol: 'TCP', name: 'in' } }],
      outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
    },
    { namespace: 'ns1', name: 'scoped', creationTimestamp: '2024-05-01T10:00:00Z' },
  );
  if (!result.valid || result.object.kind !== 'Sidecar') throw new Error('expected a valid Sidecar');
  const normalized = normalizeSidecar(result.object);
  expect(normalized).toEqual({
    schemaVersion: 1,
    namespace: 'ns1',
    name: 'scoped',
    creationTime: Date.parse('2024-05-01T10:00:00Z'),
    workloadSelector: { app: 'a' },
    egress: [
      { port: { number: 8080, protocol: 'HTTP', name: 'web' }, bind: '', hosts: ['./*'] },
      { bind: '', hosts: ['istio-system/*', '~foo/*'] },
    ],
    outboundTrafficPolicy: 'REGISTRY_ONLY',
  });
  expect(checkNormalizedSidecar(normalized)).toMatchObject({ valid: true });
});
