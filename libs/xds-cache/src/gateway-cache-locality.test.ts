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
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { silentLogger } from '@skiff/runtime';
import { createMemoryStore, type BuiltResource, type MemoryStore } from '@skiff/store';
import { eventually, normalizedDestinationRule, normalizedServiceEntry, normalizedWorkload } from '@skiff/testing';
import { DEFAULT_MESH_SETTINGS, encodeLocalityLbPolicy, encodeResources, LOCALITY_LB_POLICY_TYPE_URL, translateServiceEntry } from '@skiff/xds-translate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatewayCache } from './gateway-cache.js';
import { proxyProfileOf } from './profile.js';
import { EDS, node, visibility } from './test-support/fixtures.js';

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

/** What the translator stores for the entry: port 80 has outlier detection (locality failover), port 81 none. */
function buildResources(trafficPolicy: Record<string, unknown>): BuiltResource[] {
  const serviceEntry = normalizedServiceEntry({
    namespace: 'a',
    name: 'alpha',
    hosts: [HOST],
    resolution: 'STATIC',
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
  for (const { clusterName, policy } of result.localityLbPolicies) {
    const bytes = encodeLocalityLbPolicy(policy);
    resources.push({ typeUrl: LOCALITY_LB_POLICY_TYPE_URL, name: clusterName, variant: 'envoy-sidecar', version: contentVersion(bytes), bytes });
  }
  return resources;
}

function proxyIn(region: string, zone: string): ProxyProfile {
  return proxyProfileOf(node({ id: `sidecar~10.9.0.1~app.a~a.svc.cluster.local`, metadata: { NAMESPACE: 'a', CLUSTER_ID: 'Kubernetes' }, locality: { region, zone, subZone: '' } }));
}

/** `locality: priority` of what a proxy is served. */
function priorities(cache: GatewayCache, profile: ProxyProfile, name = CLUSTER): Record<string, number> {
  const served = cache.viewFor(profile).get(EDS, name);
  const assignment = fromBinary(ClusterLoadAssignmentSchema, served!.bytes);
  return Object.fromEntries(assignment.endpoints.map((group) => [`${group.locality?.region}/${group.locality?.zone}`, group.priority]));
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
});
