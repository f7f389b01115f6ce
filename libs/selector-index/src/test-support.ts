/**
 * Builders for normalized entries used by this package's tests (excluded from the build). Every field
 * gets a plain default so a test spells out only what it is about.
 */
import { NORMALIZED_SCHEMA_VERSION, type NormalizedEndpoint, type NormalizedServiceEntry } from '@skiff/model';

export function buildServiceEntry(
  init: Pick<NormalizedServiceEntry, 'namespace' | 'name'> & Partial<NormalizedServiceEntry>,
): NormalizedServiceEntry {
  return {
    schemaVersion: NORMALIZED_SCHEMA_VERSION,
    creationTime: 0,
    labels: {},
    hosts: [`${init.name}.example.com`],
    addresses: [],
    ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 0 }],
    location: 'MESH_INTERNAL',
    resolution: 'STATIC',
    exportTo: [],
    workloadSelector: {},
    subjectAltNames: [],
    ...init,
  };
}

export function buildWorkload(
  init: { namespace: string; name: string } & Partial<Omit<NormalizedEndpoint, 'source' | 'namespace'>>,
): NormalizedEndpoint {
  const { namespace, name, ...fields } = init;
  return {
    schemaVersion: NORMALIZED_SCHEMA_VERSION,
    source: { kind: 'WorkloadEntry', namespace, name },
    address: '10.0.0.1',
    ports: {},
    labels: {},
    network: '',
    locality: '',
    weight: 0,
    serviceAccount: '',
    tlsMode: 'istio',
    workloadName: name,
    namespace,
    healthy: true,
    ...fields,
  };
}
