import { loadIstioConfig, normalizeDestinationRule, normalizeVirtualService } from '@skiff/model';
import { Cluster_DiscoveryType, Cluster_LbPolicy } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_SETTINGS } from './mesh.js';
import { translateConfig } from './translate-config.js';

const options = { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS } as const;

describe('translateConfig', () => {
  it('gives each ServiceEntry the WorkloadEntries its selector picks, and only those', () => {
    const load = loadIstioConfig(
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a, namespace: ns}
spec: {hosts: [a.example], ports: [{number: 80, name: http, protocol: HTTP}], resolution: STATIC, workloadSelector: {labels: {app: a}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b, namespace: ns}
spec: {hosts: [b.example], ports: [{number: 80, name: http, protocol: HTTP}], resolution: STATIC, workloadSelector: {labels: {app: b}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: a-1, namespace: ns}
spec: {address: 10.0.0.1, labels: {app: a}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: b-1, namespace: other}
spec: {address: 10.0.0.2, labels: {app: b}}
`,
      'mesh.yaml',
    );
    const result = translateConfig(load, options);
    expect(result.loadAssignments.map((cla) => cla.clusterName)).toEqual(['outbound|80||a.example', 'outbound|80||b.example']);
    expect(result.loadAssignments[0]?.endpoints[0]?.lbEndpoints).toHaveLength(1);
    expect(result.loadAssignments[1]?.endpoints).toEqual([]);
  });

  it('keeps a name built by two ServiceEntries once, from the older one, and reports the other', () => {
    const entry = (name: string, namespace: string, year: number, address: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: ${namespace}, creationTimestamp: "${year}-01-01T00:00:00Z"}
spec: {hosts: [db.example], ports: [{number: 5432, name: tcp, protocol: TCP}], resolution: STATIC, endpoints: [{address: ${address}}]}
---
`;
    const load = loadIstioConfig(entry('newer', 'b', 2024, '10.0.0.2') + entry('older', 'a', 2020, '10.0.0.1'), 'mesh.yaml');
    const result = translateConfig(load, options);
    expect(result.clusters.map((c) => c.name)).toEqual(['outbound|5432||db.example']);
    expect(result.duplicates).toEqual([
      { kind: 'cluster', name: 'outbound|5432||db.example', keptFrom: 'a/older', droppedFrom: 'b/newer' },
      { kind: 'endpoint', name: 'outbound|5432||db.example', keptFrom: 'a/older', droppedFrom: 'b/newer' },
    ]);
    const socket = result.loadAssignments[0]?.endpoints[0]?.lbEndpoints[0];
    expect(socket?.hostIdentifier.case === 'endpoint' && socket.hostIdentifier.value.address?.address.case === 'socketAddress' ? socket.hostIdentifier.value.address.address.value.address : '').toBe('10.0.0.1');
  });

  it('builds the kept cluster from every entry of the host in its namespace, as istiod\'s endpoint shard', () => {
    const entry = (name: string, year: number, address: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: a, creationTimestamp: "${year}-01-01T00:00:00Z"}
spec: {hosts: [db.example], ports: [{number: 5432, name: tcp, protocol: TCP}], resolution: STATIC, endpoints: [{address: ${address}}]}
---
`;
    const result = translateConfig(loadIstioConfig(entry('newer', 2024, '10.0.0.2') + entry('older', 2020, '10.0.0.1'), 'mesh.yaml'), options);
    expect(result.duplicates.map((duplicate) => duplicate.keptFrom)).toEqual(['a/older', 'a/older']);
    const addresses = (result.loadAssignments[0]?.endpoints ?? []).flatMap((locality) =>
      locality.lbEndpoints.map((lbEndpoint) => (lbEndpoint.hostIdentifier.case === 'endpoint' && lbEndpoint.hostIdentifier.value.address?.address.case === 'socketAddress' ? lbEndpoint.hostIdentifier.value.address.address.value.address : '')),
    );
    expect(addresses).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('applies the rule a proxy without labels in the entry\'s namespace gets: its namespace\'s rules for a host merged, a selector rule passed over, the exact host before the wildcard', () => {
    const rule = (name: string, namespace: string, host: string, year: number, extra = '') => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: ${namespace}, creationTimestamp: "${year}-01-01T00:00:00Z"}
spec: {host: ${host}, trafficPolicy: {loadBalancer: {simple: RANDOM}}${extra}}
---
`;
    const load = loadIstioConfig(
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: ns}
spec: {hosts: [api.example, other.example], ports: [{number: 80, name: http, protocol: HTTP}], resolution: STATIC, endpoints: [{address: 10.0.0.1}]}
---
${rule('newer', 'ns', 'api.example', 2024)}${rule('older', 'ns', 'api.example', 2020, ', subsets: [{name: v1}]')}${rule('elsewhere', 'other', 'other.example', 2019)}${rule('selected', 'ns', 'other.example', 2019, ', workloadSelector: {matchLabels: {app: client}}')}${rule('wildcard', 'ns', '"*.example"', 2018)}`,
      'mesh.yaml',
    );
    const destinationRules = load.accepted.flatMap((accepted) => (accepted.object.kind === 'DestinationRule' ? [normalizeDestinationRule(accepted.object)] : []));
    const result = translateConfig({ ...load, destinationRules }, options);
    expect(result.clusters.map((cluster) => [cluster.name, Cluster_LbPolicy[cluster.lbPolicy]])).toEqual([
      ['outbound|80|v1|api.example', 'RANDOM'],
      ['outbound|80||api.example', 'RANDOM'],
      ['outbound|80||other.example', 'LEAST_REQUEST'],
    ]);
    // The older rule's policy and both rules' subsets (mergeDestinationRule); other.example's most
    // specific rule selects labels this proxy lacks, so it gets none (not the wildcard's).
    expect(result.errors).toEqual([]);
    const merged = result.clusters.find((cluster) => cluster.name === 'outbound|80||api.example');
    expect(JSON.stringify(merged?.metadata?.filterMetadata['istio'])).toContain('/apis/networking.istio.io/v1/namespaces/ns/destination-rule/older');
  });

  it('gives a PASSTHROUGH subset of a DNS entry no upstream port override: istiod keeps target ports as overrides for resolution NONE only', () => {
    const load = loadIstioConfig(
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dns, namespace: ns}
spec: {hosts: [dns.example], ports: [{number: 80, name: http, protocol: HTTP, targetPort: 3306}], resolution: DNS, endpoints: [{address: backend.example}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: none, namespace: ns}
spec: {hosts: [none.example], ports: [{number: 80, name: http, protocol: HTTP, targetPort: 3306}], resolution: NONE}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dns, namespace: ns}
spec: {host: dns.example, subsets: [{name: v1, labels: {app: a}, trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: none, namespace: ns}
spec: {host: none.example, subsets: [{name: v1, labels: {app: a}, trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}}]}
`,
      'mesh.yaml',
    );
    const destinationRules = load.accepted.flatMap((accepted) => (accepted.object.kind === 'DestinationRule' ? [normalizeDestinationRule(accepted.object)] : []));
    const result = translateConfig({ ...load, destinationRules }, options);
    expect(result.errors).toEqual([]);
    const byName = [...result.clusters].sort((a, b) => (a.name < b.name ? -1 : 1));
    const overrides = byName.map((cluster) => [
      cluster.name,
      Cluster_DiscoveryType[cluster.clusterDiscoveryType.case === 'type' ? cluster.clusterDiscoveryType.value : Cluster_DiscoveryType.STATIC],
      cluster.lbConfig.case === 'originalDstLbConfig' ? cluster.lbConfig.value.upstreamPortOverride : undefined,
    ]);
    expect(overrides).toEqual([
      ['outbound|80|v1|dns.example', 'ORIGINAL_DST', undefined],
      ['outbound|80|v1|none.example', 'ORIGINAL_DST', 3306],
      ['outbound|80||dns.example', 'STRICT_DNS', undefined],
      ['outbound|80||none.example', 'ORIGINAL_DST', 3306],
    ]);
  });

  it("gives the gRPC routes the VirtualService a proxy in the entry's namespace sees: a private one of another namespace does not apply", () => {
    const load = loadIstioConfig(
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: ns}
spec: {hosts: [api.example], ports: [{number: 8080, name: grpc, protocol: GRPC}], resolution: STATIC, endpoints: [{address: 10.0.0.1}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: ns}
spec: {hosts: [api.example], http: [{route: [{destination: {host: api.example, subset: v1}}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: private, namespace: other}
spec: {hosts: [api.example], exportTo: [.], http: [{route: [{destination: {host: api.example, subset: v2}}]}]}
`,
      'mesh.yaml',
    );
    const virtualServices = load.accepted.flatMap((accepted) => (accepted.object.kind === 'VirtualService' ? [normalizeVirtualService(accepted.object)] : []));
    const result = translateConfig({ ...load, virtualServices }, { ...options, flavor: 'grpc' });
    const action = result.routes[0]?.virtualHosts[0]?.routes[0]?.action;
    expect(action?.case === 'route' ? action.value.clusterSpecifier : undefined).toEqual({ case: 'cluster', value: 'outbound|8080|v1|api.example' });
  });
});
