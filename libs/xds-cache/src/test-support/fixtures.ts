/** Records, resources and nodes for the cache's tests. */
import type { ProxyNode } from '@skiff/ads-server';
import type { NormalizedGateway, ObjectKey } from '@skiff/model';
import { TypeUrl } from '@skiff/protos';
import type { BuiltResource, OwnershipRecord, ResourceRef, Visibility } from '@skiff/store';
import { CachedResource } from '../cached-resource.js';

export const CDS = TypeUrl.Cluster;
export const EDS = TypeUrl.ClusterLoadAssignment;

/** A resource whose bytes spell what it is, with 0x00 and 0xff around so text conversions would show. */
export function built(name: string, version: string, variant = 'envoy-sidecar', typeUrl: string = CDS): BuiltResource {
  const text = new TextEncoder().encode(`${variant}|${typeUrl}|${name}|${version}`);
  return { typeUrl, name, variant, version, bytes: Uint8Array.from([0x00, 0xff, ...text]) };
}

export function visibility(namespace: string, name: string, overrides: Partial<Visibility> = {}): Visibility {
  return { namespace, name, exportTo: [], creationTime: 1_000, hosts: [`${name}.example.com`], ...overrides };
}

export function record(vis: Visibility, resources: readonly ResourceRef[], revision = 1): OwnershipRecord {
  return { ...vis, exportTo: [...vis.exportTo], hosts: [...vis.hosts], revision, resources: resources.map(({ typeUrl, name, variant, version }) => ({ typeUrl, name, variant, version })) };
}

/** The arguments of `ResourceTable.setOwner` for an owner with these resources. */
export function owner(vis: Visibility, resources: readonly BuiltResource[], revision = 1): [OwnershipRecord, Map<string, CachedResource>] {
  const cached = resources.map((r) => new CachedResource(r));
  return [record(vis, resources, revision), new Map(cached.map((c) => [c.key, c]))];
}

export function node(overrides: Partial<ProxyNode> = {}): ProxyNode {
  return {
    id: '',
    cluster: '',
    metadata: {},
    locality: { region: '', zone: '', subZone: '' },
    userAgentName: 'envoy',
    userAgentVersion: '1.36.0',
    clientFeatures: [],
    ...overrides,
  };
}

/** A Gateway with one AUTO_PASSTHROUGH server on 15443 for `hosts`, selecting routers by `selector`. */
export function autoPassthroughGateway(key: ObjectKey, selector: Record<string, string>, hosts: readonly string[] = ['*.local']): NormalizedGateway {
  return { schemaVersion: 1, namespace: key.namespace, name: key.name, creationTime: 0, selector, servers: [{ port: 15443, bind: '', hosts: [...hosts], tlsMode: 'AUTO_PASSTHROUGH' }] };
}
