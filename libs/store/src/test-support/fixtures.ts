/** Normalized entries and built resources for store tests. */
import { NORMALIZED_SCHEMA_VERSION, type NormalizedDestinationRule, type NormalizedEndpoint, type NormalizedServiceEntry, type NormalizedVirtualService, type ObjectKey } from '@skiff/model';
import { normalizedDestinationRule, normalizedServiceEntry, normalizedWorkload } from '@skiff/testing';
import type { BuiltResource, Visibility } from '../contract.js';

export const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const ENDPOINT_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

export function serviceEntry(key: ObjectKey, overrides: Partial<NormalizedServiceEntry> = {}): NormalizedServiceEntry {
  return normalizedServiceEntry({ ...key, creationTime: 1_700_000_000_000, ...overrides });
}

export function workload(namespace: string, name: string, address: string, overrides: Partial<NormalizedEndpoint> = {}): NormalizedEndpoint {
  return { ...normalizedWorkload({ namespace, name, address, labels: { app: 'a' }, serviceAccount: 'default' }), ...overrides };
}

export function rule(namespace: string, name: string, overrides: Partial<NormalizedDestinationRule> = {}): NormalizedDestinationRule {
  return normalizedDestinationRule({ namespace, name, ...overrides });
}

export function virtualService(namespace: string, name: string, hosts: readonly string[]): NormalizedVirtualService {
  return {
    schemaVersion: NORMALIZED_SCHEMA_VERSION,
    namespace,
    name,
    creationTime: 0,
    hosts: [...hosts],
    gateways: [],
    exportTo: [],
    http: [{ route: [{ destination: { host: hosts[0] ?? '' } }] }],
  };
}

export function visibility(key: ObjectKey, overrides: Partial<Visibility> = {}): Visibility {
  return { namespace: key.namespace, name: key.name, exportTo: [], creationTime: 1_700_000_000_000, hosts: [`${key.name}.example.com`], ...overrides };
}

/** A resource whose bytes include 0x00 and 0xff, so any text conversion on the way would show. */
export function resource(typeUrl: string, name: string, version: string, variant = 'envoy'): BuiltResource {
  const text = new TextEncoder().encode(`${variant}|${name}|${version}`);
  return { typeUrl, name, variant, version, bytes: Uint8Array.from([0x00, 0xff, ...text, 0x80]) };
}
