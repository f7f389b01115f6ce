/**
 * The load generator against the real ADS server (libs/ads-server) over gRPC on 127.0.0.1, with a
 * static provider: simulated proxies connect with Istio identities, get their clusters and endpoints,
 * ACK every response, and record a pushed change; state of the world and delta, both flavours.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { TypeUrl } from '@skiff/protos';
import { Cluster_DiscoveryType, ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { AdsServer, parseIstioNodeId, StaticResourceProvider, type AdsSessionStatus } from '@skiff/ads-server';
import { eventually, freePort } from '@skiff/testing';
import { testLoadAssignment } from '@skiff/xds-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator, planProxies, TRANSPORTS, type ProxyFlavor, type Transport } from './index.js';

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.ClusterLoadAssignment;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An EDS cluster whose EDS service name is the cluster name, as Istio's are; `revision` changes its timeout. */
function istioStyleCluster(name: string, revision = 0) {
  const cluster = create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { serviceName: name, edsConfig: { configSourceSpecifier: { case: 'ads', value: {} } } },
    connectTimeout: { seconds: BigInt(10 + revision) },
  });
  return { typeUrl: CDS, name, bytes: toBinary(ClusterSchema, cluster) };
}

async function startServer(options: { address?: string; maxConnectionAgeMs?: number } = {}) {
  const provider = new StaticResourceProvider();
  provider.upsert([istioStyleCluster('a'), istioStyleCluster('b'), istioStyleCluster('c'), testLoadAssignment('a'), testLoadAssignment('b'), testLoadAssignment('c')]);
  const maxConnectionAgeMs = options.maxConnectionAgeMs ?? 0;
  const server = new AdsServer({ address: options.address ?? '127.0.0.1:0', provider, debounceMs: 1, maxConnectionAgeMs, maxConnectionAgeGraceMs: 50, shutdownGraceMs: 200 });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return { server, provider, target: `127.0.0.1:${port}` };
}

interface GeneratorArgs {
  proxies: number;
  transport: Transport;
  flavor?: ProxyFlavor;
  delta?: boolean;
  clusters: string;
  perProxy?: number;
  streamsPerConnection?: number;
}

function startGenerator(target: string, options: GeneratorArgs) {
  const flavor = options.flavor ?? 'envoy';
  const groups = [{ namespace: 'shop', clusters: options.clusters.split(',').filter((name) => name !== '') }];
  const plans = planProxies({ proxies: options.proxies, groups, flavor, ...(options.perProxy === undefined ? {} : { clustersPerProxy: options.perProxy }) });
  const generator = new LoadGenerator({
    target,
    transport: options.transport,
    plans,
    flavor,
    delta: options.delta ?? false,
    streamsPerConnection: options.streamsPerConnection ?? 2,
    reconnect: { initialMs: 50, maxMs: 200 },
  });
  cleanups.push(() => generator.close());
  return generator;
}

/** Arrival times are wall-clock milliseconds: a change starts in a later millisecond than what came before. */
async function changeTime(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return Date.now();
}

function typeStatus(session: AdsSessionStatus, typeUrl: string) {
  return session.types.find((type) => type.typeUrl === typeUrl);
}

describe.each(TRANSPORTS)('LoadGenerator over %s', (transport) => {
  it('connects Envoy-like proxies that take the CDS wildcard and their EDS names, and ACK every response', async () => {
    const { server, target } = await startServer();
    const generator = startGenerator(target, { transport, proxies: 5, clusters: 'a,b,c', perProxy: 1 });
    await generator.start();
    expect(await generator.whenReady(5_000)).toBe(true);

    const status = generator.status();
    expect(status).toMatchObject({ proxies: 5, connections: 3, streamsStarted: 5, streamsOpen: 5, ready: 5, reconnects: 0 });
    const sessions = await eventually(() => {
      const list = server.sessions.list();
      expect(list).toHaveLength(5);
      // Every response ACKed: the last nonce sent is the last one ACKed, for both types.
      for (const session of list) {
        for (const typeUrl of [CDS, EDS]) expect(typeStatus(session, typeUrl)?.ackedNonce).toBe(typeStatus(session, typeUrl)?.sentNonce);
      }
      return list;
    });
    const byPod = new Map(sessions.map((session) => [parseIstioNodeId(session.node.id)?.proxyId, session]));
    for (let index = 0; index < 5; index++) {
      const session = byPod.get(`proxy-${index}.shop`)!;
      expect(session.node.id).toBe(`sidecar~10.0.0.${index + 1}~proxy-${index}.shop~shop.svc.cluster.local`);
      expect(session.node.metadata).toMatchObject({ NAMESPACE: 'shop', CLUSTER_ID: 'Kubernetes' });
      expect(session.profile).toMatchObject({ namespace: 'shop', flavor: 'envoy' });
      expect(typeStatus(session, CDS)?.wildcard).toBe(true);
      // Proxy i takes the i-th cluster of the list, in turn.
      expect(typeStatus(session, EDS)?.names).toEqual([['a', 'b', 'c'][index % 3]]);
    }
    // Each proxy got every cluster and its one assignment.
    const summary = generator.summary();
    expect(summary.newVersions).toEqual({ cds: 15, eds: 5 });
    expect(summary.streams).toMatchObject({ started: 5, ready: 5, reconnects: 0 });
    expect(summary.readyMs.count).toBe(5);
    expect(summary.acks).toBe(summary.responses['cds']! + summary.responses['eds']!);
  });

  it('records when each subscriber receives a pushed change, and only subscribers', async () => {
    const { provider, target } = await startServer();
    const generator = startGenerator(target, { transport, proxies: 4, clusters: 'a,b', perProxy: 1 });
    await generator.start();
    expect(await generator.whenReady(5_000)).toBe(true);

    const since = await changeTime();
    const waiting = generator.recorder.waitForArrivals(EDS, 'a', since, 5_000);
    provider.upsert([testLoadAssignment('a', 1)]);
    const arrivals = await waiting;
    // Proxies 0 and 2 subscribe to a; 1 and 3 to b.
    expect(arrivals.subscribers).toBe(2);
    expect(arrivals.missing).toBe(0);
    expect(arrivals.delaysMs).toHaveLength(2);
    for (const delay of arrivals.delaysMs) expect(delay).toBeGreaterThanOrEqual(0);
    expect(generator.recorder.arrivalsSince(EDS, 'b', since)).toEqual({ subscribers: 2, delaysMs: [], missing: 2 });

    // The pushed version counts once per subscriber in the summary's fan-out spread.
    const pushed = generator.summary().pushedVersions;
    expect(pushed).toMatchObject({ versions: 1, arrivals: 2 });
  });

  it('sees a cluster change through the CDS wildcard without counting unchanged clusters again', async () => {
    const { provider, target } = await startServer();
    const generator = startGenerator(target, { transport, proxies: 2, clusters: '' });
    await generator.start();
    expect(await generator.whenReady(5_000)).toBe(true);
    const before = generator.summary().newVersions['cds'];
    expect(before).toBe(6);

    const since = await changeTime();
    const waiting = generator.recorder.waitForArrivals(CDS, 'b', since, 5_000);
    provider.upsert([istioStyleCluster('b', 1)]);
    expect(await waiting).toMatchObject({ subscribers: 2, missing: 0 });
    // The full-state response carried a, b and c again; only b is new.
    await eventually(() => expect(generator.summary().responses['cds']).toBe(4));
    expect(generator.summary().newVersions['cds']).toBe(before! + 2);
  });

  it('speaks delta: subscribes, ACKs by nonce, records versions and removals', async () => {
    const { server, provider, target } = await startServer();
    const generator = startGenerator(target, { transport, proxies: 3, clusters: 'a,b,c', delta: true });
    await generator.start();
    expect(await generator.whenReady(5_000)).toBe(true);
    await eventually(() => {
      const sessions = server.sessions.list();
      expect(sessions).toHaveLength(3);
      for (const session of sessions) {
        expect(session.mode).toBe('delta');
        expect(typeStatus(session, CDS)?.wildcard).toBe(true);
        expect(typeStatus(session, EDS)?.ackedNonce).toBe(typeStatus(session, EDS)?.sentNonce);
      }
    });

    const since = await changeTime();
    const waiting = generator.recorder.waitForArrivals(EDS, 'c', since, 5_000);
    provider.upsert([testLoadAssignment('c', 7)]);
    expect(await waiting).toMatchObject({ subscribers: 3, missing: 0 });

    provider.remove(EDS, ['b']);
    await eventually(() => expect(generator.summary().removed).toBe(3));
    // A removed resource that comes back is a new arrival, even at its old version.
    const back = await changeTime();
    const returning = generator.recorder.waitForArrivals(EDS, 'b', back, 5_000);
    provider.upsert([testLoadAssignment('b')]);
    expect(await returning).toMatchObject({ subscribers: 3, missing: 0 });
  });

  it('identifies proxyless gRPC clients and subscribes to clusters by name', async () => {
    const { server, target } = await startServer();
    const generator = startGenerator(target, { transport, proxies: 2, clusters: 'a,c', flavor: 'grpc' });
    await generator.start();
    expect(await generator.whenReady(5_000)).toBe(true);
    const sessions = await eventually(() => {
      const list = server.sessions.list();
      expect(list).toHaveLength(2);
      return list;
    });
    for (const session of sessions) {
      expect(session.node.metadata).toMatchObject({ GENERATOR: 'grpc', NAMESPACE: 'shop' });
      expect(session.profile?.flavor).toBe('grpc');
      expect(typeStatus(session, CDS)).toMatchObject({ wildcard: false, names: ['a', 'c'] });
      expect(typeStatus(session, EDS)?.names).toEqual(['a', 'c']);
    }
    expect(generator.summary().newVersions).toEqual({ cds: 4, eds: 4 });
  });

  it('reconnects a stream the server ended, and the server sees the proxies leave on close', async () => {
    const { server, provider, target } = await startServer();
    const generator = startGenerator(target, { transport, proxies: 2, clusters: 'a' });
    await generator.start();
    expect(await generator.whenReady(5_000)).toBe(true);

    for (const session of server.sessions.list()) server.sessions.disconnect(session.id, 'go elsewhere');
    await eventually(() => expect(server.sessions.size).toBe(2), { timeoutMs: 5_000 });
    await eventually(() => expect(generator.status()).toMatchObject({ reconnects: 2, streamsOpen: 2 }));
    expect(generator.summary().streams.endsByCode).toEqual({ '14': 2 });
    // The reconnected streams still follow changes.
    const since = await changeTime();
    const waiting = generator.recorder.waitForArrivals(EDS, 'a', since, 5_000);
    provider.upsert([testLoadAssignment('a', 3)]);
    expect(await waiting).toMatchObject({ subscribers: 2, missing: 0 });

    await generator.close();
    await eventually(() => expect(server.sessions.size).toBe(0));
    expect(generator.status().streamsOpen).toBe(0);
  });

  it('moves to a new connection when the server ages the old one out, and keeps following changes', async () => {
    const { server, provider, target } = await startServer({ maxConnectionAgeMs: 300 });
    const generator = startGenerator(target, { transport, proxies: 3, clusters: 'a' });
    await generator.start();
    expect(await generator.whenReady(5_000)).toBe(true);
    await eventually(() => expect(generator.status().reconnects).toBeGreaterThanOrEqual(3), { timeoutMs: 5_000 });
    await eventually(() => expect(server.sessions.size).toBe(3), { timeoutMs: 5_000 });
    const since = await changeTime();
    const waiting = generator.recorder.waitForArrivals(EDS, 'a', since, 5_000);
    provider.upsert([testLoadAssignment('a', 4)]);
    expect(await waiting).toMatchObject({ subscribers: 3, missing: 0 });
  });

  it('retries a server that is not there yet, and connects once it listens', async () => {
    const port = await freePort();
    const generator = startGenerator(`127.0.0.1:${port}`, { transport, proxies: 2, clusters: 'a' });
    await generator.start();
    await eventually(() => expect(generator.status().reconnects).toBeGreaterThanOrEqual(2), { timeoutMs: 5_000 });
    expect(generator.summary().streams.endsByCode).toMatchObject({ '14': expect.any(Number) });
    await startServer({ address: `127.0.0.1:${port}` });
    expect(await generator.whenReady(5_000)).toBe(true);
  });

  it('opens streams at the configured rate', async () => {
    const { target } = await startServer();
    const plans = planProxies({ proxies: 6, groups: [{ namespace: 'shop', clusters: ['a'] }], flavor: 'envoy' });
    const generator = new LoadGenerator({ target, transport, plans, flavor: 'envoy', delta: false, connectRate: 20 });
    cleanups.push(() => generator.close());
    const started = performance.now();
    await generator.start();
    // Six streams at 20 per second: the last opens about 250 ms after the first.
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);
    expect(await generator.whenReady(5_000)).toBe(true);
  });
});
