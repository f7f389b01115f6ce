/**
 * DestinationRule settings applied around a cluster's connection (istiod `cluster_traffic_policy.go`
 * `applyUpstreamProxyProtocol`; `cluster_builder.go`
 * `buildDFPCluster` with `applyDestinationRule`), from YAML through validation as a user writes it.
 */
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_SETTINGS, translateResultToJson, type TranslateOptions } from './index.js';
import { loadCase } from './test-support/load-case.js';

const SIDECAR: TranslateOptions = { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS };
const SNI_DNAT: TranslateOptions = { flavor: 'envoy', naming: 'sni-dnat', mesh: DEFAULT_MESH_SETTINGS };

function serviceEntry(name: string, spec: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: shop }
spec:
${spec}
---
`;
}

function destinationRule(name: string, host: string, spec: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: shop }
spec:
  host: "${host}"
${spec}
---
`;
}

function clustersOf(yaml: string, options: TranslateOptions = SIDECAR): { clusters: Map<string, JsonObject>; errors: JsonValue } {
  const json = translateResultToJson(loadCase(yaml, 'case.yaml', options));
  const clusters = new Map((json['clusters'] as JsonObject[]).map((cluster) => [cluster['name'] as string, cluster]));
  return { clusters, errors: json['errors'] ?? [] };
}

const RAW_BUFFER = { name: 'raw_buffer', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } };

function proxyProtocol(version: 'V1' | 'V2', inner: JsonValue): JsonObject {
  return {
    name: 'envoy.transport_sockets.upstream_proxy_protocol',
    typedConfig: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport',
      // V1 is the enum's zero value, which proto JSON leaves out.
      config: version === 'V1' ? {} : { version },
      transportSocket: inner,
    },
  };
}

describe('trafficPolicy.proxyProtocol', () => {
  const yaml =
    serviceEntry('tls', '  hosts: [tls.shop.example]\n  ports: [{ number: 443, name: https, protocol: HTTPS }]\n  location: MESH_EXTERNAL\n  resolution: DNS\n  endpoints: [{ address: backend.example }]') +
    destinationRule('tls', 'tls.shop.example', '  trafficPolicy:\n    tls: { mode: SIMPLE, sni: backend.example }\n    proxyProtocol: { version: V1 }') +
    serviceEntry(
      'mesh',
      '  hosts: [mesh.shop.internal]\n  ports: [{ number: 8080, name: http, protocol: HTTP }]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  endpoints: [{ address: 10.0.0.1, labels: { version: v1 } }]',
    ) +
    destinationRule(
      'mesh',
      'mesh.shop.internal',
      '  trafficPolicy:\n    proxyProtocol: { version: V2 }\n  subsets:\n  - name: v1\n    labels: { version: v1 }\n    trafficPolicy:\n      proxyProtocol: { version: V1 }',
    );

  it("wraps a TLS origination socket, and each auto-mTLS match, with the subset's own version where it sets one", () => {
    const { clusters, errors } = clustersOf(yaml);
    expect(errors).toEqual([]);
    const tls = clusters.get('outbound|443||tls.shop.example')!;
    const socket = tls['transportSocket'] as JsonObject;
    expect(socket['name']).toBe('envoy.transport_sockets.upstream_proxy_protocol');
    const inner = (socket['typedConfig'] as JsonObject)['transportSocket'] as JsonObject;
    expect(inner['name']).toBe('envoy.transport_sockets.tls');
    expect(((inner['typedConfig'] as JsonObject)['sni'] as string)).toBe('backend.example');
    expect((socket['typedConfig'] as JsonObject)['config']).toEqual({});

    for (const [name, version] of [
      ['outbound|8080||mesh.shop.internal', 'V2'],
      ['outbound|8080|v1|mesh.shop.internal', 'V1'],
    ] as const) {
      const matches = clusters.get(name)!['transportSocketMatches'] as JsonObject[];
      expect(matches.map((match) => match['name'])).toEqual(['tlsMode-istio', 'tlsMode-disabled']);
      for (const match of matches) {
        const wrapped = match['transportSocket'] as JsonObject;
        expect(wrapped['name'], name).toBe('envoy.transport_sockets.upstream_proxy_protocol');
        expect((wrapped['typedConfig'] as JsonObject)['config'], name).toEqual(version === 'V1' ? {} : { version });
      }
      expect(((matches[1]!['transportSocket'] as JsonObject)['typedConfig'] as JsonObject)['transportSocket']).toEqual({
        name: 'envoy.transport_sockets.raw_buffer',
        typedConfig: RAW_BUFFER.typedConfig,
      });
    }
  });

  it('wraps plain text as `raw_buffer` when the cluster has no socket, and leaves sni-dnat clusters alone', () => {
    const plain =
      serviceEntry('db', '  hosts: [db.shop.example]\n  ports: [{ number: 3306, name: tcp, protocol: TCP }]\n  location: MESH_EXTERNAL\n  resolution: STATIC\n  endpoints: [{ address: 10.0.0.2 }]') +
      destinationRule('db', 'db.shop.example', '  trafficPolicy:\n    proxyProtocol: { version: V2 }');
    expect(clustersOf(plain).clusters.get('outbound|3306||db.shop.example')!['transportSocket']).toEqual(proxyProtocol('V2', RAW_BUFFER));
    // sni-dnat clusters exist for MESH_INTERNAL entries only, and never get the socket.
    const internal = plain.replace('MESH_EXTERNAL', 'MESH_INTERNAL');
    expect(clustersOf(internal, SNI_DNAT).clusters.get('outbound_.3306_._.db.shop.example')!['transportSocket']).toBeUndefined();
  });
});

describe('outlierDetection.outlierDetectionHttpErrorCodes', () => {
  const yaml =
    serviceEntry(
      'api',
      '  hosts: [api.shop.example]\n  ports: [{ number: 80, name: http, protocol: HTTP }, { number: 443, name: tls, protocol: TLS }]\n  location: MESH_EXTERNAL\n  resolution: DNS',
    ) +
    destinationRule(
      'api',
      'api.shop.example',
      '  trafficPolicy:\n    outlierDetection: { consecutive5xxErrors: 3, outlierDetectionHttpErrorCodes: [502, 429] }\n    portLevelSettings:\n    - port: { number: 443 }\n      outlierDetection: { consecutiveGatewayErrors: 2, outlierDetectionHttpErrorCodes: [503] }',
    );

  it('are accepted and ignored, as the pinned istiod ignores them (its cluster builder never reads the field)', () => {
    const { clusters } = clustersOf(yaml);
    for (const name of ['outbound|80||api.shop.example', 'outbound|443||api.shop.example']) {
      const cluster = clusters.get(name)!;
      expect(cluster['outlierDetection']).toBeDefined();
      expect(JSON.stringify(cluster)).not.toContain('errorMatcher');
    }
  });
});

describe('DestinationRules on DYNAMIC_DNS entries', () => {
  const dynamic = (name: string, ports = '[{ number: 80, name: http, protocol: HTTP }]') =>
    serviceEntry(name, `  hosts: ["*.${name}.example"]\n  ports: ${ports}\n  location: MESH_EXTERNAL\n  resolution: DYNAMIC_DNS`);
  const dfpConfig = (cluster: JsonObject) => ((cluster['clusterType'] as JsonObject)['typedConfig'] as JsonObject);
  const upstreamOptions = (cluster: JsonObject) =>
    ((cluster['typedExtensionProtocolOptions'] as JsonObject)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'] as JsonObject)['upstreamHttpProtocolOptions'];

  it('apply the connection pool and PROXY protocol (port-level settings too), not the load balancer or subsets, with the rule in the metadata', () => {
    const yaml =
      dynamic('pool', '[{ number: 80, name: http, protocol: HTTP }, { number: 8443, name: tls, protocol: TLS }]') +
      destinationRule(
        'pool',
        '*.pool.example',
        '  trafficPolicy:\n    connectionPool: { tcp: { maxConnections: 50, connectTimeout: 3s }, http: { http2MaxRequests: 200 } }\n    loadBalancer: { simple: RANDOM }\n    proxyProtocol: { version: V2 }\n    portLevelSettings:\n    - port: { number: 8443 }\n      connectionPool: { tcp: { maxConnections: 7 } }\n  subsets:\n  - name: ignored\n    labels: { any: label }',
      );
    const { clusters, errors } = clustersOf(yaml);
    expect(errors).toEqual([]);
    expect([...clusters.keys()]).toEqual(['outbound|80||*.pool.example', 'outbound|8443||*.pool.example']);
    const http = clusters.get('outbound|80||*.pool.example')!;
    expect(http['connectTimeout']).toBe('3s');
    expect(http['lbPolicy']).toBe('CLUSTER_PROVIDED');
    expect(http['commonLbConfig']).toBeUndefined();
    expect((http['circuitBreakers'] as JsonObject)['thresholds']).toMatchObject([{ maxConnections: 50, maxRequests: 200 }]);
    expect(http['transportSocket']).toEqual(proxyProtocol('V2', RAW_BUFFER));
    expect(http['metadata']).toEqual({ filterMetadata: { istio: { config: '/apis/networking.istio.io/v1/namespaces/shop/destination-rule/pool', external: true } } });
    // The port-level entry replaces the rule's policy wholesale, PROXY protocol included.
    const tls = clusters.get('outbound|8443||*.pool.example')!;
    expect(tls['connectTimeout']).toBe('10s');
    expect((tls['circuitBreakers'] as JsonObject)['thresholds']).toMatchObject([{ maxConnections: 7 }]);
    expect(tls['transportSocket']).toBeUndefined();
  });

  it("originate TLS toward the request's host: auto SNI and SAN validation, insecure cluster options where the host cannot be checked", () => {
    const yaml =
      dynamic('auto') +
      destinationRule('auto', '*.auto.example', '  trafficPolicy:\n    tls: { mode: SIMPLE }') +
      dynamic('fixed') +
      destinationRule('fixed', '*.fixed.example', '  trafficPolicy:\n    tls: { mode: SIMPLE, sni: front.fixed.example, subjectAltNames: [front.fixed.example] }') +
      dynamic('insecure') +
      destinationRule('insecure', '*.insecure.example', '  trafficPolicy:\n    tls: { mode: SIMPLE, insecureSkipVerify: true }') +
      dynamic('mutual') +
      destinationRule('mutual', '*.mutual.example', '  trafficPolicy:\n    tls: { mode: ISTIO_MUTUAL }');
    const { clusters } = clustersOf(yaml);
    const auto = clusters.get('outbound|80||*.auto.example')!;
    expect(upstreamOptions(auto)).toEqual({ autoSni: true, autoSanValidation: true });
    expect(dfpConfig(auto)['allowInsecureClusterOptions']).toBeUndefined();
    expect(((auto['metadata'] as JsonObject)['filterMetadata'] as JsonObject)['istio']).toMatchObject({ alpn_override: 'false' });

    const fixed = clusters.get('outbound|80||*.fixed.example')!;
    expect(upstreamOptions(fixed)).toEqual({ autoSanValidation: true });
    expect(dfpConfig(fixed)['allowInsecureClusterOptions']).toBe(true);
    expect(((fixed['transportSocket'] as JsonObject)['typedConfig'] as JsonObject)['sni']).toBe('front.fixed.example');

    const insecure = clusters.get('outbound|80||*.insecure.example')!;
    expect(upstreamOptions(insecure)).toEqual({ autoSni: true });
    expect(dfpConfig(insecure)['allowInsecureClusterOptions']).toBe(true);

    // Istio mTLS with no SNI of the cluster's own: Envoy sends the request's host.
    const mutual = clusters.get('outbound|80||*.mutual.example')!;
    expect(((mutual['transportSocket'] as JsonObject)['typedConfig'] as JsonObject)['sni']).toBeUndefined();
    expect(upstreamOptions(mutual)).toEqual({ autoSni: true, autoSanValidation: true });
  });
});
