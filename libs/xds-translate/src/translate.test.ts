import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { NormalizedEndpoint } from '@skiff/model';
import { TypeUrl } from '@skiff/protos';
import {
  Cluster_DiscoveryType,
  Cluster_DnsLookupFamily,
  Cluster_LbPolicy,
  ClusterSchema,
  type Cluster,
} from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { LocalityLbEndpointsSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_components_pb.js';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { UpstreamTlsContextSchema } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { HttpProtocolOptionsSchema } from '@skiff/protos/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MESH_SETTINGS,
  encodeResources,
  fitLocalityWeights,
  HTTP_PROTOCOL_OPTIONS_KEY,
  translateServiceEntry,
  withMeshDefaults,
  type TranslateInput,
  type TranslateOptions,
} from './index.js';
import { inlineEndpoint, port, serviceEntry, workloadEntry } from './test-support/fixtures.js';

const SIDECAR: TranslateOptions = { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS };
const GRPC: TranslateOptions = { flavor: 'grpc', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS };

function socketAddresses(assignment: ClusterLoadAssignment | undefined): string[] {
  return (assignment?.endpoints ?? []).flatMap((locality) =>
    locality.lbEndpoints.map((lbEndpoint) => {
      const endpoint = lbEndpoint.hostIdentifier.case === 'endpoint' ? lbEndpoint.hostIdentifier.value : undefined;
      const address = endpoint?.address?.address;
      if (address?.case === 'pipe') return `pipe:${address.value.path}`;
      if (address?.case === 'socketAddress' && address.value.portSpecifier.case === 'portValue') {
        return `${address.value.address}:${address.value.portSpecifier.value}`;
      }
      return '?';
    }),
  );
}

function only<T>(items: readonly T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}

function clusterType(cluster: Cluster): Cluster_DiscoveryType | undefined {
  return cluster.clusterDiscoveryType.case === 'type' ? cluster.clusterDiscoveryType.value : undefined;
}

describe('translateServiceEntry: cluster per host x port', () => {
  it('builds one EDS cluster and one assignment per host x port, skipping UDP', () => {
    const result = translateServiceEntry(
      {
        serviceEntry: serviceEntry({
          hosts: ['b.example.com', 'a.example.com'],
          ports: [port({ number: 80, name: 'http' }), port({ number: 53, name: 'dns', protocol: 'UDP' }), port({ number: 443, name: 'https', protocol: 'HTTPS' })],
        }),
        endpoints: [workloadEntry('w1')],
      },
      SIDECAR,
    );
    expect(result.clusters.map((cluster) => cluster.name)).toEqual([
      'outbound|443||a.example.com',
      'outbound|443||b.example.com',
      'outbound|80||a.example.com',
      'outbound|80||b.example.com',
    ]);
    expect(result.loadAssignments.map((assignment) => assignment.clusterName)).toEqual(result.clusters.map((cluster) => cluster.name));
    expect(result.listeners).toEqual([]);
    expect(result.routes).toEqual([]);
    expect(result.errors).toEqual([]);
  });

  it('sets the common fields of every Envoy cluster', () => {
    const cluster = only(translateServiceEntry({ serviceEntry: serviceEntry(), endpoints: [] }, SIDECAR).clusters);
    expect(cluster.connectTimeout).toMatchObject({ seconds: 10n, nanos: 0 });
    expect(cluster.lbPolicy).toBe(Cluster_LbPolicy.LEAST_REQUEST);
    expect(cluster.altStatName).toBe('outbound|80||svc.example.com;');
    expect(cluster.commonLbConfig).toBeDefined();
    expect(cluster.circuitBreakers?.thresholds).toHaveLength(1);
    expect(cluster.circuitBreakers?.thresholds[0]).toMatchObject({
      maxConnections: 4294967295,
      maxPendingRequests: 4294967295,
      maxRequests: 4294967295,
      maxRetries: 4294967295,
      trackRemaining: false,
    });
    expect(cluster.filters.map((filter) => filter.name)).toEqual(['istio.metadata_exchange']);
    expect(cluster.metadata?.filterMetadata['istio']).toEqual({
      external: true,
      services: [{ host: 'svc.example.com', name: 'svc.example.com', namespace: 'default' }],
    });
  });
});

describe('translateServiceEntry: resolutions', () => {
  it('STATIC -> EDS over ADS with service_name = cluster name', () => {
    const cluster = only(translateServiceEntry({ serviceEntry: serviceEntry({ resolution: 'STATIC' }), endpoints: [] }, SIDECAR).clusters);
    expect(clusterType(cluster)).toBe(Cluster_DiscoveryType.EDS);
    expect(cluster.edsClusterConfig?.serviceName).toBe(cluster.name);
    expect(cluster.edsClusterConfig?.edsConfig?.configSourceSpecifier.case).toBe('ads');
    expect(cluster.loadAssignment).toBeUndefined();
  });

  it('NONE -> ORIGINAL_DST with CLUSTER_PROVIDED, target port as upstream_port_override, no assignment', () => {
    const result = translateServiceEntry(
      { serviceEntry: serviceEntry({ resolution: 'NONE', workloadSelector: null, ports: [port({ targetPort: 8080 })] }), endpoints: [] },
      SIDECAR,
    );
    const cluster = only(result.clusters);
    expect(clusterType(cluster)).toBe(Cluster_DiscoveryType.ORIGINAL_DST);
    expect(cluster.lbPolicy).toBe(Cluster_LbPolicy.CLUSTER_PROVIDED);
    expect(cluster.lbConfig).toMatchObject({ case: 'originalDstLbConfig', value: { upstreamPortOverride: 8080 } });
    expect(cluster.edsClusterConfig).toBeUndefined();
    expect(result.loadAssignments).toEqual([]);
  });

  it('NONE -> EDS in sni-dnat naming, as on gateways', () => {
    const result = translateServiceEntry(
      { serviceEntry: serviceEntry({ resolution: 'NONE', location: 'MESH_INTERNAL' }), endpoints: [workloadEntry('w1', { tlsMode: 'istio' })] },
      { ...SIDECAR, naming: 'sni-dnat' },
    );
    expect(clusterType(only(result.clusters))).toBe(Cluster_DiscoveryType.EDS);
    expect(socketAddresses(only(result.loadAssignments))).toEqual(['10.0.0.1:80']);
  });

  it('sni-dnat: no clusters for MESH_EXTERNAL entries; assignments keep only tlsMode istio endpoints, emptied localities without weight', () => {
    const sniDnat = { ...SIDECAR, naming: 'sni-dnat' } as const;
    const external = translateServiceEntry({ serviceEntry: serviceEntry(), endpoints: [workloadEntry('w1', { tlsMode: 'istio' })] }, sniDnat);
    expect(external.clusters).toEqual([]);
    expect(external.loadAssignments).toEqual([]);
    const endpoints = [
      workloadEntry('w1', { tlsMode: 'istio', locality: 'r1/z1' }),
      workloadEntry('w2', { address: '10.0.0.2', locality: 'r1/z1' }),
      workloadEntry('w3', { address: '10.0.0.3', locality: 'r2/z2' }),
    ];
    const internal = translateServiceEntry({ serviceEntry: serviceEntry({ location: 'MESH_INTERNAL' }), endpoints }, sniDnat);
    const assignment = only(internal.loadAssignments);
    expect(socketAddresses(assignment)).toEqual(['10.0.0.1:80']);
    expect(assignment.endpoints.map((locality) => [locality.locality?.region, locality.lbEndpoints.length, locality.loadBalancingWeight])).toEqual([
      ['r1', 1, 1],
      ['r2', 0, undefined],
    ]);
    // Sidecars keep every endpoint.
    expect(socketAddresses(only(translateServiceEntry({ serviceEntry: serviceEntry({ location: 'MESH_INTERNAL' }), endpoints }, SIDECAR).loadAssignments))).toHaveLength(3);
  });

  it('DNS -> STRICT_DNS with the DNS fields and an inline assignment', () => {
    const result = translateServiceEntry(
      { serviceEntry: serviceEntry({ resolution: 'DNS' }), endpoints: [workloadEntry('w1', { address: 'vm1.example.net' })] },
      SIDECAR,
    );
    const cluster = only(result.clusters);
    expect(clusterType(cluster)).toBe(Cluster_DiscoveryType.STRICT_DNS);
    expect(cluster.dnsLookupFamily).toBe(Cluster_DnsLookupFamily.V4_ONLY);
    expect(cluster.dnsRefreshRate).toMatchObject({ seconds: 60n, nanos: 0 });
    expect(cluster.respectDnsTtl).toBe(true);
    expect(cluster.typedDnsResolverConfig?.name).toBe('envoy.network.dns_resolver.cares');
    expect(cluster.dnsJitter).toMatchObject({ seconds: 0n, nanos: 100_000_000 });
    expect(cluster.loadAssignment?.clusterName).toBe(cluster.name);
    expect(socketAddresses(cluster.loadAssignment)).toEqual(['vm1.example.net:80']);
    expect(result.loadAssignments).toEqual([]);
  });

  it('writes dns_jitter as field 58 on the wire (the patched Envoy API knows it)', () => {
    const cluster = only(translateServiceEntry({ serviceEntry: serviceEntry({ resolution: 'DNS', workloadSelector: null }), endpoints: [] }, SIDECAR).clusters);
    const bytes = only(encodeResources({ clusters: [cluster], loadAssignments: [], listeners: [], routes: [] })).bytes;
    const decoded = fromBinary(ClusterSchema, bytes);
    expect(decoded.$unknown).toBeUndefined();
    expect(decoded.dnsJitter).toMatchObject({ seconds: 0n, nanos: 100_000_000 });
    expect(ClusterSchema.fields.find((field) => field.name === 'dns_jitter')?.number).toBe(58);
  });

  it('DNS without endpoints or selector -> the host itself, per host, on targetPort', () => {
    const result = translateServiceEntry(
      {
        serviceEntry: serviceEntry({ resolution: 'DNS', workloadSelector: null, hosts: ['a.example.com', 'b.example.com'], ports: [port({ targetPort: 8080 })] }),
        endpoints: [],
      },
      SIDECAR,
    );
    expect(result.clusters.map((cluster) => socketAddresses(cluster.loadAssignment))).toEqual([['a.example.com:8080'], ['b.example.com:8080']]);
    const lbEndpoint = result.clusters[0]?.loadAssignment?.endpoints[0]?.lbEndpoints[0];
    expect(lbEndpoint?.metadata?.filterMetadata['istio']).toEqual({ workload: 'svc;default;svc;;Kubernetes' });
  });

  it('DNS with a selector that selected nothing -> no cluster and an error', () => {
    const result = translateServiceEntry({ serviceEntry: serviceEntry({ resolution: 'DNS' }), endpoints: [] }, SIDECAR);
    expect(result.clusters).toEqual([]);
    expect(only(result.errors).toJSON()).toMatchObject({
      code: 'DNS_CLUSTER_WITHOUT_ENDPOINTS',
      serviceEntry: 'default/svc',
      clusterName: 'outbound|80||svc.example.com',
    });
  });

  it('DNS_ROUND_ROBIN -> LOGICAL_DNS with only the first endpoint in canonical order', () => {
    const result = translateServiceEntry(
      {
        serviceEntry: serviceEntry({ resolution: 'DNS_ROUND_ROBIN' }),
        endpoints: [workloadEntry('zeta', { address: 'z.example.net' }), workloadEntry('alpha', { address: 'a.example.net' })],
      },
      SIDECAR,
    );
    const cluster = only(result.clusters);
    expect(clusterType(cluster)).toBe(Cluster_DiscoveryType.LOGICAL_DNS);
    expect(socketAddresses(cluster.loadAssignment)).toEqual(['a.example.net:80']);
  });

  it('DYNAMIC_DNS -> a dynamic forward proxy cluster per wildcard host x supported port for Envoy; an empty EDS cluster for gRPC', () => {
    const entry = serviceEntry({
      resolution: 'DYNAMIC_DNS',
      hosts: ['*.example.com'],
      workloadSelector: null,
      ports: [port({ number: 443, name: 'tls', protocol: 'TLS' }), port({ number: 27017, name: 'mongo', protocol: 'Mongo' })],
    });
    const envoy = translateServiceEntry({ serviceEntry: entry, endpoints: [] }, SIDECAR);
    const cluster = only(envoy.clusters);
    expect(cluster.name).toBe('outbound|443||*.example.com');
    expect(cluster.clusterDiscoveryType.case).toBe('clusterType');
    expect(cluster.lbPolicy).toBe(Cluster_LbPolicy.CLUSTER_PROVIDED);
    expect(cluster.commonLbConfig).toBeUndefined();
    expect(envoy.loadAssignments).toEqual([]);
    expect(envoy.errors).toEqual([]);

    // istiod's gRPC generator: an EDS cluster with nothing in it, a listener and a route per port.
    const grpc = translateServiceEntry({ serviceEntry: entry, endpoints: [] }, GRPC);
    expect(grpc.clusters.map((c) => c.name)).toEqual(['outbound|27017||*.example.com', 'outbound|443||*.example.com']);
    expect(grpc.loadAssignments.every((a) => a.endpoints.length === 0)).toBe(true);
    expect(grpc.listeners.map((l) => l.name)).toEqual(['*.example.com:27017', '*.example.com:443']);
    expect(grpc.errors).toEqual([]);
  });
});

describe('translateServiceEntry: gRPC routes per client namespace', () => {
  const domainsOf = (route: { virtualHosts: readonly { domains: readonly string[] }[] } | undefined) => route?.virtualHosts[0]?.domains;

  it("adds a route for the namespace a host NAME.NS.svc.cluster.local names, whose clients also reach it as NAME", () => {
    const entry = serviceEntry({
      hosts: ['api.shop.svc.cluster.local', 'api.example.com', 'deep.a.b.svc.cluster.local'],
      addresses: [],
      ports: [port({ number: 8080, name: 'http', protocol: 'HTTP' }), port({ number: 5432, name: 'pg', protocol: 'TCP' })],
    });
    const grpc = translateServiceEntry({ serviceEntry: entry, endpoints: [] }, GRPC);
    // Only the HTTP port of the host in a namespace's zone: other routes are the same for every client.
    expect(grpc.namespaceRoutes.map(({ namespace, route }) => [namespace, route.name])).toEqual([['shop', 'outbound|8080||api.shop.svc.cluster.local']]);
    const shared = grpc.routes.find((route) => route.name === 'outbound|8080||api.shop.svc.cluster.local');
    expect(domainsOf(shared)).toEqual([
      'api.shop.svc.cluster.local',
      'api.shop.svc.cluster.local:8080',
      'api.shop.svc.cluster.local.',
      'api.shop.svc.cluster.local.:8080',
      'api.shop',
      'api.shop:8080',
      'api.shop.svc',
      'api.shop.svc:8080',
    ]);
    // istiod's order for a proxy in the host's namespace (`generateAltVirtualHostsForKubernetesService`).
    expect(domainsOf(grpc.namespaceRoutes[0]?.route)).toEqual([
      'api.shop.svc.cluster.local',
      'api.shop.svc.cluster.local:8080',
      'api.shop.svc.cluster.local.',
      'api.shop.svc.cluster.local.:8080',
      'api',
      'api:8080',
      'api.shop.svc',
      'api.shop.svc:8080',
      'api.shop',
      'api.shop:8080',
    ]);
    // Nothing else differs between the two.
    expect({ ...grpc.namespaceRoutes[0]?.route, virtualHosts: [] }).toEqual({ ...shared, virtualHosts: [] });
    expect(translateServiceEntry({ serviceEntry: entry, endpoints: [] }, SIDECAR).namespaceRoutes).toEqual([]);
  });
});

describe('translateServiceEntry: endpoints', () => {
  it('chooses the port: unix socket, then ports[name], then targetPort, then number', () => {
    const result = translateServiceEntry(
      {
        serviceEntry: serviceEntry({ ports: [port({ number: 80, name: 'http', targetPort: 8080 })], workloadSelector: null }),
        endpoints: [
          inlineEndpoint('svc', 0, { address: '10.0.0.1', ports: { http: 9090 } }),
          inlineEndpoint('svc', 1, { address: '10.0.0.2', ports: { other: 7070 } }),
          inlineEndpoint('svc', 2, { address: 'unix:///run/app.sock', ports: {} }),
        ],
      },
      SIDECAR,
    );
    expect(socketAddresses(only(result.loadAssignments))).toEqual(['10.0.0.1:9090', '10.0.0.2:8080', 'pipe:/run/app.sock']);
  });

  it('keeps EDS IP-only: hostname endpoints are dropped from STATIC assignments', () => {
    const result = translateServiceEntry(
      { serviceEntry: serviceEntry(), endpoints: [workloadEntry('a', { address: 'a.example.net' }), workloadEntry('b', { address: '10.0.0.2' })] },
      SIDECAR,
    );
    expect(socketAddresses(only(result.loadAssignments))).toEqual(['10.0.0.2:80']);
    expect(result.errors).toEqual([]);
  });

  it('drops unhealthy endpoints itself, even if a caller passes them', () => {
    const result = translateServiceEntry(
      { serviceEntry: serviceEntry(), endpoints: [workloadEntry('sick', { address: '10.0.0.9', healthy: false }), workloadEntry('well')] },
      SIDECAR,
    );
    expect(socketAddresses(only(result.loadAssignments))).toEqual(['10.0.0.1:80']);
  });

  it('drops endpoints without an address and reports them', () => {
    const result = translateServiceEntry(
      { serviceEntry: serviceEntry(), endpoints: [workloadEntry('remote', { address: '', network: 'net-2' }), workloadEntry('local')] },
      SIDECAR,
    );
    expect(socketAddresses(only(result.loadAssignments))).toEqual(['10.0.0.1:80']);
    expect(only(result.errors).toJSON()).toMatchObject({ code: 'ENDPOINT_WITHOUT_ADDRESS', detail: 'WorkloadEntry default/remote' });
  });

  it('keeps an empty assignment, and the cluster, when nothing is left', () => {
    const result = translateServiceEntry({ serviceEntry: serviceEntry(), endpoints: [] }, SIDECAR);
    expect(only(result.clusters).name).toBe('outbound|80||svc.example.com');
    const assignment = only(result.loadAssignments);
    expect(assignment.clusterName).toBe('outbound|80||svc.example.com');
    expect(assignment.endpoints).toEqual([]);
  });

  it('groups by locality, sorted, with summed weights and weight 0 as 1', () => {
    const result = translateServiceEntry(
      {
        serviceEntry: serviceEntry(),
        endpoints: [
          workloadEntry('w1', { address: '10.0.0.1', locality: 'zone/b', weight: 4294967295 }),
          workloadEntry('w2', { address: '10.0.0.2', locality: 'zone/a' }),
          workloadEntry('w3', { address: '10.0.0.3', locality: 'zone/b', weight: 7 }),
        ],
      },
      SIDECAR,
    );
    const localities = only(result.loadAssignments).endpoints;
    expect(localities.map((locality) => [locality.locality?.region, locality.locality?.zone, locality.loadBalancingWeight])).toEqual([
      ['zone', 'a', 1],
      ['zone', 'b', 4294967295],
    ]);
    expect(localities[1]?.lbEndpoints.map((lbEndpoint) => lbEndpoint.loadBalancingWeight)).toEqual([4294967295, 7]);
  });

  it('writes tlsMode metadata only for istio endpoints and the workload string for all', () => {
    const result = translateServiceEntry(
      {
        serviceEntry: serviceEntry(),
        endpoints: [
          workloadEntry('mtls', { address: '10.0.0.1', tlsMode: 'istio', labels: { app: 'svc', version: 'v1' } }),
          workloadEntry('custom', { address: '10.0.0.2', tlsMode: 'something-else' }),
        ],
      },
      withMesh({ clusterId: 'east' }),
    );
    const metadata = only(result.loadAssignments)
      .endpoints.flatMap((locality) => locality.lbEndpoints)
      .map((lbEndpoint) => lbEndpoint.metadata?.filterMetadata);
    expect(metadata).toEqual([
      { istio: { workload: 'custom;default;svc;;east' } },
      { 'envoy.transport_socket_match': { tlsMode: 'istio' }, istio: { workload: 'mtls;default;svc;v1;east' } },
    ]);
  });
});

function withMesh(overrides: Parameters<typeof withMeshDefaults>[0]): TranslateOptions {
  return { ...SIDECAR, mesh: withMeshDefaults(overrides) };
}

describe('translateServiceEntry: upstream protocol and TLS', () => {
  function httpOptions(cluster: Cluster) {
    const packed = cluster.typedExtensionProtocolOptions[HTTP_PROTOCOL_OPTIONS_KEY];
    return packed === undefined ? undefined : anyUnpack(packed, HttpProtocolOptionsSchema);
  }

  it('HTTP/2 family ports get explicit HTTP/2, sniffed ports follow downstream on sidecars only', () => {
    for (const protocol of ['HTTP2', 'GRPC', 'GRPC-Web'] as const) {
      const cluster = only(translateServiceEntry({ serviceEntry: serviceEntry({ ports: [port({ protocol })] }), endpoints: [] }, SIDECAR).clusters);
      expect(httpOptions(cluster)?.upstreamProtocolOptions).toMatchObject({ case: 'explicitHttpConfig', value: { protocolConfig: { case: 'http2ProtocolOptions' } } });
    }
    for (const protocol of ['HTTP', 'HTTPS', 'TCP', 'TLS', 'Mongo'] as const) {
      const cluster = only(translateServiceEntry({ serviceEntry: serviceEntry({ ports: [port({ protocol })] }), endpoints: [] }, SIDECAR).clusters);
      expect(httpOptions(cluster)).toBeUndefined();
    }
    const sniffed = serviceEntry({ ports: [port({ protocol: '' })] });
    const sidecar = only(translateServiceEntry({ serviceEntry: sniffed, endpoints: [] }, SIDECAR).clusters);
    expect(httpOptions(sidecar)?.upstreamProtocolOptions.case).toBe('useDownstreamProtocolConfig');
    const router = only(translateServiceEntry({ serviceEntry: { ...sniffed, location: 'MESH_INTERNAL' }, endpoints: [] }, { ...SIDECAR, naming: 'sni-dnat' }).clusters);
    expect(httpOptions(router)).toBeUndefined();
  });

  it('MESH_EXTERNAL: no TLS; MESH_INTERNAL: tlsMode matches with SANs from subjectAltNames and workload identities', () => {
    const endpoints = [workloadEntry('w1', { serviceAccount: 'reader', tlsMode: 'istio' }), workloadEntry('w2', { serviceAccount: 'spiffe://other.td/ns/x/sa/y' })];
    const external = only(translateServiceEntry({ serviceEntry: serviceEntry(), endpoints }, SIDECAR).clusters);
    expect(external.transportSocketMatches).toEqual([]);
    expect(external.transportSocket).toBeUndefined();

    const internal = only(
      translateServiceEntry({ serviceEntry: serviceEntry({ location: 'MESH_INTERNAL', subjectAltNames: ['spiffe://a/ns/b/sa/c'] }), endpoints }, withMesh({ trustDomain: 'td.example' }))
        .clusters,
    );
    expect(internal.metadata?.filterMetadata['istio']).not.toHaveProperty('external');
    expect(internal.transportSocketMatches.map((match) => [match.name, match.match])).toEqual([
      ['tlsMode-istio', { tlsMode: 'istio' }],
      ['tlsMode-disabled', {}],
    ]);
    const socket = internal.transportSocketMatches[0]?.transportSocket;
    expect(socket?.name).toBe('envoy.transport_sockets.tls');
    const packed = socket?.configType.case === 'typedConfig' ? socket.configType.value : undefined;
    const context = packed && anyUnpack(packed, UpstreamTlsContextSchema);
    expect(context?.sni).toBe('outbound_.80_._.svc.example.com');
    const validation = context?.commonTlsContext?.validationContextType;
    const sans = validation?.case === 'combinedValidationContext' ? validation.value.defaultValidationContext?.matchSubjectAltNames : [];
    expect(sans?.map((matcher) => matcher.matchPattern.value)).toEqual([
      'spiffe://a/ns/b/sa/c',
      'spiffe://other.td/ns/x/sa/y',
      'spiffe://td.example/ns/default/sa/reader',
    ]);
    expect(context?.commonTlsContext?.alpnProtocols).toEqual(['istio-peer-exchange', 'istio']);
  });

  it('no TLS for MESH_INTERNAL with auto-mTLS off or in sni-dnat naming', () => {
    const input = { serviceEntry: serviceEntry({ location: 'MESH_INTERNAL' }), endpoints: [workloadEntry('w1', { tlsMode: 'istio' })] };
    expect(only(translateServiceEntry(input, withMesh({ enableAutoMtls: false })).clusters).transportSocketMatches).toEqual([]);
    expect(only(translateServiceEntry(input, { ...SIDECAR, naming: 'sni-dnat' }).clusters).transportSocketMatches).toEqual([]);
  });

  it('metadata exchange off: no filter, no istio-peer-exchange ALPN', () => {
    const cluster = only(
      translateServiceEntry({ serviceEntry: serviceEntry({ location: 'MESH_INTERNAL' }), endpoints: [] }, withMesh({ metadataExchange: false })).clusters,
    );
    expect(cluster.filters).toEqual([]);
    const socket = cluster.transportSocketMatches[0]?.transportSocket;
    const packed = socket?.configType.case === 'typedConfig' ? socket.configType.value : undefined;
    expect(packed && anyUnpack(packed, UpstreamTlsContextSchema)?.commonTlsContext?.alpnProtocols).toEqual(['istio']);
  });
});

describe('translateServiceEntry: canonical output', () => {
  const endpointArbitrary = fc.record({
    name: fc.stringMatching(/^[a-z]{1,6}$/),
    octet: fc.integer({ min: 1, max: 254 }),
    locality: fc.constantFrom('', 'r1/z1', 'r1/z2', 'r2', 'r2/z1/s1'),
    weight: fc.integer({ min: 0, max: 10 }),
    tlsMode: fc.constantFrom('istio', 'disabled'),
    serviceAccount: fc.constantFrom('', 'a', 'b'),
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
  });
  const endpointsArbitrary = fc.uniqueArray(endpointArbitrary, { selector: (endpoint) => endpoint.name, maxLength: 12 }).map((items) =>
    items.map((item) =>
      workloadEntry(item.name, {
        address: `10.0.0.${item.octet}`,
        locality: item.locality,
        weight: item.weight,
        tlsMode: item.tlsMode,
        serviceAccount: item.serviceAccount,
        ports: item.port === undefined ? {} : { http: item.port },
      }),
    ),
  );
  const optionsArbitrary = fc.constantFrom<TranslateOptions>(SIDECAR, GRPC, { ...SIDECAR, naming: 'sni-dnat' });
  const resolutionArbitrary = fc.constantFrom('STATIC' as const, 'DNS' as const, 'DNS_ROUND_ROBIN' as const, 'NONE' as const);

  it('gives identical bytes and versions for shuffled endpoints', () => {
    fc.assert(
      fc.property(endpointsArbitrary, optionsArbitrary, resolutionArbitrary, fc.context(), (endpoints, options, resolution, context) => {
        const input: TranslateInput = {
          serviceEntry: serviceEntry({ location: 'MESH_INTERNAL', resolution, ports: [port(), port({ number: 9090, name: 'grpc', protocol: 'GRPC' })] }),
          endpoints,
        };
        const shuffled: NormalizedEndpoint[] = [...endpoints].reverse();
        const first = encodeResources(translateServiceEntry(input, options));
        const second = encodeResources(translateServiceEntry({ ...input, endpoints: shuffled }, options));
        context.log(`${first.length} resources`);
        expect(second.map((resource) => resource.version)).toEqual(first.map((resource) => resource.version));
        expect(second.map((resource) => Buffer.from(resource.bytes).toString('hex'))).toEqual(
          first.map((resource) => Buffer.from(resource.bytes).toString('hex')),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('gives identical bytes when the same data arrives with its label keys in another order', () => {
    const a = workloadEntry('w', { labels: { app: 'svc', version: 'v1', 'app.kubernetes.io/name': 'x' } });
    const b = workloadEntry('w', { labels: { 'app.kubernetes.io/name': 'x', version: 'v1', app: 'svc' } });
    const encode = (endpoint: NormalizedEndpoint) => encodeResources(translateServiceEntry({ serviceEntry: serviceEntry(), endpoints: [endpoint] }, SIDECAR));
    expect(encode(a).map((resource) => resource.version)).toEqual(encode(b).map((resource) => resource.version));
  });

  it('orders inline endpoints by index and workloads by namespace and name', () => {
    const result = translateServiceEntry(
      {
        serviceEntry: serviceEntry({ workloadSelector: null }),
        endpoints: [inlineEndpoint('svc', 2, { address: '10.0.0.3' }), inlineEndpoint('svc', 10, { address: '10.0.0.1' }), inlineEndpoint('svc', 0, { address: '10.0.0.2' })],
      },
      SIDECAR,
    );
    expect(socketAddresses(only(result.loadAssignments))).toEqual(['10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80']);
  });
});

describe('encodeResources', () => {
  /** SHA-256 of the assignment with each locality group's content replaced by its SHA-256 (`assignment-version.ts`), from the decoded message. */
  const twoLevelVersion = (bytes: Uint8Array): string => {
    const assignment = fromBinary(ClusterLoadAssignmentSchema, bytes);
    const hash = createHash('sha256').update(toBinary(ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, { clusterName: assignment.clusterName })));
    for (const group of assignment.endpoints) {
      const content = toBinary(LocalityLbEndpointsSchema, group);
      const header = new BinaryWriter().tag(2, WireType.LengthDelimited).uint32(content.length).finish();
      hash.update(header).update(createHash('sha256').update(content).digest());
    }
    return hash.digest('hex');
  };

  it('encodes each resource once with its type URL, name and version, decodable back', () => {
    const result = translateServiceEntry({ serviceEntry: serviceEntry(), endpoints: [workloadEntry('w1'), workloadEntry('w2', { address: '10.0.0.2', locality: 'r/z' })] }, GRPC);
    const encoded = encodeResources(result);
    expect(encoded.map((resource) => [resource.typeUrl, resource.name])).toEqual([
      [TypeUrl.Cluster, 'outbound|80||svc.example.com'],
      [TypeUrl.ClusterLoadAssignment, 'outbound|80||svc.example.com'],
      [TypeUrl.Listener, 'svc.example.com:80'],
      [TypeUrl.RouteConfiguration, 'outbound|80||svc.example.com'],
    ]);
    for (const resource of encoded) {
      // The SHA-256 of the bytes; an assignment's is taken per locality group.
      const expected = resource.typeUrl === TypeUrl.ClusterLoadAssignment ? twoLevelVersion(resource.bytes) : createHash('sha256').update(resource.bytes).digest('hex');
      expect(resource.version).toBe(expected);
    }
    const cluster = fromBinary(ClusterSchema, encoded[0]!.bytes);
    expect(cluster.name).toBe('outbound|80||svc.example.com');
    const assignment = fromBinary(ClusterLoadAssignmentSchema, encoded[1]!.bytes);
    expect(assignment.endpoints).toHaveLength(2);
    expect(socketAddresses(assignment)).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
  });

  it('changes the version when the content changes', () => {
    const version = (address: string) =>
      encodeResources(translateServiceEntry({ serviceEntry: serviceEntry(), endpoints: [workloadEntry('w1', { address })] }, SIDECAR))[1]?.version;
    expect(version('10.0.0.1')).not.toBe(version('10.0.0.2'));
  });
});

describe('fitLocalityWeights', () => {
  const MAX = 4294967295;
  const sum = (weights: number[]) => weights.reduce((total, weight) => total + weight, 0);

  it('leaves weights that fit alone', () => {
    expect(fitLocalityWeights([1, 2, MAX - 3])).toEqual([1, 2, MAX - 3]);
  });

  it('scales weights that do not fit, keeping ratios and a floor of 1', () => {
    const even = fitLocalityWeights([MAX, MAX]);
    expect(sum(even)).toBeLessThanOrEqual(MAX);
    expect(even[0]).toBe(even[1]);
    const skewed = fitLocalityWeights([1, MAX, MAX / 3]);
    expect(sum(skewed)).toBeLessThanOrEqual(MAX);
    expect(skewed[0]).toBe(1);
    expect(Math.round((skewed[1] ?? 0) / (skewed[2] ?? 1))).toBe(3);
  });

  it('keeps every sum within UINT32_MAX', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: MAX }), { minLength: 1, maxLength: 50 }), (weights) => {
        const fitted = fitLocalityWeights(weights);
        expect(sum(fitted)).toBeLessThanOrEqual(MAX);
        expect(fitted.every((weight) => weight >= 1)).toBe(true);
      }),
    );
  });

  it('is applied to grpc assignments, not to Envoy ones (istiod saturates per locality only)', () => {
    const endpoints = [
      workloadEntry('a', { address: '10.0.0.1', locality: 'r/a', weight: MAX }),
      workloadEntry('b', { address: '10.0.0.2', locality: 'r/b', weight: MAX }),
    ];
    const weightsOf = (options: TranslateOptions) =>
      translateServiceEntry({ serviceEntry: serviceEntry(), endpoints }, options).loadAssignments[0]?.endpoints.map((locality) => locality.loadBalancingWeight);
    expect(weightsOf(SIDECAR)).toEqual([MAX, MAX]);
    expect(sum(weightsOf(GRPC) as number[])).toBeLessThanOrEqual(MAX);
  });
});

describe('translateServiceEntry: the endpoint shard of a host shared by ServiceEntries of one namespace', () => {
  const sans = (cluster: Cluster | undefined): string[] => {
    const socket = cluster?.transportSocketMatches[0]?.transportSocket;
    const packed = socket?.configType.case === 'typedConfig' ? socket.configType.value : undefined;
    const validation = packed && anyUnpack(packed, UpstreamTlsContextSchema)?.commonTlsContext?.validationContextType;
    return (validation?.case === 'combinedValidationContext' ? validation.value.defaultValidationContext?.matchSubjectAltNames ?? [] : []).map((matcher) => String(matcher.matchPattern.value));
  };
  const older = serviceEntry({ name: 'older', creationTime: 1, location: 'MESH_INTERNAL', workloadSelector: { app: 'older' }, subjectAltNames: ['spiffe://older/only'] });
  const newer = serviceEntry({ name: 'newer', creationTime: 2, location: 'MESH_INTERNAL', workloadSelector: { app: 'newer' }, subjectAltNames: ['spiffe://newer/only'] });
  const olderEndpoints = [workloadEntry('o1', { address: '10.0.0.1', labels: { app: 'older' }, serviceAccount: 'o' })];
  const newerEndpoints = [workloadEntry('n1', { address: '10.0.0.2', labels: { app: 'newer' }, serviceAccount: 'n' })];

  it('an EDS cluster carries every entry’s endpoints of the port name, oldest entry first, and every service account', () => {
    for (const [entry, endpoints, sibling] of [
      [older, olderEndpoints, { serviceEntry: newer, endpoints: newerEndpoints }],
      [newer, newerEndpoints, { serviceEntry: older, endpoints: olderEndpoints }],
    ] as const) {
      const result = translateServiceEntry({ serviceEntry: entry, endpoints, siblings: [sibling] }, SIDECAR);
      expect(socketAddresses(only(result.loadAssignments)), entry.name).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
      // The instances' accounts, and the spec's subjectAltNames of the newest entry only (its service replaces the older's set).
      expect(sans(only(result.clusters)), entry.name).toEqual(['spiffe://cluster.local/ns/default/sa/n', 'spiffe://cluster.local/ns/default/sa/o', 'spiffe://newer/only']);
    }
    // Alone, as before.
    const alone = translateServiceEntry({ serviceEntry: older, endpoints: olderEndpoints }, SIDECAR);
    expect(socketAddresses(only(alone.loadAssignments))).toEqual(['10.0.0.1:80']);
    expect(sans(only(alone.clusters))).toEqual(['spiffe://cluster.local/ns/default/sa/o', 'spiffe://older/only']);
  });

  it('siblings in another namespace or without the host change nothing', () => {
    const elsewhere = { serviceEntry: { ...newer, namespace: 'shop' }, endpoints: newerEndpoints };
    const otherHost = { serviceEntry: { ...newer, hosts: ['other.example.com'] }, endpoints: newerEndpoints };
    const result = translateServiceEntry({ serviceEntry: older, endpoints: olderEndpoints, siblings: [elsewhere, otherHost] }, SIDECAR);
    expect(result).toEqual(translateServiceEntry({ serviceEntry: older, endpoints: olderEndpoints }, SIDECAR));
  });

  it('EDS matches the sibling’s port by name, a DNS cluster by number', () => {
    const renamed = { serviceEntry: { ...newer, ports: [port({ name: 'web' })] }, endpoints: newerEndpoints };
    const eds = translateServiceEntry({ serviceEntry: older, endpoints: olderEndpoints, siblings: [renamed] }, SIDECAR);
    expect(socketAddresses(only(eds.loadAssignments))).toEqual(['10.0.0.1:80']);
    const dns = serviceEntry({ name: 'dns', creationTime: 0, resolution: 'DNS', workloadSelector: null });
    const dnsEndpoints = [inlineEndpoint('dns', 0, { address: 'api.example.com' })];
    const dnsCluster = only(translateServiceEntry({ serviceEntry: dns, endpoints: dnsEndpoints, siblings: [renamed] }, SIDECAR).clusters);
    expect(socketAddresses(dnsCluster.loadAssignment)).toEqual(['api.example.com:80', '10.0.0.2:80']);
    // The DNS sibling's hostname never reaches the EDS assignment (EDS takes IP addresses only).
    const withDns = translateServiceEntry({ serviceEntry: older, endpoints: olderEndpoints, siblings: [{ serviceEntry: dns, endpoints: dnsEndpoints }] }, SIDECAR);
    expect(socketAddresses(only(withDns.loadAssignments))).toEqual(['10.0.0.1:80']);
  });

  it('a DNS entry without endpoints of its own serves the sibling’s; DNS_ROUND_ROBIN keeps the first instance of a port number', () => {
    const empty = serviceEntry({ name: 'empty', creationTime: 1, resolution: 'DNS', workloadSelector: { app: 'nothing' } });
    const filler = { serviceEntry: serviceEntry({ name: 'filler', creationTime: 2, resolution: 'DNS', workloadSelector: null }), endpoints: [inlineEndpoint('filler', 0, { address: 'b.example.com' })] };
    expect(translateServiceEntry({ serviceEntry: empty, endpoints: [] }, SIDECAR).clusters).toEqual([]);
    expect(socketAddresses(only(translateServiceEntry({ serviceEntry: empty, endpoints: [], siblings: [filler] }, SIDECAR).clusters).loadAssignment)).toEqual(['b.example.com:80']);

    const first = serviceEntry({ name: 'first', creationTime: 1, resolution: 'DNS_ROUND_ROBIN', workloadSelector: null });
    const second = serviceEntry({ name: 'second', creationTime: 2, resolution: 'DNS_ROUND_ROBIN', workloadSelector: null, ports: [port(), port({ number: 81, name: 'alt' })] });
    const secondEndpoints = [inlineEndpoint('second', 0, { address: 'second.example.com' })];
    const firstEndpoints = [inlineEndpoint('first', 0, { address: 'first.example.com' })];
    const clusters = translateServiceEntry({ serviceEntry: second, endpoints: secondEndpoints, siblings: [{ serviceEntry: first, endpoints: firstEndpoints }] }, SIDECAR).clusters;
    expect(clusters.map((cluster) => [cluster.name, socketAddresses(cluster.loadAssignment)])).toEqual([
      ['outbound|80||svc.example.com', ['first.example.com:80']],
      ['outbound|81||svc.example.com', ['second.example.com:81']],
    ]);
  });
});
