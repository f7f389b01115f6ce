/**
 * Hostile clients against a real AdsServer on 127.0.0.1, one limit each: every refusal ends or slows
 * only the offending client and is reported through `onRefused` (the gateway's
 * `skiff_xds_refused_total{reason}`).
 */
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@skiff/protos';
import { eventually } from '@skiff/testing';
import { connectAds, testLoadAssignment, UNKNOWN_TYPE_URL, type ConnectAdsOptions } from '@skiff/xds-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { AdsServer, StaticResourceProvider, truncateUtf8, type AdsRefusalReason, type AdsServerOptions } from './index.js';

const EDS = TypeUrl.ClusterLoadAssignment;
const NODE = { id: 'sidecar~127.0.0.1~app-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop' } };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(options: Partial<AdsServerOptions> = {}) {
  const refusals: AdsRefusalReason[] = [];
  const provider = new StaticResourceProvider();
  const server = new AdsServer({
    address: '127.0.0.1:0',
    debounceMs: 1,
    maxConnectionAgeMs: 0,
    shutdownGraceMs: 500,
    provider,
    callbacks: { onRefused: (_session, refusal) => refusals.push(refusal.reason) },
    ...options,
  });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return { server, provider, refusals, address: `127.0.0.1:${port}` };
}

/** Each client on its own connection (grpc-js shares connections between clients by default). */
const OWN_CONNECTION: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };

async function open(address: string, options: Omit<ConnectAdsOptions, 'delta'> = {}) {
  const stream = await connectAds(address, { node: NODE, channelOptions: OWN_CONNECTION, ...options, delta: false });
  cleanups.push(() => stream.close());
  return stream;
}

describe('limits against hostile clients', () => {
  it('ends a stream that sends a message over the receive limit with RESOURCE_EXHAUSTED, before buffering it', async () => {
    const { refusals, provider, address } = await startServer({ limits: { maxReceiveMessageBytes: 64 * 1024 } });
    provider.upsert([testLoadAssignment('x')]);
    const ads = await open(address);
    ads.request({ typeUrl: EDS, names: ['x', 'y'.repeat(100_000)] });
    const end = await ads.expectEnd();
    expect(end.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(end.details).toMatch(/larger than max/);
    await eventually(() => expect(refusals).toContain('message_size'));
    // A well-behaved client is still served.
    const good = await open(address);
    expect((await good.requestResponseAck({ typeUrl: EDS, names: ['x'] })).names).toEqual(['x']);
  });

  it('ends the streams of one connection above the per-connection limit', async () => {
    const { server, refusals, address } = await startServer({ limits: { maxStreamsPerConnection: 2 } });
    const client = new grpc.Client(address, grpc.credentials.createInsecure(), OWN_CONNECTION);
    cleanups.push(() => client.close());
    // Three streams over one channel: one connection.
    const channelOptions = { channelOverride: client.getChannel() } as grpc.ChannelOptions;
    const streams = [];
    for (let i = 0; i < 3; i += 1) streams.push(await open(address, { channelOptions }));
    const ends = await Promise.all(streams.map((stream) => stream.expectEnd(300).catch(() => undefined)));
    expect(ends.map((end) => end?.code)).toEqual([undefined, undefined, grpc.status.RESOURCE_EXHAUSTED]);
    expect(ends[2]?.details).toBe('too many streams on one connection (limit 2)');
    expect(refusals).toEqual(['streams_per_connection']);
    // The refused stream left the registry at once, and its slot: a stream closing frees one.
    expect(server.sessions.size).toBe(2);
    const peers = server.sessions.list().map((status) => status.peer);
    expect(peers).toHaveLength(2);
    expect(new Set(peers).size).toBe(1);
    streams[0]!.close();
    await eventually(() => expect(server.sessions.size).toBe(1));
    const again = await open(address, { channelOptions });
    again.request({ typeUrl: EDS, names: ['x'] });
    await again.expectResponse({ typeUrl: EDS });
    expect(refusals).toEqual(['streams_per_connection']);
  });

  it('closes connections above the per-server limit on accept', async () => {
    const { server, refusals, address } = await startServer({ limits: { maxConnections: 2 } });
    const first = await open(address);
    const second = await open(address);
    await first.requestResponseAck({ typeUrl: EDS, names: ['x'] }).catch(() => undefined);
    await expect(open(address, { connectTimeoutMs: 1_000 })).rejects.toThrow();
    await eventually(() => expect(refusals).toContain('connections'));
    expect(server.sessions.size).toBe(2);
    second.close();
    // A connection slot frees when a client leaves.
    await eventually(async () => {
      const third = await open(address, { connectTimeoutMs: 500 });
      third.request({ typeUrl: EDS, names: ['x'] });
      await third.expectResponse({ typeUrl: EDS });
    });
  });

  it('ends a stream whose request names more resources than the limit', async () => {
    const { refusals, address } = await startServer({ limits: { maxNamesPerRequest: 100 } });
    const ads = await open(address);
    ads.request({ typeUrl: EDS, names: Array.from({ length: 101 }, (_, i) => `name-${i}`) });
    const end = await ads.expectEnd();
    expect(end.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(end.details).toBe(`request for ${EDS} has 101 resource names, more than the limit of 100`);
    expect(refusals).toEqual(['names_per_request']);
    const delta = await connectAds(address, { node: NODE, delta: true, channelOptions: OWN_CONNECTION });
    cleanups.push(() => delta.close());
    delta.request({ typeUrl: EDS, subscribe: Array.from({ length: 60 }, (_, i) => `a-${i}`), unsubscribe: Array.from({ length: 41 }, (_, i) => `b-${i}`) });
    expect((await delta.expectEnd()).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('slows a stream above the request rate to that rate, answering every request in order', async () => {
    const { refusals, provider, address } = await startServer({ limits: { requestsPerSecond: 50, requestBurst: 5 } });
    const names = Array.from({ length: 30 }, (_, i) => `c-${i}`);
    provider.upsert(names.map((name) => testLoadAssignment(name)));
    // Delta applies every subscription whatever its nonce: each request is answered with its name.
    const ads = await connectAds(address, { node: NODE, delta: true, channelOptions: OWN_CONNECTION });
    cleanups.push(() => ads.close());
    const started = performance.now();
    for (const name of names) ads.request({ typeUrl: EDS, subscribe: [name] });
    const answered: string[] = [];
    while (answered.length < names.length) {
      for (const name of (await ads.expectResponse({ typeUrl: EDS, timeoutMs: 5_000 })).names) answered.push(name);
    }
    const elapsedMs = performance.now() - started;
    expect(answered).toEqual(names);
    // 25 requests above the burst at 50 per second take at least half a second.
    expect(elapsedMs).toBeGreaterThanOrEqual(480);
    expect(refusals.filter((reason) => reason === 'request_rate').length).toBeGreaterThan(0);
  });

  it('ignores unknown type URLs without keeping state for them, and counts them', async () => {
    const { server, refusals, address } = await startServer();
    const ads = await open(address);
    for (let i = 0; i < 50; i += 1) ads.request({ typeUrl: `${UNKNOWN_TYPE_URL}${i}`, names: ['a'] });
    ads.request({ typeUrl: EDS, names: ['x'] });
    await ads.expectResponse({ typeUrl: EDS });
    const [status] = server.sessions.list();
    expect(status?.types.map((type) => type.typeUrl)).toEqual([EDS]);
    expect(refusals.filter((reason) => reason === 'unknown_type')).toHaveLength(50);
  });

  it('refuses a stream without a node, or with an empty node id, with INVALID_ARGUMENT', async () => {
    const { server, refusals, address } = await startServer();
    for (const node of [null, { id: '' }]) {
      const ads = await open(address, { node });
      ads.request({ typeUrl: EDS, names: ['x'] });
      expect(await ads.expectEnd()).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: 'missing node information' });
    }
    expect(refusals).toEqual(['missing_node', 'missing_node']);
    await eventually(() => expect(server.sessions.size).toBe(0));
  });

  it('refuses a node id over 1 KiB, and keeps at most 256 bytes of the version a client ACKs', async () => {
    const { server, refusals, provider, address } = await startServer();
    const long = await open(address, { node: { id: `sidecar~10.0.0.1~${'p'.repeat(1100)}.shop~shop.svc.cluster.local` } });
    long.request({ typeUrl: EDS, names: ['x'] });
    expect(await long.expectEnd()).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: 'node id is longer than 1024 bytes' });
    expect(refusals).toEqual(['invalid_node']);
    provider.upsert([testLoadAssignment('x')]);
    const ads = await open(address);
    ads.request({ typeUrl: EDS, names: ['x'] });
    const response = await ads.expectResponse({ typeUrl: EDS });
    ads.request({ typeUrl: EDS, names: ['x'], responseNonce: response.nonce, versionInfo: 'v'.repeat(100_000) });
    const acked = await eventually(() => {
      const version = server.sessions.list()[0]?.types[0]?.ackedVersion;
      expect(version).toBeDefined();
      return version!;
    });
    expect(Buffer.byteLength(acked)).toBeLessThan(256 + 64);
  });

  it('keeps, logs and reports at most maxErrorDetailBytes of a NACK', async () => {
    const { server, provider, address } = await startServer({ limits: { maxErrorDetailBytes: 4096 } });
    provider.upsert([testLoadAssignment('x')]);
    const ads = await open(address);
    ads.request({ typeUrl: EDS, names: ['x'] });
    const response = await ads.expectResponse({ typeUrl: EDS });
    const huge = `bad endpoint: ${'é'.repeat(1_000_000)}`;
    ads.nack(response, huge);
    const nack = await eventually(() => {
      const message = server.sessions.list()[0]?.types[0]?.lastNack?.message;
      expect(message).toBeDefined();
      return message!;
    });
    expect(Buffer.byteLength(nack)).toBeLessThan(4096 + 64);
    expect(nack).toBe(truncateUtf8(huge, 4096));
    expect(nack.endsWith(` of ${Buffer.byteLength(huge)} bytes]`)).toBe(true);
  });
});

describe('truncateUtf8', () => {
  it('leaves short text alone and cuts long text between characters, saying how much it cut', () => {
    expect(truncateUtf8('short', 10)).toBe('short');
    expect(truncateUtf8('aaaaaaaaaaaa', 4)).toBe('aaaa... [truncated 8 of 12 bytes]');
    // 'é' is two bytes: a cut at 3 bytes keeps one character, never half of the second.
    expect(truncateUtf8('éééé', 3)).toBe('é... [truncated 6 of 8 bytes]');
  });
});
