/**
 * Skiff end to end, the way a user runs it: real Redis, `skiff-watcher` on a YAML directory, a
 * `skiff-translator`, two `skiff-gateway` replicas behind a forwarder (a Kubernetes Service), three
 * real gRPC backends, and a proxyless client through the real @grpc/grpc-js-xds resolver.
 */
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAdmin, deleteKeys, eventually, freePort, uniquePrefix } from '@skiff/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, ServiceProcess, startBackend, startForwarder, XdsClientProcess } from './services.js';

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
const workloadEntry = (name: string, port: number, address = '127.0.0.1') => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: demo}
spec:
  address: ${address}
  labels: {app: example-app}
  ports: {grpc: ${port}}
`;

interface SyncEntry {
  node_id: string;
  gateway: string;
  resources: Record<string, { sent: string; acked: string; sentVersion?: string; ackedVersion?: string; status: string }>;
}

describe('Skiff with the real @grpc/grpc-js-xds client', () => {
  const prefix = uniquePrefix('e2e-grpc-xds');
  let dir: string;
  let redis: Redis;
  const services: ServiceProcess[] = [];
  let gatewayA: ServiceProcess;
  let gatewayB: ServiceProcess;
  let forwarder: Awaited<ReturnType<typeof startForwarder>>;
  let backends: Awaited<ReturnType<typeof startBackend>>[];
  let client: XdsClientProcess;

  beforeAll(async () => {
    redis = await connectAdmin(REDIS_URL);
    backends = await Promise.all(['backend-1', 'backend-2', 'backend-3', 'backend-4'].map((name) => startBackend(name)));
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-'));
    await writeFile(join(dir, 'service-entry.yaml'), serviceEntry);
    for (const backend of backends.slice(0, 3)) await writeFile(join(dir, `${backend.name}.yaml`), workloadEntry(backend.name, backend.port));

    const common = ['--redis-url', REDIS_URL, '--key-prefix', prefix];
    services.push(await ServiceProcess.start('watcher', BINS.watcher, ['--config-dir', dir, ...common]));
    services.push(await ServiceProcess.start('translator', BINS.translator, common));
    const [portA, portB] = [await freePort(), await freePort()];
    gatewayA = await ServiceProcess.start('gateway-a', BINS.gateway, [...common, '--xds-addr', `127.0.0.1:${portA}`], { POD_NAME: 'gateway-a' });
    gatewayB = await ServiceProcess.start('gateway-b', BINS.gateway, [...common, '--xds-addr', `127.0.0.1:${portB}`], { POD_NAME: 'gateway-b' });
    services.push(gatewayA, gatewayB);
    forwarder = await startForwarder([portA, portB]);

    client = new XdsClientProcess({
      xds_servers: [{ server_uri: `127.0.0.1:${forwarder.port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'e2e-client', cluster: 'e2e', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'demo' } },
    });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await forwarder?.close();
    for (const service of services) await service.stop('SIGKILL');
    for (const backend of backends ?? []) backend.server.forceShutdown();
    if (redis) {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('spreads RPCs over the three backends the WorkloadEntries name', async () => {
    const result = await eventually(
      async () => {
        const outcome = await client.spread(30);
        expect(Object.keys(outcome.hits).sort()).toEqual(['backend-1', 'backend-2', 'backend-3']);
        return outcome;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(result.errors).toEqual([]);
    expect(Object.values(result.hits).every((count) => count >= 5)).toBe(true);
  });

  it('stops sending traffic to a backend whose WorkloadEntry file is removed', async () => {
    await unlink(join(dir, 'backend-3.yaml'));
    await eventually(
      async () => {
        const { hits } = await client.spread(12);
        expect(Object.keys(hits).sort()).toEqual(['backend-1', 'backend-2']);
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
  });

  it('sends traffic to a backend whose WorkloadEntry file is added', async () => {
    const added = backends[3]!;
    await writeFile(join(dir, `${added.name}.yaml`), workloadEntry(added.name, added.port));
    await eventually(
      async () => {
        const { hits } = await client.spread(15);
        expect(Object.keys(hits).sort()).toEqual(['backend-1', 'backend-2', 'backend-4']);
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
  });

  it('keeps traffic flowing as before when an edit is invalid', async () => {
    await writeFile(join(dir, 'backend-1.yaml'), workloadEntry('backend-1', 99999));
    await eventually(async () => {
      const configz = await services[0]!.debug<{ kind: string; metadata: { name: string }; rejection?: unknown }[]>('/debug/configz');
      expect(configz.find((o) => o.metadata.name === 'backend-1')?.rejection).toBeDefined();
    });
    const { hits, errors } = await client.spread(15);
    expect(errors).toEqual([]);
    expect(Object.keys(hits).sort()).toEqual(['backend-1', 'backend-2', 'backend-4']);
  });

  it('keeps RPCs succeeding when the gateway replica the client uses dies; the client gets the same versions from the other', async () => {
    const syncz = async (gateway: ServiceProcess) => (await gateway.debug<SyncEntry[]>('/debug/syncz')).filter((entry) => entry.node_id === 'e2e-client');
    const before = await eventually(async () => {
      const entries = await syncz(gatewayA);
      expect(entries.map((e) => e.gateway)).toEqual(['gateway-a']);
      expect(Object.values(entries[0]!.resources).every((r) => r.status === 'SYNCED')).toBe(true);
      return entries[0]!;
    });
    // Any replica shows the whole fleet: gateway-b lists the client, served by gateway-a.
    await eventually(async () => expect((await syncz(gatewayB)).map((e) => e.gateway)).toEqual(['gateway-a']), { timeoutMs: 15_000 });

    const during = client.spread(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await gatewayA.stop('SIGKILL');
    const { errors } = await during;
    expect(errors).toEqual([]);

    const after = await eventually(
      async () => {
        const entries = await syncz(gatewayB);
        expect(entries.map((e) => e.gateway)).toEqual(['gateway-b']);
        expect(Object.values(entries[0]!.resources).every((r) => r.status === 'SYNCED')).toBe(true);
        return entries[0]!;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    for (const [typeUrl, state] of Object.entries(before.resources)) {
      expect(after.resources[typeUrl]?.ackedVersion, typeUrl).toBe(state.ackedVersion);
    }
    const { hits, errors: laterErrors } = await client.spread(15);
    expect(laterErrors).toEqual([]);
    expect(Object.keys(hits).sort()).toEqual(['backend-1', 'backend-2', 'backend-4']);
  });
});

