/** Normalized objects for unit tests, built directly (no YAML), with every field defaulted. */
import type { NormalizedEndpoint, NormalizedPort, NormalizedServiceEntry } from '@skiff/model';
import { normalizedServiceEntry, normalizedWorkload } from '@skiff/testing';

export function port(overrides: Partial<NormalizedPort> = {}): NormalizedPort {
  return { number: 80, name: 'http', protocol: 'HTTP', targetPort: 0, ...overrides };
}

export function serviceEntry(overrides: Partial<NormalizedServiceEntry> = {}): NormalizedServiceEntry {
  return normalizedServiceEntry({ namespace: 'default', name: 'svc', hosts: ['svc.example.com'], location: 'MESH_EXTERNAL', workloadSelector: { app: 'svc' }, ...overrides });
}

/** A selected WorkloadEntry in namespace `default`. */
export function workloadEntry(name: string, overrides: Partial<NormalizedEndpoint> = {}): NormalizedEndpoint {
  return { ...normalizedWorkload({ namespace: overrides.namespace ?? 'default', name, labels: { app: 'svc' }, tlsMode: 'disabled' }), ...overrides };
}

/** The `index`-th inline endpoint of ServiceEntry `default/<seName>`. */
export function inlineEndpoint(seName: string, index: number, overrides: Partial<NormalizedEndpoint> = {}): NormalizedEndpoint {
  return {
    ...workloadEntry(`${seName}-${index}`, { labels: {}, ...overrides }),
    source: { kind: 'ServiceEntry', namespace: 'default', name: seName, index },
  };
}
