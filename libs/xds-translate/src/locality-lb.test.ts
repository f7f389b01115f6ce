/**
 * The endpoint side of locality load balancing against istiod's rules
 * (`pilot/pkg/networking/core/loadbalancer/loadbalancer.go`: `ApplyLocalityLoadBalancer`,
 * `applyLocalityWeights`, `applyLocalityFailover`, `applyFailoverPriorities`,
 * `applyFailoverPriorityPerLocality`; `GetEffectiveLbSetting`; `pilot/pkg/xds/ads.go`
 * `localityFromProxyLabels`). The scenarios follow the shapes of Istio's `loadbalancer_test.go`
 * (`TestApplyLocalitySetting`); the istiod reference checks the whole path (libs/istiod-parity).
 */
import { toBinary } from '@bufbuild/protobuf';
import type { NormalizedEndpoint } from '@skiff/model';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { normalizedDestinationRule } from '@skiff/testing';
import { describe, expect, it } from 'vitest';
import {
  applyLocalityLbPolicy,
  decodeLocalityLbPolicy,
  effectiveLocalityLbSetting,
  encodeLocalityLbPolicy,
  localityLbPolicyOf,
  localityProxyOf,
  localityVariantKey,
  type LocalityLbPolicy,
  type LocalityProxy,
} from './locality-lb.js';
import { DEFAULT_MESH_SETTINGS } from './mesh.js';
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
  it('takes the rule\'s setting over the mesh\'s, and enabled: false at the deciding level turns it off', () => {
    const mesh = { enabled: true, failover: [{ from: 'a', to: 'b' }] };
    expect(effectiveLocalityLbSetting(mesh, undefined)).toBe(mesh);
    expect(effectiveLocalityLbSetting(mesh, { localityLbSetting: { failoverPriority: ['x'] } })).toEqual({ failoverPriority: ['x'] });
    expect(effectiveLocalityLbSetting(mesh, { localityLbSetting: { enabled: false } })).toBeUndefined();
    expect(effectiveLocalityLbSetting({ enabled: false }, { localityLbSetting: { enabled: true } })).toEqual({ enabled: true });
    expect(effectiveLocalityLbSetting({ enabled: false }, undefined)).toBeUndefined();
    expect(effectiveLocalityLbSetting(undefined, undefined)).toBeUndefined();
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

describe('what Skiff does not rewrite per proxy', () => {
  it('reports a locality setting on a DNS cluster with several localities, and a zone-aware setting', () => {
    const se = serviceEntry({ resolution: 'DNS', workloadSelector: null, ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 0 }] });
    const endpoints = [
      inlineEndpoint('svc', 0, { address: 'a.example.org', locality: 'region1/zone1' }),
      inlineEndpoint('svc', 1, { address: 'b.example.org', locality: 'region2/zone1' }),
    ];
    const translate = (trafficPolicy: Record<string, unknown>, count = 2) =>
      translateServiceEntry(
        {
          serviceEntry: se,
          endpoints: endpoints.slice(0, count),
          destinationRules: new Map([['svc.example.com', { rule: normalizedDestinationRule({ namespace: 'default', name: 'svc', trafficPolicy }), from: [{ namespace: 'default', name: 'svc' }] }]]),
        },
        { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS },
      ).errors.map((error) => error.detail);
    expect(translate({ outlierDetection: OUTLIER })).toEqual(['trafficPolicy.loadBalancer.localityLbSetting on the inline endpoints of a DNS cluster (per-proxy priorities and weights)']);
    // One locality ranks the same for every proxy; without outlier detection nothing fails over.
    expect(translate({ outlierDetection: OUTLIER }, 1)).toEqual([]);
    expect(translate({ connectionPool: { tcp: { maxConnections: 1 } } })).toEqual([]);
    expect(translate({ loadBalancer: { zoneAwareLbSetting: {} } })).toEqual(['trafficPolicy.loadBalancer.zoneAwareLbSetting (zone-aware load balancing)']);
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
    expect(localityLbPolicyOf({ mesh: { enabled: true }, policy: { outlierDetection: OUTLIER }, endpoints: [], clusterId: 'Kubernetes' })).toBeUndefined();
  });
});
