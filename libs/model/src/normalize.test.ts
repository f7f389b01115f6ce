import { describe, expect, test } from 'vitest';
import { normalizeServiceEntry, normalizeWorkloadEntry, sanitizeLocalityLabel } from './normalize.js';
import { checkNormalizedEndpoint, checkNormalizedServiceEntry, type NormalizedEndpoint } from './normalized.js';
import type { ServiceEntryObject, WorkloadEntryObject } from './objects.js';
import { parsedObject } from './test-support/objects.js';
import { validateObject } from './validate.js';

function serviceEntry(spec: unknown, metadata: Record<string, unknown> = {}): ServiceEntryObject {
  const result = validateObject(parsedObject('ServiceEntry', spec, metadata));
  if (!result.valid || result.object.kind !== 'ServiceEntry') throw new Error(`invalid test ServiceEntry: ${JSON.stringify(result)}`);
  return result.object;
}

function workloadEntry(spec: unknown, metadata: Record<string, unknown> = {}, status?: unknown): WorkloadEntryObject {
  const result = validateObject(parsedObject('WorkloadEntry', spec, metadata, status));
  if (!result.valid || result.object.kind !== 'WorkloadEntry') throw new Error(`invalid test WorkloadEntry: ${JSON.stringify(result)}`);
  return result.object;
}

const endpoint = (spec: unknown, metadata: Record<string, unknown> = {}, status?: unknown): NormalizedEndpoint =>
  normalizeWorkloadEntry(workloadEntry(spec, metadata, status));

describe('ServiceEntry', () => {
  test('defaults: resolution NONE, location MESH_EXTERNAL, targetPort 0, creationTime 0, empty lists', () => {
    const { serviceEntry: normalized, inlineEndpoints } = normalizeServiceEntry(serviceEntry({ hosts: ['a.example.com'], ports: [{ number: 80, name: 'http' }] }));
    expect(normalized).toEqual({
      schemaVersion: 1,
      namespace: 'default',
      name: 'test',
      creationTime: 0,
      labels: {},
      hosts: ['a.example.com'],
      addresses: [],
      ports: [{ number: 80, name: 'http', protocol: '', targetPort: 0 }],
      location: 'MESH_EXTERNAL',
      resolution: 'NONE',
      exportTo: [],
      workloadSelector: null,
      subjectAltNames: [],
    });
    expect(inlineEndpoints).toEqual([]);
    expect(checkNormalizedServiceEntry(normalized).valid).toBe(true);
  });

  test('protocols take their canonical spelling, whatever the case written', () => {
    const ports = ['http', 'HTTPS', 'grpc-web', 'Http2', 'mongo', 'REDIS', 'mysql', 'tcp', 'tls', 'udp', 'grpc', 'http_proxy'].map((protocol, index) => ({
      number: 1000 + index,
      name: `p${index}`,
      protocol,
    }));
    const { serviceEntry: normalized } = normalizeServiceEntry(serviceEntry({ hosts: ['a.com'], ports, addresses: ['10.0.0.1'] }));
    expect(normalized.ports.map((p) => p.protocol)).toEqual(['HTTP', 'HTTPS', 'GRPC-Web', 'HTTP2', 'Mongo', 'Redis', 'MySQL', 'TCP', 'TLS', 'UDP', 'GRPC', 'HTTP_PROXY']);
  });

  test('spec fields are carried over; creationTime is milliseconds; labels are metadata labels', () => {
    const { serviceEntry: normalized } = normalizeServiceEntry(
      serviceEntry(
        {
          hosts: ['a.com', 'b.com'],
          addresses: ['10.0.0.0/24'],
          ports: [{ number: 443, name: 'https', protocol: 'HTTPS', targetPort: 8443 }],
          location: 'MESH_INTERNAL',
          resolution: 'STATIC',
          exportTo: ['.', 'other'],
          workloadSelector: { labels: { app: 'db' } },
          subjectAltNames: ['spiffe://cluster.local/ns/db/sa/db'],
        },
        { namespace: 'db', labels: { team: 'data' }, creationTimestamp: '2024-05-01T10:00:00.250Z' },
      ),
    );
    expect(normalized).toMatchObject({
      namespace: 'db',
      creationTime: Date.UTC(2024, 4, 1, 10, 0, 0, 250),
      labels: { team: 'data' },
      hosts: ['a.com', 'b.com'],
      addresses: ['10.0.0.0/24'],
      ports: [{ number: 443, name: 'https', protocol: 'HTTPS', targetPort: 8443 }],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      exportTo: ['.', 'other'],
      workloadSelector: { app: 'db' },
      subjectAltNames: ['spiffe://cluster.local/ns/db/sa/db'],
    });
  });

  test('an empty selector selects everything: {} and not null', () => {
    expect(normalizeServiceEntry(serviceEntry({ hosts: ['a.com'], resolution: 'STATIC', workloadSelector: {} })).serviceEntry.workloadSelector).toEqual({});
  });

  test('inline endpoints: named <se>-<index>, in the ServiceEntry namespace, always healthy', () => {
    const { serviceEntry: normalized, inlineEndpoints } = normalizeServiceEntry(
      serviceEntry(
        {
          hosts: ['a.com'],
          ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
          resolution: 'STATIC',
          endpoints: [
            { address: '10.0.0.1', ports: { http: 8080 }, labels: { version: 'v1', 'istio-locality': 'us-east1.b' }, weight: 3, network: 'n1' },
            { address: '10.0.0.2', serviceAccount: 'web', locality: 'eu/west', labels: { 'security.istio.io/tlsMode': 'disabled' } },
          ],
        },
        { name: 'web', namespace: 'apps', labels: { 'not-for-endpoints': 'x' } },
      ),
    );
    expect(normalized.workloadSelector).toBeNull();
    expect(inlineEndpoints).toEqual([
      {
        schemaVersion: 1,
        source: { kind: 'ServiceEntry', namespace: 'apps', name: 'web', index: 0 },
        address: '10.0.0.1',
        ports: { http: 8080 },
        labels: { version: 'v1', 'istio-locality': 'us-east1.b' },
        network: 'n1',
        locality: 'us-east1/b',
        weight: 3,
        serviceAccount: '',
        tlsMode: 'disabled',
        workloadName: 'web-0',
        namespace: 'apps',
        healthy: true,
      },
      {
        schemaVersion: 1,
        source: { kind: 'ServiceEntry', namespace: 'apps', name: 'web', index: 1 },
        address: '10.0.0.2',
        ports: {},
        labels: { 'security.istio.io/tlsMode': 'disabled' },
        network: '',
        locality: 'eu/west',
        weight: 0,
        serviceAccount: 'web',
        tlsMode: 'disabled',
        workloadName: 'web-1',
        namespace: 'apps',
        healthy: true,
      },
    ]);
    for (const e of inlineEndpoints) expect(checkNormalizedEndpoint(e).valid).toBe(true);
  });
});

describe('WorkloadEntry', () => {
  test('defaults', () => {
    expect(endpoint({ address: '10.0.0.1' }, { name: 'vm-1', namespace: 'vms' })).toEqual({
      schemaVersion: 1,
      source: { kind: 'WorkloadEntry', namespace: 'vms', name: 'vm-1' },
      address: '10.0.0.1',
      ports: {},
      labels: {},
      network: '',
      locality: '',
      weight: 0,
      serviceAccount: '',
      tlsMode: 'disabled',
      workloadName: 'vm-1',
      namespace: 'vms',
      healthy: true,
    });
  });

  test('labels: spec labels, then metadata labels, metadata winning', () => {
    expect(endpoint({ address: '10.0.0.1', labels: { app: 'spec', version: 'v1' } }, { labels: { app: 'meta', zone: 'z' } }).labels).toEqual({
      app: 'meta',
      version: 'v1',
      zone: 'z',
    });
  });

  describe('locality', () => {
    test('spec.locality wins', () => {
      expect(endpoint({ address: '10.0.0.1', locality: 'r/z/s', labels: { 'istio-locality': 'x.y' } }).locality).toBe('r/z/s');
    });
    test('else topology.istio.io/locality, then istio-locality, dots becoming slashes', () => {
      expect(endpoint({ address: '10.0.0.1', labels: { 'istio-locality': 'region.zone.sub' } }).locality).toBe('region/zone/sub');
      expect(endpoint({ address: '10.0.0.1' }, { labels: { 'topology.istio.io/locality': 'a.b', 'istio-locality': 'c.d' } }).locality).toBe('a/b');
    });
    test('sanitizing keeps a value that already has slashes', () => {
      expect(sanitizeLocalityLabel('us.east/1a.x')).toBe('us.east/1a.x');
      expect(sanitizeLocalityLabel('')).toBe('');
    });
  });

  describe('tlsMode', () => {
    test('the security.istio.io/tlsMode label wins, from spec or metadata labels', () => {
      expect(endpoint({ address: '10.0.0.1', serviceAccount: 'sa', labels: { 'security.istio.io/tlsMode': 'disabled' } }).tlsMode).toBe('disabled');
      expect(endpoint({ address: '10.0.0.1' }, { labels: { 'security.istio.io/tlsMode': 'istio' } }).tlsMode).toBe('istio');
    });
    test('else istio with a service account, disabled without', () => {
      expect(endpoint({ address: '10.0.0.1', serviceAccount: 'sa' }).tlsMode).toBe('istio');
      expect(endpoint({ address: '10.0.0.1' }).tlsMode).toBe('disabled');
    });
  });

  describe('workloadName', () => {
    test('the auto-registration group, else the workload-name label, else the object name', () => {
      expect(endpoint({ address: '10.0.0.1' }, { name: 'vm-10-0-0-1', annotations: { 'istio.io/autoRegistrationGroup': 'payments' } }).workloadName).toBe('payments');
      expect(endpoint({ address: '10.0.0.1' }, { name: 'vm-1', labels: { 'service.istio.io/workload-name': 'reviews' } }).workloadName).toBe('reviews');
      expect(endpoint({ address: '10.0.0.1' }, { name: 'vm-1' }).workloadName).toBe('vm-1');
    });
  });

  describe('healthy', () => {
    const checked = { annotations: { 'proxy.istio.io/health-checks-enabled': 'true' } };
    const condition = (status: string) => ({ conditions: [{ type: 'Healthy', status }] });
    test('without health checks a workload is healthy', () => {
      expect(endpoint({ address: '10.0.0.1' }, {}, condition('False')).healthy).toBe(true);
      expect(endpoint({ address: '10.0.0.1' }, { annotations: { 'proxy.istio.io/health-checks-enabled': 'false' } }, condition('False')).healthy).toBe(true);
      expect(endpoint({ address: '10.0.0.1' }, { annotations: { 'proxy.istio.io/health-checks-enabled': 'yes' } }).healthy).toBe(true);
    });
    test('with health checks only a True Healthy condition is healthy; missing means unhealthy', () => {
      expect(endpoint({ address: '10.0.0.1' }, checked, condition('True')).healthy).toBe(true);
      expect(endpoint({ address: '10.0.0.1' }, checked, condition('False')).healthy).toBe(false);
      expect(endpoint({ address: '10.0.0.1' }, checked, condition('Unknown')).healthy).toBe(false);
      expect(endpoint({ address: '10.0.0.1' }, checked).healthy).toBe(false);
      expect(endpoint({ address: '10.0.0.1' }, checked, { conditions: [{ type: 'Ready', status: 'True' }] }).healthy).toBe(false);
      expect(endpoint({ address: '10.0.0.1' }, checked, 'garbage').healthy).toBe(false);
    });
    test('the annotation is parsed as Go booleans are', () => {
      for (const value of ['1', 't', 'T', 'TRUE', 'True']) {
        expect(endpoint({ address: '10.0.0.1' }, { annotations: { 'proxy.istio.io/health-checks-enabled': value } }).healthy).toBe(false);
      }
    });
  });

  test('fields carried over: address forms, ports, network, weight, service account', () => {
    expect(endpoint({ address: 'vm.example.com', ports: { http: 8080 }, network: 'n2', weight: 7, serviceAccount: 'vm' })).toMatchObject({
      address: 'vm.example.com',
      ports: { http: 8080 },
      network: 'n2',
      weight: 7,
      serviceAccount: 'vm',
    });
    expect(endpoint({ address: 'unix:///var/run/a.sock' }).address).toBe('unix:///var/run/a.sock');
    expect(endpoint({ network: 'remote' }).address).toBe('');
  });

  test('normalized endpoints match the schema', () => {
    expect(checkNormalizedEndpoint(endpoint({ address: '10.0.0.1', ports: { http: 1 }, weight: 4294967295 })).valid).toBe(true);
  });
});
