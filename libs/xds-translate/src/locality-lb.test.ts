/**
 * The endpoint side of locality load balancing against istiod's rules
 * (`pilot/pkg/networking/core/loadbalancer/loadbalancer.go`: `ApplyLocalityLoadBalancer`,
 * `applyLocalityWeights`, `applyLocalityFailover`, `applyFailoverPriorities`,
 * `applyFailoverPriorityPerLocality`; `GetEffectiveLbSetting`; `pilot/pkg/xds/ads.go`
 * `localityFromProxyLabels`). The scenarios follow the shapes of Istio's `loadbalancer_test.go`
 * (`TestApplyLocalitySetting`); the istiod reference checks the whole path (libs/istiod-parity).
 */
import { toBinary } from '@bufbuild/protobuf';
import type { NormalizedDestinationRule, NormalizedEndpoint } from '@skiff/model';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { normalizedDestinationRule } from '@skiff/testing';
import { describe, expect, it } from 'vitest';
import {
  applyLocalityLbPolicy,
  applyLocalityLbPolicyToCluster,
  decodeLocalityLbPolicy,
  effectiveLbSetting,
  encodeLocalityLbPolicy,
  localityLbPolicyOf,
  localityProxyOf,
  localityVariantKey,
  type LocalityLbPolicy,
  type LocalityProxy,
} from './locality-lb.js';
import { DEFAULT_MESH_SETTINGS, withMeshDefaults } from './mesh.js';
import { translateServiceEntry } from './translate.js';
import { inlineEndpoint, serviceEntry } from './test-support/fixtures.js';

const PROXY: LocalityProxy = { locality: { region: 'region1', zone: 'zone1', subZone: 'subzone1' }, labels: { app: 'client' } };

/** One endpoint per address, in the localities given (`region/zone/subzone`). */
function translated(
  localities: readonly { readonly address: string; readonly locality: string; readonly labels?: Record<string, string>; readonly weight?: number; readonly network?: string }[],
  trafficPolicy: Record<string, unknown> | undefined,
): { assignment: ClusterLoadAssignment; policy: LocalityLbPolicy | undefined } {
  const se = serviceEntry({ resolution: 'STATIC', workloadSelector: null, ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 0 }] });
  const endpoints: NormalizedEndpoint[] = localities.map((item, index) =>
    inlineEndpoint('svc', index, { address: item.address, locality: item.locality, labels: item.labels ?? {}, weight: item.weight ?? 0, network: item.network ?? '' }),
  );
  const rules =
    trafficPolicy === undefined
      ? undefined
      : new Map([['svc.example.com', { rule: normalizedDestinationRule({ namespace: 'default', name: 'svc', trafficPolicy }), from: [{ namespace: 'default', name: 'svc' }] }]]);
  const result = translateServiceEntry(
    { serviceEntry: se, endpoints, ...(rules === undefined ? {} : { destinationRules: rules }) },
    { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS },
  );
  const assignment = result.loadAssignments[0]!;
  return { assignment, policy: result.localityLbPolicies.find((entry) => entry.clusterName === assignment.clusterName)?.policy };
}

/** `[locality, priority, weight, addresses]` per LocalityLbEndpoints. */
function shape(assignment: ClusterLoadAssignment): [string, number, number | undefined, string[]][] {
  return assignment.endpoints.map((group) => [
    [group.locality?.region, group.locality?.zone, group.locality?.subZone].filter((part) => part !== undefined && part !== '').join('/'),
    group.priority,
    group.loadBalancingWeight,
    group.lbEndpoints.map((lb) => (lb.hostIdentifier.case === 'endpoint' && lb.hostIdentifier.value.address?.address.case === 'socketAddress' ? lb.hostIdentifier.value.address.address.value.address : '?')),
  ]);
}

const SEVEN_LOCALITIES = [
  { address: '10.0.0.1', locality: 'region1/zone1/subzone1' },
  { address: '10.0.0.2', locality: 'region1/zone1/subzone1' },
  { address: '10.0.0.3', locality: 'region1/zone1/subzone2' },
  { address: '10.0.0.4', locality: 'region1/zone1/subzone3' },
  { address: '10.0.0.5', locality: 'region1/zone2/subzone1' },
  { address: '10.0.0.6', locality: 'region2/zone1/subzone1' },
  { address: '10.0.0.7', locality: 'region3/zone1/subzone1' },
];

const OUTLIER = { consecutive5xxErrors: 3, interval: '10s' };

describe('GetEffectiveLbSetting (loadbalancer.go)', () => {
  const NONE = { localityLbSetting: undefined, zoneAwareLbSetting: undefined };
  it('takes the rule\'s setting over the mesh\'s, and enabled: false at the deciding level turns it off', () => {
    const locality = { enabled: true, failover: [{ from: 'a', to: 'b' }] };
    const mesh = { ...NONE, localityLbSetting: locality };
    expect(effectiveLbSetting(mesh, undefined)).toEqual({ locality });
    expect(effectiveLbSetting(mesh, { localityLbSetting: { failoverPriority: ['x'] } })).toEqual({ locality: { failoverPriority: ['x'] } });
    expect(effectiveLbSetting(mesh, { localityLbSetting: { enabled: false } })).toBeUndefined();
    expect(effectiveLbSetting({ ...NONE, localityLbSetting: { enabled: false } }, { localityLbSetting: { enabled: true } })).toEqual({ locality: { enabled: true } });
    expect(effectiveLbSetting({ ...NONE, localityLbSetting: { enabled: false } }, undefined)).toBeUndefined();
    expect(effectiveLbSetting(NONE, undefined)).toBeUndefined();
  });

  it('ranks zone-aware settings first at each level: rule, then mesh; a disabled mesh zone-aware setting still decides', () => {
    const meshZoneAware = { failover: [{ from: 'a', to: 'b' }] };
    const mesh = { localityLbSetting: { enabled: true }, zoneAwareLbSetting: meshZoneAware };
    expect(effectiveLbSetting(mesh, undefined)).toEqual({ zoneAware: meshZoneAware });
    expect(effectiveLbSetting({ ...mesh, zoneAwareLbSetting: { enabled: false } }, undefined)).toEqual({ zoneAware: { enabled: false } });
    // The rule's locality setting, even a disabled one, wins over the mesh's zone-aware one.
    expect(effectiveLbSetting(mesh, { localityLbSetting: { failover: [] } })).toEqual({ locality: { failover: [] } });
    expect(effectiveLbSetting(mesh, { localityLbSetting: { enabled: false } })).toBeUndefined();
    expect(effectiveLbSetting(NONE, { zoneAwareLbSetting: { minClusterSize: 2 } })).toEqual({ zoneAware: { minClusterSize: 2 } });
  });
});

describe('which assignments depend on the proxy (BuildClusterLoadAssignment)', () => {
  it('none without outlier detection or distribute: the mesh default only fails over with outlier detection', () => {
    expect(translated(SEVEN_LOCALITIES, undefined).policy).toBeUndefined();
    expect(translated(SEVEN_LOCALITIES, { connectionPool: { tcp: { maxConnections: 5 } } }).policy).toBeUndefined();
    expect(translated(SEVEN_LOCALITIES, { loadBalancer: { localityLbSetting: { failover: [{ from: 'region1', to: 'region2' }] } } }).policy).toBeUndefined();
    expect(translated(SEVEN_LOCALITIES, { outlierDetection: OUTLIER }).policy).toEqual({});
    expect(translated(SEVEN_LOCALITIES, { outlierDetection: OUTLIER, loadBalancer: { localityLbSetting: { enabled: false } } }).policy).toBeUndefined();
    expect(translated(SEVEN_LOCALITIES, { loadBalancer: { localityLbSetting: { distribute: [{ from: 'region1/*', to: { 'region2/*': 100 } }] } } }).policy).toEqual({
      distribute: [{ from: 'region1/*', to: [['region2/*', 100]] }],
    });
  });
});

describe('DNS clusters (ApplyToCluster on the inline load_assignment)', () => {
  const se = serviceEntry({ resolution: 'DNS', workloadSelector: null, ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 0 }] });
  const endpoints = [
    inlineEndpoint('svc', 0, { address: 'a.example.org', locality: 'region1/zone1', labels: { tier: 'gold' } }),
    inlineEndpoint('svc', 1, { address: 'b.example.org', locality: 'region2/zone1', labels: { tier: 'silver' } }),
  ];
  const translate = (trafficPolicy: Record<string, unknown> | undefined, count = 2, mesh = DEFAULT_MESH_SETTINGS, subsets: NormalizedDestinationRule['subsets'] = []) =>
    translateServiceEntry(
      {
        serviceEntry: se,
        endpoints: endpoints.slice(0, count),
        ...(trafficPolicy === undefined
          ? {}
          : { destinationRules: new Map([['svc.example.com', { rule: normalizedDestinationRule({ namespace: 'default', name: 'svc', trafficPolicy, subsets }), from: [{ namespace: 'default', name: 'svc' }] }]]) }),
      },
      { flavor: 'envoy', naming: 'sidecar', mesh },
    );

  it('get the same policy as an EDS assignment, marked inline, with no translation error', () => {
    const failover = translate({ outlierDetection: OUTLIER, loadBalancer: { localityLbSetting: { failover: [{ from: 'region1', to: 'region2' }] } } });
    expect(failover.errors).toEqual([]);
    expect(failover.localityLbPolicies).toEqual([{ clusterName: 'outbound|80||svc.example.com', policy: { failover: [{ from: 'region1', to: 'region2' }] }, inline: true }]);
    expect(translate({ outlierDetection: OUTLIER }, 1).localityLbPolicies).toEqual([{ clusterName: 'outbound|80||svc.example.com', policy: {}, inline: true }]);
    expect(translate({ loadBalancer: { zoneAwareLbSetting: {} } }).localityLbPolicies[0]?.policy).toEqual({ zoneAware: true });
    // No outlier detection, a disabled setting, a PASSTHROUGH balancer (no inline endpoints left): nothing per proxy.
    expect(translate({ connectionPool: { tcp: { maxConnections: 1 } } }).localityLbPolicies).toEqual([]);
    expect(translate({ loadBalancer: { zoneAwareLbSetting: { enabled: false } } }).localityLbPolicies).toEqual([]);
    expect(translate({ outlierDetection: OUTLIER, loadBalancer: { simple: 'PASSTHROUGH' } }).localityLbPolicies).toEqual([]);
  });

  it('rewrite the cluster\'s inline endpoints per proxy, leaving the rest of the cluster and the input alone', () => {
    const result = translate({ outlierDetection: OUTLIER, loadBalancer: { localityLbSetting: { distribute: [{ from: 'region2/*', to: { 'region1/*': 100 } }] } } });
    const cluster = result.clusters[0]!;
    const policy = result.localityLbPolicies[0]!.policy;
    const before = toBinary(ClusterSchema, cluster);
    const proxy: LocalityProxy = { locality: { region: 'region2', zone: 'zone1', subZone: '' }, labels: {} };
    const out = applyLocalityLbPolicyToCluster(cluster, policy, proxy);
    expect(shape(out.loadAssignment!)).toEqual([
      ['region1/zone1', 0, 100, ['a.example.org']],
      ['region2/zone1', 0, 1, []],
    ]);
    expect({ ...out, loadAssignment: undefined }).toEqual({ ...cluster, loadAssignment: undefined });
    expect(toBinary(ClusterSchema, cluster)).toEqual(before);
    // A proxy no rule matches gets the cluster as built.
    expect(toBinary(ClusterSchema, applyLocalityLbPolicyToCluster(cluster, policy, PROXY))).toEqual(before);
  });

  it('report failoverPriority over several localities, which istiod ranks by the first locality only, and keep it for one', () => {
    const policy = { outlierDetection: OUTLIER, loadBalancer: { localityLbSetting: { failoverPriority: ['tier'] } } };
    const several = translate(policy);
    expect(several.errors.map((error) => error.detail)).toEqual([
      "localityLbSetting.failoverPriority on the inline endpoints of a DNS cluster with endpoints in several localities (istiod ranks only the first locality's)",
    ]);
    expect(several.localityLbPolicies).toEqual([]);
    const one = translate(policy, 1);
    expect(one.errors).toEqual([]);
    expect(one.localityLbPolicies[0]?.policy).toEqual({ failoverPriority: ['tier'], endpointLabels: [[['gold']]] });
  });

  it('leave a subset cluster\'s endpoints to failoverPriority unsplit, as istiod has no wrapped endpoints there', () => {
    const result = translate({ outlierDetection: OUTLIER, loadBalancer: { localityLbSetting: { failoverPriority: ['tier'] } } }, 2, DEFAULT_MESH_SETTINGS, [{ name: 'all', labels: {}, trafficPolicy: null }]);
    const subset = result.localityLbPolicies.find((entry) => entry.clusterName === 'outbound|80|all|svc.example.com');
    expect(subset?.policy).toEqual({ failoverPriority: ['tier'], endpointLabels: [] });
    const cluster = result.clusters.find((item) => item.name === 'outbound|80|all|svc.example.com')!;
    const proxy: LocalityProxy = { locality: { region: 'region1', zone: 'zone1', subZone: '' }, labels: { tier: 'gold' } };
    expect(toBinary(ClusterSchema, applyLocalityLbPolicyToCluster(cluster, subset!.policy, proxy))).toEqual(toBinary(ClusterSchema, cluster));
    // The default cluster, with endpoints in two localities, is the one reported.
    expect(result.errors.map((error) => error.clusterName)).toEqual(['outbound|80||svc.example.com']);
  });

  it('follow the mesh\'s settings when the rule has none, on the cluster and its endpoints', () => {
    const mesh = withMeshDefaults({ localityLbSetting: { distribute: [{ from: 'region2/*', to: { 'region1/*': 100 } }] } });
    const result = translate(undefined, 2, mesh);
    expect(result.localityLbPolicies[0]?.policy).toEqual({ distribute: [{ from: 'region2/*', to: [['region1/*', 100]] }] });
    expect(result.clusters[0]!.commonLbConfig?.localityConfigSpecifier.case).toBe('localityWeightedLbConfig');
    const zoneAware = translate(undefined, 2, withMeshDefaults({ zoneAwareLbSetting: { minClusterSize: 3 } }));
    expect(zoneAware.localityLbPolicies[0]?.policy).toEqual({ zoneAware: true });
    expect(zoneAware.clusters[0]!.commonLbConfig?.localityConfigSpecifier).toMatchObject({ case: 'zoneAwareLbConfig', value: { minClusterSize: 3n } });
    // The default mesh setting changes nothing on a cluster without outlier detection.
    expect(translate(undefined).clusters[0]!.commonLbConfig?.localityConfigSpecifier.case).toBeUndefined();
  });
});

describe('applyLocalityWeights', () => {
  it('splits a locality\'s weight over the localities a rule names and empties the others (distribution between subzones)', () => {
    const { assignment, policy } = translated(SEVEN_LOCALITIES, {
      loadBalancer: {
        localityLbSetting: { distribute: [{ from: 'region1/zone1/subzone1', to: { 'region1/zone1/subzone1': 80, 'region1/zone1/subzone2': 15, 'region1/zone1/subzone3': 5 } }] },
      },
    });
    const out = applyLocalityLbPolicy(assignment, policy!, PROXY);
    expect(shape(out)).toEqual([
      ['region1/zone1/subzone1', 0, 80, ['10.0.0.1', '10.0.0.2']],
      ['region1/zone1/subzone2', 0, 15, ['10.0.0.3']],
      ['region1/zone1/subzone3', 0, 5, ['10.0.0.4']],
      ['region1/zone2/subzone1', 0, 1, []],
      ['region2/zone1/subzone1', 0, 1, []],
      ['region3/zone1/subzone1', 0, 1, []],
    ]);
    // The input is left as it was.
    expect(shape(assignment)[3]).toEqual(['region1/zone2/subzone1', 0, 1, ['10.0.0.5']]);
  });

  it('shares a wildcard\'s weight by the localities\' own weights, rounding up, and leaves proxies no rule matches alone', () => {
    const { assignment, policy } = translated(
      [
        { address: '10.0.0.1', locality: 'region1/zone1', weight: 3 },
        { address: '10.0.0.2', locality: 'region2/zone1', weight: 1 },
        { address: '10.0.0.3', locality: 'region2/zone2', weight: 2 },
      ],
      { loadBalancer: { localityLbSetting: { distribute: [{ from: 'region1/*', to: { 'region1/*': 10, 'region2/*': 90 } }] } } },
    );
    expect(shape(applyLocalityLbPolicy(assignment, policy!, PROXY)).map(([locality, , weight]) => [locality, weight])).toEqual([
      ['region1/zone1', 10],
      ['region2/zone1', 30],
      ['region2/zone2', 60],
    ]);
    const elsewhere = { locality: { region: 'region9', zone: '', subZone: '' }, labels: {} };
    expect(toBinary(ClusterLoadAssignmentSchema, applyLocalityLbPolicy(assignment, policy!, elsewhere))).toEqual(toBinary(ClusterLoadAssignmentSchema, assignment));
  });
});

describe('applyLocalityFailover', () => {
  it('gives priorities by subzone, zone and region distance, an explicit failover region before the rest (Failover: all priorities)', () => {
    const { assignment, policy } = translated(SEVEN_LOCALITIES, {
      outlierDetection: OUTLIER,
      loadBalancer: { localityLbSetting: { failover: [{ from: 'region1', to: 'region2' }] } },
    });
    expect(shape(applyLocalityLbPolicy(assignment, policy!, PROXY)).map(([locality, priority]) => [locality, priority])).toEqual([
      ['region1/zone1/subzone1', 0],
      ['region1/zone1/subzone2', 1],
      ['region1/zone1/subzone3', 1],
      ['region1/zone2/subzone1', 2],
      ['region2/zone1/subzone1', 3],
      ['region3/zone1/subzone1', 4],
    ]);
  });

  it('closes gaps between priorities, and without failover rules every other region is one priority (mesh default)', () => {
    const { assignment, policy } = translated(
      [
        { address: '10.0.0.3', locality: 'region1/zone1/subzone2' },
        { address: '10.0.0.6', locality: 'region2/zone1/subzone1' },
        { address: '10.0.0.7', locality: 'region3/zone1/subzone1' },
        { address: '10.0.0.8', locality: '' },
      ],
      { outlierDetection: OUTLIER },
    );
    expect(policy).toEqual({});
    expect(shape(applyLocalityLbPolicy(assignment, policy!, PROXY)).map(([locality, priority]) => [locality, priority])).toEqual([
      ['', 1],
      ['region1/zone1/subzone2', 0],
      ['region2/zone1/subzone1', 1],
      ['region3/zone1/subzone1', 1],
    ]);
    // A proxy in region2 sees the same assignment with other priorities.
    const region2 = { locality: { region: 'region2', zone: 'zone1', subZone: 'subzone1' }, labels: {} };
    expect(shape(applyLocalityLbPolicy(assignment, policy!, region2)).map(([, priority]) => priority)).toEqual([1, 1, 0, 1]);
  });
});

describe('zone-aware load balancing (ZoneAwareLBSettings, ApplyZoneAwareLoadBalancer)', () => {
  const cluster = (trafficPolicy: Record<string, unknown>) => {
    const se = serviceEntry({ resolution: 'STATIC', workloadSelector: null, ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 0 }] });
    const rules = new Map([['svc.example.com', { rule: normalizedDestinationRule({ namespace: 'default', name: 'svc', trafficPolicy }), from: [{ namespace: 'default', name: 'svc' }] }]]);
    const result = translateServiceEntry(
      { serviceEntry: se, endpoints: [inlineEndpoint('svc', 0, { address: '10.0.0.1', locality: 'region1/zone1' })], destinationRules: rules },
      { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS },
    );
    expect(result.errors).toEqual([]);
    const specifier = result.clusters[0]!.commonLbConfig?.localityConfigSpecifier;
    if (specifier?.case !== 'zoneAwareLbConfig') return specifier?.case;
    return { routingEnabled: specifier.value.routingEnabled?.value, minClusterSize: specifier.value.minClusterSize };
  };

  it('sets Envoy\'s zone-aware config on the cluster, routing at 0% when the rule turns it off', () => {
    expect(cluster({ loadBalancer: { zoneAwareLbSetting: {} } })).toEqual({ routingEnabled: undefined, minClusterSize: undefined });
    expect(cluster({ loadBalancer: { zoneAwareLbSetting: { minClusterSize: 4 } } })).toEqual({ routingEnabled: undefined, minClusterSize: 4n });
    expect(cluster({ loadBalancer: { zoneAwareLbSetting: { enabled: false, minClusterSize: 0 } } })).toEqual({ routingEnabled: 0, minClusterSize: 0n });
    expect(cluster({ loadBalancer: { simple: 'RANDOM' } })).toBeUndefined();
  });

  it('buckets endpoints by region whatever outlier detection says: the proxy\'s, the failover one, the rest', () => {
    const { assignment, policy } = translated(SEVEN_LOCALITIES, { loadBalancer: { zoneAwareLbSetting: { failover: [{ from: 'region1', to: 'region3' }] } } });
    expect(policy).toEqual({ zoneAware: true, failover: [{ from: 'region1', to: 'region3' }] });
    expect(shape(applyLocalityLbPolicy(assignment, policy!, PROXY)).map(([locality, priority]) => [locality, priority])).toEqual([
      ['region1/zone1/subzone1', 0],
      ['region1/zone1/subzone2', 0],
      ['region1/zone1/subzone3', 0],
      ['region1/zone2/subzone1', 0],
      ['region2/zone1/subzone1', 2],
      ['region3/zone1/subzone1', 1],
    ]);
    // Without failover rules every other region shares one priority; a proxy elsewhere ranks its own region first.
    const plain = translated(SEVEN_LOCALITIES, { loadBalancer: { zoneAwareLbSetting: {} } });
    expect(plain.policy).toEqual({ zoneAware: true });
    expect(shape(applyLocalityLbPolicy(plain.assignment, plain.policy!, PROXY)).map(([, priority]) => priority)).toEqual([0, 0, 0, 0, 1, 1]);
    const west = { locality: { region: 'region2', zone: 'zoneX', subZone: '' }, labels: {} };
    expect(shape(applyLocalityLbPolicy(plain.assignment, plain.policy!, west)).map(([, priority]) => priority)).toEqual([1, 1, 1, 1, 0, 1]);
    // Zones do not matter: proxies of one region share a variant.
    expect(localityVariantKey(plain.policy!, PROXY)).toBe(localityVariantKey(plain.policy!, { locality: { region: 'region1', zone: 'other', subZone: '' }, labels: {} }));
    expect(translated(SEVEN_LOCALITIES, { outlierDetection: OUTLIER, loadBalancer: { zoneAwareLbSetting: { enabled: false } } }).policy).toBeUndefined();
  });

  it('splits by failoverPriority labels first, then by region within each tier', () => {
    const endpoints = [
      { address: '10.0.0.1', locality: 'region1/zone1/subzone1', labels: { key: 'a' } },
      { address: '10.0.0.2', locality: 'region1/zone1/subzone1', labels: { key: 'b' } },
      { address: '10.0.0.3', locality: 'region2/zone2/subzone2', labels: { key: 'a' } },
      { address: '10.0.0.4', locality: 'region2/zone2/subzone2', labels: { key: 'b' } },
    ];
    const { assignment, policy } = translated(endpoints, { outlierDetection: OUTLIER, loadBalancer: { zoneAwareLbSetting: { failoverPriority: ['key'] } } });
    expect(policy).toEqual({ zoneAware: true, failoverPriority: ['key'], endpointLabels: [[['a'], ['b']], [['a'], ['b']]] });
    const proxy = { locality: PROXY.locality, labels: { key: 'a' } };
    expect(shape(applyLocalityLbPolicy(assignment, policy!, proxy)).map(([locality, priority, , addresses]) => [locality, priority, addresses])).toEqual([
      ['region1/zone1/subzone1', 0, ['10.0.0.1']],
      ['region1/zone1/subzone1', 2, ['10.0.0.2']],
      ['region2/zone2/subzone2', 1, ['10.0.0.3']],
      ['region2/zone2/subzone2', 3, ['10.0.0.4']],
    ]);
    expect(decodeLocalityLbPolicy(encodeLocalityLbPolicy(policy!))).toEqual(policy);
    expect(() => decodeLocalityLbPolicy(new TextEncoder().encode('{"zoneAware":1}'))).toThrow(/zoneAware must be true/);
  });
});

describe('applyFailoverPriorities', () => {
  const endpoints = [
    { address: '10.0.0.1', locality: 'region1/zone1/subzone1', labels: { key: 'a' }, network: 'n1' },
    { address: '10.0.0.2', locality: 'region1/zone1/subzone1', labels: { key: 'b' }, network: 'n1' },
    { address: '10.0.0.3', locality: 'region2/zone2/subzone2', labels: { key: 'a' }, network: 'n2' },
    { address: '10.0.0.4', locality: 'region2/zone2/subzone2', labels: { key: 'b' }, network: 'n2', weight: 4 },
  ];

  it('splits localities by how many leading labels match the proxy\'s, then renumbers across localities', () => {
    const { assignment, policy } = translated(endpoints, {
      outlierDetection: OUTLIER,
      loadBalancer: { localityLbSetting: { failoverPriority: ['key', 'topology.kubernetes.io/region'] } },
    });
    expect(policy?.endpointLabels).toEqual([
      [['a', 'region1'], ['b', 'region1']],
      [['a', 'region2'], ['b', 'region2']],
    ]);
    const proxy = { locality: PROXY.locality, labels: { key: 'a', 'topology.kubernetes.io/region': 'region1' } };
    expect(shape(applyLocalityLbPolicy(assignment, policy!, proxy))).toEqual([
      ['region1/zone1/subzone1', 0, 1, ['10.0.0.1']],
      ['region1/zone1/subzone1', 2, 1, ['10.0.0.2']],
      ['region2/zone2/subzone2', 1, 1, ['10.0.0.3']],
      ['region2/zone2/subzone2', 2, 4, ['10.0.0.4']],
    ]);
  });

  it('treats a differing first network label as lower priority but keeps matching the rest, and honours label=value', () => {
    const { assignment, policy } = translated(endpoints, {
      outlierDetection: OUTLIER,
      loadBalancer: { localityLbSetting: { failoverPriority: ['topology.istio.io/network', 'key=b'] } },
    });
    const proxy = { locality: PROXY.locality, labels: { 'topology.istio.io/network': 'n2' } };
    // A differing network adds 2 (the number of priority labels); `key` must be b whatever the proxy's label.
    expect(shape(applyLocalityLbPolicy(assignment, policy!, proxy)).map(([locality, priority, , addresses]) => [locality, priority, addresses])).toEqual([
      ['region1/zone1/subzone1', 2, ['10.0.0.2']],
      ['region1/zone1/subzone1', 3, ['10.0.0.1']],
      ['region2/zone2/subzone2', 0, ['10.0.0.4']],
      ['region2/zone2/subzone2', 1, ['10.0.0.3']],
    ]);
  });

  it('then applies an explicit failover on top, and leaves a proxy without labels to locality failover alone', () => {
    const { assignment, policy } = translated(endpoints, {
      outlierDetection: OUTLIER,
      loadBalancer: { localityLbSetting: { failoverPriority: ['key'], failover: [{ from: 'region1', to: 'region2' }] } },
    });
    const proxy = { locality: PROXY.locality, labels: { key: 'b' } };
    expect(shape(applyLocalityLbPolicy(assignment, policy!, proxy)).map(([locality, priority, , addresses]) => [locality, priority, addresses])).toEqual([
      ['region1/zone1/subzone1', 0, ['10.0.0.2']],
      ['region1/zone1/subzone1', 2, ['10.0.0.1']],
      ['region2/zone2/subzone2', 1, ['10.0.0.4']],
      ['region2/zone2/subzone2', 3, ['10.0.0.3']],
    ]);
    const bare = { locality: PROXY.locality, labels: {} };
    expect(shape(applyLocalityLbPolicy(assignment, policy!, bare)).map(([, priority]) => priority)).toEqual([0, 1]);
  });
});

describe('the proxy as istiod sees it (ads.go localityFromProxyLabels, AugmentLabels)', () => {
  it('takes the locality from topology labels, else istio-locality, else the node, and adds topology labels', () => {
    const node = { region: 'r', zone: 'z', subZone: 's' };
    expect(localityProxyOf({ labels: {}, nodeLocality: node, clusterId: 'Kubernetes', nodeName: '', network: 'net' })).toEqual({
      locality: node,
      labels: {
        'topology.kubernetes.io/region': 'r',
        'topology.kubernetes.io/zone': 'z',
        'topology.istio.io/subzone': 's',
        'topology.istio.io/cluster': 'Kubernetes',
        'topology.istio.io/network': 'net',
      },
    });
    expect(localityProxyOf({ labels: { 'topology.kubernetes.io/region': 'lr' }, nodeLocality: node, clusterId: '', nodeName: '', network: '' }).locality).toEqual({ region: 'lr', zone: '', subZone: '' });
    expect(localityProxyOf({ labels: { 'istio-locality': 'a.b' }, nodeLocality: node, clusterId: '', nodeName: '', network: '' }).locality).toEqual({ region: 'a', zone: 'b', subZone: '' });
  });

  it('keys variants by locality, and by priority label values only where failoverPriority reads them', () => {
    const a = { locality: PROXY.locality, labels: { key: 'a', other: '1' } };
    const b = { locality: PROXY.locality, labels: { key: 'a', other: '2' } };
    const c = { locality: PROXY.locality, labels: { key: 'c', other: '1' } };
    expect(localityVariantKey({}, a)).toBe(localityVariantKey({}, c));
    const byKey: LocalityLbPolicy = { failoverPriority: ['key'], endpointLabels: [] };
    expect(localityVariantKey(byKey, a)).toBe(localityVariantKey(byKey, b));
    expect(localityVariantKey(byKey, a)).not.toBe(localityVariantKey(byKey, c));
    expect(localityVariantKey({}, a)).not.toBe(localityVariantKey({}, { ...a, locality: { region: 'region1', zone: 'zone1', subZone: '' } }));
  });
});

describe('stored policies', () => {
  it('round-trip, and bytes that are not a policy are refused with the field named', () => {
    const policy: LocalityLbPolicy = { failover: [{ from: 'a', to: 'b' }], failoverPriority: ['k'], endpointLabels: [[['x']]] };
    expect(decodeLocalityLbPolicy(encodeLocalityLbPolicy(policy))).toEqual(policy);
    expect(() => decodeLocalityLbPolicy(new TextEncoder().encode('[]'))).toThrow('must be a JSON object');
    expect(() => decodeLocalityLbPolicy(new TextEncoder().encode('{"failover":[{"from":1,"to":"b"}]}'))).toThrow('failover[0].from must be a string');
  });

  it('are built only from endpoints still holding their instances', () => {
    expect(localityLbPolicyOf({ mesh: DEFAULT_MESH_SETTINGS, policy: { outlierDetection: OUTLIER }, endpoints: [], clusterId: 'Kubernetes' })).toBeUndefined();
  });
});
