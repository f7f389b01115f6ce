/**
 * A DestinationRule through the all-in-one `skiff` to the real @grpc/grpc-js-xds client: a ring-hash
 * consistent hash, outlier detection, a connection pool and subsets on the host a proxyless gRPC
 * application calls (of which istiod's gRPC generator keeps the load balancer and the circuit breaker). The client must accept what it is sent (every type ACKed, no NACK in
 * `/debug/syncz`) and route its RPCs through the rule's cluster to the backends.
 */
import { eventually } from '@skiff/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ECHO_HOST, ECHO_SERVICE_ENTRY, startEchoScenario, syncStateOf, type EchoScenario, type XdsClientProcess } from './services.js';

const HOST = ECHO_HOST;

const serviceEntry = `${ECHO_SERVICE_ENTRY}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: demo}
spec:
  host: ${HOST}
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 64}}
    connectionPool: {http: {http2MaxRequests: 100}}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

describe('a DestinationRule served to the real @grpc/grpc-js-xds client', () => {
  let scenario: EchoScenario;
  let client: XdsClientProcess;

  beforeAll(async () => {
    scenario = await startEchoScenario({ backends: { 'echo-1': 'v1', 'echo-2': 'v1', 'echo-3': 'v2' }, files: { 'echo.yaml': serviceEntry }, clientId: 'dr-client' });
    client = scenario.client;
  }, 60_000);

  afterAll(async () => {
    await scenario?.close();
  });

  it('routes RPCs through the ring-hash cluster to the backends, without errors', async () => {
    const result = await eventually(
      async () => {
        const outcome = await client.spread(30);
        expect(outcome.errors).toEqual([]);
        // No x-user header: each RPC hashes at random on the ring, so more than one backend serves.
        expect(Object.keys(outcome.hits).length).toBeGreaterThan(1);
        return outcome;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(Object.keys(result.hits).every((name) => name.startsWith('echo-'))).toBe(true);
  });

  it('was sent the rule as cluster settings and route hash policy, and ACKed every type', async () => {
    const dump = JSON.stringify(await scenario.skiff.debug<unknown>('/debug/config_dump?proxyID=dr-client'));
    expect(dump).toContain('"lbPolicy":"RING_HASH"');
    // istiod's gRPC generator applies the load balancer and the connection pool's circuit breaker
    // only (`pilot/pkg/networking/grpcgen/cds.go` `applyTrafficPolicy`): no outlier detection.
    expect(dump).toContain('"circuitBreakers":{"thresholds":[{"maxRequests":100}]}');
    expect(dump).not.toContain('"outlierDetection"');
    expect(dump).toContain('"hashPolicy":[{"header":{"headerName":"x-user"}}]');
    expect(await syncStateOf(scenario.skiff, 'dr-client')).toEqual(
      ['Cluster', 'ClusterLoadAssignment', 'Listener', 'RouteConfiguration'].map((type) => ({ type, acked: true, lastError: undefined })),
    );
  });
});
