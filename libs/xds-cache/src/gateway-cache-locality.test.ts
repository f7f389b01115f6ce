/**
 * Locality load balancing in the gateway cache: an assignment stored with a policy is served to each
 * proxy as istiod would build it for that proxy's locality (`pilot/pkg/xds/endpoints/endpoint_builder.go`
 * `BuildClusterLoadAssignment`), each variant encoded once per (version, locality key) and shared;
 * assignments without a policy keep the stored bytes; a policy change alone reaches the proxies.
 */
import { fromBinary } from '@bufbuild/protobuf';
import type { ProxyProfile, ResourceChange } from '@skiff/ads-server';
import type { NormalizedEndpoint } from '@skiff/model';
import { contentVersion } from '@skiff/protos';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { silentLogger } from '@skiff/runtime';
import { createMemoryStore, type BuiltResource, type MemoryStore } from '@skiff/store';
import { eventually, normalizedDestinationRule, normalizedServiceEntry, normalizedWorkload } from '@skiff/testing';
import { DEFAULT_MESH_SETTINGS, encodeLocalityLbPolicy, encodeResources, INLINE_LOCALITY_LB_POLICY_TYPE_URL, LOCALITY_LB_POLICY_TYPE_URL, translateServiceEntry } from '@skiff/xds-translate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatewayCache } from './gateway-cache.js';
import { proxyProfileOf } from './profile.js';
import { CDS, EDS, node, visibility } from './test-support/fixtures.js';

const HOST = 'alpha.example.com';
const CLUSTER = `outbound|80||${HOST}`;
const OTHER_CLUSTER = `outbound|81||${HOST}`;

const ENDPOINTS: NormalizedEndpoint[] = [
  ['10.0.1.1', 'us-east/a'],
  ['10.0.1.2', 'us-east/b'],
  ['10.0.2.1', 'us-west/a'],
].map(([address, locality], index) => ({
  ...normalizedWorkload({ namespace: 'a', name: `we-${index}`, labels: { app: 'alpha' }, tlsMode: 'disabled' }),
  address: address!,
  locality: locality!,
}));

/**
 * What the translator stores for the entry: port 80 has outlier detection (locality failover), port 81
 * none. A DNS entry's policies go beside its clusters, whose endpoints are inline.
 */
function buildResources(trafficPolicy: Record<string, unknown>, resolution: 'STATIC' | 'DNS' = 'STATIC'): BuiltResource[] {
  const serviceEntry = normalizedServiceEntry({
    namespace: 'a',
    name: 'alpha',
    hosts: [HOST],
    resolution,
    workloadSelector: { app: 'alpha' },
    ports: [
      { number: 80, name: 'http', protocol: 'HTTP', targetPort: 0 },
      { number: 81, name: 'tcp', protocol: 'TCP', targetPort: 0 },
    ],
  });
  const rule = normalizedDestinationRule({ namespace: 'a', name: 'alpha', host: HOST, trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, ...trafficPolicy }] } });
  const result = translateServiceEntry(
    { serviceEntry, endpoints: ENDPOINTS, destinationRules: new Map([[HOST, { rule, from: [{ namespace: 'a', name: 'alpha' }] }]]) },
    { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS },
  );
  const resources: BuiltResource[] = encodeResources(result).map((encoded) => ({ ...encoded, variant: 'envoy-sidecar' }));
  for (const { clusterName, policy, inline } of result.localityLbPolicies) {
    const bytes = encodeLocalityLbPolicy(policy);
    const typeUrl = inline === true ? INLINE_LOCALITY_LB_POLICY_TYPE_URL : LOCALITY_LB_POLICY_TYPE_URL;
    resources.push({ typeUrl, name: clusterName, variant: 'envoy-sidecar', version: contentVersion(bytes), bytes });
  }
  return resources;
}

function proxyIn(region: string, zone: string): ProxyProfile {
  return proxyProfileOf(node({ id: `sidecar~10.9.0.1~app.a~a.svc.cluster.local`, metadata: { NAMESPACE: 'a', CLUSTER_ID: 'Kubernetes' }, locality: { region, zone, subZone: '' } }));
}

function byLocality(assignment: ClusterLoadAssignment | undefined): Record<string, number> {
  return Object.fromEntries((assignment?.endpoints ?? []).map((group) => [`${group.locality?.region}/${group.locality?.zone}`, group.priority]));
}

/** `locality: priority` of what a proxy is served. */
function priorities(cache: GatewayCache, profile: ProxyProfile, name = CLUSTER): Record<string, number> {
  const served = cache.viewFor(profile).get(EDS, name);
  return byLocality(fromBinary(ClusterLoadAssignmentSchema, served!.bytes));
}

/** `locality: priority` of the inline endpoints of the DNS cluster a proxy is served. */
function inlinePriorities(cache: GatewayCache, profile: ProxyProfile, name = CLUSTER): Record<string, number> {
  const served = cache.viewFor(profile).get(CDS, name);
  return byLocality(fromBinary(ClusterSchema, served!.bytes).loadAssignment);
}

describe('gateway cache: locality load balancing', () => {
  let memory: MemoryStore;
  let cache: GatewayCache;
  let changes: ResourceChange[][];
  let revision = 0;

  beforeEach(async () => {
    memory = createMemoryStore();
    changes = [];
    await write(buildResources({ outlierDetection: { consecutive5xxErrors: 3 } }));
    cache = new GatewayCache({ store: memory, logger: silentLogger() });
    cache.onChange((batch) => changes.push([...batch]));
    await cache.start();
  });

  afterEach(async () => {
    await cache.close();
    await memory.close();
  });

  async function write(resources: BuiltResource[]): Promise<void> {
    const outcome = await memory.resources.replace({ visibility: visibility('a', 'alpha', { hosts: [HOST] }), revision: ++revision, resources });
    expect(outcome.status).toBe('applied');
  }

  it('serves each proxy the priorities of its own locality', () => {
    expect(priorities(cache, proxyIn('us-east', 'a'))).toEqual({ 'us-east/a': 0, 'us-east/b': 1, 'us-west/a': 2 });
    expect(priorities(cache, proxyIn('us-west', 'a'))).toEqual({ 'us-east/a': 1, 'us-east/b': 1, 'us-west/a': 0 });
    // A proxy whose region has no endpoint: every locality is as far, all priority 0 (istiod's result too).
    expect(priorities(cache, proxyIn('eu', 'x'))).toEqual({ 'us-east/a': 0, 'us-east/b': 0, 'us-west/a': 0 });
  });

  it('encodes one variant per locality and shares it; an assignment without a policy is the stored resource', () => {
    const zones = [proxyIn('us-east', 'a'), proxyIn('us-east', 'b'), proxyIn('us-west', 'a')];
    const served = new Map<string, unknown>();
    for (let i = 0; i < 3000; i++) {
      const profile = zones[i % 3]!;
      const resource = cache.viewFor(profile).get(EDS, CLUSTER)!;
      const key = `${profile.namespace} ${i % 3}`;
      if (served.has(key)) expect(resource).toBe(served.get(key));
      served.set(key, resource);
    }
    const stored = cache.viewFor({ namespace: 'a', flavor: 'envoy' }).get(EDS, CLUSTER) as unknown as { locality: { encoded: number } };
    expect(stored.locality.encoded).toBe(3);
    // Three localities, three versions, none the stored one.
    const versions = new Set(zones.map((profile) => cache.viewFor(profile).get(EDS, CLUSTER)!.version));
    expect(versions.size).toBe(3);
    expect(versions.has(cache.viewFor({ namespace: 'a', flavor: 'envoy' }).get(EDS, CLUSTER)!.version)).toBe(false);

    const plain = cache.viewFor({ namespace: 'a', flavor: 'envoy' }).get(EDS, OTHER_CLUSTER);
    expect(plain).toBeDefined();
    for (const profile of zones) expect(cache.viewFor(profile).get(EDS, OTHER_CLUSTER)).toBe(plain);
    // Wildcard reads get the same variants.
    expect(cache.viewFor(zones[2]!).all(EDS).get(CLUSTER)).toBe(cache.viewFor(zones[2]!).get(EDS, CLUSTER));
  });

  it('announces the assignment when only its policy changed, and serves the new priorities', async () => {
    const west = proxyIn('us-west', 'a');
    const before = cache.viewFor(west).get(EDS, CLUSTER)!;
    // Same endpoints, failover from us-west now goes nowhere first: the assignment bytes are unchanged.
    await write(buildResources({ outlierDetection: { consecutive5xxErrors: 3 }, loadBalancer: { localityLbSetting: { enabled: false } } }));
    await eventually(() => expect(changes.flat().some((change) => change.typeUrl === EDS && change.names.includes(CLUSTER))).toBe(true));
    const after = cache.viewFor(west).get(EDS, CLUSTER)!;
    expect(after.version).not.toBe(before.version);
    expect(priorities(cache, west)).toEqual({ 'us-east/a': 0, 'us-east/b': 0, 'us-west/a': 0 });
  });

  it('serves zone-aware region buckets, one variant per region: zones of the proxy\'s region share priority 0', async () => {
    await write(buildResources({ loadBalancer: { zoneAwareLbSetting: { failover: [{ from: 'eu', to: 'us-west' }] } } }));
    await eventually(() => expect(priorities(cache, proxyIn('us-east', 'a'))).toEqual({ 'us-east/a': 0, 'us-east/b': 0, 'us-west/a': 1 }));
    expect(priorities(cache, proxyIn('us-west', 'a'))).toEqual({ 'us-east/a': 1, 'us-east/b': 1, 'us-west/a': 0 });
    expect(priorities(cache, proxyIn('eu', 'x'))).toEqual({ 'us-east/a': 1, 'us-east/b': 1, 'us-west/a': 0 });
    // Zones do not change a zone-aware result, so two zones of one region get the same bytes.
    expect(cache.viewFor(proxyIn('us-east', 'b')).get(EDS, CLUSTER)).toBe(cache.viewFor(proxyIn('us-east', 'a')).get(EDS, CLUSTER));
  });

  it('serves a DNS cluster with its inline endpoints ranked for the proxy, one encode per locality, the EDS cluster of a STATIC entry untouched', async () => {
    const edsCluster = cache.viewFor(proxyIn('us-east', 'a')).get(CDS, CLUSTER);
    expect(edsCluster).toBe(cache.viewFor({ namespace: 'a', flavor: 'envoy' }).get(CDS, CLUSTER));
    await write(buildResources({ outlierDetection: { consecutive5xxErrors: 3 }, loadBalancer: { localityLbSetting: { failover: [{ from: 'us-west', to: 'us-east' }] } } }, 'DNS'));
    await eventually(() => expect(changes.flat().some((change) => change.typeUrl === CDS && change.names.includes(CLUSTER))).toBe(true));
    expect(inlinePriorities(cache, proxyIn('us-east', 'a'))).toEqual({ 'us-east/a': 0, 'us-east/b': 1, 'us-west/a': 2 });
    expect(inlinePriorities(cache, proxyIn('us-west', 'a'))).toEqual({ 'us-east/a': 1, 'us-east/b': 1, 'us-west/a': 0 });
    // Only the inline endpoints differ between variants; the port without outlier detection is the stored cluster.
    const east = fromBinary(ClusterSchema, cache.viewFor(proxyIn('us-east', 'a')).get(CDS, CLUSTER)!.bytes);
    const stored = cache.viewFor({ namespace: 'a', flavor: 'envoy' }).get(CDS, CLUSTER)!;
    expect({ ...east, loadAssignment: undefined }).toEqual({ ...fromBinary(ClusterSchema, stored.bytes), loadAssignment: undefined });
    for (let i = 0; i < 100; i++) cache.viewFor(proxyIn(i % 2 === 0 ? 'us-east' : 'us-west', 'a')).all(CDS);
    expect((stored as unknown as { locality: { encoded: number } }).locality.encoded).toBe(2);
    const plain = cache.viewFor({ namespace: 'a', flavor: 'envoy' }).get(CDS, OTHER_CLUSTER);
    expect(cache.viewFor(proxyIn('us-west', 'a')).get(CDS, OTHER_CLUSTER)).toBe(plain);
    // A DNS entry has no EDS assignment for the policy to attach to by mistake.
    expect(cache.viewFor(proxyIn('us-west', 'a')).get(EDS, CLUSTER)).toBeUndefined();
  });
});
