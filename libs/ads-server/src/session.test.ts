/**
 * The per-stream state machine on a fake transport and a manual clock: node capture, ACK/NACK
 * bookkeeping, coalescing, a full write buffer, readiness, warming, type handlers, versions.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { TypeUrl } from '@skiff/protos';
import { Cluster_DiscoveryType, ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { edsNameOf, testCluster, testListener, testLoadAssignment, testRouteConfiguration } from '@skiff/xds-conformance';
import { describe, expect, it } from 'vitest';
import { syncStatusOf, type AdsAckEvent, type AdsNackEvent, type AdsRequestEvent, type AdsResponseEvent } from './events.js';
import { EMPTY_PROXY_NODE } from './node.js';
import type { ProxyProfile, ResourceProvider } from './provider.js';
import { servedResource } from './served-resource.js';
import { deliverChanges, GrpcStatus } from './session.js';
import { StaticResourceProvider } from './static-provider.js';
import { SessionHarness } from './test-support/harness.js';

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.ClusterLoadAssignment;
const LDS = TypeUrl.Listener;
const RDS = TypeUrl.RouteConfiguration;
const SIDECAR_NODE = { id: 'sidecar~10.0.0.1~app-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop', ISTIO_VERSION: '1.30.0' } };

function providerWith(...resources: ReturnType<typeof testCluster>[]): StaticResourceProvider {
  const provider = new StaticResourceProvider();
  provider.upsert(resources);
  return provider;
}

function typeStatus(harness: SessionHarness, typeUrl: string) {
  const status = harness.session.status().types.find((type) => type.typeUrl === typeUrl);
  if (status === undefined) throw new Error(`no status for ${typeUrl}`);
  return status;
}

describe('node identity', () => {
  it('takes the node and profile from the first request and ignores nodes on later requests', () => {
    const harness = new SessionHarness({ provider: providerWith(testCluster('a')) });
    harness.sotw({ typeUrl: CDS, node: SIDECAR_NODE });
    harness.sotw({ typeUrl: EDS, resourceNames: ['x'], node: { id: 'router~10.0.0.9~gw.other~other.svc.cluster.local', metadata: { NAMESPACE: 'other' } } });
    expect(harness.session.node.id).toBe(SIDECAR_NODE.id);
    expect(harness.session.profile).toEqual<ProxyProfile>({ namespace: 'shop', flavor: 'envoy'});
  });

  it("refuses a first request without a node, or with an empty node id, with istiod's INVALID_ARGUMENT", () => {
    for (const node of [undefined, { id: '' }]) {
      const refusals: string[] = [];
      const harness = new SessionHarness({ provider: providerWith(testCluster('a')), callbacks: { onRefused: (_, refusal) => refusals.push(refusal.reason) } });
      harness.sotw({ typeUrl: CDS, node });
      harness.tick();
      expect(harness.sink.ended).toEqual({ code: GrpcStatus.INVALID_ARGUMENT, details: 'missing node information' });
      expect(harness.session.node).toBe(EMPTY_PROXY_NODE);
      expect(harness.sink.written).toHaveLength(0);
      expect(refusals).toEqual(['missing_node']);
    }
  });

  it('ends the stream with INVALID_ARGUMENT when the provider cannot profile the node', () => {
    const provider = new StaticResourceProvider({
      profileOf: () => {
        throw new Error('no namespace');
      },
    });
    const harness = new SessionHarness({ provider });
    harness.sotw({ typeUrl: CDS, node: { id: 'x' } });
    expect(harness.sink.ended).toEqual({ code: GrpcStatus.INVALID_ARGUMENT, details: 'cannot serve node "x": no namespace' });
    harness.sotw({ typeUrl: CDS });
    harness.tick();
    expect(harness.sink.written).toHaveLength(0);
  });
});

describe('state of the world: ACK, NACK and nonces', () => {
  it('reports NOT_SENT, STALE, SYNCED and ERROR as istiod does, and clears the error on the next ACK', () => {
    const provider = providerWith(testLoadAssignment('x'));
    const harness = new SessionHarness({ provider });
    harness.sotw({ typeUrl: EDS, resourceNames: ['x'], node: SIDECAR_NODE });
    expect(syncStatusOf(typeStatus(harness, EDS))).toBe('NOT_SENT');
    harness.tick();
    const [first] = harness.sink.takeSotw();
    expect(syncStatusOf(typeStatus(harness, EDS))).toBe('STALE');
    harness.sotw({ typeUrl: EDS, resourceNames: ['x'], versionInfo: first!.message.versionInfo, responseNonce: first!.message.nonce });
    expect(typeStatus(harness, EDS)).toMatchObject({ sentNonce: first!.message.nonce, ackedNonce: first!.message.nonce, ackedVersion: first!.message.versionInfo });
    expect(syncStatusOf(typeStatus(harness, EDS))).toBe('SYNCED');

    provider.upsert([testLoadAssignment('x', 1)]);
    harness.clock.advance(10);
    const [second] = harness.sink.takeSotw();
    harness.sotw({
      typeUrl: EDS,
      resourceNames: ['x'],
      versionInfo: first!.message.versionInfo,
      responseNonce: second!.message.nonce,
      errorDetail: { code: 14, message: 'address is not a valid IPv4 or IPv6 address: localhost' },
    });
    expect(typeStatus(harness, EDS).lastNack).toMatchObject({
      nonce: second!.message.nonce,
      versionInfo: first!.message.versionInfo,
      code: 14,
      message: 'address is not a valid IPv4 or IPv6 address: localhost',
    });
    expect(syncStatusOf(typeStatus(harness, EDS))).toBe('ERROR');
    harness.clock.advance(100);
    expect(harness.sink.written).toHaveLength(0);

    provider.upsert([testLoadAssignment('x', 2)]);
    harness.clock.advance(10);
    const [third] = harness.sink.takeSotw();
    harness.sotw({ typeUrl: EDS, resourceNames: ['x'], versionInfo: third!.message.versionInfo, responseNonce: third!.message.nonce });
    expect(typeStatus(harness, EDS).lastNack).toBeUndefined();
    expect(syncStatusOf(typeStatus(harness, EDS))).toBe('SYNCED');
  });

  it('changes the sync revision whenever the sync state in the status changes, and not otherwise', () => {
    const provider = providerWith(testLoadAssignment('x'), testCluster('a'));
    const harness = new SessionHarness({ provider });
    // What a fleet report reads of the status (proxySyncStatus in @skiff/gateway).
    const syncState = () => {
      const status = harness.session.status();
      const types = status.types.map(({ typeUrl, sentNonce, sentVersion, sentAt, ackedNonce, ackedVersion, ackedAt, lastNack }) => ({ typeUrl, sentNonce, sentVersion, sentAt, ackedNonce, ackedVersion, ackedAt, lastNack }));
      return JSON.stringify({ node: status.node, profile: status.profile, types });
    };
    let seen = { revision: harness.session.syncRevision, state: syncState() };
    const step = (action: () => void, expectChange: boolean) => {
      action();
      const now = { revision: harness.session.syncRevision, state: syncState() };
      expect(now.state !== seen.state).toBe(expectChange);
      expect(now.revision !== seen.revision).toBe(expectChange);
      seen = now;
    };
    step(() => harness.sotw({ typeUrl: EDS, resourceNames: ['x'], node: SIDECAR_NODE }), true);
    step(() => harness.tick(), true);
    const [first] = harness.sink.takeSotw();
    step(() => harness.clock.advance(100), false);
    step(() => harness.sotw({ typeUrl: EDS, resourceNames: ['x'], versionInfo: first!.message.versionInfo, responseNonce: first!.message.nonce }), true);
    step(() => {
      provider.upsert([testCluster('b')]);
      harness.clock.advance(100);
    }, false);
    step(() => {
      provider.upsert([testLoadAssignment('x', 1)]);
      harness.clock.advance(10);
    }, true);
    const [second] = harness.sink.takeSotw();
    step(() => harness.sotw({ typeUrl: EDS, resourceNames: ['x'], versionInfo: first!.message.versionInfo, responseNonce: second!.message.nonce, errorDetail: { code: 3, message: 'rejected' } }), true);
    step(() => harness.sotw({ typeUrl: CDS }), true);
    step(() => harness.tick(), true);
  });

  it('reads a request with the latest nonce and another version as an ACK, never as a NACK', () => {
    const acks: AdsAckEvent[] = [];
    const nacks: AdsNackEvent[] = [];
    const harness = new SessionHarness({ provider: providerWith(testLoadAssignment('x')), callbacks: { onAck: (_, ack) => acks.push(ack), onNack: (_, nack) => nacks.push(nack) } });
    harness.sotw({ typeUrl: EDS, resourceNames: ['x'] });
    harness.tick();
    const [response] = harness.sink.takeSotw();
    harness.clock.advance(7);
    harness.sotw({ typeUrl: EDS, resourceNames: ['x'], versionInfo: 'something-else', responseNonce: response!.message.nonce });
    expect(nacks).toEqual([]);
    expect(acks).toEqual([{ typeUrl: EDS, nonce: response!.message.nonce, versionInfo: 'something-else', latencyMs: 7 }]);
  });

  it('ignores a request with a stale nonce entirely, subscription included', () => {
    const requests: AdsRequestEvent[] = [];
    const provider = providerWith(testLoadAssignment('a'), testLoadAssignment('b'));
    const harness = new SessionHarness({ provider, callbacks: { onRequest: (_, request) => requests.push(request) } });
    harness.sotw({ typeUrl: EDS, resourceNames: ['a'] });
    harness.tick();
    const [first] = harness.sink.takeSotw();
    provider.upsert([testLoadAssignment('a', 1)]);
    harness.clock.advance(10);
    harness.sink.takeSotw();
    harness.sotw({ typeUrl: EDS, resourceNames: ['a', 'b'], responseNonce: first!.message.nonce });
    harness.clock.advance(50);
    expect(harness.sink.written).toHaveLength(0);
    expect(typeStatus(harness, EDS).names).toEqual(['a']);
    expect(requests.map((request) => request.kind)).toEqual(['initial', 'stale']);
  });

  it('treats a nonce the stream never sent as a reconnect and answers it in full', () => {
    const harness = new SessionHarness({ provider: providerWith(testCluster('a'), testCluster('b')) });
    harness.sotw({ typeUrl: CDS, versionInfo: 'from-another-replica', responseNonce: 'nonce-of-an-old-stream' });
    harness.tick();
    expect(harness.sink.takeSotw().map((r) => r.names.sort())).toEqual([['a', 'b']]);
  });

  it('gives identical content the same version_info on every stream, whatever the order it was built in', () => {
    const one = new SessionHarness({ provider: providerWith(testCluster('a'), testCluster('b')) });
    const two = new SessionHarness({ provider: providerWith(testCluster('b'), testCluster('a')) });
    for (const harness of [one, two]) {
      harness.sotw({ typeUrl: CDS });
      harness.tick();
    }
    const [fromOne] = one.sink.takeSotw();
    const [fromTwo] = two.sink.takeSotw();
    expect(fromOne!.message.versionInfo).toMatch(/^[0-9a-f]{16}$/);
    expect(fromOne!.message.versionInfo).toBe(fromTwo!.message.versionInfo);
  });
});

describe('coalescing', () => {
  it('coalesces a burst within the debounce window into one push of the latest version', () => {
    const provider = providerWith(testLoadAssignment('x'));
    const harness = new SessionHarness({ provider, debounceMs: 10 });
    harness.sotw({ typeUrl: EDS, resourceNames: ['x'] });
    harness.tick();
    harness.sink.takeSotw();
    provider.upsert([testLoadAssignment('x', 1)]);
    harness.clock.advance(4);
    provider.upsert([testLoadAssignment('x', 2)]);
    harness.clock.advance(5);
    expect(harness.sink.written).toHaveLength(0);
    harness.clock.advance(1);
    const pushes = harness.sink.takeSotw();
    expect(pushes).toHaveLength(1);
    expect(pushes[0]!.message.resources[0]!.value).toEqual(testLoadAssignment('x', 2).bytes);
  });

  it('keeps the window from the first change of a burst, so steady churn cannot starve a proxy', () => {
    const provider = providerWith(testLoadAssignment('x'));
    const harness = new SessionHarness({ provider, debounceMs: 10 });
    harness.sotw({ typeUrl: EDS, resourceNames: ['x'] });
    harness.tick();
    harness.sink.takeSotw();
    for (let revision = 1; revision <= 5; revision += 1) {
      provider.upsert([testLoadAssignment('x', revision)]);
      harness.clock.advance(3);
    }
    // Changes at 0, 3, 6 and 9 ms went out at 10 ms; the one at 12 ms waits for its own window.
    expect(harness.sink.takeSotw().map((r) => r.message.resources[0]!.value)).toEqual([testLoadAssignment('x', 4).bytes]);
    harness.clock.advance(7);
    expect(harness.sink.takeSotw().map((r) => r.message.resources[0]!.value)).toEqual([testLoadAssignment('x', 5).bytes]);
  });

  it('debounces each type by its own setting', () => {
    const provider = providerWith(testCluster('a'), testLoadAssignment(edsNameOf('b')));
    const harness = new SessionHarness({ provider, debounceMs: 50, debounceMsByType: { [EDS]: 2 } });
    harness.sotw({ typeUrl: CDS });
    harness.sotw({ typeUrl: EDS, resourceNames: [edsNameOf('b')] });
    harness.tick();
    harness.sink.takeSotw();
    provider.upsert([testCluster('a', 1), testLoadAssignment(edsNameOf('b'), 1)]);
    harness.clock.advance(2);
    expect(harness.sink.takeSotw().map((r) => r.message.typeUrl)).toEqual([EDS]);
    harness.clock.advance(48);
    expect(harness.sink.takeSotw().map((r) => r.message.typeUrl)).toEqual([CDS]);
  });

  it('answers requests at once and reports what triggered each response and since when', () => {
    const responses: AdsResponseEvent[] = [];
    const provider = providerWith(testLoadAssignment('x'));
    const harness = new SessionHarness({ provider, callbacks: { onResponse: (_, response) => responses.push(response) } });
    harness.sotw({ typeUrl: EDS, resourceNames: ['x'] });
    harness.tick();
    provider.upsert([testLoadAssignment('x', 1)]);
    harness.clock.advance(10);
    expect(responses.map((r) => [r.trigger, r.resourceCount])).toEqual([
      ['request', 1],
      ['change', 1],
    ]);
    expect(responses[1]!.changeSince).toBeTypeOf('number');
    expect(responses[1]!.byteLength).toBe(harness.sink.written[1]!.length);
  });

  it('keeps serving when a callback throws', () => {
    const harness = new SessionHarness({
      provider: providerWith(testCluster('a')),
      callbacks: {
        onResponse: () => {
          throw new Error('metrics broke');
        },
      },
    });
    harness.sotw({ typeUrl: CDS });
    harness.tick();
    expect(harness.sink.takeSotw()).toHaveLength(1);
    expect(harness.sink.ended).toBeUndefined();
  });
});

describe('a slow stream', () => {
  it('stops writing when the buffer is full and, on drain, sends the latest state once instead of a backlog', () => {
    const provider = providerWith(testCluster('a'), testLoadAssignment('x'), testLoadAssignment('y'));
    const harness = new SessionHarness({ provider, debounceMs: 1 });
    harness.sotw({ typeUrl: CDS });
    harness.sotw({ typeUrl: EDS, resourceNames: ['x', 'y'] });
    harness.tick();
    harness.sink.takeSotw();

    harness.sink.accepting = false;
    provider.upsert([testLoadAssignment('x', 1)]);
    harness.clock.advance(1);
    expect(harness.sink.takeSotw().map((r) => r.names)).toEqual([['x']]);
    for (let revision = 2; revision <= 20; revision += 1) {
      provider.upsert([testLoadAssignment('x', revision), testLoadAssignment('y', revision), testCluster('a', revision)]);
      harness.clock.advance(1);
    }
    expect(harness.sink.written).toHaveLength(0);

    harness.sink.accepting = true;
    harness.session.drained();
    const after = harness.sink.takeSotw();
    expect(after.map((r) => r.message.typeUrl)).toEqual([CDS, EDS]);
    const [clusters, endpoints] = after;
    expect(clusters!.message.resources[0]!.value).toEqual(testCluster('a', 20).bytes);
    expect(endpoints!.names.sort()).toEqual(['x', 'y']);
    expect(endpoints!.message.resources.map((any) => any.value)).toEqual(
      expect.arrayContaining([testLoadAssignment('x', 20).bytes, testLoadAssignment('y', 20).bytes]),
    );
  });
});

describe('readiness of the provider', () => {
  it('holds the first requests until the provider is ready, then answers them', () => {
    const provider = new StaticResourceProvider({ ready: false });
    const harness = new SessionHarness({ provider });
    harness.sotw({ typeUrl: CDS });
    harness.tick();
    expect(harness.sink.written).toHaveLength(0);
    expect(harness.waiting.has(harness.session)).toBe(true);
    provider.upsert([testCluster('a')]);
    provider.setReady(true);
    expect(harness.session.retryWhenReady()).toBe(false);
    expect(harness.sink.takeSotw().map((r) => r.names)).toEqual([['a']]);
  });

  it("asks about the stream's own proxy: a proxy the provider is not ready for waits while another is served", () => {
    const readyFlavors = new Set(['envoy']);
    class PerProxyProvider extends StaticResourceProvider {
      override isReady(profile?: ProxyProfile): boolean {
        return profile === undefined || readyFlavors.has(profile.flavor);
      }
    }
    const provider = new PerProxyProvider();
    provider.upsert([testCluster('a')]);
    const envoy = new SessionHarness({ provider });
    envoy.sotw({ typeUrl: CDS });
    envoy.tick();
    expect(envoy.sink.takeSotw().map((r) => r.names)).toEqual([['a']]);
    const grpc = new SessionHarness({ provider });
    grpc.sotw({ typeUrl: CDS, node: { id: 'sidecar~127.0.0.2~client.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', GENERATOR: 'grpc' } } });
    grpc.tick();
    expect(grpc.sink.written).toHaveLength(0);
    expect(grpc.waiting.has(grpc.session)).toBe(true);
    readyFlavors.add('grpc');
    expect(grpc.session.retryWhenReady()).toBe(false);
    expect(grpc.sink.takeSotw().map((r) => r.names)).toEqual([['a']]);
  });

  it('ends a stream whose first request waited longer than the bound with UNAVAILABLE', () => {
    const harness = new SessionHarness({ provider: new StaticResourceProvider({ ready: false }), readyWaitMs: 1_000 });
    harness.sotw({ typeUrl: CDS });
    harness.tick();
    harness.clock.advance(999);
    expect(harness.session.retryWhenReady()).toBe(true);
    harness.clock.advance(1);
    expect(harness.session.retryWhenReady()).toBe(false);
    expect(harness.sink.ended?.code).toBe(GrpcStatus.UNAVAILABLE);
  });

  it('pauses pushes while the provider is not ready, without ending a stream that was answered', () => {
    const provider = providerWith(testLoadAssignment('x'));
    const harness = new SessionHarness({ provider, readyWaitMs: 100 });
    harness.sotw({ typeUrl: EDS, resourceNames: ['x'] });
    harness.tick();
    harness.sink.takeSotw();
    provider.setReady(false);
    provider.upsert([testLoadAssignment('x', 1)]);
    harness.clock.advance(1_000);
    expect(harness.session.retryWhenReady()).toBe(true);
    expect(harness.sink.written).toHaveLength(0);
    expect(harness.sink.ended).toBeUndefined();
    provider.setReady(true);
    harness.session.retryWhenReady();
    expect(harness.sink.takeSotw()[0]!.message.resources[0]!.value).toEqual(testLoadAssignment('x', 1).bytes);
  });
});

describe('changes that concern some proxies only', () => {
  it("reaches a session only if the change concerns its proxy's profile", () => {
    const inner = providerWith(testCluster('a'));
    // Changes reach the session only as the test delivers them.
    const provider: ResourceProvider = { profileOf: (node) => inner.profileOf(node), viewFor: (profile) => inner.viewFor(profile), onChange: () => () => undefined, isReady: () => true };
    const harness = new SessionHarness({ provider });
    harness.sotw({ typeUrl: CDS });
    harness.tick();
    harness.sink.takeSotw();
    inner.upsert([testCluster('a', 1)]);
    deliverChanges(harness.index, [{ typeUrl: CDS, names: ['a'], concerns: (profile) => profile.flavor === 'grpc' }]);
    harness.clock.advance(1_000);
    expect(harness.sink.written).toHaveLength(0);
    deliverChanges(harness.index, [{ typeUrl: CDS, names: ['a'], concerns: (profile) => profile.flavor === 'envoy' }]);
    harness.clock.advance(1_000);
    expect(harness.sink.takeSotw()[0]!.message.resources[0]!.value).toEqual(testCluster('a', 1).bytes);
  });
});

describe('warming: endpoints after clusters', () => {
  it('resends the endpoints of a changed EDS cluster right after it, and of no other cluster', () => {
    const provider = providerWith(testCluster('a'), testCluster('b'), testLoadAssignment(edsNameOf('a')), testLoadAssignment(edsNameOf('b')));
    const harness = new SessionHarness({ provider });
    harness.sotw({ typeUrl: CDS });
    harness.sotw({ typeUrl: EDS, resourceNames: [edsNameOf('a'), edsNameOf('b')] });
    harness.tick();
    harness.sink.takeSotw();
    provider.upsert([testCluster('a', 1)]);
    harness.clock.advance(10);
    const pushes = harness.sink.takeSotw();
    expect(pushes.map((r) => [r.message.typeUrl, r.names.sort()])).toEqual([
      [CDS, ['a', 'b']],
      [EDS, [edsNameOf('a')]],
    ]);
  });

  it('uses the cluster name when eds_cluster_config has no service_name, and nothing for other cluster types', () => {
    const plainCluster = (connectSeconds: bigint) =>
      toBinary(
        ClusterSchema,
        create(ClusterSchema, {
          name: 'plain',
          clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
          edsClusterConfig: { edsConfig: { configSourceSpecifier: { case: 'ads', value: {} } } },
          connectTimeout: { seconds: connectSeconds },
        }),
      );
    const staticCluster = (connectSeconds: bigint) =>
      toBinary(
        ClusterSchema,
        create(ClusterSchema, { name: 'static', clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.STATIC }, connectTimeout: { seconds: connectSeconds } }),
      );
    const provider = new StaticResourceProvider();
    provider.upsert([
      { typeUrl: CDS, name: 'plain', bytes: plainCluster(1n) },
      { typeUrl: CDS, name: 'static', bytes: staticCluster(1n) },
      testLoadAssignment('plain'),
      testLoadAssignment('static'),
    ]);
    const harness = new SessionHarness({ provider });
    harness.sotw({ typeUrl: CDS });
    harness.sotw({ typeUrl: EDS, resourceNames: ['plain', 'static'] });
    harness.tick();
    harness.sink.takeSotw();
    provider.upsert([
      { typeUrl: CDS, name: 'plain', bytes: plainCluster(2n) },
      { typeUrl: CDS, name: 'static', bytes: staticCluster(2n) },
    ]);
    harness.clock.advance(10);
    expect(harness.sink.takeSotw().map((r) => [r.message.typeUrl, r.names.sort()])).toEqual([
      [CDS, ['plain', 'static']],
      [EDS, ['plain']],
    ]);
  });
});

describe('delta', () => {
  it('reports a resource that stops being visible in removed_resources and sends it when it is visible again', () => {
    let hidden = false;
    const provider = new StaticResourceProvider({ isVisible: (_profile, _typeUrl, name) => !(hidden && name === 'b') });
    provider.upsert([testCluster('a'), testCluster('b')]);
    const harness = new SessionHarness({ provider, mode: 'delta' });
    harness.delta({ typeUrl: CDS, resourceNamesSubscribe: ['*'] });
    harness.tick();
    expect(harness.sink.takeDelta().map((r) => r.names.sort())).toEqual([['a', 'b']]);
    hidden = true;
    provider.touch(CDS, ['b']);
    harness.clock.advance(10);
    expect(harness.sink.takeDelta().map((r) => [r.names, r.removed])).toEqual([[[], ['b']]]);
    hidden = false;
    provider.touch(CDS, ['b']);
    harness.clock.advance(10);
    expect(harness.sink.takeDelta().map((r) => [r.names, r.removed])).toEqual([[['b'], []]]);
  });

  it('reports a missing explicitly subscribed name once, not on every change', () => {
    const provider = providerWith(testLoadAssignment('x'));
    const harness = new SessionHarness({ provider, mode: 'delta' });
    harness.delta({ typeUrl: EDS, resourceNamesSubscribe: ['x', 'missing'] });
    harness.tick();
    expect(harness.sink.takeDelta().map((r) => [r.names, r.removed])).toEqual([[['x'], ['missing']]]);
    provider.touch(EDS, ['missing']);
    harness.clock.advance(10);
    expect(harness.sink.written).toHaveLength(0);
  });

  it('records ACKs of the newest response only, and every NACK', () => {
    const provider = providerWith(testLoadAssignment('x'));
    const harness = new SessionHarness({ provider, mode: 'delta' });
    harness.delta({ typeUrl: EDS, resourceNamesSubscribe: ['x'] });
    harness.tick();
    const [first] = harness.sink.takeDelta();
    provider.upsert([testLoadAssignment('x', 1)]);
    harness.clock.advance(10);
    const [second] = harness.sink.takeDelta();
    harness.delta({ typeUrl: EDS, responseNonce: first!.message.nonce });
    expect(typeStatus(harness, EDS).ackedNonce).toBeUndefined();
    harness.delta({ typeUrl: EDS, responseNonce: second!.message.nonce, errorDetail: { code: 3, message: 'bad' } });
    expect(syncStatusOf(typeStatus(harness, EDS))).toBe('ERROR');
    harness.delta({ typeUrl: EDS, responseNonce: second!.message.nonce });
    expect(syncStatusOf(typeStatus(harness, EDS))).toBe('SYNCED');
    expect(typeStatus(harness, EDS).ackedVersion).toBe(second!.message.systemVersionInfo);
  });
});

describe('subscriptions and the index', () => {
  it('keeps the server index in step: wildcard, names, unsubscribes', () => {
    const harness = new SessionHarness({ provider: providerWith(testCluster('a')) });
    harness.sotw({ typeUrl: CDS });
    harness.sotw({ typeUrl: EDS, resourceNames: ['x', 'y'] });
    expect([...harness.index.interested(CDS, ['anything']).keys()]).toEqual([harness.session]);
    expect(harness.index.interested(EDS, ['x', 'y', 'z']).get(harness.session)).toEqual(['x', 'y']);
    harness.tick();
    const [, endpoints] = harness.sink.takeSotw();
    harness.sotw({ typeUrl: EDS, resourceNames: ['y'], responseNonce: endpoints!.message.nonce });
    expect(harness.index.interested(EDS, ['x', 'y']).get(harness.session)).toEqual(['y']);
    harness.index.remove(harness.session, harness.session.subscriptions());
    expect(harness.index.size).toBe(0);
  });

  it('does not answer an unsubscribe from names of a per-name type', () => {
    const harness = new SessionHarness({ provider: providerWith(testLoadAssignment('x'), testLoadAssignment('y')) });
    harness.sotw({ typeUrl: EDS, resourceNames: ['x', 'y'] });
    harness.tick();
    const [response] = harness.sink.takeSotw();
    harness.sotw({ typeUrl: EDS, resourceNames: ['x'], versionInfo: response!.message.versionInfo, responseNonce: response!.message.nonce });
    harness.tick();
    expect(harness.sink.written).toHaveLength(0);
    expect(typeStatus(harness, EDS).resourceCount).toBe(1);
  });
});

describe('type handlers', () => {
  const DEBUG_TYPE = 'istio.io/debug/syncz';

  it('answers requests of a registered type from the handler, not ACKs, each name once', () => {
    const calls: string[][] = [];
    const handler = (_session: unknown, request: { resourceNames: readonly string[] }) => {
      calls.push([...request.resourceNames]);
      return [servedResource(DEBUG_TYPE, 'p1', new Uint8Array([1])), servedResource(DEBUG_TYPE, 'p1', new Uint8Array([2])), servedResource(DEBUG_TYPE, 'p2', new Uint8Array([3]))];
    };
    const harness = new SessionHarness({ provider: new StaticResourceProvider({ ready: false }), typeHandlers: new Map([[DEBUG_TYPE, handler]]) });
    harness.sotw({ typeUrl: DEBUG_TYPE });
    harness.tick();
    const [response] = harness.sink.takeSotw();
    // Served while the provider is not ready: debug types do not read the provider.
    expect(response!.message.resources.map((any) => [...any.value])).toEqual([[2], [3]]);
    harness.sotw({ typeUrl: DEBUG_TYPE, responseNonce: response!.message.nonce, versionInfo: response!.message.versionInfo });
    harness.tick();
    expect(harness.sink.written).toHaveLength(0);
    harness.sotw({ typeUrl: DEBUG_TYPE, resourceNames: ['only-this'], responseNonce: response!.message.nonce });
    harness.tick();
    expect(harness.sink.takeSotw()).toHaveLength(1);
    expect(calls).toEqual([[], ['only-this']]);
  });

  it('answers with no resources when the handler throws', () => {
    const harness = new SessionHarness({
      typeHandlers: new Map([
        [
          DEBUG_TYPE,
          () => {
            throw new Error('boom');
          },
        ],
      ]),
    });
    harness.sotw({ typeUrl: DEBUG_TYPE });
    harness.tick();
    expect(harness.sink.takeSotw().map((r) => r.names)).toEqual([[]]);
    expect(harness.sink.ended).toBeUndefined();
  });
});

describe('lifecycle', () => {
  it('leaves no timer behind when closed with pushes pending', () => {
    const provider = providerWith(testListener('l'), testRouteConfiguration('r'));
    const harness = new SessionHarness({ provider, debounceMs: 50 });
    harness.sotw({ typeUrl: LDS });
    harness.sotw({ typeUrl: RDS, resourceNames: ['r'] });
    harness.tick();
    harness.sink.takeSotw();
    provider.upsert([testListener('l', 1)]);
    expect(harness.clock.pendingTimers).toBe(1);
    harness.session.close();
    expect(harness.clock.pendingTimers).toBe(0);
    harness.clock.advance(100);
    expect(harness.sink.written).toHaveLength(0);
  });
});
