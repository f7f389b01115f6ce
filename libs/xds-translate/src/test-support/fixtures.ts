/** Normalized objects for unit tests, built directly (no YAML), with every field defaulted. */
import { NORMALIZED_SCHEMA_VERSION, type NormalizedEndpoint, type NormalizedPort, type NormalizedServiceEntry } from '@skiff/model';

export function port(overrides: Partial<NormalizedPort> = {}): NormalizedPort {
  return { number: 80, name: 'http', protocol: 'HTTP', targetPort: 0, ...overrides };
}

export function serviceEntry(overrides: Partial<NormalizedServiceEntry> = {}): NormalizedServiceEntry {
  return {
    schemaVersion: NORMALIZED_SCHEMA_VERSION,
    namespace: 'default',
    name: 'svc',
    creationTime: 0,
    labels: {},
    hosts: ['svc.example.com'],
    addresses: [],
    ports: [port()],
    location: 'MESH_EXTERNAL',
    resolution: 'STATIC',
    exportTo: [],
    workloadSelector: { app: 'svc' },
    subjectAltNames: [],
    ...overrides,
  };
}

/** A selected WorkloadEntry in namespace `default`. */
export function workloadEntry(name: string, overrides: Partial<NormalizedEndpoint> = {}): NormalizedEndpoint {
  return {
    schemaVersion: NORMALIZED_SCHEMA_VERSION,
    source: { kind: 'WorkloadEntry', namespace: overrides.namespace ?? 'default', name },
    address: '10.0.0.1',
    ports: {},
    labels: { app: 'svc' },
    network: '',
    locality: '',
    weight: 0,
    serviceAccount: '',
    tlsMode: 'disabled',
    workloadName: name,
    namespace: 'default',
    healthy: true,
    ...overrides,
  };
}

/** The `index`-th inline endpoint of ServiceEntry `default/<seName>`. */
export function inlineEndpoint(seName: string, index: number, overrides: Partial<NormalizedEndpoint> = {}): NormalizedEndpoint {
  return {
    ...workloadEntry(`${seName}-${index}`, { labels: {}, ...overrides }),
    source: { kind: 'ServiceEntry', namespace: 'default', name: seName, index },
  };
}
