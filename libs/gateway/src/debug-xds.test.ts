/**
 * The xDS debug types istioctl uses, answered by an in-process gateway over the memory store: the
 * request is exactly what `istioctl proxy-status --xds-address ... --plaintext` sends (its ADS client,
 * `pkg/adsc`, driven by `istioctl/pkg/xds/client.go`), and the proxies are raw ADS clients that ACK or
 * NACK what they get.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { loadIstioConfig } from '@skiff/model';
import { envoyRegistry, TypeUrl } from '@skiff/protos';
import { ClustersConfigDumpSchema, EndpointsConfigDumpSchema } from '@skiff/protos/gen/envoy/admin/v3/config_dump_shared_pb.js';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClientConfigSchema, ConfigStatus, type ClientConfig } from '@skiff/protos/gen/envoy/service/status/v3/csds_pb.js';
import { silentLogger, SKIFF_VERSION } from '@skiff/runtime';
import { createMemoryStore, type MemoryStore } from '@skiff/store';
import { eventually, TestCertificateAuthority } from '@skiff/testing';
import { buildServiceEntry, SERVED_VARIANTS, visibilityOf } from '@skiff/translator-core';
import { DEFAULT_MESH_SETTINGS } from '@skiff/xds-translate';
import { connectAds, istioctlDebugRequest, type NodeInit, type SotwAdsStream } from '@skiff/xds-conformance';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEBUG_CONFIG_DUMP_TYPE, DEBUG_SYNCZ_TYPE, Gateway, type FleetReplicaReport, type GatewayOptions } from './gateway.js';

const SERVICE_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: demo}
spec:
  hosts: [api.demo.svc]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}]
`;
const CLUSTER = 'outbound|8080||api.demo.svc';

const sidecar = (pod: string, namespace = 'demo'): NodeInit => ({
  id: `sidecar~10.1.0.1~${pod}.${namespace}~${namespace}.svc.cluster.local`,
  cluster: `${pod}.${namespace}`,
  metadata: { NAMESPACE: namespace, CLUSTER_ID: 'Kubernetes', ISTIO_VERSION: '1.30.0' },
});

async function storeWithServiceEntry(): Promise<MemoryStore> {
  const store = createMemoryStore();
  const loaded = loadIstioConfig(SERVICE_ENTRY, 'api.yaml');
  const [entry] = loaded.serviceEntries;
  if (entry === undefined) throw new Error(`the fixture did not load: ${JSON.stringify(loaded.rejected)}`);
  const { serviceEntry, inlineEndpoints } = entry;
  const build = buildServiceEntry({ key: { namespace: serviceEntry.namespace, name: serviceEntry.name }, revision: 1, serviceEntry, endpoints: inlineEndpoints }, SERVED_VARIANTS, DEFAULT_MESH_SETTINGS);
  const outcome = await store.resources.replace({ visibility: visibilityOf(serviceEntry), revision: 1, resources: build.resources });
  if (outcome.status !== 'applied') throw new Error(`resources not stored: ${outcome.status}`);
  return store;
}

/** What istioctl does for one query: `istioctl proxy-status --xds-address <target> --plaintext` for syncz. */
const istioctlQuery = (target: string, typeUrl: string, names: readonly string[] = []) => istioctlDebugRequest(target, typeUrl, { names });

function clientConfigs(response: Awaited<ReturnType<typeof istioctlQuery>>): ClientConfig[] {
  return response.resources.map((any) => {
    expect(any.typeUrl).toBe('type.googleapis.com/envoy.service.status.v3.ClientConfig');
    return fromBinary(ClientConfigSchema, any.value);
  });
}

const statusOf = (config: ClientConfig | undefined, typeUrl: string) => config?.genericXdsConfigs.find((c) => c.typeUrl === typeUrl);

describe('xDS debug types on the ADS port', () => {
  let store: MemoryStore;
  const gateways: Gateway[] = [];
  const streams: SotwAdsStream[] = [];

  const startGateway = async (replicaId: string, options: Partial<GatewayOptions> = {}): Promise<{ gateway: Gateway; target: string; tlsTarget: string | undefined }> => {
    const gateway = new Gateway({ store, logger: silentLogger(), replicaId, xdsAddress: '127.0.0.1:0', debounceMs: 0, fleetHeartbeatMs: 50, version: '0.1.0', ...options });
    gateways.push(gateway);
    await gateway.start();
    const tls = gateway.servers[1]?.address;
    return { gateway, target: `127.0.0.1:${gateway.xdsAddress!.port}`, tlsTarget: tls === undefined ? undefined : `127.0.0.1:${tls.port}` };
  };

  /** A sidecar that takes every cluster and the endpoints of `CLUSTER`, and ACKs them (or NACKs EDS with `edsNack`). */
  const connectSidecar = async (target: string, pod: string, edsNack?: string, namespace = 'demo'): Promise<SotwAdsStream> => {
    const stream = await connectAds(target, { node: sidecar(pod, namespace) });
    streams.push(stream);
    const clusters = await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
    expect(clusters.names).toEqual([CLUSTER]);
    stream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, names: [CLUSTER] });
    const endpoints = await stream.expectResponse({ typeUrl: TypeUrl.ClusterLoadAssignment });
    if (edsNack === undefined) stream.ack(endpoints);
    else stream.nack(endpoints, edsNack);
    return stream;
  };

  beforeEach(async () => {
    store = await storeWithServiceEntry();
  });

  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    for (const gateway of gateways.splice(0)) await gateway.close();
    await store.close();
  });

  it('answers istioctl proxy-status: SYNCED for a proxy that ACKed, ERROR with the NACK message for one that NACKed', async () => {
    const { gateway, target } = await startGateway('gateway-a');
    await connectSidecar(target, 'good');
    await connectSidecar(target, 'bad', 'ClusterLoadAssignment outbound|8080||api.demo.svc: endpoint port 0 is invalid');
    // Wait until the server has read the ACK and the NACK (they travel on the streams, not in the test).
    await eventually(() => {
      const byProxy = Object.fromEntries(gateway.localProxies().map((p) => [p.proxy, p.resources[TypeUrl.ClusterLoadAssignment]?.status]));
      expect(byProxy).toEqual({ 'good.demo': 'SYNCED', 'bad.demo': 'ERROR' });
    });

    const response = await istioctlQuery(target, DEBUG_SYNCZ_TYPE);
    // istioctl reads the replica from control_plane.identifier (`multixds.CpInfo`) into its ISTIOD column,
    // and `istioctl x version` the version: Skiff's own, from the root package.json.
    expect(JSON.parse(response.controlPlane?.identifier ?? '')).toEqual({ Component: 'skiff', ID: 'gateway-a', Info: { version: SKIFF_VERSION } });
    expect(SKIFF_VERSION).toMatch(/^\d+\.\d+\.\d+/);
    const configs = clientConfigs(response);
    // The istioctl stream itself is not a proxy and is not listed (istiod skips nodes without proxy metadata).
    expect(configs.map((c) => c.node?.id).sort()).toEqual(['bad.demo', 'good.demo']);
    const good = configs.find((c) => c.node?.id === 'good.demo');
    const bad = configs.find((c) => c.node?.id === 'bad.demo');
    expect(good?.node?.metadata).toEqual({ CLUSTER_ID: 'Kubernetes', NAMESPACE: 'demo', ISTIO_VERSION: '1.30.0', GATEWAY: 'gateway-a' });
    // Sorted by type URL, as istiod sorts them.
    expect(good?.genericXdsConfigs.map((c) => c.typeUrl)).toEqual([TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment]);
    expect(statusOf(good, TypeUrl.Cluster)?.configStatus).toBe(ConfigStatus.SYNCED);
    expect(statusOf(good, TypeUrl.ClusterLoadAssignment)?.configStatus).toBe(ConfigStatus.SYNCED);
    expect(statusOf(good, TypeUrl.ClusterLoadAssignment)?.errorState).toBeUndefined();
    expect(statusOf(bad, TypeUrl.Cluster)?.configStatus).toBe(ConfigStatus.SYNCED);
    const rejected = statusOf(bad, TypeUrl.ClusterLoadAssignment);
    expect(rejected?.configStatus).toBe(ConfigStatus.ERROR);
    expect(rejected?.errorState?.details).toBe('ClusterLoadAssignment outbound|8080||api.demo.svc: endpoint port 0 is invalid');
    // last_updated is the last send (istioctl prints its age): no later than now, and set on both.
    const sentAt = Number(rejected?.lastUpdated?.seconds ?? 0n) * 1000;
    expect(sentAt).toBeGreaterThan(Date.now() - 60_000);
    expect(sentAt).toBeLessThanOrEqual(Date.now());
    expect(rejected?.errorState?.lastUpdateAttempt).toEqual(rejected?.lastUpdated);
  });

  it('shows a proxy of another replica (with that replica in GATEWAY) until the replica leaves the fleet', async () => {
    const a = await startGateway('gateway-a');
    const b = await startGateway('gateway-b');
    await connectSidecar(a.target, 'good');
    const fromB = await eventually(async () => {
      const response = await istioctlQuery(b.target, DEBUG_SYNCZ_TYPE);
      const configs = clientConfigs(response);
      expect(configs.map((c) => [c.node?.id, c.node?.metadata?.['GATEWAY']])).toEqual([['good.demo', 'gateway-a']]);
      expect(statusOf(configs[0], TypeUrl.ClusterLoadAssignment)?.configStatus).toBe(ConfigStatus.SYNCED);
      return response;
    });
    expect(JSON.parse(fromB.controlPlane?.identifier ?? '').ID).toBe('gateway-b');

    await a.gateway.close();
    await eventually(async () => expect(clientConfigs(await istioctlQuery(b.target, DEBUG_SYNCZ_TYPE))).toEqual([]));
  });

  it("follows a proxy's sync state from report to report: what it asks, ACKs and NACKs later shows on the other replica", async () => {
    const a = await startGateway('gateway-a');
    const b = await startGateway('gateway-b');
    const stream = await connectAds(a.target, { node: sidecar('later') });
    streams.push(stream);
    await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
    const typesOnB = async () => {
      const [config] = clientConfigs(await istioctlQuery(b.target, DEBUG_SYNCZ_TYPE));
      return config?.genericXdsConfigs.map((c) => [c.typeUrl, c.configStatus]);
    };
    await eventually(async () => expect(await typesOnB()).toEqual([[TypeUrl.Cluster, ConfigStatus.SYNCED]]));

    // Reports keep the entry of a proxy whose sync state did not change; this one's changes now.
    stream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, names: [CLUSTER] });
    stream.nack(await stream.expectResponse({ typeUrl: TypeUrl.ClusterLoadAssignment }), 'endpoint port 0 is invalid');
    await eventually(async () =>
      expect(await typesOnB()).toEqual([
        [TypeUrl.Cluster, ConfigStatus.SYNCED],
        [TypeUrl.ClusterLoadAssignment, ConfigStatus.ERROR],
      ]),
    );
  });

  it("reads another replica's report once per revision: a quiet replica's report is not read again at every heartbeat", async () => {
    const list = store.fleet.list.bind(store.fleet);
    /** What gateway-b's heartbeats read of each report: its text, or null when it held that revision. */
    const readByB: (string | null)[] = [];
    vi.spyOn(store.fleet, 'list').mockImplementation(async (except, known) => {
      const reports = await list(except, known);
      if (except === 'gateway-b') for (const { report } of reports) readByB.push(report);
      return reports;
    });
    const a = await startGateway('gateway-a');
    const b = await startGateway('gateway-b');
    await connectSidecar(a.target, 'good');
    const proxiesOnB = async () => clientConfigs(await istioctlQuery(b.target, DEBUG_SYNCZ_TYPE)).map((config) => [config.node?.id, statusOf(config, TypeUrl.ClusterLoadAssignment)?.configStatus]);
    await eventually(async () => expect(await proxiesOnB()).toEqual([['good.demo', ConfigStatus.SYNCED]]));

    // gateway-a is quiet now: gateway-b's next heartbeats (50 ms each) get its report without the text.
    const seen = readByB.length;
    await eventually(() => expect(readByB.length).toBeGreaterThanOrEqual(seen + 3));
    expect(readByB.slice(seen)).toEqual(readByB.slice(seen).map(() => null));
    expect(await proxiesOnB()).toEqual([['good.demo', ConfigStatus.SYNCED]]);

    // A change on gateway-a is a new revision, read in full.
    await connectSidecar(a.target, 'other');
    await eventually(async () =>
      expect(await proxiesOnB()).toEqual([
        ['good.demo', ConfigStatus.SYNCED],
        ['other.demo', ConfigStatus.SYNCED],
      ]),
    );
    expect(readByB.slice(seen).some((report) => report !== null && report.includes('other.demo'))).toBe(true);
  });

  it("keeps a quiet replica's report alive without sending it again, and sends it in full after a change or once the store lost it", async () => {
    const publish = vi.spyOn(store.fleet, 'publish');
    const refresh = vi.spyOn(store.fleet, 'refresh');
    const { target } = await startGateway('gateway-a');
    const stream = await connectAds(target, { node: sidecar('quiet') });
    streams.push(stream);
    await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
    const storedProxy = async () => {
      const [report] = await store.fleet.list();
      return (JSON.parse(report?.report ?? '') as FleetReplicaReport).proxies.map((proxy) => [proxy.proxy, proxy.cluster_acked !== '']);
    };
    await eventually(async () => expect(await storedProxy()).toEqual([['quiet.demo', true]]));

    // Quiet: three more heartbeats (50 ms each) only keep the report alive.
    const published = publish.mock.calls.length;
    const refreshed = refresh.mock.calls.length;
    await eventually(() => expect(refresh.mock.calls.length).toBeGreaterThanOrEqual(refreshed + 3));
    expect(publish.mock.calls.length).toBe(published);

    // A change of the proxy's sync state is sent in full.
    stream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, names: [CLUSTER] });
    stream.ack(await stream.expectResponse({ typeUrl: TypeUrl.ClusterLoadAssignment }));
    await eventually(async () => {
      const [report] = await store.fleet.list();
      const [proxy] = (JSON.parse(report?.report ?? '') as FleetReplicaReport).proxies;
      expect(proxy?.endpoint_acked).not.toBe('');
    });
    expect(publish.mock.calls.length).toBeGreaterThan(published);

    // A report the store no longer has (expired, or lost with the store's data) is sent again in full.
    await store.fleet.remove('gateway-a');
    await eventually(async () => expect(await storedProxy()).toEqual([['quiet.demo', true]]));
  });

  it('lets a fan-out be written before a heartbeat builds the report, waiting half a period at most', async () => {
    // A push stays debounced for 2.5 s, longer than a heartbeat period (1 s): every heartbeat in that
    // time finds it pending.
    const { gateway, target } = await startGateway('gateway-a', { debounceMs: 2_500, fleetHeartbeatMs: 1_000 });
    const stream = await connectSidecar(target, 'waits');
    const events: { what: 'pending' | 'idle' | 'stored'; at: number }[] = [];
    const pendingOf = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(gateway.ads) as object, 'pushesPending')!.get!;
    vi.spyOn(gateway.ads, 'pushesPending', 'get').mockImplementation(function (this: typeof gateway.ads) {
      const pending = pendingOf.call(this) as number;
      events.push({ what: pending > 0 ? 'pending' : 'idle', at: performance.now() });
      return pending;
    });
    for (const method of ['publish', 'refresh'] as const) {
      const original = store.fleet[method].bind(store.fleet) as (...args: unknown[]) => Promise<unknown>;
      vi.spyOn(store.fleet, method).mockImplementation((...args: unknown[]) => {
        events.push({ what: 'stored', at: performance.now() });
        return Reflect.apply(original, undefined, args) as never;
      });
    }

    // New endpoints for the sidecar's cluster: its push waits out the debounce.
    const changed = loadIstioConfig(SERVICE_ENTRY.replace('10.0.0.2', '10.0.0.3'), 'api.yaml').serviceEntries[0]!;
    const build = buildServiceEntry({ key: { namespace: 'demo', name: 'api' }, revision: 2, serviceEntry: changed.serviceEntry, endpoints: changed.inlineEndpoints }, SERVED_VARIANTS, DEFAULT_MESH_SETTINGS);
    await store.resources.replace({ visibility: visibilityOf(changed.serviceEntry), revision: 2, resources: build.resources });
    const pushed = await stream.expectResponse({ typeUrl: TypeUrl.ClusterLoadAssignment, timeoutMs: 10_000 });
    const pushedAt = performance.now();
    stream.ack(pushed);
    // Each heartbeat: whether its first look at the servers found the push pending, whether its last
    // did (it gave up waiting), and when it started and reported.
    const heartbeatsSoFar = () => {
      const heartbeats: { waited: boolean; gaveUp: boolean; startedAt: number; storedAt: number }[] = [];
      let started: { waited: boolean; at: number; last: 'pending' | 'idle' } | undefined;
      for (const event of events) {
        if (event.what !== 'stored') {
          started ??= { waited: event.what === 'pending', at: event.at, last: event.what };
          started.last = event.what;
          continue;
        }
        if (started !== undefined) heartbeats.push({ waited: started.waited, gaveUp: started.last === 'pending', startedAt: started.at, storedAt: event.at });
        started = undefined;
      }
      return heartbeats;
    };
    // Until a heartbeat that started after the push has reported.
    const heartbeats = await eventually(() => {
      const sofar = heartbeatsSoFar();
      expect(sofar.some((heartbeat) => heartbeat.startedAt > pushedAt)).toBe(true);
      return sofar;
    });
    // While the push was pending, a heartbeat waited its half period (500 ms) and then reported anyway.
    const gaveUp = heartbeats.filter((heartbeat) => heartbeat.gaveUp);
    expect(gaveUp.length).toBeGreaterThanOrEqual(1);
    for (const heartbeat of gaveUp) expect(heartbeat.storedAt - heartbeat.startedAt).toBeGreaterThanOrEqual(480);
    // One that found the push pending and saw it written reported as soon as it was.
    for (const heartbeat of heartbeats.filter((h) => h.waited && !h.gaveUp)) expect(heartbeat.storedAt).toBeLessThan(pushedAt + 400);
    // Once it was written, the next one reported at once.
    const after = heartbeats.find((heartbeat) => heartbeat.startedAt > pushedAt);
    expect(after?.waited).toBe(false);
    expect(after!.storedAt - after!.startedAt).toBeLessThan(400);
  });

  it('answers istio.io/debug/config_dump for <pod>.<namespace> with one resource per config, and nothing for an unknown proxy', async () => {
    const { target } = await startGateway('gateway-a');
    await connectSidecar(target, 'good');
    const response = await istioctlQuery(target, DEBUG_CONFIG_DUMP_TYPE, ['good.demo']);
    const types = response.resources.map((any) => any.typeUrl);
    expect(types).toEqual([
      'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
      'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
      'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
    ]);
    const clusters = anyUnpack(response.resources[0]!, ClustersConfigDumpSchema);
    expect(clusters?.dynamicActiveClusters.map((c) => anyUnpack(c.cluster!, envoyRegistry)?.$typeName)).toEqual(['envoy.config.cluster.v3.Cluster']);
    expect(fromBinary(ClusterSchema, clusters!.dynamicActiveClusters[0]!.cluster!.value).name).toBe(CLUSTER);
    const endpoints = anyUnpack(response.resources[3]!, EndpointsConfigDumpSchema);
    expect(endpoints?.dynamicEndpointConfigs).toHaveLength(1);

    expect((await istioctlQuery(target, DEBUG_CONFIG_DUMP_TYPE, ['nobody.demo'])).resources).toEqual([]);
  });

  describe("authorization, as istiod's debug generators apply it", () => {
    let ca: TestCertificateAuthority;
    beforeEach(() => {
      ca = new TestCertificateAuthority();
    });
    afterEach(() => ca.dispose());

    const startTlsGateway = async (options: Partial<GatewayOptions> = {}) => {
      const server = ca.issueServer();
      return startGateway('gateway-a', {
        tls: { address: '127.0.0.1:0', credentials: { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.caFile } },
        debugAuth: { systemNamespace: 'skiff-system' },
        ...options,
      });
    };
    /** istioctl over mTLS with a certificate of `namespace`/default and a node in that namespace. */
    const asIdentity = (namespace: string) => {
      const cert = ca.issueWorkload(namespace, 'default');
      return {
        credentials: grpc.credentials.createSsl(ca.ca, cert.key, cert.cert),
        node: { id: `sidecar~10.88.0.7~istioctl.${namespace}~${namespace}.svc.cluster.local`, metadata: { GENERATOR: 'event', SERVICE_ACCOUNT: 'default', NAMESPACE: namespace } },
      };
    };

    it('shows every proxy to the system namespace, and only its own namespace to another namespace', async () => {
      const { target, tlsTarget } = await startTlsGateway();
      await connectSidecar(target, 'good');
      await connectSidecar(target, 'other', undefined, 'elsewhere');

      const system = await istioctlDebugRequest(tlsTarget!, DEBUG_SYNCZ_TYPE, asIdentity('skiff-system'));
      expect(clientConfigs(system).map((c) => c.node?.id).sort()).toEqual(['good.demo', 'other.elsewhere']);
      const demo = asIdentity('demo');
      expect(clientConfigs(await istioctlDebugRequest(tlsTarget!, DEBUG_SYNCZ_TYPE, demo)).map((c) => c.node?.id)).toEqual(['good.demo']);
      // config_dump: its own namespace's proxy, and "not found" (no resources) for another namespace's.
      expect((await istioctlDebugRequest(tlsTarget!, DEBUG_CONFIG_DUMP_TYPE, { ...demo, names: ['good.demo'] })).resources).toHaveLength(4);
      expect((await istioctlDebugRequest(tlsTarget!, DEBUG_CONFIG_DUMP_TYPE, { ...demo, names: ['other.elsewhere'] })).resources).toEqual([]);
    });

    it('refuses a caller without an identity with UNAUTHENTICATED, unless it is on the loopback interface and loopback is trusted', async () => {
      const trusted = await startTlsGateway();
      await connectSidecar(trusted.target, 'good');
      expect(clientConfigs(await istioctlQuery(trusted.target, DEBUG_SYNCZ_TYPE)).map((c) => c.node?.id)).toEqual(['good.demo']);

      const strict = await startGateway('gateway-b', { debugAuth: { trustLoopback: false } });
      await expect(istioctlQuery(strict.target, DEBUG_SYNCZ_TYPE)).rejects.toThrow(/16 UNAUTHENTICATED: authentication required/);
      await expect(istioctlQuery(strict.target, DEBUG_CONFIG_DUMP_TYPE, ['good.demo'])).rejects.toThrow(/UNAUTHENTICATED/);
    });

    it('offers authorizeDebugRequest for the generic istio.io/debug endpoints: config_dump, ndsz and edsz of its own namespace only', async () => {
      const { gateway, target } = await startTlsGateway();
      await connectSidecar(target, 'good');
      const caller = (namespace: string) => ({ identities: [`spiffe://cluster.local/ns/${namespace}/sa/default`], peer: '10.0.0.9:5000' });
      const session = (namespace: string) => ({ ...gateway.sessions()[0]!, ...caller(namespace) });
      expect(gateway.authorizeDebugRequest(session('skiff-system'), 'push_status').allowed).toBe(true);
      expect(gateway.authorizeDebugRequest(session('demo'), 'config_dump', 'good.demo')).toEqual({ allowed: true, scope: { kind: 'namespace', namespace: 'demo' } });
      const denied = gateway.authorizeDebugRequest(session('elsewhere'), 'config_dump', 'good.demo');
      expect(denied.allowed).toBe(false);
      expect(!denied.allowed && denied.error.code).toBe(grpc.status.PERMISSION_DENIED);
      const wrongEndpoint = gateway.authorizeDebugRequest(session('demo'), 'push_status');
      expect(!wrongEndpoint.allowed && wrongEndpoint.error.message).toBe('the debug info is not available for current identity: "spiffe://cluster.local/ns/demo/sa/default"');
      const anonymous = gateway.authorizeDebugRequest({ ...gateway.sessions()[0]!, identities: [], peer: '10.0.0.9:5000' }, 'syncz');
      expect(!anonymous.allowed && [anonymous.error.code, anonymous.error.message]).toEqual([grpc.status.UNAUTHENTICATED, 'authentication required']);
    });
  });
});
