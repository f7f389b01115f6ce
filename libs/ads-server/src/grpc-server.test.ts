/**
 * AdsServer over real gRPC on 127.0.0.1: the session registry and hooks, readiness, type handlers,
 * TLS, maximum connection age, graceful shutdown onto a second server, and a client that stops
 * reading.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@skiff/protos';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { runServices, silentLogger } from '@skiff/runtime';
import { eventually, freePort } from '@skiff/testing';
import { connectAds, testCluster, testLoadAssignment, type ConformanceResource, type ConnectAdsOptions } from '@skiff/xds-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { AdsServer, servedResource, StaticResourceProvider, syncStatusOf, type AdsServerOptions } from './index.js';

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.ClusterLoadAssignment;
const NODE = { id: 'sidecar~127.0.0.1~app-1.shop~shop.svc.cluster.local', cluster: 'app', metadata: { NAMESPACE: 'shop' } };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(options: Partial<AdsServerOptions> & { provider?: StaticResourceProvider } = {}) {
  const provider = options.provider ?? new StaticResourceProvider();
  const server = new AdsServer({ address: '127.0.0.1:0', debounceMs: 1, maxConnectionAgeMs: 0, shutdownGraceMs: 500, ...options, provider });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return { server, provider, port, address: `127.0.0.1:${port}` };
}

async function open(address: string, options: Omit<ConnectAdsOptions, 'delta'> = {}) {
  const stream = await connectAds(address, { node: NODE, ...options, delta: false });
  cleanups.push(() => stream.close());
  return stream;
}

/** Waits for a raw HTTP/2 connection to receive GOAWAY; resolves with its error code. */
function goawayOn(session: ClientHttp2Session, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no GOAWAY within ${timeoutMs} ms`)), timeoutMs);
    session.once('goaway', (code: number) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

async function rawHttp2(port: number): Promise<ClientHttp2Session> {
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  cleanups.push(() => session.destroy());
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

describe('session registry and hooks', () => {
  it('shows each stream with its node, peer, subscriptions, nonces and last NACK', async () => {
    const { server, provider, address } = await startServer();
    provider.upsert([testCluster('a'), testLoadAssignment('x')]);
    const ads = await open(address);
    const clusters = await ads.requestResponseAck({ typeUrl: CDS });
    ads.request({ typeUrl: EDS, names: ['x', 'y'] });
    const endpoints = await ads.expectResponse({ typeUrl: EDS });
    ads.nack(endpoints, 'endpoints[0].lb_endpoints[0].endpoint: address is not a valid IPv4 or IPv6 address: localhost');

    const status = await eventually(() => {
      const [only] = server.sessions.list();
      expect(only?.types.find((type) => type.typeUrl === EDS)?.lastNack).toBeDefined();
      return only!;
    });
    expect(status).toMatchObject({ mode: 'sotw', node: { id: NODE.id, cluster: 'app', metadata: { NAMESPACE: 'shop' } }, profile: { namespace: 'shop' } });
    expect(status.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(status.connectedAt).toBeLessThanOrEqual(Date.now());
    const [cds, eds] = status.types;
    expect(cds).toMatchObject({ typeUrl: CDS, wildcard: true, names: [], resourceCount: 1, sentNonce: clusters.nonce, ackedNonce: clusters.nonce, ackedVersion: clusters.versionInfo });
    expect(syncStatusOf(cds!)).toBe('SYNCED');
    expect(eds).toMatchObject({ typeUrl: EDS, wildcard: false, names: ['x', 'y'], sentNonce: endpoints.nonce, ackedNonce: undefined });
    expect(eds!.lastNack).toMatchObject({ nonce: endpoints.nonce, code: 14, message: expect.stringContaining('not a valid IPv4') });
    expect(syncStatusOf(eds!)).toBe('ERROR');
    expect(server.sessions.byNodeId(NODE.id).map((s) => s.id)).toEqual([status.id]);
    expect(server.sessions.get(status.id)?.id).toBe(status.id);

    ads.close();
    await eventually(() => expect(server.sessions.size).toBe(0));
  });

  it('calls every hook in order, and keeps serving when a hook throws', async () => {
    const events: string[] = [];
    const { provider, address } = await startServer({
      callbacks: {
        onStreamOpen: (session) => events.push(`open ${session.mode}`),
        onRequest: (_, request) => events.push(`request ${request.kind}`),
        onResponse: (_, response) => events.push(`response ${response.trigger} ${response.resourceCount}`),
        onAck: () => events.push('ack'),
        onNack: (_, nack) => events.push(`nack ${nack.message}`),
        onStreamClosed: () => {
          events.push('closed');
          throw new Error('a broken metrics hook');
        },
      },
    });
    provider.upsert([testCluster('a')]);
    const ads = await open(address);
    await ads.requestResponseAck({ typeUrl: CDS });
    await eventually(() => expect(events).toContain('ack'));
    provider.upsert([testCluster('a', 1)]);
    ads.nack(await ads.expectResponse({ typeUrl: CDS }), 'no');
    await eventually(() => expect(events).toContain('nack no'));
    ads.close();
    await eventually(() => expect(events.at(-1)).toBe('closed'));
    expect(events).toEqual(['open sotw', 'request initial', 'response request 1', 'request ack', 'ack', 'response change 1', 'request nack', 'nack no', 'closed']);
  });

  it('writes pushes that fire together in slices of pushSliceBytes, letting the event loop run between them', async () => {
    let changeResponses = 0;
    /** How many change responses had been written when the event loop first got a turn after the first. */
    let writtenWhenLoopTurned: number | undefined;
    const { provider, address } = await startServer({
      pushSliceBytes: 1,
      callbacks: {
        onResponse: (_, response) => {
          if (response.trigger !== 'change') return;
          changeResponses += 1;
          if (changeResponses === 1) setImmediate(() => (writtenWhenLoopTurned = changeResponses));
        },
      },
    });
    provider.upsert([testCluster('a')]);
    const streams = await Promise.all(Array.from({ length: 4 }, () => open(address)));
    for (const ads of streams) await ads.requestResponseAck({ typeUrl: CDS });
    provider.upsert([testCluster('a', 1)]);
    for (const ads of streams) await ads.expectResponse({ typeUrl: CDS });
    expect(changeResponses).toBe(4);
    // Every response is past the slice's byte budget: one slice is one push, and the slices' own turn
    // (queued before the test's immediate) runs at most one more before the loop gets to it.
    expect(writtenWhenLoopTurned).toBeLessThanOrEqual(2);
  });

  it('ends a stream with UNAVAILABLE on disconnect(id)', async () => {
    const { server, provider, address } = await startServer();
    provider.upsert([testCluster('a')]);
    const ads = await open(address);
    await ads.requestResponseAck({ typeUrl: CDS });
    const [status] = server.sessions.list();
    expect(server.sessions.disconnect(status!.id, 'rebalancing')).toBe(true);
    expect(await ads.expectEnd()).toEqual({ code: grpc.status.UNAVAILABLE, details: 'rebalancing' });
    expect(server.sessions.disconnect('no-such-session')).toBe(false);
  });
});

describe('listening', () => {
  it('listens on every interface for `:port`, IPv4 clients included', async () => {
    const port = await freePort();
    const { server } = await startServer({ address: `:${port}` });
    expect(server.address?.port).toBe(port);
    const ads = await open(`127.0.0.1:${port}`);
    ads.request({ typeUrl: CDS });
    expect((await ads.expectResponse({ typeUrl: CDS })).names).toEqual([]);
  });

  // The accept queue a listening socket got is its Send-Q in `ss -lnt` (Linux's sk_max_ack_backlog).
  const acceptQueueOf = (port: number): number => {
    const line = execFileSync('ss', ['-lntH', `sport = :${port}`], { encoding: 'utf8' }).trim();
    return Number(line.split(/\s+/)[2]);
  };

  it("asks the kernel for its largest accept queue, as Go's net.Listen does, unless told otherwise", async () => {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    const { port } = await startServer();
    // Node's default (511) would drop a fleet reconnecting at once.
    expect(acceptQueueOf(port)).toBe(Math.min(somaxconn, 65_535));
    const { port: smallPort } = await startServer({ listenBacklog: 7 });
    expect(acceptQueueOf(smallPort)).toBe(7);
  });
});

describe('readiness', () => {
  it('holds the first request until the provider is ready, then answers it', async () => {
    const provider = new StaticResourceProvider({ ready: false });
    const { address } = await startServer({ provider, readinessPollMs: 10 });
    const ads = await open(address);
    ads.request({ typeUrl: CDS });
    await ads.expectNoResponse(200);
    provider.upsert([testCluster('a')]);
    provider.setReady(true);
    expect((await ads.expectResponse({ typeUrl: CDS })).names).toEqual(['a']);
  });

  it('ends a stream that waited longer than readyWaitMs with UNAVAILABLE, so the proxy retries', async () => {
    const { address } = await startServer({ provider: new StaticResourceProvider({ ready: false }), readinessPollMs: 10, readyWaitMs: 100 });
    const ads = await open(address);
    ads.request({ typeUrl: CDS });
    expect((await ads.expectEnd()).code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('type handlers', () => {
  it('answers a registered type from its handler, one handler per type, removable', async () => {
    const { server, address } = await startServer();
    const remove = server.registerTypeHandler('istio.io/debug/syncz', (session) => [
      servedResource('istio.io/debug/syncz', session.node.id, new TextEncoder().encode(JSON.stringify({ proxy: session.node.id }))),
    ]);
    expect(() => server.registerTypeHandler('istio.io/debug/syncz', () => [])).toThrow(/already registered/);
    const ads = await open(address);
    ads.request({ typeUrl: 'istio.io/debug/syncz' });
    const response = await ads.expectResponse({ typeUrl: 'istio.io/debug/syncz' });
    expect(JSON.parse(new TextDecoder().decode(response.message.resources[0]!.value))).toEqual({ proxy: NODE.id });
    remove();
    // Without its handler the type is one the server does not serve: ignored, no state kept.
    const later = await open(address);
    later.request({ typeUrl: 'istio.io/debug/syncz' });
    await later.expectNoResponse(300);
  });
});

describe('TLS', () => {
  it('serves ADS over TLS with the given certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ads-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=ads-test', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const certChain = readFileSync(join(dir, 'cert.pem'));
    const { provider, address } = await startServer({ tls: { certChain, privateKey: readFileSync(join(dir, 'key.pem')) } });
    provider.upsert([testCluster('a')]);
    const ads = await open(address, { credentials: grpc.credentials.createSsl(certChain) });
    expect((await ads.requestResponseAck({ typeUrl: CDS })).names).toEqual(['a']);
    await expect(connectAds(address, { connectTimeoutMs: 300 })).rejects.toThrow(/could not connect/);
  });
});

describe('connection lifecycle', () => {
  it('sends GOAWAY at the maximum connection age and ends the stream after the grace time; the client reconnects', async () => {
    const { provider, port, address } = await startServer({ maxConnectionAgeMs: 300, maxConnectionAgeGraceMs: 100 });
    provider.upsert([testCluster('a')]);
    const raw = await rawHttp2(port);
    const ads = await open(address);
    await ads.requestResponseAck({ typeUrl: CDS });
    // grpc-js applies +/-10% jitter to the age.
    expect(await goawayOn(raw, 1_000)).toBe(0);
    const end = await ads.expectEnd(1_500);
    expect(end.code).not.toBe(grpc.status.OK);
    const again = await open(address);
    expect((await again.requestResponseAck({ typeUrl: CDS })).names).toEqual(['a']);
  });

  it('on close, sends GOAWAY, ends streams with UNAVAILABLE and refuses new ones; the client reconnects to the next server', async () => {
    const first = await startServer();
    const second = await startServer();
    first.provider.upsert([testCluster('from-first')]);
    second.provider.upsert([testCluster('from-second')]);
    const target = `ipv4:127.0.0.1:${first.port},127.0.0.1:${second.port}`;
    const raw = await rawHttp2(first.port);
    const ads = await open(target);
    expect((await ads.requestResponseAck({ typeUrl: CDS })).names).toEqual(['from-first']);

    const goaway = goawayOn(raw, 2_000);
    const closing = first.server.close();
    expect(await goaway).toBe(0);
    expect(await ads.expectEnd()).toMatchObject({ code: grpc.status.UNAVAILABLE });
    await closing;
    expect(first.server.sessions.size).toBe(0);

    const reconnected = await open(target);
    expect((await reconnected.requestResponseAck({ typeUrl: CDS })).names).toEqual(['from-second']);
    expect(second.server.sessions.size).toBe(1);
    await expect(connectAds(first.address, { connectTimeoutMs: 300 })).rejects.toThrow(/could not connect/);
  });

  it('runs as a Runner: started by runServices, closed gracefully when the service stops', async () => {
    const provider = new StaticResourceProvider();
    provider.upsert([testCluster('a')]);
    const server = new AdsServer({ provider, address: '127.0.0.1:0', maxConnectionAgeMs: 0 });
    const exitCodes: number[] = [];
    const services = runServices([server], { logger: silentLogger(), shutdownTimeoutMs: 2_000, signals: [], exit: (code) => exitCodes.push(code) });
    cleanups.push(() => services.stop());
    await services.started;
    const ads = await open(`127.0.0.1:${server.address!.port}`);
    await ads.requestResponseAck({ typeUrl: CDS });
    expect(await services.stop('test over')).toBe(0);
    expect(await ads.expectEnd()).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(exitCodes).toEqual([0]);
    expect(server.address).toBeUndefined();
    await expect(server.listen()).rejects.toThrow(/closed/);
  });

  it('finishes close within the grace time even when a client stopped reading', async () => {
    const { server, provider, address } = await startServer({ shutdownGraceMs: 200 });
    provider.upsert([bigLoadAssignment('big', 0)]);
    const ads = await open(address);
    await ads.requestResponseAck({ typeUrl: EDS, names: ['big'] });
    ads.pauseReading();
    for (let revision = 1; revision <= 40; revision += 1) {
      provider.upsert([bigLoadAssignment('big', revision)]);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

/** A ClusterLoadAssignment of about 60 KB, so a few fill a stream's HTTP/2 window. */
function bigLoadAssignment(name: string, revision: number): ConformanceResource {
  const lbEndpoints = Array.from({ length: 2_000 }, (_, index) => ({
    hostIdentifier: {
      case: 'endpoint' as const,
      value: {
        address: {
          address: {
            case: 'socketAddress' as const,
            value: { address: `10.${revision % 250}.${Math.floor(index / 250)}.${index % 250}`, portSpecifier: { case: 'portValue' as const, value: 8080 } },
          },
        },
      },
    },
  }));
  const assignment = create(ClusterLoadAssignmentSchema, { clusterName: name, endpoints: [{ locality: { zone: 'a' }, loadBalancingWeight: 1, lbEndpoints }] });
  return { typeUrl: EDS, name, bytes: toBinary(ClusterLoadAssignmentSchema, assignment) };
}

describe('a client that stops reading', () => {
  it('gets the latest state when it reads again, not every version pushed meanwhile', async () => {
    let responses = 0;
    const { provider, address } = await startServer({ callbacks: { onResponse: () => (responses += 1) } });
    provider.upsert([bigLoadAssignment('big', 0)]);
    const ads = await open(address);
    await ads.requestResponseAck({ typeUrl: EDS, names: ['big'] });
    ads.pauseReading();
    const revisions = 120;
    for (let revision = 1; revision <= revisions; revision += 1) {
      provider.upsert([bigLoadAssignment('big', revision)]);
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    const latest = bigLoadAssignment('big', revisions).bytes;
    ads.resumeReading();
    let last: Uint8Array | undefined;
    let received = 0;
    await eventually(async () => {
      for (const response of await ads.collect(50)) {
        received += 1;
        last = response.resources.get('big');
      }
      expect(last).toEqual(latest);
    });
    // The server stopped at its write buffer and sent the latest state on drain, not one response per change.
    expect(responses).toBeLessThan(revisions / 2);
    expect(received).toBe(responses - 1);
  });
});
