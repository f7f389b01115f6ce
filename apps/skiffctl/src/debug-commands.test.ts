/**
 * skiffctl proxy-status and proxy-config against a running gateway (in process, over the memory
 * store, its debug endpoints on a real HTTP port), with raw ADS clients as the proxies: two Envoy
 * sidecars (one ACKs, one NACKs EDS) and a proxyless gRPC client.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { Gateway, registerGatewayDebug } from '@skiff/gateway';
import { loadIstioConfig } from '@skiff/model';
import { TypeUrl } from '@skiff/protos';
import { MonitoringServer, silentLogger } from '@skiff/runtime';
import { createMemoryStore, type MemoryStore } from '@skiff/store';
import { eventually, freePort } from '@skiff/testing';
import { buildServiceEntry, SERVED_VARIANTS, visibilityOf } from '@skiff/translator-core';
import { connectAds, type SotwAdsStream } from '@skiff/xds-conformance';
import { DEFAULT_MESH_SETTINGS } from '@skiff/xds-translate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './main.js';

const SERVICE_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: demo}
spec:
  hosts: [api.demo.svc]
  addresses: [10.96.0.10]
  ports: [{number: 8080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.2}, {address: 10.0.0.1, ports: {grpc: 9090}}]
`;
const CLUSTER = 'outbound|8080||api.demo.svc';
const NACK_MESSAGE = 'ClusterLoadAssignment outbound|8080||api.demo.svc:\n  endpoint 10.0.0.1:9090 is not allowed';

async function skiffctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  stdout.on('data', (c: Buffer) => chunks.out.push(c));
  stderr.on('data', (c: Buffer) => chunks.err.push(c));
  const code = await run(args, { stdout, stderr, stdin: Readable.from([]) });
  return { code, stdout: Buffer.concat(chunks.out).toString(), stderr: Buffer.concat(chunks.err).toString() };
}

const sidecarNode = (pod: string) => ({
  id: `sidecar~10.1.0.1~${pod}.demo~demo.svc.cluster.local`,
  metadata: { NAMESPACE: 'demo', CLUSTER_ID: 'Kubernetes', ISTIO_VERSION: '1.30.0' },
});

describe('skiffctl against a running gateway', () => {
  let store: MemoryStore;
  let gateway: Gateway;
  let monitoring: MonitoringServer;
  let url: string;
  const streams: SotwAdsStream[] = [];

  beforeAll(async () => {
    store = createMemoryStore();
    const [entry] = loadIstioConfig(SERVICE_ENTRY, 'api.yaml').serviceEntries;
    const { serviceEntry, inlineEndpoints } = entry!;
    const build = buildServiceEntry({ key: { namespace: 'demo', name: 'api' }, revision: 1, serviceEntry, endpoints: inlineEndpoints }, SERVED_VARIANTS, DEFAULT_MESH_SETTINGS);
    await store.resources.replace({ visibility: visibilityOf(serviceEntry), revision: 1, resources: build.resources });

    gateway = new Gateway({ store, logger: silentLogger(), replicaId: 'gateway-a', xdsAddress: '127.0.0.1:0', debounceMs: 0, fleetHeartbeatMs: 50 });
    await gateway.start();
    monitoring = new MonitoringServer({ logger: silentLogger() });
    registerGatewayDebug(monitoring, gateway);
    const address = await monitoring.listen('127.0.0.1:0');
    url = `http://127.0.0.1:${address.port}`;
    const target = `127.0.0.1:${gateway.xdsAddress!.port}`;

    for (const pod of ['good', 'bad']) {
      const stream = await connectAds(target, { node: sidecarNode(pod) });
      streams.push(stream);
      await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
      stream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, names: [CLUSTER] });
      const endpoints = await stream.expectResponse({ typeUrl: TypeUrl.ClusterLoadAssignment });
      if (pod === 'good') stream.ack(endpoints);
      else stream.nack(endpoints, NACK_MESSAGE);
    }
    // A proxyless gRPC client dialling xds:///api.demo.svc:8080: listener, route, cluster, endpoints.
    const grpc = await connectAds(target, { node: { id: 'grpc-app', metadata: { NAMESPACE: 'demo', GENERATOR: 'grpc' } } });
    streams.push(grpc);
    await grpc.requestResponseAck({ typeUrl: TypeUrl.Listener, names: ['api.demo.svc:8080'] });
    await grpc.requestResponseAck({ typeUrl: TypeUrl.RouteConfiguration, names: [CLUSTER] });
    await grpc.requestResponseAck({ typeUrl: TypeUrl.Cluster, names: [CLUSTER] });
    await grpc.requestResponseAck({ typeUrl: TypeUrl.ClusterLoadAssignment, names: [CLUSTER] });
    await eventually(() => {
      const eds = Object.fromEntries(gateway.localProxies().map((p) => [p.proxy, p.resources[TypeUrl.ClusterLoadAssignment]?.status]));
      expect(eds).toEqual({ 'good.demo': 'SYNCED', 'bad.demo': 'ERROR', 'grpc-app': 'SYNCED' });
    });
  });

  afterAll(async () => {
    for (const stream of streams) stream.close();
    await monitoring?.close();
    await gateway?.close();
    await store?.close();
  });

  describe('proxy-status', () => {
    it("prints istioctl's table: every proxy, its types' status and age, the replica serving it", async () => {
      const { code, stdout, stderr } = await skiffctl(['proxy-status', '--gateway', url]);
      expect(code).toBe(0);
      const lines = stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^NAME {5,}CLUSTER {5,}CDS {5,}LDS {5,}EDS {5,}RDS {5,}GATEWAY {5,}VERSION$/);
      const cells = lines.slice(1).map((line) => line.split(/ {5,}/));
      expect(cells.map((row) => row[0])).toEqual(['bad.demo', 'good.demo', 'grpc-app']);
      expect(cells[0]).toEqual(['bad.demo', 'Kubernetes', expect.stringMatching(/^SYNCED \(\d+s\)$/), 'IGNORED', expect.stringMatching(/^ERROR \(\d+s\)$/), 'IGNORED', 'gateway-a', '1.30.0']);
      expect(cells[1]).toEqual(['good.demo', 'Kubernetes', expect.stringMatching(/^SYNCED/), 'IGNORED', expect.stringMatching(/^SYNCED/), 'IGNORED', 'gateway-a', '1.30.0']);
      // A gRPC client names no cluster and no Istio version: the columns stay empty, as istioctl leaves them.
      expect(lines[3]).toMatch(/^grpc-app {5,}SYNCED \(\d+s\) {5,}SYNCED \(\d+s\) {5,}SYNCED \(\d+s\) {5,}SYNCED \(\d+s\) {5,}gateway-a$/);
      // Columns line up: every row's GATEWAY cell starts where the header's does.
      const gatewayColumn = lines[0]!.indexOf('GATEWAY');
      for (const line of lines.slice(1)) expect(line.indexOf('gateway-a')).toBe(gatewayColumn);
      expect(stderr).toBe('1 proxy rejected configuration; run with --details to see the NACK messages\n');
    });

    it('shows the NACK messages with --details, on one line each', async () => {
      const { stdout, stderr } = await skiffctl(['ps', '--gateway', url, '--details']);
      expect(stderr).toBe('');
      const details = stdout.slice(stdout.indexOf('\n\n') + 2).trimEnd().split('\n');
      expect(details).toEqual([
        expect.stringMatching(/^NAME {5,}TYPE {5,}GATEWAY {5,}NACK MESSAGE$/),
        expect.stringMatching(/^bad\.demo {5,}EDS {5,}gateway-a {5,}ClusterLoadAssignment outbound\|8080\|\|api\.demo\.svc: endpoint 10\.0\.0\.1:9090 is not allowed$/),
      ]);
    });

    it('prints the syncz entries as JSON for scripts, and filters by namespace', async () => {
      const { code, stdout } = await skiffctl(['proxy-status', '--gateway', url, '-o', 'json', '-n', 'demo']);
      expect(code).toBe(0);
      const entries = JSON.parse(stdout) as { proxy: string; gateway: string; resources: Record<string, { status: string; lastError?: string }> }[];
      expect(entries.map((e) => e.proxy)).toEqual(['bad.demo', 'good.demo', 'grpc-app']);
      expect(entries[0]!.resources[TypeUrl.ClusterLoadAssignment]).toMatchObject({ status: 'ERROR', lastError: NACK_MESSAGE });
      expect(JSON.parse((await skiffctl(['proxy-status', '--gateway', url, '-o', 'json', '-n', 'elsewhere'])).stdout)).toEqual([]);
    });
  });

  describe('proxy-config', () => {
    it("prints a sidecar's clusters in istioctl's table", async () => {
      const { code, stdout } = await skiffctl(['proxy-config', 'cluster', 'good.demo', '--gateway', url]);
      expect(code).toBe(0);
      expect(stdout).toBe(['SERVICE FQDN     PORT     SUBSET     DIRECTION     TYPE     DESTINATION RULE', 'api.demo.svc     8080     -          outbound      EDS', ''].join('\n'));
      // Filters as istioctl's: a port no cluster has leaves the header alone.
      expect((await skiffctl(['pc', 'clusters', 'good.demo', '--gateway', url, '--port', '9999'])).stdout).toBe('SERVICE FQDN     PORT     SUBSET     DIRECTION     TYPE     DESTINATION RULE\n');
    });

    it('prints the endpoints sent to the proxy, sorted by address', async () => {
      const { stdout } = await skiffctl(['pc', 'endpoint', 'good', '-n', 'demo', '--gateway', url]);
      expect(stdout).toBe(
        [
          'ENDPOINT          STATUS      OUTLIER CHECK     CLUSTER',
          `10.0.0.1:9090     HEALTHY     OK                ${CLUSTER}`,
          `10.0.0.2:8080     HEALTHY     OK                ${CLUSTER}`,
          '',
        ].join('\n'),
      );
      expect((await skiffctl(['pc', 'ep', 'good.demo', '--gateway', url, '--address', '10.0.0.2'])).stdout.trimEnd().split('\n')).toHaveLength(2);
    });

    it("prints a gRPC client's API listener with its name and route, and its route configuration", async () => {
      const listeners = await skiffctl(['pc', 'listener', 'grpc-app', '--gateway', url]);
      expect(listeners.stdout).toBe(['NAME              ADDRESSES  PORT MATCH DESTINATION', `api.demo.svc:8080 10.96.0.10 8080 ALL   Route: ${CLUSTER}`, ''].join('\n'));
      const routes = await skiffctl(['pc', 'route', 'grpc-app', '--gateway', url]);
      // istioctl's table: the first two domains and a count of the rest; prefix `/` printed as `/*`.
      expect(routes.stdout).toBe(
        [
          'NAME                            VHOST NAME            DOMAINS                                     MATCH     VIRTUAL SERVICE',
          `${CLUSTER}     api.demo.svc:8080     api.demo.svc, api.demo.svc. + 1 more...     /*`,
          '',
        ].join('\n'),
      );
    });

    it('prints the resources as Envoy JSON with -o json', async () => {
      const { stdout } = await skiffctl(['pc', 'cluster', 'good.demo', '--gateway', url, '-o', 'json']);
      const clusters = JSON.parse(stdout) as { name: string; type: string; edsClusterConfig: { serviceName: string } }[];
      expect(clusters).toHaveLength(1);
      expect(clusters[0]).toMatchObject({ name: CLUSTER, type: 'EDS', edsClusterConfig: { serviceName: CLUSTER } });
      const endpoints = JSON.parse((await skiffctl(['pc', 'ep', 'good.demo', '--gateway', url, '-o', 'json'])).stdout) as { clusterName: string }[];
      expect(endpoints.map((e) => e.clusterName)).toEqual([CLUSTER]);
    });

    it('says in one line that no replica serves an unknown proxy, and suggests the ID the user may have meant', async () => {
      const { code, stdout, stderr } = await skiffctl(['pc', 'cluster', 'nobody.demo', '--gateway', url]);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toBe('skiffctl: nobody.demo: no gateway replica serves a proxy with this ID (skiffctl proxy-status lists the connected proxies)\n');
      // A sidecar's proxy ID is pod.namespace: the pod name alone gets a suggestion.
      expect((await skiffctl(['pc', 'cluster', 'good', '--gateway', url])).stderr).toBe('skiffctl: good: no gateway replica serves a proxy with this ID; did you mean good.demo?\n');
      expect((await skiffctl(['pc', 'cluster', 'grpc-app.demo', '--gateway', url])).stderr).toBe('skiffctl: grpc-app.demo: no gateway replica serves a proxy with this ID; did you mean grpc-app?\n');
    });

    it('says why the listener and route tables of an Envoy proxy are empty', async () => {
      for (const kind of ['listener', 'route']) {
        const { code, stdout, stderr } = await skiffctl(['pc', kind, 'good.demo', '--gateway', url]);
        expect(code).toBe(0);
        expect(stdout.trimEnd().split('\n')).toHaveLength(1);
        expect(stderr).toBe(
          `the proxy was sent no ${kind}s: Skiff sends listeners and routes to proxyless gRPC clients (node metadata GENERATOR: grpc) only; Envoy proxies get clusters and endpoints\n`,
        );
      }
    });

    it('explains in its help what -o json prints and which replica to ask', async () => {
      const { stdout } = await skiffctl(['pc', 'cluster', '--help']);
      const help = stdout.replace(/\s+/g, ' ');
      expect(help).toContain("json or yaml: the resources in Envoy's JSON form, a list as istioctl prints it");
      expect(help).toContain("the replica serving the proxy (proxy-status's GATEWAY column)");
      expect((await skiffctl(['ps', '--help'])).stdout.replace(/\s+/g, ' ')).toContain('any replica shows the whole fleet');
    });
  });

  it('says so when no proxy is connected, instead of printing a bare header', async () => {
    const lonely = new Gateway({ store: createMemoryStore(), logger: silentLogger(), replicaId: 'gateway-b', xdsAddress: '127.0.0.1:0', fleetHeartbeatMs: 50 });
    await lonely.start();
    const server = new MonitoringServer({ logger: silentLogger() });
    registerGatewayDebug(server, lonely);
    const { port } = await server.listen('127.0.0.1:0');
    try {
      const { code, stdout } = await skiffctl(['ps', '--gateway', `http://127.0.0.1:${port}`]);
      expect(code).toBe(0);
      expect(stdout).toBe(`No proxies are connected to the gateway replicas that report to http://127.0.0.1:${port}.\n`);
    } finally {
      await server.close();
      await lonely.close();
    }
  });

  it('sends the token of --token-file to a gateway that asks callers from other hosts for one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiffctl-token-'));
    const guarded = new MonitoringServer({ logger: silentLogger(), debugAccess: { trustLoopback: false, tokenFile: join(dir, 'tokens') } });
    try {
      writeFileSync(join(dir, 'tokens'), 'gateway-token\n');
      writeFileSync(join(dir, 'mine'), 'gateway-token\n');
      registerGatewayDebug(guarded, gateway);
      const guardedUrl = `http://127.0.0.1:${(await guarded.listen('127.0.0.1:0')).port}`;
      const refused = await skiffctl(['proxy-status', '--gateway', guardedUrl]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('authentication required');
      expect(refused.stderr).toContain('--token-file');
      const allowed = await skiffctl(['proxy-status', '--gateway', guardedUrl, '--token-file', join(dir, 'mine')]);
      expect(allowed.code).toBe(0);
      expect(allowed.stdout).toContain('good.demo');
    } finally {
      await guarded.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says in one line that the gateway cannot be reached, and exits 2', async () => {
    const port = await freePort();
    for (const args of [['proxy-status'], ['proxy-config', 'cluster', 'good.demo']]) {
      const { code, stdout, stderr } = await skiffctl([...args, '--gateway', `http://127.0.0.1:${port}`]);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toBe(`skiffctl: cannot reach the gateway at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    }
  });
});
