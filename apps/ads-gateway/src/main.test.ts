import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@skiff/protos';
import { createRedisStore, type RedisStore } from '@skiff/store';
import { connectAdmin, deleteKeys, eventually, freePort, SHARED_REDIS_URL, TestCertificateAuthority, uniquePrefix } from '@skiff/testing';
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

describe('two skiff-gateways on one host without POD_NAME, one with mTLS on its TLS address', () => {
  const prefix = uniquePrefix('gateway-mtls');
  const ca = new TestCertificateAuthority();
  const gateways: { child: ChildProcess; xds: number; tls: number; monitoring: number }[] = [];
  let store: RedisStore;

  beforeAll(async () => {
    store = createRedisStore({ url: SHARED_REDIS_URL, keyPrefix: prefix });
    await store.resources.replace({
      visibility: { namespace: 'shop', name: 'api', exportTo: [], creationTime: 0, hosts: ['api.shop.example'] },
      revision: 1,
      resources: [{ ...testCluster('outbound|80||api.shop.example'), variant: 'envoy-sidecar', version: 'v1' }],
    });
    const server = ca.issueServer();
    const env = { ...process.env };
    delete env['POD_NAME'];
    for (const tls of [true, false]) {
      const [xds, tlsPort, monitoring] = [await freePort(), await freePort(), await freePort()];
      const tlsArgs = tls ? ['--tls-xds-addr', `127.0.0.1:${tlsPort}`, '--tls-cert-file', server.certFile, '--tls-key-file', server.keyFile, '--tls-client-ca-file', ca.caFile, '--max-names-per-request', '10'] : [];
      const child = spawn(process.execPath, [bin, '--redis-url', SHARED_REDIS_URL, '--key-prefix', prefix, '--xds-addr', `127.0.0.1:${xds}`, '--monitoring-addr', `127.0.0.1:${monitoring}`, ...tlsArgs], {
        stdio: ['ignore', 'ignore', 'ignore'],
        env,
      });
      gateways.push({ child, xds, tls: tlsPort, monitoring });
      await eventually(async () => expect((await fetch(`http://127.0.0.1:${monitoring}/readyz`)).status).toBe(200), { timeoutMs: 20_000 });
    }
  });

  afterAll(async () => {
    for (const { child } of gateways) if (child.exitCode === null) child.kill('SIGKILL');
    ca.dispose();
    await store.close();
    const admin = await connectAdmin();
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });

  const shopNode = { id: 'sidecar~127.0.0.1~app-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop' } };
  const withCertificate = (namespace: string) => {
    const cert = ca.issueWorkload(namespace, 'default');
    return grpc.credentials.createSsl(ca.ca, cert.key, cert.cert);
  };

  it('gives each its own replica id (host name and process id), so both show in the fleet', async () => {
    const ids = [];
    for (const gateway of gateways) {
      const stream = await connectAds(`127.0.0.1:${gateway.xds}`, { node: shopNode });
      const response = await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
      ids.push((JSON.parse(response.message.controlPlane?.identifier ?? '{}') as { ID: string }).ID);
      stream.close();
    }
    expect(ids).toEqual(gateways.map(({ child }) => `${hostname()}-${child.pid}`));
  });

  it('serves a client whose certificate matches its node, and refuses one of another namespace with PERMISSION_DENIED', async () => {
    const [gateway] = gateways;
    const good = await connectAds(`127.0.0.1:${gateway!.tls}`, { node: shopNode, credentials: withCertificate('shop') });
    expect((await good.requestResponseAck({ typeUrl: TypeUrl.Cluster })).names).toEqual(['outbound|80||api.shop.example']);
    good.close();
    const other = await connectAds(`127.0.0.1:${gateway!.tls}`, { node: shopNode, credentials: withCertificate('other') });
    other.request({ typeUrl: TypeUrl.Cluster });
    expect((await other.expectEnd()).code).toBe(grpc.status.PERMISSION_DENIED);
    other.close();
    // The limits of the command line apply: 11 names end the stream.
    const greedy = await connectAds(`127.0.0.1:${gateway!.tls}`, { node: shopNode, credentials: withCertificate('shop') });
    greedy.request({ typeUrl: TypeUrl.ClusterLoadAssignment, names: Array.from({ length: 11 }, (_, i) => `n${i}`) });
    expect((await greedy.expectEnd()).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    greedy.close();
    const metrics = await (await fetch(`http://127.0.0.1:${gateway!.monitoring}/metrics`)).text();
    expect(metrics).toContain('skiff_xds_refused_total{reason="identity"} 1');
    expect(metrics).toContain('skiff_xds_refused_total{reason="names_per_request"} 1');
    // Without a client certificate the TLS handshake fails.
    await expect(connectAds(`127.0.0.1:${gateway!.tls}`, { node: shopNode, credentials: grpc.credentials.createSsl(ca.ca), connectTimeoutMs: 1_000 })).rejects.toThrow();
  });
});

describe('skiff-gateway command line', () => {
  it('exits 2 with one line for an unknown flag, a bad duration, half a TLS pair, a zero fleet heartbeat or Secrets without TLS', async () => {
    expect(await runToExit(['--bogus'])).toEqual({ code: 2, stderr: "skiff-gateway: unknown option '--bogus'\n" });
    const badDuration = await runToExit(['--redis-url', SHARED_REDIS_URL, '--debounce', 'soon']);
    expect(badDuration.code).toBe(2);
    expect(badDuration.stderr).toMatch(/^skiff-gateway: invalid value "soon" for --debounce/);
    expect(await runToExit(['--redis-url', SHARED_REDIS_URL, '--tls-cert-file', 'x.pem'])).toEqual({ code: 2, stderr: 'skiff-gateway: give both --tls-cert-file and --tls-key-file, or neither\n' });
    expect(await runToExit(['--redis-url', SHARED_REDIS_URL, '--fleet-heartbeat', '0'])).toEqual({ code: 2, stderr: 'skiff-gateway: --fleet-heartbeat must be more than 0\n' });
    expect(await runToExit(['--redis-url', SHARED_REDIS_URL, '--sds-secrets-from-kubernetes', 'true'])).toEqual({
      code: 2,
      stderr: 'skiff-gateway: --sds-secrets-from-kubernetes needs --tls-cert-file and --tls-key-file: Secrets go only to authenticated proxies, and plaintext ADS is never authenticated\n',
    });
    // Five process starts: generous for a loaded machine.
  }, 120_000);
});
