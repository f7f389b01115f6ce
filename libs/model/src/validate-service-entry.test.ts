/** One test per rule of docs/istio-behaviour.md#serviceentry-validation (istiod `ValidateServiceEntry`), with the exact webhook text and field. */
import { describe, expect, test } from 'vitest';
import { findings } from './test-support/objects.js';

const se = (spec: unknown, metadata: Record<string, unknown> = {}, options = {}) => findings('ServiceEntry', spec, metadata, options);
const http = { number: 80, name: 'http', protocol: 'HTTP' };

test('a plain DNS ServiceEntry has no findings', () => {
  expect(se({ hosts: ['api.example.com'], ports: [http], resolution: 'DNS' })).toEqual({ errors: [], warnings: [] });
});

describe('hosts', () => {
  test('at least one host', () => {
    expect(se({ hosts: [] }).errors).toEqual([['spec.hosts', 'service entry must have at least one host']]);
    expect(se(undefined).errors).toEqual([['spec.hosts', 'service entry must have at least one host']]);
  });
  test('"*" is not a host', () => {
    expect(se({ hosts: ['ok.com', '*'] }).errors).toEqual([['spec.hosts[1]', 'invalid host *']]);
  });
  test('host syntax', () => {
    expect(se({ hosts: ['foo.*.com', 'bad_host.com'] }).errors).toEqual([
      ['spec.hosts[0]', 'domain name "*.com" invalid (label "*" invalid)'],
      ['spec.hosts[1]', 'domain name "bad_host.com" invalid (label "bad_host" invalid)'],
    ]);
  });
  test('short names are allowed', () => {
    expect(se({ hosts: ['foo'], ports: [http] }).errors).toEqual([]);
  });
  test('partial wildcards warn, except with DYNAMIC_DNS', () => {
    expect(se({ hosts: ['*foo.com'] })).toEqual({ errors: [], warnings: [['spec.hosts[0]', 'partial wildcard "*foo.com" not allowed']] });
    expect(se({ hosts: ['*foo.com'], resolution: 'DYNAMIC_DNS', ports: [http] })).toEqual({ errors: [], warnings: [] });
  });
});

describe('addresses', () => {
  test('IPs and CIDR blocks', () => {
    expect(se({ hosts: ['a.com'], addresses: ['10.0.0.1', '10.0.0.0/8', '2001:db8::/32'], ports: [http] }).errors).toEqual([]);
    expect(se({ hosts: ['a.com'], addresses: ['10.0.0.300', '10.0.0.0/33'] }).errors).toEqual([
      ['spec.addresses[0]', '10.0.0.300 is not a valid IP'],
      ['spec.addresses[1]', '10.0.0.0/33 is not a valid CIDR block'],
    ]);
  });
  test.each(['DNS', 'DNS_ROUND_ROBIN'])('CIDR blocks only with NONE/STATIC, not %s', (resolution) => {
    expect(se({ hosts: ['a.com'], addresses: ['10.0.0.0/8'], resolution, ports: [http] }).errors).toEqual([
      ['spec.addresses', 'CIDR addresses are allowed only for NONE/STATIC resolution types'],
    ]);
  });
});

describe('ports', () => {
  test('a null port', () => {
    expect(se({ hosts: ['a.com'], ports: [null] }).errors).toEqual([['spec.ports[0]', 'service entry port may not be null']]);
  });
  test('duplicate names and numbers', () => {
    expect(se({ hosts: ['a.com'], ports: [http, { number: 80, name: 'http', protocol: 'HTTP' }] }).errors).toEqual([
      ['spec.ports[1].name', 'service entry port name "http" already defined'],
      ['spec.ports[1].number', 'service entry port 80 already defined'],
    ]);
  });
  test('number and targetPort range', () => {
    expect(se({ hosts: ['a.com'], ports: [{ number: 0, name: 'a', protocol: 'HTTP', targetPort: 70000 }] }).errors).toEqual([
      ['spec.ports[0].targetPort', 'port number 70000 must be in the range 1..65535'],
      ['spec.ports[0].number', 'port number 0 must be in the range 1..65535'],
    ]);
  });
  test('missing name and number read as empty and 0, which istiod rejects', () => {
    expect(se({ hosts: ['a.com'], ports: [{ protocol: 'HTTP' }] }).errors).toEqual([
      ['spec.ports[0].name', 'invalid port name: '],
      ['spec.ports[0].number', 'port number 0 must be in the range 1..65535'],
    ]);
  });
  test('port names are DNS labels', () => {
    expect(se({ hosts: ['a.com'], ports: [{ number: 80, name: 'http_web', protocol: 'HTTP' }] }).errors).toEqual([
      ['spec.ports[0].name', 'invalid port name: http_web'],
    ]);
  });
  test('protocols are parsed ignoring case; unknown ones are rejected', () => {
    expect(se({ hosts: ['a.com'], ports: [{ number: 80, name: 'a', protocol: 'http' }, { number: 81, name: 'b', protocol: 'MONGO' }] }).errors).toEqual([]);
    expect(se({ hosts: ['a.com'], ports: [{ number: 80, name: 'a', protocol: 'SPDY' }] }).errors).toEqual([
      ['spec.ports[0].protocol', 'unsupported protocol: SPDY'],
    ]);
  });
  test('TCP or unset protocol without addresses warns when no address is auto-allocated', () => {
    const warning = 'addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled';
    const ports = [http, { number: 81, name: 'tcp', protocol: 'TCP' }, { number: 82, name: 'sniffed' }, { number: 83, name: 'lower', protocol: 'tcp' }];
    // NONE never gets an allocated address.
    expect(se({ hosts: ['a.com'], ports }).warnings).toEqual([
      ['spec.ports[1]', warning],
      ['spec.ports[2]', warning],
    ]);
    // STATIC gets one unless the feature is off or the object opts out.
    const staticEntry = { hosts: ['a.com'], ports, resolution: 'STATIC' };
    expect(se(staticEntry).warnings).toEqual([]);
    expect(se(staticEntry, {}, { ipAutoallocate: false }).warnings).toHaveLength(2);
    expect(se(staticEntry, { labels: { 'networking.istio.io/enable-autoallocate-ip': 'False' } }).warnings).toHaveLength(2);
    expect(se({ ...staticEntry, addresses: ['10.1.1.1'] }).warnings).toEqual([]);
  });
});

describe('workloadSelector and endpoints', () => {
  test('both at once', () => {
    expect(se({ hosts: ['a.com'], ports: [http], resolution: 'STATIC', workloadSelector: { labels: { app: 'a' } }, endpoints: [{ address: '1.1.1.1' }] }).errors).toEqual([
      ['spec.endpoints', 'only one of WorkloadSelector or Endpoints is allowed in Service Entry'],
    ]);
  });
  test('selector keys and values', () => {
    expect(se({ hosts: ['a.com'], resolution: 'STATIC', workloadSelector: { labels: { '': 'x', app: 'we*' } } }).errors).toEqual([
      ['spec.workloadSelector.labels[""]', 'empty key is not supported in selector: "=x"'],
      ['spec.workloadSelector.labels.app', 'wildcard is not supported in selector: "app=we*"'],
    ]);
  });
  test('a selector without labels warns', () => {
    expect(se({ hosts: ['a.com'], ports: [http], resolution: 'STATIC', workloadSelector: {} }).warnings).toEqual([
      ['spec.workloadSelector', 'service entry: workload selector specified without labels, will be applied to all services in namespace'],
    ]);
  });
});

describe('resolution NONE (the default)', () => {
  test('no endpoints', () => {
    expect(se({ hosts: ['a.com'], ports: [http], endpoints: [{ address: '1.1.1.1' }] }).errors).toEqual([
      ['spec.endpoints', 'no endpoints should be provided for resolution type none'],
    ]);
  });
  test('a selector only warns', () => {
    expect(se({ hosts: ['a.com'], ports: [http], resolution: 'NONE', workloadSelector: { labels: { app: 'a' } } })).toEqual({
      errors: [],
      warnings: [['spec.workloadSelector', 'workloadSelector should not be set when resolution mode is NONE']],
    });
  });
});

describe('resolution STATIC', () => {
  const staticEntry = (endpoints: unknown[], ports: unknown[] = [http]) => se({ hosts: ['a.com'], ports, resolution: 'STATIC', endpoints });
  test('endpoints must be IPs', () => {
    expect(staticEntry([{ address: '10.0.0.1' }, { address: '2001:db8::1' }]).errors).toEqual([]);
    expect(staticEntry([{ address: 'host.example.com' }]).errors).toEqual([['spec.endpoints[0].address', 'endpoint address "host.example.com" is not a valid IP address']]);
  });
  test('a null endpoint', () => {
    expect(staticEntry([null]).errors).toEqual([['spec.endpoints[0]', 'endpoint cannot be nil']]);
  });
  test('endpoint ports must name ServiceEntry ports (named by their number) and be valid', () => {
    expect(staticEntry([{ address: '10.0.0.1', ports: { http: 8080, grpc: 9090, Bad_Name: 70000 } }]).errors).toEqual([
      ['spec.endpoints[0].ports.grpc', 'endpoint port 9090 is not defined by the service entry'],
      ['spec.endpoints[0].ports.Bad_Name', 'endpoint port 70000 is not defined by the service entry'],
      ['spec.endpoints[0].ports.Bad_Name', 'invalid port name: Bad_Name'],
      ['spec.endpoints[0].ports.Bad_Name', 'port number 70000 must be in the range 1..65535'],
    ]);
  });
  test('unix endpoints need exactly one service port and no endpoint ports', () => {
    expect(staticEntry([{ address: 'unix:///var/run/a.sock' }]).errors).toEqual([]);
    expect(staticEntry([{ address: 'unix:///var/run/a.sock', ports: { http: 80 } }], [http, { number: 81, name: 'b', protocol: 'HTTP' }]).errors).toEqual([
      ['spec.endpoints[0].ports', 'unix endpoint unix:///var/run/a.sock must not include ports'],
      ['spec.endpoints[0].address', 'exactly 1 service port required for unix endpoints'],
    ]);
  });
  test('an endpoint with only a network warns', () => {
    expect(staticEntry([{ network: 'remote' }])).toEqual({ errors: [], warnings: [['spec.endpoints[0].address', 'address is unset with network "remote"']] });
    expect(staticEntry([{}]).errors).toEqual([['spec.endpoints[0].address', 'address is required']]);
  });
  test('endpoint labels', () => {
    expect(staticEntry([{ address: '10.0.0.1', labels: { 'bad key': 'v' } }]).errors).toEqual([['spec.endpoints[0].labels["bad key"]', 'invalid tag key: "bad key"']]);
  });
});

describe('resolution DNS and DNS_ROUND_ROBIN', () => {
  test('without endpoints, hosts must be FQDNs', () => {
    expect(se({ hosts: ['a.com', '*.b.com', '*.c.com'], ports: [http], resolution: 'DNS' }).errors).toEqual([
      ['spec.hosts[1]', 'hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS, domain name "*.b.com" invalid (label "*" invalid)'],
    ]);
  });
  test('endpoints may be IPs or FQDNs', () => {
    expect(se({ hosts: ['*.b.com'], ports: [http], resolution: 'DNS', endpoints: [{ address: '1.1.1.1' }, { address: 'x.example.com', ports: { http: 8080 } }] }).errors).toEqual([]);
    expect(se({ hosts: ['a.com'], ports: [http], resolution: 'DNS', endpoints: [{ address: 'unix:///a.sock' }, { address: 'bad_name' }] }).errors).toEqual([
      ['spec.endpoints[0].address', 'endpoint address "unix:///a.sock" is not a valid FQDN or an IP address'],
      ['spec.endpoints[1].address', 'endpoint address "bad_name" is not a valid FQDN or an IP address'],
    ]);
  });
  test('endpoint ports and labels', () => {
    expect(se({ hosts: ['a.com'], ports: [http], resolution: 'DNS', endpoints: [{ address: 'x.com', ports: { grpc: 0 }, labels: { k: '-v' } }] }).errors).toEqual([
      ['spec.endpoints[0].labels.k', 'invalid tag value: "-v"'],
      ['spec.endpoints[0].ports.grpc', 'endpoint port 0 is not defined by the service entry'],
      ['spec.endpoints[0].ports.grpc', 'port number 0 must be in the range 1..65535'],
    ]);
  });
  test('DNS_ROUND_ROBIN takes at most one endpoint', () => {
    expect(se({ hosts: ['a.com'], ports: [http], resolution: 'DNS_ROUND_ROBIN', endpoints: [{ address: 'x.com' }, { address: 'y.com' }] }).errors).toEqual([
      ['spec.endpoints', 'there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN'],
    ]);
  });
  test('several hosts with addresses and a TCP port warn', () => {
    expect(
      se({ hosts: ['a.com', 'b.com'], addresses: ['10.0.0.1'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'DNS' }).warnings,
    ).toEqual([['spec.hosts', 'service entry can not have more than one host specified simultaneously with address and tcp port']]);
    expect(se({ hosts: ['a.com', 'b.com'], addresses: ['10.0.0.1'], ports: [http], resolution: 'DNS' }).warnings).toEqual([]);
  });
});

describe('resolution DYNAMIC_DNS', () => {
  const dynamic = (spec: Record<string, unknown>, metadata = {}) => se({ hosts: ['*.a.com'], ports: [http], resolution: 'DYNAMIC_DNS', ...spec }, metadata);
  test('wildcard hosts with HTTP, TLS, GRPC or HTTP2 ports', () => {
    expect(dynamic({ ports: [http, { number: 443, name: 'tls', protocol: 'TLS' }, { number: 81, name: 'g', protocol: 'grpc' }] }).errors).toEqual([]);
  });
  test('hosts must be wildcards', () => {
    expect(dynamic({ hosts: ['a.com'] }).errors).toEqual([['spec.hosts[0]', 'host must be wildcarded for resolution mode DYNAMIC_DNS']]);
  });
  test('no addresses, no endpoints, no other protocols (messages as istiod words them)', () => {
    expect(dynamic({ addresses: ['1.1.1.1'], endpoints: [{ address: '1.1.1.1' }], ports: [{ number: 22, name: 'ssh', protocol: 'TCP' }] }).errors).toEqual([
      ['spec.addresses', 'addresses cannot be set for resolution type DYNAMIC_DNS. HTTP route domains will only be generatedfrom the hosts field values'],
      ['spec.endpoints', 'endpoints cannot be set for resolution type DYNAMIC_DNS. Destination IP address determined from hostsfield values'],
      ['spec.ports[0].protocol', 'only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS'],
    ]);
  });
  test('MESH_INTERNAL only without a waypoint', () => {
    expect(dynamic({ location: 'MESH_INTERNAL' }).errors).toEqual([]);
    expect(dynamic({ location: 'MESH_INTERNAL' }, { labels: { 'istio.io/use-waypoint': 'waypoint' } }).errors).toEqual([
      ['spec.location', 'location MESH_INTERNAL with resolution type DYNAMIC_DNS is not supported when using waypoints'],
    ]);
    expect(dynamic({ location: 'MESH_INTERNAL' }, { labels: { 'istio.io/use-waypoint': 'None' } }).errors).toEqual([]);
  });
});

test('several hosts need HTTP or TLS ports unless the resolution is NONE', () => {
  const ports = [http, { number: 3306, name: 'mysql', protocol: 'MySQL' }];
  expect(se({ hosts: ['a.com', 'b.com'], ports, resolution: 'DNS' }).errors).toEqual([['spec.ports[1].protocol', 'multiple hosts provided with non-HTTP, non-TLS ports']]);
  expect(se({ hosts: ['a.com', 'b.com'], ports, resolution: 'NONE' }).errors).toEqual([]);
});

test('exportTo', () => {
  expect(se({ hosts: ['a.com'], ports: [http], exportTo: ['default', '.'] }, { namespace: 'default' }).errors).toEqual([
    ['spec.exportTo[1]', 'duplicate entries in exportTo: . and current namespace default'],
  ]);
  expect(se({ hosts: ['a.com'], ports: [http], exportTo: ['.', 'default'] }, { namespace: 'default' }).errors).toEqual([
    ['spec.exportTo[1]', 'duplicate entries in exportTo for entry default'],
  ]);
  expect(se({ hosts: ['a.com'], ports: [http], exportTo: ['~'] }).errors).toEqual([]);
});

describe('structure', () => {
  test('wrong types are reported with their path', () => {
    expect(se({ hosts: 'a.com', ports: [{ number: '80', name: 'http' }, { number: 8.5, name: 'b' }], endpoints: {} }).errors).toEqual([
      ['spec.ports[0].number', 'must be an integer, not a string ("80")'],
      ['spec.ports[1].number', 'must be an integer, not a number (8.5)'],
      ['spec.endpoints', 'must be a list, not an object'],
      ['spec.hosts', 'must be a list, not a string ("a.com")'],
      // The ports whose numbers did not read fall back to 0 and fail istiod's rules too.
      ['spec.hosts', 'service entry must have at least one host'],
      ['spec.ports[0].number', 'port number 0 must be in the range 1..65535'],
      ['spec.ports[1].number', 'service entry port 0 already defined'],
      ['spec.ports[1].number', 'port number 0 must be in the range 1..65535'],
    ]);
  });
  test('negative and huge integers', () => {
    expect(se({ hosts: ['a.com'], ports: [{ number: -1, name: 'a', protocol: 'HTTP', targetPort: 4294967296 }] }).errors.slice(0, 2)).toEqual([
      ['spec.ports[0].targetPort', 'must be an integer between 0 and 4294967295, not 4294967296'],
      ['spec.ports[0].number', 'must be an integer between 0 and 4294967295, not -1'],
    ]);
  });
  test('unknown enum values', () => {
    expect(se({ hosts: ['a.com'], ports: [http], resolution: 'ROUND_ROBIN', location: 'EXTERNAL' }).errors).toEqual([
      ['spec.location', 'unsupported location EXTERNAL: must be MESH_EXTERNAL or MESH_INTERNAL'],
      ['spec.resolution', 'unsupported resolution type ROUND_ROBIN'],
    ]);
  });
  test('spec must be an object', () => {
    expect(se('hosts').errors[0]).toEqual(['spec', 'must be an object, not a string ("hosts")']);
  });
  test('unknown fields are warnings, so typos are seen', () => {
    expect(se({ hosts: ['a.com'], ports: [{ ...http, targetport: 8080 }], endpoint: [] }).warnings).toEqual([
      ['spec.endpoint', 'unknown field, ignored'],
      ['spec.ports[0].targetport', 'unknown field, ignored'],
    ]);
  });
  test('null fields are unset', () => {
    expect(se({ hosts: ['a.com'], ports: [http], endpoints: null, workloadSelector: null, resolution: null })).toEqual({ errors: [], warnings: [] });
  });
});
