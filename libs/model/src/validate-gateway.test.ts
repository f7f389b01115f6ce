/** Gateway rules (istiod `ValidateGateway`; cases after `pkg/config/validation/validation_test.go` `TestValidateGateway`, `TestValidateServer`, `TestValidateTlsOptions`). */
import { describe, expect, test } from 'vitest';
import { normalizeGateway } from './normalize.js';
import { checkNormalizedGateway } from './normalized.js';
import { findings, validate } from './test-support/objects.js';

const gateway = (spec: unknown, metadata: Record<string, unknown> = {}) => findings('Gateway', spec, metadata);
const server = (fields: Record<string, unknown>) => gateway({ servers: [{ hosts: ['foo.bar.com'], port: { number: 443, name: 'tls', protocol: 'TLS' }, ...fields }] });

describe('servers', () => {
  test('an AUTO_PASSTHROUGH server on a TLS port is valid', () => {
    expect(server({ tls: { mode: 'AUTO_PASSTHROUGH' }, hosts: ['*.local'] })).toEqual({ errors: [], warnings: [] });
  });
  test('a gateway needs servers, a server needs hosts and a port', () => {
    expect(gateway({}).errors).toEqual([['spec.servers', 'gateway must have at least one server']]);
    expect(gateway({ servers: [{ hosts: [] }] }).errors).toEqual([
      ['spec.servers[0].hosts', 'server config must contain at least one host'],
      ['spec.servers[0].port', 'port is required'],
    ]);
  });
  test('hosts: short names, bad namespaces and partial wildcards are refused; IPs are allowed', () => {
    expect(server({ hosts: ['foo'], tls: { mode: 'PASSTHROUGH' } }).errors).toEqual([['spec.servers[0].hosts[0]', 'short names (non FQDN) are not allowed']]);
    expect(server({ hosts: ['Bad_NS/foo.com'], tls: { mode: 'PASSTHROUGH' } }).errors).toEqual([['spec.servers[0].hosts[0]', 'invalid namespace value "Bad_NS" in gateway']]);
    expect(server({ hosts: ['*a.com'], tls: { mode: 'PASSTHROUGH' } }).errors).toEqual([['spec.servers[0].hosts[0]', 'partial wildcard "*a.com" not allowed']]);
    expect(server({ hosts: ['./*', '*/foo.com', '10.0.0.1'], tls: { mode: 'PASSTHROUGH' } }).errors).toEqual([]);
  });
  test('ports: protocol, range, name, targetPort', () => {
    expect(gateway({ servers: [{ hosts: ['a.com'], port: { number: 70000, protocol: 'HTTP2X', targetPort: 8080 } }] }).errors).toEqual([
      ['spec.servers[0].port.protocol', 'invalid protocol "HTTP2X", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP'],
      ['spec.servers[0].port.number', 'port number 70000 must be in the range 1..65535'],
      ['spec.servers[0].port.targetPort', 'targetPort has no impact on Gateways'],
      ['spec.servers[0].port.name', 'port name must be set'],
    ]);
  });
  test('port names are unique across servers', () => {
    const port = { number: 80, name: 'http', protocol: 'HTTP' };
    expect(gateway({ servers: [{ hosts: ['a.com'], port }, { hosts: ['b.com'], port: { ...port, number: 81 } }] }).errors).toEqual([
      ['spec.servers[1].port.name', 'port names in servers must be unique: duplicate name http'],
    ]);
  });
  test('binds: an IP or an absolute unix socket with port 0', () => {
    expect(server({ bind: 'not-an-ip', tls: { mode: 'PASSTHROUGH' } }).errors).toEqual([['spec.servers[0].bind', 'not-an-ip is not a valid IP']]);
    expect(server({ bind: 'unix://relative', tls: { mode: 'PASSTHROUGH' } }).errors).toEqual([
      ['spec.servers[0].bind', 'relative is not an absolute path to a file'],
      ['spec.servers[0].port.number', 'port number must be 0 for unix domain socket'],
    ]);
  });
});

describe('TLS', () => {
  test('TLS ports need TLS settings; plain ports refuse them', () => {
    expect(server({}).errors).toEqual([['spec.servers[0].tls', 'server must have TLS settings for HTTPS/TLS protocols']]);
    expect(gateway({ servers: [{ hosts: ['a.com'], port: { number: 9000, name: 'tcp', protocol: 'TCP' }, tls: { mode: 'AUTO_PASSTHROUGH' } }] }).errors).toEqual([
      ['spec.servers[0].tls', 'server cannot have TLS settings for non HTTPS/TLS ports'],
    ]);
    expect(gateway({ servers: [{ hosts: ['a.com'], port: { number: 80, name: 'http', protocol: 'HTTP' }, tls: { mode: 'SIMPLE', credentialName: 'cred' } }] }).errors).toEqual([
      ['spec.servers[0].tls', 'server cannot have TLS settings for plain text HTTP ports'],
    ]);
  });
  test('ISTIO_MUTUAL takes no certificates; SIMPLE and MUTUAL need them', () => {
    expect(server({ tls: { mode: 'ISTIO_MUTUAL', serverCertificate: 'a', credentialName: 'c' } }).errors).toEqual([
      ['spec.servers[0].tls.serverCertificate', 'ISTIO_MUTUAL TLS cannot have associated server certificate'],
      ['spec.servers[0].tls.credentialName', 'ISTIO_MUTUAL TLS cannot have associated credentialName'],
    ]);
    expect(server({ tls: { mode: 'SIMPLE' } }).errors).toEqual([
      ['spec.servers[0].tls.serverCertificate', 'SIMPLE TLS requires a server certificate'],
      ['spec.servers[0].tls.privateKey', 'SIMPLE TLS requires a private key'],
    ]);
    expect(server({ tls: { mode: 'MUTUAL', credentialName: 'cred' } }).errors).toEqual([]);
    expect(server({ tls: { mode: 'MUTUAL', serverCertificate: 'a', privateKey: 'b' } }).errors).toEqual([['spec.servers[0].tls.caCertificates', 'MUTUAL TLS requires a client CA bundle']]);
    expect(server({ tls: { mode: 'SIMPLE', credentialName: 'a', serverCertificate: 'b', privateKey: 'c' } }).errors).toEqual([
      ['spec.servers[0].tls', 'only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified'],
    ]);
  });
  test('passthrough modes with certificates are a warning; an unknown mode an error', () => {
    expect(server({ tls: { mode: 'AUTO_PASSTHROUGH', credentialName: 'x' } })).toEqual({
      errors: [],
      warnings: [['spec.servers[0].tls.mode', 'AUTO_PASSTHROUGH mode does not use certificates, they will be ignored']],
    });
    expect(server({ tls: { mode: 'AUTO' } }).errors[0]?.[0]).toBe('spec.servers[0].tls.mode');
  });
});

test('the name must be a DNS label', () => {
  expect(server({ tls: { mode: 'PASSTHROUGH' } }).errors).toEqual([]);
  expect(findings('Gateway', { servers: [{ hosts: ['a.com'], port: { number: 80, name: 'http', protocol: 'HTTP' } }] }, { name: 'a.b' }).errors).toEqual([
    ['metadata.name', 'invalid gateway name: "a.b"'],
  ]);
});

test('normalized: selector, servers with sanitized hosts and TLS mode, matching the schema', () => {
  const result = validate(
    'Gateway',
    {
      selector: { istio: 'eastwestgateway' },
      servers: [
        { hosts: ['./a.com', '*/b.com'], port: { number: 15443, name: 'tls', protocol: 'TLS' }, tls: { mode: 'AUTO_PASSTHROUGH' } },
        { hosts: ['*/*'], port: { number: 80, name: 'http', protocol: 'HTTP' }, bind: '10.0.0.1' },
      ],
    },
    { namespace: 'istio-system', name: 'cross-network' },
  );
  if (!result.valid || result.object.kind !== 'Gateway') throw new Error('expected a valid Gateway');
  const normalized = normalizeGateway(result.object);
  expect(normalized).toEqual({
    schemaVersion: 1,
    namespace: 'istio-system',
    name: 'cross-network',
    creationTime: 0,
    selector: { istio: 'eastwestgateway' },
    servers: [
      { port: 15443, bind: '', hosts: ['istio-system/a.com', 'b.com'], tlsMode: 'AUTO_PASSTHROUGH' },
      { port: 80, bind: '10.0.0.1', hosts: ['*'], tlsMode: null },
    ],
  });
  expect(checkNormalizedGateway(normalized)).toMatchObject({ valid: true });
  const empty = validate('Gateway', { selector: {}, servers: [{ hosts: ['a.com'], port: { number: 80, name: 'http', protocol: 'HTTP' } }] });
  if (!empty.valid || empty.object.kind !== 'Gateway') throw new Error('expected a valid Gateway');
  expect(normalizeGateway(empty.object).selector).toBeNull();
});
