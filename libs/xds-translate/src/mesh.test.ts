import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_SETTINGS, isVisibleTo, serviceVisibility, withMeshDefaults } from './mesh.js';

describe('mesh settings', () => {
  it('defaults to istiod mesh defaults', () => {
    expect(DEFAULT_MESH_SETTINGS).toMatchObject({
      connectTimeoutMs: 10_000,
      dnsRefreshRateMs: 60_000,
      dnsJitterMs: 100,
      dnsResolverUdpMaxQueries: 100,
      dnsLookupFamily: 'V4_ONLY',
      defaultServiceExportTo: ['*'],
      clusterId: 'Kubernetes',
      trustDomain: 'cluster.local',
      enableAutoMtls: true,
      metadataExchange: true,
    });
    expect(Object.isFrozen(DEFAULT_MESH_SETTINGS)).toBe(true);
  });

  it('overrides only the given fields', () => {
    const mesh = withMeshDefaults({ connectTimeoutMs: 1, clusterId: 'east' });
    expect(mesh.connectTimeoutMs).toBe(1);
    expect(mesh.clusterId).toBe('east');
    expect(mesh.trustDomain).toBe('cluster.local');
  });
});

describe('serviceVisibility (docs/istio-behaviour.md#visibility)', () => {
  const entry = (exportTo: string[]) => ({ namespace: 'team-a', exportTo });

  it('falls back to the mesh default, then to public', () => {
    expect(serviceVisibility(entry([]), DEFAULT_MESH_SETTINGS)).toEqual({ kind: 'public' });
    expect(serviceVisibility(entry([]), { defaultServiceExportTo: ['.'] })).toEqual({ kind: 'namespaces', namespaces: ['team-a'] });
    expect(serviceVisibility(entry([]), { defaultServiceExportTo: [] })).toEqual({ kind: 'public' });
  });

  it('lets * win, then ~ hide', () => {
    expect(serviceVisibility(entry(['team-b', '*']), DEFAULT_MESH_SETTINGS)).toEqual({ kind: 'public' });
    expect(serviceVisibility(entry(['~']), DEFAULT_MESH_SETTINGS)).toEqual({ kind: 'none' });
  });

  it('resolves . to the entry namespace and lists namespaces once, sorted', () => {
    const visibility = serviceVisibility(entry(['team-c', '.', 'team-a', 'team-b']), DEFAULT_MESH_SETTINGS);
    expect(visibility).toEqual({ kind: 'namespaces', namespaces: ['team-a', 'team-b', 'team-c'] });
    expect(isVisibleTo(visibility, 'team-b')).toBe(true);
    expect(isVisibleTo(visibility, 'team-z')).toBe(false);
    expect(isVisibleTo({ kind: 'public' }, 'anything')).toBe(true);
    expect(isVisibleTo({ kind: 'none' }, 'team-a')).toBe(false);
  });
});
