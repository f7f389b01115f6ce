import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, PrivateRedisServer } from '@skiff/testing';

const bin = fileURLToPath(new URL('../bin/skiff-watcher.js', import.meta.url));
const prefix = `test-watcher-app-${process.pid}`;

const serviceEntry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.shop.example]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: api}}
`;
const workloadEntry = (address: string) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-1, namespace: shop}
spec: {address: ${address}, labels: {app: api}}
`;

describe('skiff-watcher (the built binary, real Redis)', () => {
  let dir: string;
  let child: ChildProcess;
  let port: number;
  let redis: Redis;
  let output = '';
  const hashKey = `{${prefix}}:se:shop/api`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-watcher-app-'));
    await writeFile(join(dir, 'api.yaml'), `${serviceEntry}---\n${workloadEntry('10.1.0.1')}`);
    redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
    await redis.connect();
    port = await freePort();
    child = spawn(process.execPath, [bin, '--config-dir', dir, '--redis-url', 'redis://127.0.0.1:6379', '--key-prefix', prefix, '--monitoring-addr', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  });

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    const keys = await redis.keys(`{${prefix}}*`);
    if (keys.length > 0) await redis.del(keys);
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  it('becomes ready after the initial sync and writes the ServiceEntry hash', async () => {
    await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(response.status).toBe(200);
    });
    const fields = await eventually(async () => {
      const hash = await redis.hgetall(hashKey);
      expect(Object.keys(hash).sort()).toEqual(['ep:WorkloadEntry/shop/api-1', 'rev', 'se']);
      return hash;
    });
    expect(JSON.parse(fields['ep:WorkloadEntry/shop/api-1'] ?? '{}').address).toBe('10.1.0.1');
  });

  it('follows file edits, reports invalid edits on /debug/configz without changing the store, and serves metrics', async () => {
    await writeFile(join(dir, 'api.yaml'), `${serviceEntry}---\n${workloadEntry('10.1.0.2')}`);
    await eventually(async () => expect(JSON.parse((await redis.hget(hashKey, 'ep:WorkloadEntry/shop/api-1')) ?? '{}').address).toBe('10.1.0.2'));
    const revision = await redis.hget(hashKey, 'rev');
    await writeFile(join(dir, 'api.yaml'), `${serviceEntry}---\n${workloadEntry('999.1.1.1')}`);
    const configz = await eventually(async () => {
      const body = (await (await fetch(`http://127.0.0.1:${port}/debug/configz`)).json()) as { kind: string; rejection?: { errors: string[] } }[];
      const rejected = body.find((o) => o.kind === 'WorkloadEntry')?.rejection;
      expect(rejected).toBeDefined();
      return rejected;
    });
    expect(configz?.errors.join()).toContain('WorkloadEntry shop/api-1: spec.address');
    expect(await redis.hget(hashKey, 'rev')).toBe(revision);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/pilot_total_rejected_configs_total\{type="WorkloadEntry"\} 1/);
    expect(metrics).toMatch(/pilot_k8s_cfg_events_total\{type="WorkloadEntry",event="update"\} \d+/);
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).not.toContain('"level":"error"');
  });
});

describe('skiff-watcher command line', () => {
  const runToExit = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve) => {
      const process_ = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      process_.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      process_.on('exit', (code) => resolve({ code, stderr }));
    });

  it('exits 2 with one line for an unknown flag, a bad value or a missing source', async () => {
    expect(await runToExit(['--bogus'])).toEqual({ code: 2, stderr: "skiff-watcher: unknown option '--bogus'\n" });
    const badUrl = await runToExit(['--config-dir', '.', '--redis-url', 'http://x']);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr.trim().split('\n')).toHaveLength(1);
    expect(await runToExit(['--redis-url', 'redis://127.0.0.1:6379'])).toEqual({
      code: 2,
      stderr: 'skiff-watcher: no configuration source: give --config-dir <dir> or --kubeconfig <path> (or run in a pod with a service account)\n',
    });
  });
});

describe('skiff-watcher replicas and Redis restarts (the built binary)', () => {
  const spawnWatcher = (dir: string, redisUrl: string, prefix: string, port: number) => {
    const child = spawn(process.execPath, [bin, '--config-dir', dir, '--redis-url', redisUrl, '--key-prefix', prefix, '--monitoring-addr', `127.0.0.1:${port}`, '--lease-duration', '1s'], { stdio: 'ignore' });
    return child;
  };
  const status = async (port: number): Promise<{ leader: boolean; converged: boolean }> => (await (await fetch(`http://127.0.0.1:${port}/debug/watcherz`)).json()) as { leader: boolean; converged: boolean };

  it('lets one replica write; the standby takes over when the writer dies, and refills a Redis restarted empty', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'skiff-watcher-ha-'));
    await writeFile(join(dir, 'api.yaml'), `${serviceEntry}---\n${workloadEntry('10.2.0.1')}`);
    const redisServer = await PrivateRedisServer.start('watcher-ha');
    const prefix = 'watcher-ha';
    const hashKey = `{${prefix}}:se:shop/api`;
    const admin = new Redis(redisServer.url(0), { lazyConnect: true, maxRetriesPerRequest: 1 });
    admin.on('error', () => undefined);
    const [portOne, portTwo] = [await freePort(), await freePort()];
    const one = spawnWatcher(dir, redisServer.url(0), prefix, portOne);
    const two = spawnWatcher(dir, redisServer.url(0), prefix, portTwo);
    try {
      await admin.connect();
      const leaders = await eventually(async () => {
        const states = [await status(portOne), await status(portTwo)];
        expect(states.filter((s) => s.leader)).toHaveLength(1);
        expect(states.find((s) => s.leader)?.converged).toBe(true);
        return states;
      }, { timeoutMs: 20_000, intervalMs: 100 });
      await eventually(async () => expect(await admin.hexists(hashKey, 'ep:WorkloadEntry/shop/api-1')).toBe(1));
      const [leader, standby, standbyPort] = leaders[0]?.leader ? [one, two, portTwo] : [two, one, portOne];

      // The writer dies without releasing its lease: the standby takes over once the lease expires.
      leader.kill('SIGKILL');
      await eventually(async () => expect((await status(standbyPort)).leader).toBe(true), { timeoutMs: 10_000, intervalMs: 100 });
      await writeFile(join(dir, 'api.yaml'), `${serviceEntry}---\n${workloadEntry('10.2.0.2')}`);
      await eventually(async () => expect(JSON.parse((await admin.hget(hashKey, 'ep:WorkloadEntry/shop/api-1')) ?? '{}').address).toBe('10.2.0.2'));

      // Redis restarts without persistence: the writer notices and writes the whole desired state again.
      await redisServer.kill();
      await redisServer.launch();
      await eventually(async () => expect(JSON.parse((await admin.hget(hashKey, 'ep:WorkloadEntry/shop/api-1')) ?? '{}').address).toBe('10.2.0.2'), { timeoutMs: 20_000, intervalMs: 100 });
      expect(standby.exitCode).toBeNull();
    } finally {
      one.kill('SIGKILL');
      two.kill('SIGKILL');
      admin.disconnect();
      await redisServer.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
