/**
 * A three-shard store on a Redis Cluster, through the real services: skiff-watcher on a YAML
 * directory, skiff-translator and skiff-gateway, all with `--redis-cluster` and `--redis-shards 3`, on a
 * local cluster of three masters and three replicas (`LocalRedisCluster`). A raw ADS client
 * subscribed to the endpoints of ServiceEntries living on every shard sees each WorkloadEntry change;
 * then the master of one shard is SIGKILLed while WorkloadEntries change, and the client still ends
 * with the desired endpoints. A service given another shard count refuses to start, naming the flag.
 * The all-in-one `skiff` runs the same layout on a standalone Redis (shared server, own key prefix).
 */
import { spawn } from 'node:child_process';
import { rename, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { TypeUrl } from '@skiff/protos';
import { keyLayout, shardOf } from '@skiff/store';
import { connectAdmin, eventually, freePort, LocalRedisCluster, SHARED_REDIS_URL, uniquePrefix } from '@skiff/testing';
import { connectAds, type SotwAdsStream } from '@skiff/xds-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, ServiceProcess } from './services.js';

const SHARDS = 3;
const NAMES = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];

const cluster = (name: string): string => `outbound|80||${name}.example.com`;
const address = (index: number, round: number): string => `10.${round}.${index}.1`;

const objects = (name: string, index: number, round: number): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: mesh}
spec:
  hosts: [${name}.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  location: MESH_INTERNAL
  workloadSelector: {labels: {app: ${name}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}-w, namespace: mesh}
spec: {address: ${address(index, round)}, labels: {app: ${name}}}
`;

/** A sidecar watching the endpoints of every cluster in `NAMES`, ACKing each response; the latest addresses per cluster. */
class EndpointWatcher {
  readonly endpoints = new Map<string, string[]>();
  readonly errors: string[] = [];
  private closed = false;

  private constructor(private readonly stream: SotwAdsStream) {}

  static async connect(target: string): Promise<EndpointWatcher> {
    const watcher = new EndpointWatcher(await connectAds(target, { responseTimeoutMs: 5_000 }));
    watcher.stream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, names: NAMES.map(cluster) });
    void watcher.receive();
    return watcher;
  }

  private async receive(): Promise<void> {
    while (!this.closed) {
      try {
        const response = await this.stream.expectResponse({ typeUrl: TypeUrl.ClusterLoadAssignment, timeoutMs: 1_000 });
        this.stream.ack(response);
        for (const [name, bytes] of response.resources) {
          const assignment = fromBinary(ClusterLoadAssignmentSchema, bytes);
          const addresses = assignment.endpoints.flatMap((locality) =>
            locality.lbEndpoints.map((lb) => {
              const socket = lb.hostIdentifier.case === 'endpoint' ? lb.hostIdentifier.value.address?.address : undefined;
              return socket?.case === 'socketAddress' ? socket.value.address : '?';
            }),
          );
          this.endpoints.set(name, addresses.sort());
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (this.closed || message.includes('ended')) return;
        if (!message.startsWith('no response')) this.errors.push(message);
      }
    }
  }

  /** Waits until every cluster's endpoints are the round's address. */
  async converge(round: number, timeoutMs: number): Promise<void> {
    const want = Object.fromEntries(NAMES.map((name, index) => [cluster(name), [address(index, round)]]));
    await eventually(() => expect(Object.fromEntries(NAMES.map((name) => [cluster(name), this.endpoints.get(cluster(name)) ?? []]))).toEqual(want), { timeoutMs, intervalMs: 100 });
    expect(this.errors).toEqual([]);
  }

  close(): void {
    this.closed = true;
    this.stream.close();
  }
}

/** Writes every name's file for `round` into `dir` (write then rename: the watcher never reads half a file). */
async function writeFiles(dir: string, round: number, only: readonly string[] = NAMES): Promise<void> {
  for (const [index, name] of NAMES.entries()) {
    if (!only.includes(name)) continue;
    const file = join(dir, `${name}.yaml`);
    await writeFile(`${file}.tmp`, objects(name, index, round));
    await rename(`${file}.tmp`, file);
  }
}

/** Runs `bin` to its end; its exit code and output. */
async function runToEnd(bin: string, args: readonly string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

describe('three shards on a Redis Cluster through the real services', () => {
  const prefix = uniquePrefix('e2e-shards');
  let redis: LocalRedisCluster;
  let dir: string;
  let xdsPort: number;
  let client: EndpointWatcher | undefined;
  const services: ServiceProcess[] = [];

  const writeRound = (round: number, only: readonly string[] = NAMES): Promise<void> => writeFiles(dir, round, only);

  const storeArgs = (shards: number): string[] => ['--redis-url', 'redis://127.0.0.1:1', '--redis-cluster', redis.seeds.join(','), '--key-prefix', prefix, '--redis-shards', String(shards)];

  beforeAll(async () => {
    // The names cover every shard, so every shard's change log, resources and invalidations are used.
    expect(new Set(NAMES.map((name) => shardOf(`mesh/${name}`, SHARDS))).size).toBe(SHARDS);
    redis = await LocalRedisCluster.start();
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-shards-'));
    await writeRound(1);
    xdsPort = await freePort();
    // Writes wait for a replica: a write the watcher was told succeeded survives the master's death.
    services.push(await ServiceProcess.start('skiff-watcher', BINS.watcher, [...storeArgs(SHARDS), '--config-dir', dir, '--redis-replica-wait', '2s']));
    services.push(await ServiceProcess.start('skiff-translator', BINS.translator, storeArgs(SHARDS)));
    services.push(await ServiceProcess.start('skiff-gateway', BINS.gateway, [...storeArgs(SHARDS), '--xds-addr', `127.0.0.1:${xdsPort}`]));
    client = await EndpointWatcher.connect(`127.0.0.1:${xdsPort}`);
  }, 180_000);

  afterAll(async () => {
    client?.close();
    for (const service of services.reverse()) await service.stop('SIGKILL');
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('serves the endpoints of ServiceEntries on every shard and follows their changes', { timeout: 120_000 }, async () => {
    await client!.converge(1, 60_000);
    await writeRound(2);
    await client!.converge(2, 60_000);
  });

  it('loses no change when the master of a shard dies in the middle of them', { timeout: 240_000 }, async () => {
    const victimShard = shardOf(`mesh/${NAMES[0]!}`, SHARDS);
    const victim = await redis.masterOfKey(keyLayout(prefix, { index: victimShard, count: SHARDS }).changeLog);
    const onVictim = NAMES.filter((name) => shardOf(`mesh/${name}`, SHARDS) === victimShard);
    // The other shards' changes before the kill, the dying shard's right after it, while it has no master.
    await writeRound(3, NAMES.filter((name) => !onVictim.includes(name)));
    await redis.kill(victim);
    await writeRound(3, onVictim);
    await client!.converge(3, 120_000);
    await redis.waitHealthy(120_000);
    // A replica took the shard over.
    expect(await redis.masterOfKey(keyLayout(prefix, { index: victimShard, count: SHARDS }).changeLog)).not.toBe(victim);
    await writeRound(4);
    await client!.converge(4, 60_000);
  });

  it('refuses a service whose shard count differs from the store’s', { timeout: 60_000 }, async () => {
    // On a port of its own: a Skiff running on this machine holds the default one, and the service would stop on that first.
    const { code, output } = await runToEnd(BINS.translator, [...storeArgs(1), '--monitoring-addr', `127.0.0.1:${await freePort()}`]);
    expect(code).toBe(1);
    expect(output).toMatch(/--redis-shards \(SKIFF_REDIS_SHARDS\) is 1 but the store .* is laid out in 3 shards/);
  });
});

describe('the all-in-one skiff with three shards on a standalone Redis', () => {
  const prefix = uniquePrefix('e2e-shards-skiff');
  let dir: string;
  let skiff: ServiceProcess | undefined;
  let client: EndpointWatcher | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-shards-skiff-'));
    await writeFiles(dir, 1);
    const xdsPort = await freePort();
    skiff = await ServiceProcess.start('skiff', BINS.skiff, ['--config-dir', dir, '--redis-url', SHARED_REDIS_URL, '--key-prefix', prefix, '--redis-shards', '3', '--xds-addr', `127.0.0.1:${xdsPort}`]);
    client = await EndpointWatcher.connect(`127.0.0.1:${xdsPort}`);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await skiff?.stop('SIGKILL');
    const admin = await connectAdmin();
    const keys = await admin.keys(`{${prefix}*`);
    if (keys.length > 0) await admin.del(keys);
    admin.disconnect();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('serves every shard and follows changes', { timeout: 120_000 }, async () => {
    await client!.converge(1, 60_000);
    await writeFiles(dir, 2);
    await client!.converge(2, 60_000);
    const translatorz = await skiff!.debug<{ shards: unknown[] }>('/debug/translatorz');
    expect(translatorz.shards).toHaveLength(3);
  });

  it('refuses --redis-shards without Redis', { timeout: 60_000 }, async () => {
    const { code, output } = await runToEnd(BINS.skiff, ['--config-dir', dir, '--redis-shards', '3']);
    expect(code).toBe(2);
    expect(output).toContain('skiff: --redis-shards needs --redis-url');
  });
});
