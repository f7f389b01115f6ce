import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TypeUrl } from '@skiff/protos';
import { createRedisStore, type RedisStore } from '@skiff/store';
import { connectAdmin, deleteKeys, eventually, freePort, SHARED_REDIS_URL, uniquePrefix } from '@skiff/testing';
import { connectAds, testCluster } from '@skiff/xds-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/skiff-gateway.js', import.meta.url));

function runToExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('skiff-gateway (the built binary, real Redis)', () => {
  const prefix = uniquePrefix('gateway-app');
  let store: RedisStore;
  let child: ChildProcess;
  let xdsPort: number;
  let monitoringPort: number;
  let output = '';

  beforeAll(async () => {
    store = createRedisStore({ url: SHARED_REDIS_URL, keyPrefix: prefix });
    // A ServiceEntry's built resources, as a translator stores them, before the gateway starts.
    const cluster = testCluster('outbound|80||api.shop.example');
    await store.resources.replace({
      visibility: { namespace: 'shop', name: 'api', exportTo: [], creationTime: 0, hosts: ['api.shop.example'] },
      revision: 1,
      resources: [{ ...cluster, variant: 'envoy-sidecar', version: 'v1' }],
    });
    [xdsPort, monitoringPort] = [await freePort(), await freePort()];
    child = spawn(
      process.execPath,
      [bin, '--redis-url', SHARED_REDIS_URL, '--key-prefix', prefix, '--xds-addr', `127.0.0.1:${xdsPort}`, '--monitoring-addr', `127.0.0.1:${monitoringPort}`],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAME: 'gateway-test' } },
    );
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await eventually(async () => expect((await fetch(`http://127.0.0.1:${monitoringPort}/readyz`)).status).toBe(200), { timeoutMs: 20_000 });
  });

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await store.close();
    const admin = await connectAdmin();
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });

  it('serves the stored clusters over ADS and shows the proxy on /debug/syncz', async () => {
    const stream = await connectAds(`127.0.0.1:${xdsPort}`);
    const response = await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
    expect(response.names).toEqual(['outbound|80||api.shop.example']);
    const syncz = await eventually(async () => {
      const body = (await (await fetch(`http://127.0.0.1:${monitoringPort}/debug/syncz`)).json()) as { gateway: string; resources: Record<string, { status: string }> }[];
      expect(body[0]?.resources[TypeUrl.Cluster]?.status).toBe('SYNCED');
      return body;
    });
    expect(syncz[0]?.gateway).toBe('gateway-test');
    const metrics = await (await fetch(`http://127.0.0.1:${monitoringPort}/metrics`)).text();
    expect(metrics).toMatch(/pilot_xds_pushes_total\{type="cds"\} 1/);
    expect(metrics).toMatch(/pilot_xds\{version="[^"]*"\} 1/);

    // A translator stores a new version: the invalidation reaches the gateway and the proxy gets it pushed.
    const changed = testCluster('outbound|80||api.shop.example', 1);
    await store.resources.replace({
      visibility: { namespace: 'shop', name: 'api', exportTo: [], creationTime: 0, hosts: ['api.shop.example'] },
      revision: 2,
      resources: [{ ...changed, variant: 'envoy-sidecar', version: 'v2' }],
    });
    const pushed = await stream.expectResponse({ typeUrl: TypeUrl.Cluster, timeoutMs: 5_000 });
    expect(pushed.resources.get('outbound|80||api.shop.example')).toEqual(changed.bytes);
    stream.ack(pushed);
    await eventually(async () => {
      const after = await (await fetch(`http://127.0.0.1:${monitoringPort}/metrics`)).text();
      expect(after).toMatch(/skiff_gateway_invalidation_lag_seconds_count\{type="cds"\} 1/);
      // Convergence: from the change reaching the gateway to the proxy's ACK.
      expect(after).toMatch(/pilot_proxy_convergence_time_count 1/);
    });
    stream.close();
  });

  it('answers istiod\'s errors for a missing or unknown proxyID', async () => {
    const missing = await fetch(`http://127.0.0.1:${monitoringPort}/debug/config_dump`);
    expect(missing.status).toBe(400);
    expect(await missing.text()).toContain('You must provide a proxyID in the query string');
    const unknown = await fetch(`http://127.0.0.1:${monitoringPort}/debug/config_dump?proxyID=nobody.nowhere`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('Proxy not connected to this Pilot instance. It may be connected to another instance.');
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).not.toContain('"level":"error"');
  });
});

describe('skiff-gateway command line', () => {
  it('exits 2 with one line for an unknown flag, a bad duration, half a TLS pair or a zero fleet heartbeat', async () => {
    expect(await runToExit(['--bogus'])).toEqual({ code: 2, stderr: "skiff-gateway: unknown option '--bogus'\n" });
    const badDuration = await runToExit(['--redis-url', SHARED_REDIS_URL, '--debounce', 'soon']);
    expect(badDuration.code).toBe(2);
    expect(badDuration.stderr).toMatch(/^skiff-gateway: invalid value "soon" for --debounce/);
    expect(await runToExit(['--redis-url', SHARED_REDIS_URL, '--tls-cert-file', 'x.pem'])).toEqual({ code: 2, stderr: 'skiff-gateway: give both --tls-cert-file and --tls-key-file, or neither\n' });
    expect(await runToExit(['--redis-url', SHARED_REDIS_URL, '--fleet-heartbeat', '0'])).toEqual({ code: 2, stderr: 'skiff-gateway: --fleet-heartbeat must be more than 0\n' });
  });
});
