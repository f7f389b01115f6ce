/**
 * A DestinationRule through the all-in-one `skiff` to the real @grpc/grpc-js-xds client: a ring-hash
 * consistent hash, outlier detection, a connection pool and subsets on the host a proxyless gRPC
 * application calls (of which istiod's gRPC generator keeps the load balancer and the circuit breaker). The client must accept what it is sent (every type ACKed, no NACK in
 * `/debug/syncz`) and route its RPCs through the rule's cluster to the backends.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, freePort } from '@skiff/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, ServiceProcess, startBackend, XdsClientProcess } from './services.js';

const HOST = 'echo.demo.internal';

const serviceEntry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: demo}
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  ports: [{number: 8080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  workloadSelector: {labels: {app: echo}}
---
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

const workloadEntry = (name: string, port: number, version: string): string => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: demo}
spec: {address: 127.0.0.1, labels: {app: echo, version: ${version}}, ports: {grpc: ${port}}}
`;

interface SyncEntry {
  readonly proxy: string;
  readonly resources?: Record<string, { readonly sent: string; readonly acked: string; readonly lastError?: string }>;
}

describe('a DestinationRule served to the real @grpc/grpc-js-xds client', () => {
  let dir: string;
  let skiff: ServiceProcess;
  let backends: Awaited<ReturnType<typeof startBackend>>[];
  let client: XdsClientProcess;

  beforeAll(async () => {
    backends = await Promise.all(['echo-1', 'echo-2', 'echo-3'].map((name) => startBackend(name)));
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-dr-'));
    await writeFile(join(dir, 'echo.yaml'), serviceEntry);
    for (const [index, backend] of backends.entries()) await writeFile(join(dir, `${backend.name}.yaml`), workloadEntry(backend.name, backend.port, index === 2 ? 'v2' : 'v1'));
    const xdsAddress = `127.0.0.1:${await freePort()}`;
    skiff = await ServiceProcess.start('skiff', BINS.skiff, ['--config-dir', dir, '--xds-addr', xdsAddress]);
    client = new XdsClientProcess(
      {
        xds_servers: [{ server_uri: xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
        node: { id: 'dr-client', cluster: 'e2e', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'demo' } },
      },
      `xds:///${HOST}:8080`,
    );
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await skiff?.stop('SIGKILL');
    for (const backend of backends ?? []) backend.server.forceShutdown();
    if (dir) await rm(dir, { recursive: true, force: true });
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
    const dump = JSON.stringify(await skiff.debug<unknown>('/debug/config_dump?proxyID=dr-client'));
    expect(dump).toContain('"lbPolicy":"RING_HASH"');
    // istiod's gRPC generator applies the load balancer and the connection pool's circuit breaker
    // only (`pilot/pkg/networking/grpcgen/cds.go` `applyTrafficPolicy`): no outlier detection.
    expect(dump).toContain('"circuitBreakers":{"thresholds":[{"maxRequests":100}]}');
    expect(dump).not.toContain('"outlierDetection"');
    expect(dump).toContain('"hashPolicy":[{"header":{"headerName":"x-user"}}]');
    const syncz = await skiff.debug<SyncEntry[]>('/debug/syncz');
    const entry = syncz.find((proxy) => proxy.proxy === 'dr-client');
    expect(entry).toBeDefined();
    const types = Object.entries(entry?.resources ?? {});
    expect(types.map(([type]) => type.split('.').pop()).sort()).toEqual(['Cluster', 'ClusterLoadAssignment', 'Listener', 'RouteConfiguration']);
    for (const [, state] of types) {
      expect(state.lastError).toBeUndefined();
      expect(state.acked).toBe(state.sent);
    }
  });
});
