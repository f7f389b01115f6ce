/**
 * The one builder of normalized entries for tests: every field of the schema (docs/normalized-entries.md)
 * gets a plain default, so a test spells out only what it is about. Suites with other defaults pass
 * them as overrides rather than writing the whole object again.
 */
import { NORMALIZED_SCHEMA_VERSION, type NormalizedDestinationRule, type NormalizedEndpoint, type NormalizedServiceEntry } from '@skiff/model';

/**
 * A STATIC, MESH_INTERNAL ServiceEntry on port 80 (`http`), host `<name>.example.com`, selecting
 * `app: <name>`, created at the epoch.
 */
export function normalizedServiceEntry(init: Pick<NormalizedServiceEntry, 'namespace' | 'name'> & Partial<NormalizedServiceEntry>): NormalizedServiceEntry {
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
    workloadSelector: { app: init.name },
    subjectAltNames: [],
    ...init,
  };
}

/** A healthy WorkloadEntry at 10.0.0.1 with no labels, ports or service account, in Istio's mTLS mode. */
export function normalizedWorkload(init: { readonly namespace: string; readonly name: string } & Partial<Omit<NormalizedEndpoint, 'source' | 'namespace'>>): NormalizedEndpoint {
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

/** A DestinationRule for `<name>.example.com` without exportTo, selector, policy or subsets, created at the epoch. */
export function normalizedDestinationRule(
  init: Pick<NormalizedDestinationRule, 'namespace' | 'name'> & Partial<NormalizedDestinationRule>,
): NormalizedDestinationRule {
  return {
    schemaVersion: NORMALIZED_SCHEMA_VERSION,
    creationTime: 0,
    host: `${init.name}.example.com`,
    exportTo: [],
    workloadSelector: null,
    trafficPolicy: null,
    subsets: [],
    ...init,
  };
}
