/**
 * Skiff on a real Kubernetes control plane (libs/kube-testenv: etcd and kube-apiserver), the way it
 * runs in a cluster: Istio's CRDs, the chart's watcher ServiceAccount and RBAC, a TokenRequest token,
 * objects applied with kubectl. The all-in-one `skiff --kubeconfig` serves a proxyless client through
 * the real @grpc/grpc-js-xds resolver, which must follow every create, update and delete of its
 * WorkloadEntries, a VirtualService's fault, and an API server restart, and an Envoy-style ADS client sees ServiceEntries come and
 * go; two `skiff-watcher` replicas elect their writer on the chart's Lease.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { installIstioCrds, installWatcherIdentity, KubeControlPlane, type WatcherIdentity } from '@skiff/kube-testenv';
import { TypeUrl } from '@skiff/protos';
import { connectAds } from '@skiff/xds-conformance';
import { connectAdmin, deleteKeys, eventually, freePort, uniquePrefix } from '@skiff/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, grpcBootstrap, ServiceProcess, startBackend, XdsClientProcess } from './services.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

const serviceEntry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: example-app, namespace: demo}
spec:
  hosts: [example-app]
  ports: [{number: 8080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  location: MESH_INTERNAL
  workloadSelector: {labels: {app: example-app}}
`;
const paymentsEntry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments, namespace: demo}
spec:
  hosts: [payments.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
  location: MESH_EXTERNAL
`;
const workloadEntry = (name: string, port: number) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: demo}
spec:
  address: 127.0.0.1
  labels: {app: example-app}
  ports: {grpc: ${port}}
`;

interface WatcherStatus {
  synced: boolean;
  leader: boolean;
  leaseToken: number | null;
  source: { healthy: boolean; reason?: string };
}

let plane: KubeControlPlane;
let identity: WatcherIdentity;

beforeAll(async () => {
  plane = await KubeControlPlane.start();
  await installIstioCrds(plane);
  identity = await installWatcherIdentity(plane, { namespace: 'skiff-system' });
  await plane.kubectlOrThrow(['create', 'namespace', 'demo']);
}, 180_000);
afterAll(() => plane?.stop());

describe('skiff --kubeconfig with the real @grpc/grpc-js-xds client', () => {
  let skiff: ServiceProcess;
  let backends: Awaited<ReturnType<typeof startBackend>>[];
  let client: XdsClientProcess;
  let xdsPort: number;

  const hitsAre = async (expected: string[], timeoutMs = 20_000): Promise<void> => {
    await eventually(
      async () => {
        const { hits, errors } = await client.spread(12);
        expect(errors).toEqual([]);
        expect(Object.keys(hits).sort()).toEqual(expected);
      },
      { timeoutMs, intervalMs: 100 },
    );
  };

  beforeAll(async () => {
    backends = await Promise.all(['backend-1', 'backend-2', 'backend-3', 'backend-4'].map((name) => startBackend(name)));
    await plane.apply([serviceEntry, workloadEntry('backend-1', backends[0]!.port), workloadEntry('backend-2', backends[1]!.port)].join('---\n'));
    xdsPort = await freePort();
    skiff = await ServiceProcess.start('skiff', BINS.skiff, ['--kubeconfig', identity.kubeconfig, '--xds-addr', `127.0.0.1:${xdsPort}`]);
    client = new XdsClientProcess({
      xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'k8s-e2e-client', cluster: 'e2e', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'demo' } },
    });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await skiff?.stop('SIGKILL');
    for (const backend of backends ?? []) backend.server.forceShutdown();
  });

  it('sends RPCs to the backends of the WorkloadEntries kubectl applied', async () => {
    await hitsAre(['backend-1', 'backend-2'], 30_000);
  });

  it('follows kubectl create, update and delete of WorkloadEntries', async () => {
    await plane.apply(workloadEntry('backend-3', backends[2]!.port));
    await hitsAre(['backend-1', 'backend-2', 'backend-3']);
    await plane.kubectlOrThrow(['delete', 'workloadentry', 'backend-1', '--namespace', 'demo']);
    await hitsAre(['backend-2', 'backend-3']);
    // backend-2's WorkloadEntry now names backend-4's port.
    await plane.apply(workloadEntry('backend-2', backends[3]!.port));
    await hitsAre(['backend-3', 'backend-4']);
  });

  it('adds, withdraws and restores a ServiceEntry for an Envoy-style ADS client as kubectl creates, deletes and re-creates it', async () => {
    const stream = await connectAds(`127.0.0.1:${xdsPort}`, { node: { id: 'sidecar~10.1.0.1~probe.demo~demo.svc.cluster.local', cluster: 'probe.demo', metadata: { NAMESPACE: 'demo' } } });
    try {
      const cluster = 'outbound|443||payments.example.com';
      /** ACKs CDS responses until one satisfies `wanted` (an unrelated push may come first). */
      const untilClusters = async (wanted: (names: readonly string[]) => boolean): Promise<readonly string[]> => {
        const deadline = Date.now() + 15_000;
        for (;;) {
          const response = await stream.expectResponse({ typeUrl: TypeUrl.Cluster, timeoutMs: Math.max(1, deadline - Date.now()) });
          stream.ack(response);
          if (wanted(response.names)) return response.names;
        }
      };
      stream.request({ typeUrl: TypeUrl.Cluster });
      expect(await untilClusters((names) => names.includes('outbound|8080||example-app'))).not.toContain(cluster);
      await plane.apply(paymentsEntry);
      expect(await untilClusters((names) => names.includes(cluster))).toContain('outbound|8080||example-app');
      await plane.kubectlOrThrow(['delete', 'serviceentry', 'payments', '--namespace', 'demo']);
      expect(await untilClusters((names) => !names.includes(cluster))).toContain('outbound|8080||example-app');
      await plane.apply(paymentsEntry);
      await untilClusters((names) => names.includes(cluster));
    } finally {
      stream.close();
    }
  });

  it('aborts the RPCs a VirtualService kubectl applied matches with its fault, and stops when it is deleted', async () => {
    // Short hosts complete in the VirtualService's namespace with the cluster's domain suffix, as in istiod.
    const host = 'orders.demo.svc.cluster.local';
    await plane.apply(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: orders, namespace: demo}
spec:
  hosts: [${host}]
  ports: [{number: 8080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  location: MESH_INTERNAL
  workloadSelector: {labels: {app: example-app}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders, namespace: demo}
spec:
  hosts: [orders]
  http:
  - match: [{headers: {x-fail: {exact: "yes"}}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: orders}}]
  - route: [{destination: {host: orders}}]
`);
    const orders = new XdsClientProcess(grpcBootstrap(`127.0.0.1:${xdsPort}`, 'k8s-e2e-orders', 'demo'), `xds:///${host}:8080`);
    try {
      await eventually(
        async () => {
          expect((await orders.spread(6)).errors).toEqual([]);
          const failing = await orders.spread(6, { 'x-fail': 'yes' });
          expect(failing.hits).toEqual({});
          expect(failing.errors).toHaveLength(6);
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      await plane.kubectlOrThrow(['delete', 'virtualservice', 'orders', '--namespace', 'demo']);
      await eventually(async () => expect((await orders.spread(6, { 'x-fail': 'yes' })).errors).toEqual([]), { timeoutMs: 30_000, intervalMs: 200 });
    } finally {
      orders.close();
      await plane.kubectlOrThrow(['delete', 'serviceentry', 'orders', '--namespace', 'demo']);
    }
  });

  it('refuses an invalid WorkloadEntry at the API server, so the mesh never sees it', async () => {
    const refused = await plane.kubectl(['apply', '-f', '-'], { input: workloadEntry('backend-3', 70_000) });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('The WorkloadEntry "backend-3" is invalid');
    expect(refused.stderr).toContain('port must be between 1-65535');
    await hitsAre(['backend-3', 'backend-4']);
  });

  it('reports not ready while the API server is gone past the grace period, keeps serving, and follows again once it is back', async () => {
    const readyz = async (): Promise<number> => (await fetch(`http://127.0.0.1:${skiff.monitoringPort}/readyz`)).status;
    expect(await readyz()).toBe(200);
    await plane.stopApiServer();
    try {
      // Within the grace period a lost watch does not flip readiness...
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(await readyz()).toBe(200);
      // ...past it, the watcher says its view may be stale.
      await eventually(async () => expect(await readyz()).toBe(503), { timeoutMs: 20_000, intervalMs: 200 });
      const body = await (await fetch(`http://127.0.0.1:${skiff.monitoringPort}/readyz`)).text();
      expect(body).toMatch(/^not ready: config-source \((ServiceEntry|WorkloadEntry) \(networking\.istio\.io\/v1\) in all namespaces: no watch for \d+ s \(/);
      const status = await skiff.debug<WatcherStatus>('/debug/watcherz');
      expect(status.synced).toBe(true);
      expect(status.source.healthy).toBe(false);
      expect(status.source.reason).toMatch(/^(ServiceEntry|WorkloadEntry) \(networking\.istio\.io\/v1\) in all namespaces: no watch for \d+ s/);
      // Proxies keep what they have.
      await hitsAre(['backend-3', 'backend-4']);
    } finally {
      await plane.startApiServer();
    }
    // The informers retry with a backoff of up to DEFAULT_KUBERNETES_BACKOFF.maxMs (30 s, 20% jitter)
    // after the failures of the outage, so the next watch can start that long after the server is back.
    await eventually(async () => expect(await readyz()).toBe(200), { timeoutMs: 60_000, intervalMs: 200 });
    await plane.apply(workloadEntry('backend-1', backends[0]!.port));
    await hitsAre(['backend-1', 'backend-3', 'backend-4']);
  }, 150_000);
});

describe("skiff-watcher replicas on the chart's Lease", () => {
  const prefix = uniquePrefix('e2e-k8s-lease');
  let redis: Redis;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    redis = await connectAdmin(REDIS_URL);
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    if (redis) {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  });

  const start = (pod: string, port: number): ChildProcess => {
    const child = spawn(
      process.execPath,
      [BINS.watcher, '--kubeconfig', identity.kubeconfig, '--redis-url', REDIS_URL, '--key-prefix', prefix, '--monitoring-addr', `127.0.0.1:${port}`, '--lease-duration', '3s'],
      { stdio: 'ignore', env: { ...process.env, POD_NAME: pod, POD_NAMESPACE: identity.namespace, SKIFF_LEADER_ELECTION_LEASE: identity.leaseName } },
    );
    children.push(child);
    return child;
  };
  const status = async (port: number): Promise<WatcherStatus> => (await (await fetch(`http://127.0.0.1:${port}/debug/watcherz`)).json()) as WatcherStatus;

  it('elects one writer, writes --lease-duration into the Lease, and the standby takes over that long after the writer is killed', async () => {
    const ports = { 'watcher-0': await freePort(), 'watcher-1': await freePort() };
    const processes = { 'watcher-0': start('watcher-0', ports['watcher-0']), 'watcher-1': start('watcher-1', ports['watcher-1']) };
    const leader = await eventually(
      async () => {
        const states = await Promise.all(Object.values(ports).map((port) => status(port)));
        const seen = JSON.stringify(states.map(({ synced, leader, leaseToken, source }) => ({ synced, leader, leaseToken, source })));
        expect(states.map((state) => state.synced), seen).toEqual([true, true]);
        // A replica whose renewal was late (a loaded machine, a 3 s lease) may still show the grant it is
        // about to find lost while the other already holds the new one: wait for one writer.
        expect(states.filter((state) => state.leader), seen).toHaveLength(1);
        return states[0]!.leader ? 'watcher-0' : 'watcher-1';
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const standby = leader === 'watcher-0' ? 'watcher-1' : 'watcher-0';
    const lease = JSON.parse(await plane.kubectlOrThrow(['get', 'lease', identity.leaseName, '--namespace', identity.namespace, '-o', 'jsonpath={.spec}'])) as {
      holderIdentity: string;
      leaseDurationSeconds: number;
    };
    expect(lease).toMatchObject({ holderIdentity: leader, leaseDurationSeconds: 3 });

    const killed = performance.now();
    processes[leader].kill('SIGKILL');
    await eventually(async () => expect((await status(ports[standby])).leader).toBe(true), { timeoutMs: 20_000, intervalMs: 50 });
    const tookOver = performance.now() - killed;
    // The Lease's 3 s (from the last renewal, up to one 400 ms retry period before the kill), then the
    // standby's next try (up to 2.2 retry periods) and its store lease: well under client-go's 15 s.
    expect(tookOver).toBeGreaterThan(2_000);
    expect(tookOver).toBeLessThan(7_000);
  }, 120_000);
});
