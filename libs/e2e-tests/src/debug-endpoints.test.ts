/**
 * istiod's debug surface on running `skiff-gateway` processes (real Redis, watcher and translator):
 * the HTTP endpoints' texts and shapes, the fleet view across two replicas, istioctl's xDS syncz
 * request, and `skiffctl proxy-status` / `proxy-config` as a user runs them; then one replica is
 * killed and its proxies leave the fleet when its report expires. The proxies are raw ADS clients
 * speaking as Envoy sidecars: one ACKs everything, one NACKs its endpoints.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TypeUrl } from '@skiff/protos';
import { ConfigStatus } from '@skiff/protos/gen/envoy/service/status/v3/csds_pb.js';
import { connectAds, clientConfigsOf, istioctlDebugRequest, type SotwAdsStream } from '@skiff/xds-conformance';
import { connectAdmin, deleteKeys, eventually, freePort, uniquePrefix } from '@skiff/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, ServiceProcess } from './services.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const CLUSTER = 'outbound|8080||api.demo.svc';
const NACK = 'ClusterLoadAssignment outbound|8080||api.demo.svc: endpoint 10.0.0.2:8080 rejected by the test proxy';

const serviceEntry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: demo}
spec:
  hosts: [api.demo.svc]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}]
`;

const sidecarNode = (pod: string) => ({
  id: `sidecar~10.1.0.1~${pod}.demo~demo.svc.cluster.local`,
  cluster: `${pod}.demo`,
  metadata: { NAMESPACE: 'demo', CLUSTER_ID: 'Kubernetes', ISTIO_VERSION: '1.30.0' },
});

interface SyncEntry {
  proxy: string;
  node_id: string;
  gateway: string;
  resources: Record<string, { status: string; lastError?: string }>;
}

interface Json {
  [key: string]: unknown;
}

async function get(gateway: ServiceProcess, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${gateway.monitoringPort}${path}`);
  return { status: response.status, text: await response.text() };
}

async function skiffctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BINS.skiffctl, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('debug endpoints and skiffctl against running gateways', () => {
  const prefix = uniquePrefix('e2e-debug');
  let dir: string;
  let redis: Redis;
  const services: ServiceProcess[] = [];
  const streams: SotwAdsStream[] = [];
  let gatewayA: ServiceProcess;
  let gatewayB: ServiceProcess;
  let xdsB: string;
  const urlOf = (gateway: ServiceProcess): string => `http://127.0.0.1:${gateway.monitoringPort}`;

  beforeAll(async () => {
    redis = await connectAdmin(REDIS_URL);
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-debug-'));
    await writeFile(join(dir, 'api.yaml'), serviceEntry);
    const common = ['--redis-url', REDIS_URL, '--key-prefix', prefix];
    services.push(await ServiceProcess.start('watcher', BINS.watcher, ['--config-dir', dir, ...common]));
    services.push(await ServiceProcess.start('translator', BINS.translator, common));
    const [portA, portB] = [await freePort(), await freePort()];
    // A short heartbeat: a killed replica's report expires after three periods (600 ms).
    const gatewayArgs = (port: number) => [...common, '--xds-addr', `127.0.0.1:${port}`, '--fleet-heartbeat', '200ms'];
    gatewayA = await ServiceProcess.start('gateway-a', BINS.gateway, gatewayArgs(portA), { POD_NAME: 'gateway-a' });
    gatewayB = await ServiceProcess.start('gateway-b', BINS.gateway, gatewayArgs(portB), { POD_NAME: 'gateway-b' });
    services.push(gatewayA, gatewayB);
    xdsB = `127.0.0.1:${portB}`;

    // The translator's build reaches the gateways through Redis; connect the proxies once it has.
    await eventually(async () => expect((await gatewayA.debug<{ hostname: string }[]>('/debug/registryz')).map((s) => s.hostname)).toEqual(['api.demo.svc']), {
      timeoutMs: 30_000,
    });
    for (const pod of ['good', 'bad']) {
      const stream = await connectAds(`127.0.0.1:${portA}`, { node: sidecarNode(pod) });
      streams.push(stream);
      const clusters = await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
      expect(clusters.names).toEqual([CLUSTER]);
      stream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, names: [CLUSTER] });
      const endpoints = await stream.expectResponse({ typeUrl: TypeUrl.ClusterLoadAssignment });
      if (pod === 'good') stream.ack(endpoints);
      else stream.nack(endpoints, NACK);
    }
  }, 120_000);

  afterAll(async () => {
    for (const stream of streams) stream.close();
    for (const service of services) await service.stop('SIGKILL');
    if (redis) {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("words config_dump's errors as istiod does: 400 without a proxyID, 404 for a proxy not connected here", async () => {
    expect(await get(gatewayA, '/debug/config_dump')).toEqual({ status: 400, text: 'You must provide a proxyID in the query string\n' });
    expect(await get(gatewayA, '/debug/edsz')).toEqual({ status: 400, text: 'You must provide a proxyID in the query string\n' });
    const notHere = { status: 404, text: 'Proxy not connected to this Pilot instance. It may be connected to another instance.\n' };
    expect(await get(gatewayA, '/debug/config_dump?proxyID=nobody.demo')).toEqual(notHere);
    // The proxy is on replica A, so replica B has no dump for it either.
    expect(await get(gatewayB, '/debug/config_dump?proxyID=good.demo')).toEqual(notHere);
  });

  it("serves a proxy's config dump in Envoy's shape, with endpoints only on include_eds, and edsz with the endpoints alone", async () => {
    const dump = await gatewayA.debug<{ configs: Json[] }>('/debug/config_dump?proxyID=good.demo');
    expect(dump.configs.map((c) => c['@type'])).toEqual([
      'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
      'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
    ]);
    const clusters = dump.configs[0] as { versionInfo: string; dynamicActiveClusters: { versionInfo: string; lastUpdated: string; cluster: Json }[] };
    expect(clusters.dynamicActiveClusters).toHaveLength(1);
    expect(clusters.dynamicActiveClusters[0]!.cluster).toMatchObject({ '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: CLUSTER, type: 'EDS', connectTimeout: '10s' });
    expect(clusters.dynamicActiveClusters[0]!.lastUpdated).toMatch(/^\d{4}-\d\d-\d\dT/);
    // The full node id names the same proxy.
    expect((await gatewayA.debug<{ configs: Json[] }>(`/debug/config_dump?proxyID=${encodeURIComponent(sidecarNode('good').id)}`)).configs).toHaveLength(3);

    const withEndpoints = await gatewayA.debug<{ configs: Json[] }>('/debug/config_dump?proxyID=good.demo&include_eds');
    const endpoints = withEndpoints.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump') as { dynamicEndpointConfigs: { endpointConfig: Json }[] };
    expect(endpoints.dynamicEndpointConfigs.map((e) => e.endpointConfig['clusterName'])).toEqual([CLUSTER]);

    const edsz = await gatewayA.debug<{ configs: Json[] }>('/debug/edsz?proxyID=good.demo');
    expect(edsz.configs.map((c) => c['@type'])).toEqual(['type.googleapis.com/envoy.admin.v3.EndpointsConfigDump']);
  });

  it('lists the connections with adsz (watches, metadata) and connections', async () => {
    const adsz = await gatewayA.debug<{ totalClients: number; clients: { connectionId: string; address: string; metadata: Json; watches: Record<string, string[]> }[] }>('/debug/adsz');
    expect(adsz.totalClients).toBe(2);
    const good = adsz.clients.find((c) => c.metadata['NAMESPACE'] === 'demo' && c.watches[TypeUrl.ClusterLoadAssignment]?.includes(CLUSTER));
    expect(good?.watches[TypeUrl.Cluster]).toEqual(['*']);
    expect(good?.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const one = await gatewayA.debug<{ totalClients: number }>('/debug/adsz?proxyID=good.demo');
    expect(one.totalClients).toBe(1);
    const connections = await gatewayA.debug<{ totalClients: number; clients: { connectionId: string; connectedAt: string; address: string }[] }>('/debug/connections');
    expect(connections.totalClients).toBe(2);
    expect(connections.clients.map((c) => c.connectionId).sort()).toEqual(adsz.clients.map((c) => c.connectionId).sort());
    // Replica B serves nobody.
    expect((await gatewayB.debug<{ totalClients: number }>('/debug/connections')).totalClients).toBe(0);
  });

  it("shows replica A's proxies from replica B: /debug/syncz, istioctl's xDS request and skiffctl proxy-status", async () => {
    const entries = await eventually(async () => {
      const fleet = await gatewayB.debug<SyncEntry[]>('/debug/syncz');
      expect(fleet.map((e) => [e.proxy, e.gateway])).toEqual([
        ['bad.demo', 'gateway-a'],
        ['good.demo', 'gateway-a'],
      ]);
      // Replica A's report is as of its last heartbeat: wait until it carries the NACK.
      expect(fleet[0]!.resources[TypeUrl.ClusterLoadAssignment]).toMatchObject({ status: 'ERROR', lastError: NACK });
      expect(fleet[1]!.resources[TypeUrl.ClusterLoadAssignment]).toMatchObject({ status: 'SYNCED' });
      return fleet;
    });
    expect(entries).toHaveLength(2);

    // The xDS answer is built synchronously from the other replicas' reports as of B's last heartbeat,
    // so it may trail /debug/syncz (read from the store per request) by one period.
    const response = await eventually(async () => {
      const answer = await istioctlDebugRequest(xdsB, 'istio.io/debug/syncz');
      expect(clientConfigsOf(answer).map((c) => [c.node?.id, c.node?.metadata?.['GATEWAY']])).toEqual([
        ['bad.demo', 'gateway-a'],
        ['good.demo', 'gateway-a'],
      ]);
      const eds = clientConfigsOf(answer)[0]!.genericXdsConfigs.find((c) => c.typeUrl === TypeUrl.ClusterLoadAssignment);
      expect(eds?.configStatus).toBe(ConfigStatus.ERROR);
      expect(eds?.errorState?.details).toBe(NACK);
      return answer;
    });
    expect(JSON.parse(response.controlPlane?.identifier ?? '{}')).toMatchObject({ Component: 'skiff', ID: 'gateway-b' });

    const status = await skiffctl(['proxy-status', '--gateway', urlOf(gatewayB), '--details']);
    expect(status.code).toBe(0);
    const lines = status.stdout.split('\n');
    expect(lines[0]).toMatch(/^NAME {5,}CLUSTER {5,}CDS {5,}LDS {5,}EDS {5,}RDS {5,}GATEWAY {5,}VERSION$/);
    expect(lines[1]).toMatch(/^bad\.demo {5,}Kubernetes {5,}SYNCED \(\d+s\) {5,}IGNORED {5,}ERROR \(\d+s\) {5,}IGNORED {5,}gateway-a {5,}1\.30\.0$/);
    expect(lines[2]).toMatch(/^good\.demo {5,}Kubernetes {5,}SYNCED \(\d+s\) {5,}IGNORED {5,}SYNCED \(\d+s\) {5,}IGNORED {5,}gateway-a {5,}1\.30\.0$/);
    expect(status.stdout).toContain(`gateway-a     ${NACK}`);
  });

  it('skiffctl proxy-config reads the replica that serves the proxy, and names it when asked the other one', async () => {
    const clusters = await skiffctl(['proxy-config', 'cluster', 'good.demo', '--gateway', urlOf(gatewayA)]);
    expect(clusters).toEqual({
      code: 0,
      stdout: 'SERVICE FQDN     PORT     SUBSET     DIRECTION     TYPE     DESTINATION RULE\napi.demo.svc     8080     -          outbound      EDS\n',
      stderr: '',
    });
    const endpoints = await skiffctl(['pc', 'ep', 'good.demo', '--gateway', urlOf(gatewayA)]);
    expect(endpoints.stdout.split('\n').slice(1, 3)).toEqual([`10.0.0.1:8080     HEALTHY     OK                ${CLUSTER}`, `10.0.0.2:8080     HEALTHY     OK                ${CLUSTER}`]);
    const elsewhere = await skiffctl(['pc', 'cluster', 'good.demo', '--gateway', urlOf(gatewayB)]);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toBe(
      `skiffctl: good.demo: not connected to the gateway replica at ${urlOf(gatewayB)}; the fleet view shows it on replica gateway-a: ask that replica's monitoring port.\n`,
    );
  });

  it("drops a killed replica's proxies from the fleet once its report expires", async () => {
    await gatewayA.stop('SIGKILL');
    await eventually(async () => expect(await gatewayB.debug<SyncEntry[]>('/debug/syncz')).toEqual([]), { timeoutMs: 10_000, intervalMs: 100 });
    await eventually(async () => expect(clientConfigsOf(await istioctlDebugRequest(xdsB, 'istio.io/debug/syncz'))).toEqual([]), { timeoutMs: 5_000, intervalMs: 100 });
    const status = await skiffctl(['ps', '--gateway', urlOf(gatewayB)]);
    expect(status.stdout.trimEnd().split('\n')).toHaveLength(1);
    const unreachable = await skiffctl(['ps', '--gateway', urlOf(gatewayA)]);
    expect(unreachable).toEqual({
      code: 2,
      stdout: '',
      stderr: `skiffctl: cannot reach the gateway at ${urlOf(gatewayA)}: connect ECONNREFUSED 127.0.0.1:${gatewayA.monitoringPort}\n`,
    });
  });
});
