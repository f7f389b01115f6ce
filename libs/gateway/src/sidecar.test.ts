/**
 * Sidecar scoping end to end in one gateway over the memory store: a proxy connected over ADS gets
 * the clusters its namespace's Sidecar imports, a Sidecar write pushes it the new set (nothing is
 * rebuilt: the store's resources stay as they are), and `/debug/sidecarz` shows the scope.
 */
import { loadIstioConfig, type NormalizedGateway, type NormalizedSidecar } from '@skiff/model';
import { TypeUrl } from '@skiff/protos';
import { MonitoringServer, silentLogger } from '@skiff/runtime';
import { createMemoryStore, type LeaseGrant, type MemoryStore } from '@skiff/store';
import { buildServiceEntry, SERVED_VARIANTS, visibilityOf } from '@skiff/translator-core';
import { DEFAULT_MESH_SETTINGS } from '@skiff/xds-translate';
import { connectAds, type SotwAdsStream } from '@skiff/xds-conformance';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { registerGatewayDebug } from './debug.js';
import { Gateway } from './gateway.js';

const CONFIG = ['demo', 'other']
  .map(
    (namespace) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: ${namespace}}
spec:
  hosts: [api.${namespace}.svc]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
`,
  )
  .join('---\n');

let store: MemoryStore;
let grant: LeaseGrant;
let gateway: Gateway;
const streams: SotwAdsStream[] = [];

beforeEach(async () => {
  store = createMemoryStore();
  grant = (await store.lease.acquire('watcher', 60_000))!;
  let revision = 0;
  for (const { serviceEntry, inlineEndpoints } of loadIstioConfig(CONFIG, 'config.yaml').serviceEntries) {
    const build = buildServiceEntry({ key: serviceEntry, revision: ++revision, serviceEntry, endpoints: inlineEndpoints }, SERVED_VARIANTS, DEFAULT_MESH_SETTINGS);
    await store.resources.replace({ visibility: visibilityOf(serviceEntry), revision, resources: build.resources });
  }
  gateway = new Gateway({ store, logger: silentLogger(), replicaId: 'gateway-a', xdsAddress: '127.0.0.1:0', debounceMs: 0, fleetHeartbeatMs: 50, version: '0.1.0' });
  await gateway.start();
});

afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  await gateway.close();
  await store.close();
});

const putSidecar = (sidecar: NormalizedSidecar) => store.sidecars.put(sidecar, JSON.stringify(sidecar), grant);

it('pushes a connected proxy the clusters its Sidecar imports, and shows the scope in /debug/sidecarz', async () => {
  const stream = await connectAds(`127.0.0.1:${gateway.xdsAddress!.port}`, {
    node: { id: 'sidecar~10.1.0.1~web-1.demo~demo.svc.cluster.local', metadata: { NAMESPACE: 'demo', LABELS: { app: 'web' } } },
  });
  streams.push(stream);
  const first = await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
  expect(first.names).toEqual(['outbound|8080||api.demo.svc', 'outbound|8080||api.other.svc']);

  const sidecar: NormalizedSidecar = { schemaVersion: 1, namespace: 'demo', name: 'web', creationTime: 0, workloadSelector: { app: 'web' }, egress: [{ bind: '', hosts: ['./*'] }], outboundTrafficPolicy: 'REGISTRY_ONLY' };
  await putSidecar(sidecar);
  const scoped = await stream.expectResponse({ typeUrl: TypeUrl.Cluster });
  expect(scoped.names).toEqual(['outbound|8080||api.demo.svc']);
  stream.ack(scoped);

  const monitoring = new MonitoringServer({ logger: silentLogger() });
  registerGatewayDebug(monitoring, gateway);
  const rendered = await monitoring.invokeDebug('/debug/sidecarz?proxyID=web-1.demo');
  expect(rendered.status).toBe(200);
  expect(JSON.parse(String(rendered.body))).toEqual({
    name: 'web',
    namespace: 'demo',
    outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
    sidecar: { configNamespace: 'demo', workloadSelector: { app: 'web' }, egress: [{ bind: '', hosts: ['./*'] }] },
    services: [{ hostname: 'api.demo.svc', ports: [8080] }],
  });
  expect((await monitoring.invokeDebug('/debug/sidecarz')).status).toBe(400);

  await store.sidecars.delete(sidecar, grant);
  expect((await stream.expectResponse({ typeUrl: TypeUrl.Cluster })).names).toEqual(['outbound|8080||api.demo.svc', 'outbound|8080||api.other.svc']);
});

it('adds the sni-dnat clusters to a router an AUTO_PASSTHROUGH Gateway selects, and shows the Gateway in /debug/gatewayz', async () => {
  // The entries above are MESH_EXTERNAL (no sni-dnat clusters); one MESH_INTERNAL entry with an mTLS endpoint.
  const internal = loadIstioConfig(
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: mesh, namespace: demo}\nspec:\n  hosts: [mesh.demo.svc]\n  ports: [{number: 9090, name: tcp, protocol: TCP}]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  endpoints: [{address: 10.0.0.9, labels: {security.istio.io/tlsMode: istio}}]\n',
    'mesh.yaml',
  ).serviceEntries[0]!;
  const build = buildServiceEntry({ key: internal.serviceEntry, revision: 10, serviceEntry: internal.serviceEntry, endpoints: internal.inlineEndpoints }, SERVED_VARIANTS, DEFAULT_MESH_SETTINGS);
  await store.resources.replace({ visibility: visibilityOf(internal.serviceEntry), revision: 10, resources: build.resources });
  const stream = await connectAds(`127.0.0.1:${gateway.xdsAddress!.port}`, {
    node: { id: 'router~10.1.0.2~eastwest-1.istio-system~istio-system.svc.cluster.local', metadata: { NAMESPACE: 'istio-system', LABELS: { istio: 'eastwestgateway' } } },
  });
  streams.push(stream);
  const usual = ['outbound|8080||api.demo.svc', 'outbound|8080||api.other.svc', 'outbound|9090||mesh.demo.svc'];
  let response = await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
  while (response.names.length < usual.length) response = await stream.expectResponse({ typeUrl: TypeUrl.Cluster });
  expect(response.names).toEqual(usual);

  const value: NormalizedGateway = {
    schemaVersion: 1,
    namespace: 'istio-system',
    name: 'cross-network',
    creationTime: 0,
    selector: { istio: 'eastwestgateway' },
    servers: [{ port: 15443, bind: '', hosts: ['*.svc'], tlsMode: 'AUTO_PASSTHROUGH' }],
  };
  await store.gateways.put(value, JSON.stringify(value), grant);
  const selected = await stream.expectResponse({ typeUrl: TypeUrl.Cluster });
  expect([...selected.names].sort()).toEqual(['outbound_.9090_._.mesh.demo.svc', ...usual]);
  stream.ack(selected);

  const monitoring = new MonitoringServer({ logger: silentLogger() });
  registerGatewayDebug(monitoring, gateway);
  const rendered = await monitoring.invokeDebug('/debug/gatewayz?proxyID=eastwest-1.istio-system');
  expect(JSON.parse(String(rendered.body))).toEqual({ autoPassthrough: true, gateways: [{ namespace: 'istio-system', name: 'cross-network', selector: value.selector, servers: value.servers }] });

  await store.gateways.delete(value, grant);
  expect((await stream.expectResponse({ typeUrl: TypeUrl.Cluster })).names).toEqual(usual);
});
