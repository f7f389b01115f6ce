/**
 * The two cluster JSON examples of docs/istio-behaviour.md#example-clusters (sidecar, IPv4, default
 * mesh config, no DestinationRule), compared field by field with what Skiff builds for the same ServiceEntries
 * (testdata/in/spec-*.yaml), plus the variants described next to them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { JsonObject } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_SETTINGS, translateResultToJson, type TranslateOptions, type TranslateResult } from './index.js';
import { loadCase } from './test-support/load-case.js';

const SIDECAR: TranslateOptions = { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS };

function translateCase(name: string, edit: (text: string) => string = (text) => text): TranslateResult {
  const file = fileURLToPath(new URL(`../testdata/in/${name}.yaml`, import.meta.url));
  return loadCase(edit(readFileSync(file, 'utf8')), file, SIDECAR);
}

function onlyClusterJson(result: TranslateResult): JsonObject {
  const clusters = translateResultToJson(result)['clusters'] as JsonObject[];
  expect(clusters).toHaveLength(1);
  return clusters[0] as JsonObject;
}

function expectFieldByField(actual: JsonObject, expected: JsonObject): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const key of Object.keys(expected)) expect(actual[key], `field ${key}`).toEqual(expected[key]);
}

const circuitBreakers = {
  thresholds: [{ maxConnections: 4294967295, maxPendingRequests: 4294967295, maxRequests: 4294967295, maxRetries: 4294967295 }],
};
const metadataExchangeFilter = {
  name: 'istio.metadata_exchange',
  typedConfig: {
    '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct',
    typeUrl: 'type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange',
    value: { protocol: 'istio-peer-exchange', enable_discovery: true },
  },
};

/** docs/istio-behaviour.md#example-clusters, STATIC / MESH_EXTERNAL / TLS 443. */
const staticExample: JsonObject = {
  name: 'outbound|443||api.example.com',
  type: 'EDS',
  edsClusterConfig: {
    edsConfig: { ads: {}, initialFetchTimeout: '0s', resourceApiVersion: 'V3' },
    serviceName: 'outbound|443||api.example.com',
  },
  connectTimeout: '10s',
  lbPolicy: 'LEAST_REQUEST',
  circuitBreakers,
  commonLbConfig: { healthyPanicThreshold: {} },
  altStatName: 'outbound|443||api.example.com;',
  filters: [metadataExchangeFilter],
  metadata: {
    filterMetadata: { istio: { services: [{ host: 'api.example.com', name: 'api.example.com', namespace: 'default' }], external: true } },
  },
};

/** docs/istio-behaviour.md#example-clusters, DNS / HTTP 80 / no endpoints (the `<se-name>` of its workload string is `httpbin` here). */
const dnsExample: JsonObject = {
  name: 'outbound|80||httpbin.org',
  type: 'STRICT_DNS',
  connectTimeout: '10s',
  lbPolicy: 'LEAST_REQUEST',
  circuitBreakers,
  commonLbConfig: { healthyPanicThreshold: {} },
  altStatName: 'outbound|80||httpbin.org;',
  dnsLookupFamily: 'V4_ONLY',
  dnsRefreshRate: '60s',
  respectDnsTtl: true,
  dnsJitter: '0.100s',
  typedDnsResolverConfig: {
    name: 'envoy.network.dns_resolver.cares',
    typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig', udpMaxQueries: 100 },
  },
  loadAssignment: {
    clusterName: 'outbound|80||httpbin.org',
    endpoints: [
      {
        locality: {},
        lbEndpoints: [
          {
            endpoint: { address: { socketAddress: { address: 'httpbin.org', portValue: 80 } } },
            metadata: { filterMetadata: { istio: { workload: 'httpbin;default;httpbin;;Kubernetes' } } },
            loadBalancingWeight: 1,
          },
        ],
        loadBalancingWeight: 1,
      },
    ],
  },
  filters: [metadataExchangeFilter],
  metadata: {
    filterMetadata: { istio: { services: [{ host: 'httpbin.org', name: 'httpbin.org', namespace: 'default' }], external: true } },
  },
};

describe('istiod example clusters (docs/istio-behaviour.md)', () => {
  it('STATIC MESH_EXTERNAL TLS cluster matches field by field', () => {
    expectFieldByField(onlyClusterJson(translateCase('spec-static-tls-external')), staticExample);
  });

  it('DNS cluster without endpoints matches field by field', () => {
    expectFieldByField(onlyClusterJson(translateCase('spec-dns-httpbin')), dnsExample);
  });

  it('an HTTP2 or GRPC port adds explicit HTTP/2 protocol options and nothing else', () => {
    for (const protocol of ['HTTP2', 'GRPC']) {
      const cluster = onlyClusterJson(translateCase('spec-static-tls-external', (text) => text.replace('protocol: TLS', `protocol: ${protocol}`)));
      const { typedExtensionProtocolOptions, ...rest } = cluster;
      expect(typedExtensionProtocolOptions).toEqual({
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicitHttpConfig: { http2ProtocolOptions: {} },
        },
      });
      expectFieldByField(rest, staticExample);
    }
  });

  it('MESH_INTERNAL drops `external` and adds the tlsMode-istio / tlsMode-disabled matches', () => {
    const cluster = onlyClusterJson(translateCase('spec-static-tls-external', (text) => text.replace('location: MESH_EXTERNAL', 'location: MESH_INTERNAL')));
    const { transportSocketMatches, ...rest } = cluster;
    expect((transportSocketMatches as JsonObject[]).map((match) => [match['name'], match['match']])).toEqual([
      ['tlsMode-istio', { tlsMode: 'istio' }],
      ['tlsMode-disabled', {}],
    ]);
    expectFieldByField(rest, {
      ...staticExample,
      metadata: { filterMetadata: { istio: { services: [{ host: 'api.example.com', name: 'api.example.com', namespace: 'default' }] } } },
    });
  });
});
