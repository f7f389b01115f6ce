/**
 * The example the project grew from (examples/seed/example-app.yaml, from the seed document's
 * ServiceEntry and WorkloadEntry), checked fact by fact against the seed's Envoy dumps, not only
 * through golden files.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadIstioConfig, selectsWorkload } from '@skiff/model';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_SETTINGS, translateResultToJson, translateServiceEntry, type TranslateInput } from './index.js';
import type { ClusterNaming } from './names.js';

const seedFile = fileURLToPath(new URL('../../../examples/seed/example-app.yaml', import.meta.url));

function seedInput(): TranslateInput {
  const loaded = loadIstioConfig(readFileSync(seedFile, 'utf8'), seedFile);
  expect(loaded.rejected).toEqual([]);
  const [entry] = loaded.serviceEntries;
  if (entry === undefined) throw new Error('the seed example has no ServiceEntry');
  const endpoints = loaded.workloadEntries.map(({ endpoint }) => endpoint).filter((endpoint) => selectsWorkload(entry.serviceEntry, endpoint));
  return { serviceEntry: entry.serviceEntry, endpoints: [...entry.inlineEndpoints, ...endpoints] };
}

/** The seed input with service port 80 whose workloads listen on 8080 (the seed's second dump). */
function seedTargetPortInput(): TranslateInput {
  const input = seedInput();
  const ports = input.serviceEntry.ports.map((servicePort) => ({ ...servicePort, number: 80, targetPort: 8080 }));
  return { ...input, serviceEntry: { ...input.serviceEntry, ports } };
}

function translateJson(input: TranslateInput, naming: ClusterNaming) {
  const result = translateServiceEntry(input, { flavor: 'envoy', naming, mesh: DEFAULT_MESH_SETTINGS });
  expect(result.errors).toEqual([]);
  return translateResultToJson(result) as { clusters: Record<string, unknown>[]; endpoints: Record<string, unknown>[] };
}

/**
 * The seed's sni-dnat dump (`outbound_.8080_._.example-app` for its MESH_EXTERNAL entry) came from an
 * older istiod. Current istiod builds sni-dnat clusters only for MESH_INTERNAL services and keeps only
 * mTLS endpoints in them (`buildOutboundSniDnatClusters`), so the seed's facts are checked on the
 * entry made MESH_INTERNAL with its workload labelled `security.istio.io/tlsMode: istio`.
 */
function meshInternal(input: TranslateInput): TranslateInput {
  return { serviceEntry: { ...input.serviceEntry, location: 'MESH_INTERNAL' }, endpoints: input.endpoints.map((endpoint) => ({ ...endpoint, tlsMode: 'istio' })) };
}

describe('the seed example', () => {
  it('gets no sni-dnat clusters: its entry is MESH_EXTERNAL', () => {
    expect(translateJson(seedInput(), 'sni-dnat')).toEqual({ clusters: [], endpoints: [] });
  });

  it.each<[ClusterNaming, string]>([
    ['sidecar', 'outbound|8080||example-app'],
    ['sni-dnat', 'outbound_.8080_._.example-app'],
  ])('%s naming gives %s with the seed dump fields', (naming, name) => {
    const { clusters, endpoints } = translateJson(naming === 'sni-dnat' ? meshInternal(seedInput()) : seedInput(), naming);
    expect(clusters).toHaveLength(1);
    const cluster = clusters[0];
    expect(cluster).toMatchObject({
      name,
      type: 'EDS',
      edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' }, serviceName: name },
      connectTimeout: '10s',
      circuitBreakers: {
        thresholds: [{ maxConnections: 4294967295, maxPendingRequests: 4294967295, maxRequests: 4294967295, maxRetries: 4294967295 }],
      },
    });
    expect(endpoints).toEqual([
      {
        clusterName: name,
        endpoints: [
          {
            locality: {},
            lbEndpoints: [
              {
                endpoint: { address: { socketAddress: { address: '192.168.31.2', portValue: 8080 } } },
                metadata: {
                  filterMetadata: {
                    ...(naming === 'sni-dnat' ? { 'envoy.transport_socket_match': { tlsMode: 'istio' } } : {}),
                    istio: { workload: 'example-app-1;shaoyu-test;example-app;;Kubernetes' },
                  },
                },
                loadBalancingWeight: 1,
              },
            ],
            loadBalancingWeight: 1,
          },
        ],
      },
    ]);
  });

  it('service port 80 with targetPort 8080 gives outbound_.80_._.example-app with the endpoint on 8080', () => {
    const { clusters, endpoints } = translateJson(meshInternal(seedTargetPortInput()), 'sni-dnat');
    expect(clusters.map((cluster) => cluster['name'])).toEqual(['outbound_.80_._.example-app']);
    expect(clusters[0]).toMatchObject({ edsClusterConfig: { serviceName: 'outbound_.80_._.example-app' } });
    expect(endpoints).toMatchObject([
      {
        clusterName: 'outbound_.80_._.example-app',
        endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '192.168.31.2', portValue: 8080 } } } }] }],
      },
    ]);
  });
});
