/**
 * The xDS server conformance suite: one test per item of the server checklist in docs/xds-protocol.md
 * (from Envoy's `docs/root/api-docs/xds_protocol.rst`, plus the client bugs a server must tolerate), for
 * state of the world and for delta. It drives raw ADS streams against any server address; the server
 * under test only has to let the suite add, change and remove resources through `controls`.
 *
 * Checklist items only a client can show (its 15 s resource timeout, keeping its last configuration
 * while the server is away), optional features (TTL heartbeats, per-resource error details) and advice
 * to clients (PGV annotations) have no test here.
 *
 * ```ts
 * describeAdsConformance('my server', async () => {
 *   const server = await startMyServer();
 *   return { address: server.address, controls: server.resources, close: () => server.stop() };
 * });
 * ```
 */
import { TypeUrl } from '@skiff/protos';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectAds, type ConnectAdsOptions, type DeltaAdsStream, type SotwAdsStream } from './client.js';
import { edsNameOf, testCluster, testListener, testLoadAssignment, testRouteConfiguration, type ConformanceResource } from './resources.js';

/** How the suite changes the resources of the server under test. Each call is one batch of changes. */
export interface ConformanceControls {
  upsert(resources: readonly ConformanceResource[]): void | Promise<void>;
  remove(typeUrl: string, names: readonly string[]): void | Promise<void>;
}

/** A server under test with no resources, fresh for every test. */
export interface ConformanceTarget {
  /** gRPC target of the ADS server, e.g. `127.0.0.1:15010`. */
  readonly address: string;
  readonly controls: ConformanceControls;
  /** Called after each test. */
  close?(): void | Promise<void>;
}

export interface ConformanceOptions {
  /** How long the suite waits to conclude that no response is coming (ms). Default 150. */
  readonly quietMs?: number;
  /** How long the suite waits for an expected response (ms). Default 2000. */
  readonly responseTimeoutMs?: number;
  /**
   * The server's `version_info` depends only on content, so a new stream sees the version of the old
   * one for the same resources (optional in the protocol; Skiff's rule). Default true.
   */
  readonly contentDerivedVersions?: boolean;
  /**
   * On a delta reconnect, resources whose `initial_resource_versions` entry is current are not sent
   * again (a "may" in the protocol). Default true.
   */
  readonly skipsUnchangedOnDeltaReconnect?: boolean;
}

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.ClusterLoadAssignment;
const LDS = TypeUrl.Listener;
const RDS = TypeUrl.RouteConfiguration;
/** A type URL no xDS server serves. */
export const UNKNOWN_TYPE_URL = 'type.googleapis.com/skiff.conformance.v1.NoSuchResource';

function sorted(names: Iterable<string>): string[] {
  return [...names].sort();
}

/** Registers the suite (a vitest `describe`) for the server `setup` starts. */
export function describeAdsConformance(name: string, setup: () => Promise<ConformanceTarget>, options: ConformanceOptions = {}): void {
  const quietMs = options.quietMs ?? 150;
  const responseTimeoutMs = options.responseTimeoutMs ?? 2_000;
  const contentDerivedVersions = options.contentDerivedVersions ?? true;
  const skipsUnchangedOnDeltaReconnect = options.skipsUnchangedOnDeltaReconnect ?? true;

  describe(`xDS conformance: ${name}`, () => {
    let target: ConformanceTarget;
    let streams: Array<SotwAdsStream | DeltaAdsStream> = [];

    beforeEach(async () => {
      target = await setup();
      streams = [];
    });
    afterEach(async () => {
      for (const stream of streams) stream.close();
      await target.close?.();
    });

    const upsert = async (...resources: ConformanceResource[]): Promise<void> => {
      await target.controls.upsert(resources);
    };
    const remove = async (typeUrl: string, ...names: string[]): Promise<void> => {
      await target.controls.remove(typeUrl, names);
    };
    const sotw = async (connect: Omit<ConnectAdsOptions, 'delta'> = {}): Promise<SotwAdsStream> => {
      const stream = await connectAds(target.address, { responseTimeoutMs, ...connect, delta: false });
      streams.push(stream);
      return stream;
    };
    const delta = async (connect: Omit<ConnectAdsOptions, 'delta'> = {}): Promise<DeltaAdsStream> => {
      const stream = await connectAds(target.address, { responseTimeoutMs, ...connect, delta: true });
      streams.push(stream);
      return stream;
    };

    describe('state of the world (StreamAggregatedResources)', () => {
      it('serves ADS: answers a request with the resources, a version and a nonce', async () => {
        await upsert(testCluster('a'), testCluster('b'));
        const ads = await sotw();
        ads.request({ typeUrl: CDS });
        const response = await ads.expectResponse({ typeUrl: CDS });
        expect(sorted(response.names)).toEqual(['a', 'b']);
        expect(response.versionInfo).not.toBe('');
        expect(response.nonce).not.toBe('');
      });

      it('ignores an unknown type URL (as istiod: no generator, no response) and keeps the stream working', async () => {
        await upsert(testCluster('a'));
        const ads = await sotw();
        ads.request({ typeUrl: UNKNOWN_TYPE_URL, names: ['anything'] });
        await ads.expectNoResponse(quietMs);
        const clusters = await ads.requestResponseAck({ typeUrl: CDS });
        expect(clusters.names).toEqual(['a']);
      });

      it('takes the node from the first request only: later requests without node are served', async () => {
        await upsert(testCluster('a'), testLoadAssignment(edsNameOf('a')));
        const ads = await sotw();
        await ads.requestResponseAck({ typeUrl: CDS });
        ads.request({ typeUrl: EDS, names: [edsNameOf('a')], node: null });
        expect((await ads.expectResponse({ typeUrl: EDS })).names).toEqual([edsNameOf('a')]);
      });

      it('ends a stream whose first request carries no node, or an empty node id, with INVALID_ARGUMENT (istiod)', async () => {
        await upsert(testCluster('a'));
        for (const node of [null, { id: '' }]) {
          const ads = await sotw({ node });
          ads.request({ typeUrl: CDS });
          expect(await ads.expectEnd()).toEqual({ code: 3, details: 'missing node information' });
        }
      });

      it('puts a nonce on every response and keeps version_info per type', async () => {
        await upsert(testCluster('a'), testLoadAssignment(edsNameOf('a')));
        const ads = await sotw();
        const clusters = await ads.requestResponseAck({ typeUrl: CDS });
        const endpoints = await ads.requestResponseAck({ typeUrl: EDS, names: [edsNameOf('a')] });
        expect(clusters.nonce).not.toBe(endpoints.nonce);
        await upsert(testLoadAssignment(edsNameOf('a'), 1));
        const changed = await ads.expectResponse({ typeUrl: EDS });
        expect(changed.nonce).not.toBe('');
        expect(new Set([clusters.nonce, endpoints.nonce, changed.nonce]).size).toBe(3);
        expect(changed.versionInfo).not.toBe(endpoints.versionInfo);
        ads.ack(changed);
        // The endpoint change moved only the EDS version: no CDS response.
        await ads.expectNoResponse(quietMs);
      });

      it('tells a NACK by error_detail, keeps pushing after it, and does not read a version mismatch as a NACK', async () => {
        await upsert(testLoadAssignment('x'));
        const ads = await sotw();
        ads.request({ typeUrl: EDS, names: ['x'] });
        const rejected = await ads.expectResponse({ typeUrl: EDS });
        ads.nack(rejected, 'rejected by the conformance suite');
        await ads.expectNoResponse(quietMs);
        const fixed = testLoadAssignment('x', 1);
        await upsert(fixed);
        const next = await ads.expectResponse({ typeUrl: EDS });
        expect(next.resources.get('x')).toEqual(fixed.bytes);
        // EDS clients with changing subscriptions ACK with another version_info; still an ACK.
        ads.request({ typeUrl: EDS, names: ['x'], versionInfo: 'not-the-version-sent', responseNonce: next.nonce });
        await ads.expectNoResponse(quietMs);
      });

      it('does not answer a request with a stale nonce', async () => {
        await upsert(testLoadAssignment('a'), testLoadAssignment('b'));
        const ads = await sotw();
        const first = await ads.requestResponseAck({ typeUrl: EDS, names: ['a'] });
        await upsert(testLoadAssignment('a', 1));
        const second = await ads.expectResponse({ typeUrl: EDS });
        ads.request({ typeUrl: EDS, names: ['a', 'b'], versionInfo: first.versionInfo, responseNonce: first.nonce });
        await ads.expectNoResponse(quietMs);
        ads.ack(second, ['a', 'b']);
        expect((await ads.expectResponse({ typeUrl: EDS })).names).toContain('b');
      });

      it('answers the first request of a new stream even at the version the client holds; old nonces mean a reconnect', async () => {
        await upsert(testCluster('a'), testCluster('b'));
        const before = await sotw();
        const held = await before.requestResponseAck({ typeUrl: CDS });
        before.close();

        const again = await sotw();
        again.request({ typeUrl: CDS, versionInfo: held.versionInfo });
        const answer = await again.expectResponse({ typeUrl: CDS });
        expect(sorted(answer.names)).toEqual(['a', 'b']);
        if (contentDerivedVersions) expect(answer.versionInfo).toBe(held.versionInfo);

        const withOldNonce = await sotw();
        withOldNonce.request({ typeUrl: CDS, versionInfo: held.versionInfo, responseNonce: held.nonce });
        expect(sorted((await withOldNonce.expectResponse({ typeUrl: CDS })).names)).toEqual(['a', 'b']);
      });

      it('sends an update only when a subscribed resource changed', async () => {
        await upsert(testCluster('a'), testLoadAssignment(edsNameOf('a')));
        const ads = await sotw();
        await ads.requestResponseAck({ typeUrl: CDS });
        await ads.requestResponseAck({ typeUrl: EDS, names: [edsNameOf('a')] });
        await upsert(testCluster('a'), testLoadAssignment(edsNameOf('a')));
        await upsert(testLoadAssignment('not-subscribed'));
        await ads.expectNoResponse(quietMs);
      });

      it('lets a newer request replace the subscription of its type', async () => {
        await upsert(testLoadAssignment('a'), testLoadAssignment('b'));
        const ads = await sotw();
        const first = await ads.requestResponseAck({ typeUrl: EDS, names: ['a'] });
        ads.request({ typeUrl: EDS, names: ['b'], versionInfo: first.versionInfo, responseNonce: first.nonce });
        const second = await ads.expectResponse({ typeUrl: EDS });
        expect(second.names).toEqual(['b']);
        ads.ack(second);
        await upsert(testLoadAssignment('a', 1));
        await ads.expectNoResponse(quietMs);
        await upsert(testLoadAssignment('b', 1));
        expect((await ads.expectResponse({ typeUrl: EDS })).names).toEqual(['b']);
      });

      it('resends a resource that is subscribed again, even unchanged', async () => {
        await upsert(testLoadAssignment('a'), testLoadAssignment('b'));
        const ads = await sotw();
        const both = await ads.requestResponseAck({ typeUrl: EDS, names: ['a', 'b'] });
        ads.request({ typeUrl: EDS, names: ['a'], versionInfo: both.versionInfo, responseNonce: both.nonce });
        const meanwhile = await ads.collect(quietMs);
        for (const response of meanwhile) expect(response.names).not.toContain('b');
        const latest = meanwhile.at(-1) ?? both;
        ads.request({ typeUrl: EDS, names: ['a', 'b'], versionInfo: latest.versionInfo, responseNonce: latest.nonce });
        const resent = await ads.expectResponse({ typeUrl: EDS });
        expect(resent.resources.get('b')).toEqual(both.resources.get('b'));
      });

      it('treats empty names on a stream that never named a CDS or LDS resource as the wildcard', async () => {
        await upsert(testCluster('a'), testCluster('b'), testListener('l'));
        const ads = await sotw();
        expect(sorted((await ads.requestResponseAck({ typeUrl: CDS })).names)).toEqual(['a', 'b']);
        expect((await ads.requestResponseAck({ typeUrl: LDS })).names).toEqual(['l']);
        await upsert(testCluster('c'));
        expect(sorted((await ads.expectResponse({ typeUrl: CDS })).names)).toEqual(['a', 'b', 'c']);
      });

      it('treats `*` as the wildcard on any type', async () => {
        await upsert(testCluster('a'), testCluster('b'), testLoadAssignment('x'), testLoadAssignment('y'));
        const ads = await sotw();
        expect(sorted((await ads.requestResponseAck({ typeUrl: CDS, names: ['*'] })).names)).toEqual(['a', 'b']);
        expect(sorted((await ads.requestResponseAck({ typeUrl: EDS, names: ['*'] })).names)).toEqual(['x', 'y']);
      });

      it('treats empty names after a named request as unsubscribing from everything (not the wildcard)', async () => {
        await upsert(testCluster('a'), testCluster('b'));
        const ads = await sotw();
        const named = await ads.requestResponseAck({ typeUrl: CDS, names: ['a'] });
        expect(named.names).toEqual(['a']);
        ads.request({ typeUrl: CDS, names: [], versionInfo: named.versionInfo, responseNonce: named.nonce });
        for (const response of await ads.collect(quietMs)) expect(response.names).toEqual([]);
        await upsert(testCluster('a', 1), testCluster('c'));
        await ads.expectNoResponse(quietMs);
      });

      it('serves only the named CDS and LDS resources to a client that names them (the gRPC client)', async () => {
        await upsert(testCluster('a'), testCluster('b'), testListener('l1'), testListener('l2'));
        const ads = await sotw();
        expect((await ads.requestResponseAck({ typeUrl: LDS, names: ['l1'] })).names).toEqual(['l1']);
        expect((await ads.requestResponseAck({ typeUrl: CDS, names: ['a'] })).names).toEqual(['a']);
        await upsert(testCluster('b', 1), testListener('l2', 1));
        await ads.expectNoResponse(quietMs);
      });

      it('remembers names that do not exist yet and pushes them when they appear', async () => {
        const ads = await sotw();
        const noEndpoints = await ads.requestResponseAck({ typeUrl: EDS, names: ['later'] });
        expect(noEndpoints.names).toEqual([]);
        const noClusters = await ads.requestResponseAck({ typeUrl: CDS, names: ['later'] });
        expect(noClusters.names).toEqual([]);
        await upsert(testLoadAssignment('later'));
        expect((await ads.expectResponse({ typeUrl: EDS })).names).toEqual(['later']);
        await upsert(testCluster('later'));
        expect((await ads.expectResponse({ typeUrl: CDS })).names).toEqual(['later']);
      });

      it('carries the complete state in every CDS and LDS response: absence deletes, an empty response deletes all', async () => {
        await upsert(testCluster('a'), testCluster('b'), testCluster('c'), testListener('l1'), testListener('l2'));
        const ads = await sotw();
        await ads.requestResponseAck({ typeUrl: CDS });
        await ads.requestResponseAck({ typeUrl: LDS });
        await upsert(testCluster('b', 1));
        const changed = await ads.expectResponse({ typeUrl: CDS });
        expect(sorted(changed.names)).toEqual(['a', 'b', 'c']);
        ads.ack(changed);
        await remove(CDS, 'c');
        const withoutC = await ads.expectResponse({ typeUrl: CDS });
        expect(sorted(withoutC.names)).toEqual(['a', 'b']);
        ads.ack(withoutC);
        await remove(CDS, 'a', 'b');
        const none = await ads.expectResponse({ typeUrl: CDS });
        expect(none.names).toEqual([]);
        ads.ack(none);
        await remove(LDS, 'l2');
        expect((await ads.expectResponse({ typeUrl: LDS })).names).toEqual(['l1']);
      });

      it('sends EDS and RDS resources one by one: only the changed one', async () => {
        await upsert(testLoadAssignment('a'), testLoadAssignment('b'), testRouteConfiguration('r1'), testRouteConfiguration('r2'));
        const ads = await sotw();
        await ads.requestResponseAck({ typeUrl: EDS, names: ['a', 'b'] });
        await ads.requestResponseAck({ typeUrl: RDS, names: ['r1', 'r2'] });
        await upsert(testLoadAssignment('a', 1));
        expect((await ads.expectResponse({ typeUrl: EDS })).names).toEqual(['a']);
        await upsert(testRouteConfiguration('r2', 1));
        expect((await ads.expectResponse({ typeUrl: RDS })).names).toEqual(['r2']);
      });

      it('never puts the same name twice in one response', async () => {
        await upsert(testCluster('a'), testCluster('b'), testLoadAssignment('x'), testLoadAssignment('y'));
        const ads = await sotw();
        // The client rejects a response that repeats a name; these requests name resources twice.
        expect(sorted((await ads.requestResponseAck({ typeUrl: EDS, names: ['x', 'x', 'y'] })).names)).toEqual(['x', 'y']);
        expect(sorted((await ads.requestResponseAck({ typeUrl: CDS, names: ['*', 'a', 'a'] })).names)).toEqual(['a', 'b']);
      });

      it('replaces a whole resource on update (no partial update)', async () => {
        await upsert(testLoadAssignment('a'));
        const ads = await sotw();
        await ads.requestResponseAck({ typeUrl: EDS, names: ['a'] });
        const replacement = testLoadAssignment('a', 7);
        await upsert(replacement);
        expect((await ads.expectResponse({ typeUrl: EDS })).resources.get('a')).toEqual(replacement.bytes);
      });

      it('after a CDS push, pushes EDS for the changed clusters even when their endpoints did not change', async () => {
        await upsert(testCluster('a'), testLoadAssignment(edsNameOf('a')));
        const ads = await sotw();
        await ads.requestResponseAck({ typeUrl: CDS });
        const endpoints = await ads.requestResponseAck({ typeUrl: EDS, names: [edsNameOf('a')] });
        await upsert(testCluster('a', 1));
        ads.ack(await ads.expectResponse({ typeUrl: CDS }));
        const warming = await ads.expectResponse({ typeUrl: EDS });
        expect(warming.resources.get(edsNameOf('a'))).toEqual(endpoints.resources.get(edsNameOf('a')));
      });

      it('orders one push CDS, EDS, LDS, RDS', async () => {
        await upsert(testCluster('a'), testLoadAssignment(edsNameOf('a')), testListener('l'), testRouteConfiguration('r'));
        const ads = await sotw();
        await ads.requestResponseAck({ typeUrl: CDS });
        await ads.requestResponseAck({ typeUrl: EDS, names: [edsNameOf('a')] });
        await ads.requestResponseAck({ typeUrl: LDS });
        await ads.requestResponseAck({ typeUrl: RDS, names: ['r'] });
        await upsert(testRouteConfiguration('r', 1), testListener('l', 1), testLoadAssignment(edsNameOf('a'), 1), testCluster('a', 1));
        for (const typeUrl of [CDS, EDS, LDS, RDS]) ads.ack(await ads.expectResponse({ typeUrl }));
        await ads.expectNoResponse(quietMs);
      });

      it('answers a client that asks for a removed route again after a restart, and serves it if it returns (envoy#17980)', async () => {
        const ads = await sotw();
        expect((await ads.requestResponseAck({ typeUrl: RDS, names: ['gone'] })).names).toEqual([]);
        await upsert(testRouteConfiguration('gone'));
        expect((await ads.expectResponse({ typeUrl: RDS })).names).toEqual(['gone']);
      });
    });

    describe('delta (DeltaAggregatedResources)', () => {
      it('serves delta ADS: resources with versions, a nonce and a system version', async () => {
        await upsert(testCluster('a'), testCluster('b'));
        const ads = await delta();
        ads.request({ typeUrl: CDS, subscribe: ['*'] });
        const response = await ads.expectResponse({ typeUrl: CDS });
        expect(sorted(response.names)).toEqual(['a', 'b']);
        for (const version of response.versions.values()) expect(version).not.toBe('');
        expect(response.nonce).not.toBe('');
        expect(response.removed).toEqual([]);
      });

      it('ignores an unknown type URL without breaking the stream', async () => {
        await upsert(testCluster('a'));
        const ads = await delta();
        ads.request({ typeUrl: UNKNOWN_TYPE_URL, subscribe: ['anything'] });
        await ads.expectNoResponse(quietMs);
        expect((await ads.requestResponseAck({ typeUrl: CDS, subscribe: ['*'] })).names).toEqual(['a']);
      });

      it('takes the node from the first request only: later requests without node are served', async () => {
        await upsert(testCluster('a'), testLoadAssignment('x'));
        const ads = await delta();
        await ads.requestResponseAck({ typeUrl: CDS, subscribe: ['*'] });
        ads.request({ typeUrl: EDS, subscribe: ['x'], node: null });
        expect((await ads.expectResponse({ typeUrl: EDS })).names).toEqual(['x']);
      });

      it('tells a NACK by error_detail and keeps pushing after it', async () => {
        await upsert(testLoadAssignment('x'));
        const ads = await delta();
        ads.request({ typeUrl: EDS, subscribe: ['x'] });
        ads.nack(await ads.expectResponse({ typeUrl: EDS }), 'rejected by the conformance suite');
        await ads.expectNoResponse(quietMs);
        await upsert(testLoadAssignment('x', 1));
        expect((await ads.expectResponse({ typeUrl: EDS })).names).toEqual(['x']);
      });

      it('honours a subscription change carried by a stale nonce', async () => {
        await upsert(testLoadAssignment('a'), testLoadAssignment('b'));
        const ads = await delta();
        const first = await ads.requestResponseAck({ typeUrl: EDS, subscribe: ['a'] });
        await upsert(testLoadAssignment('a', 1));
        await ads.expectResponse({ typeUrl: EDS });
        ads.request({ typeUrl: EDS, subscribe: ['b'], responseNonce: first.nonce });
        expect((await ads.expectResponse({ typeUrl: EDS })).names).toEqual(['b']);
      });

      it('sends a resource again when the client subscribes to a name it already has', async () => {
        await upsert(testLoadAssignment('a'));
        const ads = await delta();
        const first = await ads.requestResponseAck({ typeUrl: EDS, subscribe: ['a'] });
        ads.request({ typeUrl: EDS, subscribe: ['a'] });
        const again = await ads.expectResponse({ typeUrl: EDS });
        expect(again.resources.get('a')).toEqual(first.resources.get('a'));
      });

      it('ignores an unsubscribe of a name never subscribed', async () => {
        await upsert(testLoadAssignment('a'));
        const ads = await delta();
        await ads.requestResponseAck({ typeUrl: EDS, subscribe: ['a'] });
        ads.request({ typeUrl: EDS, unsubscribe: ['never-subscribed'] });
        await ads.expectNoResponse(quietMs);
        await upsert(testLoadAssignment('a', 1));
        expect((await ads.expectResponse({ typeUrl: EDS })).names).toEqual(['a']);
      });

      it('treats an empty first subscription to CDS or LDS as the wildcard, and `*` as the wildcard on any type', async () => {
        await upsert(testCluster('a'), testCluster('b'), testLoadAssignment('x'), testLoadAssignment('y'));
        const ads = await delta();
        expect(sorted((await ads.requestResponseAck({ typeUrl: CDS })).names)).toEqual(['a', 'b']);
        expect(sorted((await ads.requestResponseAck({ typeUrl: EDS, subscribe: ['*'] })).names)).toEqual(['x', 'y']);
        await upsert(testCluster('c'));
        expect((await ads.expectResponse({ typeUrl: CDS })).names).toEqual(['c']);
      });

      it('reports subscribed names that do not exist in removed_resources and sends them when they appear', async () => {
        const ads = await delta();
        ads.request({ typeUrl: EDS, subscribe: ['later'] });
        const missing = await ads.expectResponse({ typeUrl: EDS });
        expect(missing.names).toEqual([]);
        expect(missing.removed).toEqual(['later']);
        ads.ack(missing);
        await upsert(testLoadAssignment('later'));
        expect((await ads.expectResponse({ typeUrl: EDS })).names).toEqual(['later']);
      });

      it('reports deleted resources in removed_resources', async () => {
        await upsert(testCluster('a'), testCluster('b'));
        const ads = await delta();
        await ads.requestResponseAck({ typeUrl: CDS, subscribe: ['*'] });
        await remove(CDS, 'b');
        const removal = await ads.expectResponse({ typeUrl: CDS });
        expect(removal.names).toEqual([]);
        expect(removal.removed).toEqual(['b']);
      });

      it('sends a name again when a client on `*` and that name unsubscribes from the name', async () => {
        await upsert(testCluster('a'), testCluster('b'));
        const ads = await delta();
        await ads.requestResponseAck({ typeUrl: CDS, subscribe: ['*', 'a'] });
        ads.request({ typeUrl: CDS, unsubscribe: ['a'] });
        const resent = await ads.expectResponse({ typeUrl: CDS });
        expect([...resent.names, ...resent.removed]).toEqual(['a']);
      });

      it('on reconnect, sends what changed and removes what is gone from initial_resource_versions (envoy#20699)', async () => {
        await upsert(testCluster('a'), testCluster('b'), testCluster('c'));
        const before = await delta();
        const held = await before.requestResponseAck({ typeUrl: CDS, subscribe: ['*'] });
        before.close();
        await upsert(testCluster('b', 1));
        await remove(CDS, 'c');
        const after = await delta();
        after.request({ typeUrl: CDS, subscribe: ['*'], initialResourceVersions: Object.fromEntries(held.versions) });
        const answer = await after.expectResponse({ typeUrl: CDS });
        expect(answer.names).toContain('b');
        expect(answer.versions.get('b')).not.toBe(held.versions.get('b'));
        expect(answer.removed).toEqual(['c']);
        if (skipsUnchangedOnDeltaReconnect) expect(answer.names).toEqual(['b']);
      });

      it('serves a reconnect that names CDS resources explicitly instead of the wildcard (envoy#16063)', async () => {
        await upsert(testCluster('a'), testCluster('b'), testCluster('c'));
        const before = await delta();
        const held = await before.requestResponseAck({ typeUrl: CDS, subscribe: ['*'] });
        before.close();
        await upsert(testCluster('b', 1), testCluster('c', 1));
        const after = await delta();
        after.request({
          typeUrl: CDS,
          subscribe: ['a', 'b'],
          initialResourceVersions: { a: held.versions.get('a')!, b: held.versions.get('b')! },
        });
        const answer = await after.expectResponse({ typeUrl: CDS });
        expect(answer.names).toContain('b');
        expect(answer.names).not.toContain('c');
        if (skipsUnchangedOnDeltaReconnect) expect(answer.names).toEqual(['b']);
        expect(answer.removed).toEqual([]);
      });

      it('never puts the same name twice in one response', async () => {
        await upsert(testCluster('a'), testCluster('b'));
        const ads = await delta();
        expect(sorted((await ads.requestResponseAck({ typeUrl: CDS, subscribe: ['a', 'a', '*'] })).names)).toEqual(['a', 'b']);
      });

      it('sends only the resources that changed and nothing when nothing did', async () => {
        await upsert(testCluster('a'), testCluster('b'), testCluster('c'));
        const ads = await delta();
        await ads.requestResponseAck({ typeUrl: CDS, subscribe: ['*'] });
        await upsert(testCluster('a'), testCluster('b'), testCluster('c'));
        await ads.expectNoResponse(quietMs);
        await upsert(testCluster('b', 1));
        const changed = await ads.expectResponse({ typeUrl: CDS });
        expect(changed.names).toEqual(['b']);
        expect(changed.removed).toEqual([]);
      });

      it('after a CDS push, pushes EDS for the changed clusters even when their endpoints did not change', async () => {
        await upsert(testCluster('a'), testLoadAssignment(edsNameOf('a')));
        const ads = await delta();
        await ads.requestResponseAck({ typeUrl: CDS, subscribe: ['*'] });
        const endpoints = await ads.requestResponseAck({ typeUrl: EDS, subscribe: [edsNameOf('a')] });
        await upsert(testCluster('a', 1));
        ads.ack(await ads.expectResponse({ typeUrl: CDS }));
        const warming = await ads.expectResponse({ typeUrl: EDS });
        expect(warming.resources.get(edsNameOf('a'))).toEqual(endpoints.resources.get(edsNameOf('a')));
      });

      it('orders one push CDS, EDS, LDS, RDS', async () => {
        await upsert(testCluster('a'), testLoadAssignment(edsNameOf('a')), testListener('l'), testRouteConfiguration('r'));
        const ads = await delta();
        await ads.requestResponseAck({ typeUrl: CDS, subscribe: ['*'] });
        await ads.requestResponseAck({ typeUrl: EDS, subscribe: [edsNameOf('a')] });
        await ads.requestResponseAck({ typeUrl: LDS, subscribe: ['*'] });
        await ads.requestResponseAck({ typeUrl: RDS, subscribe: ['r'] });
        await upsert(testRouteConfiguration('r', 1), testListener('l', 1), testLoadAssignment(edsNameOf('a'), 1), testCluster('a', 1));
        for (const typeUrl of [CDS, EDS, LDS, RDS]) ads.ack(await ads.expectResponse({ typeUrl }));
        await ads.expectNoResponse(quietMs);
      });
    });
  });
}
