/**
 * Two ServiceEntries of one namespace with one host, through the services on real Redis
 * (`skiff-watcher` on a YAML directory, `skiff-translator`, `skiff-gateway`) to the real
 * @grpc/grpc-js-xds client. istiod keeps one endpoint shard per host and namespace, so the host's
 * cluster (built from the older entry) carries the newer entry's endpoints too: a WorkloadEntry the
 * newer entry selects reaches the client through the older entry's cluster when it appears, and leaves
 * it with the newer entry.
 */
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAdmin, deleteKeys, eventually, freePort, uniquePrefix } from '@skiff/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, ServiceProcess, startBackend, XdsClientProcess } from './services.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const HOST = 'payments.demo.internal';

const serviceEntry = (name: string, created: string, app: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: demo, creationTimestamp: "${created}"}
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  ports: [{number: 8080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  workloadSelector: {labels: {app: ${app}}}
`;
const workloadEntry = (name: string, port: number, app: string) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: demo}
spec: {address: 127.0.0.1, labels: {app: ${app}}, ports: {grpc: ${port}}}
`;

describe('one host defined by two ServiceEntries of a namespace, served as one endpoint shard', () => {
  const prefix = uniquePrefix('e2e-host-shard');
  let dir: string;
  let redis: Redis;
  const services: ServiceProcess[] = [];
  let backends: Awaited<ReturnType<typeof startBackend>>[];
  let client: XdsClientProcess;

  const backendsHit = async (): Promise<string[]> => {
    const outcome = await client.spread(30);
    expect(outcome.errors).toEqual([]);
    return Object.keys(outcome.hits).sort();
  };

  beforeAll(async () => {
    redis = await connectAdmin(REDIS_URL);
    backends = await Promise.all(['vm-1', 'vm-2', 'cloud-1'].map((name) => startBackend(name)));
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-shard-'));
    await writeFile(join(dir, 'payments-vms.yaml'), serviceEntry('payments-vms', '2024-01-01T00:00:00Z', 'payments-vm'));
    await writeFile(join(dir, 'payments-cloud.yaml'), serviceEntry('payments-cloud', '2024-06-01T00:00:00Z', 'payments-cloud'));
    for (const backend of backends.slice(0, 2)) await writeFile(join(dir, `${backend.name}.yaml`), workloadEntry(backend.name, backend.port, 'payments-vm'));

    const common = ['--redis-url', REDIS_URL, '--key-prefix', prefix];
    services.push(await ServiceProcess.start('watcher', BINS.watcher, ['--config-dir', dir, ...common]));
    services.push(await ServiceProcess.start('translator', BINS.translator, common));
    const xdsPort = await freePort();
    services.push(await ServiceProcess.start('gateway', BINS.gateway, [...common, '--xds-addr', `127.0.0.1:${xdsPort}`]));
    client = new XdsClientProcess(
      {
        xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
        node: { id: 'shard-client', cluster: 'e2e', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'demo' } },
      },
      `xds:///${HOST}:8080`,
    );
  }, 120_000);

  afterAll(async () => {
    client?.close();
    for (const service of services) await service.stop('SIGKILL');
    for (const backend of backends ?? []) backend.server.forceShutdown();
    if (redis) {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("takes a WorkloadEntry the newer entry selects into the host's cluster, and lets it go with that entry", async () => {
    await eventually(async () => expect(await backendsHit()).toEqual(['vm-1', 'vm-2']), { timeoutMs: 30_000, intervalMs: 200 });

    const cloud = backends[2]!;
    await writeFile(join(dir, `${cloud.name}.yaml`), workloadEntry(cloud.name, cloud.port, 'payments-cloud'));
    await eventually(async () => expect(await backendsHit()).toEqual(['cloud-1', 'vm-1', 'vm-2']), { timeoutMs: 30_000, intervalMs: 200 });

    await unlink(join(dir, 'payments-cloud.yaml'));
    await eventually(async () => expect(await backendsHit()).toEqual(['vm-1', 'vm-2']), { timeoutMs: 30_000, intervalMs: 200 });
  });
});
