/**
 * The translator against both store implementations: builds, coalescing, unchanged output, deletes,
 * undecodable hashes, store outages, stale builds, shared work, and a translator that dies between
 * reading its entries and acknowledging them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectKey } from '@skiff/model';
import { policyScopeFor, scopedVariant, StoreError, type Invalidation, type TranslatorStore } from '@skiff/store';
import { normalizedDestinationRule } from '@skiff/testing';
import { TypeUrl } from '@skiff/protos';
import {
  DyingStore,
  EntryWriter,
  eventually,
  memoryEnvironment,
  redisEnvironment,
  serviceEntry,
  startTranslator,
  storedAndExpected,
  workload,
  type StoreEnvironment,
} from './test-support/harness.js';
import { initialBuildDone, type Translator } from './translator.js';

const environments: [string, () => Promise<StoreEnvironment>][] = [
  ['memory', memoryEnvironment],
  ['redis', () => redisEnvironment('translator')],
];

const key = (name: string, namespace = 'apps'): ObjectKey => ({ namespace, name });

function staticEntry(name: string, namespace = 'apps', overrides: Parameters<typeof serviceEntry>[1] = {}) {
  return serviceEntry(key(name, namespace), { hosts: [`${name}.example.com`], workloadSelector: { app: name }, ...overrides });
}

function vm(name: string, address: string, app: string, namespace = 'apps') {
  return workload(namespace, name, address, { labels: { app } });
}

/** `inner` with every resource write delayed by `delayMs`, and `changeLog` in place of its own if given. */
function withSlowWrites(inner: TranslatorStore, delayMs: number, changeLog: TranslatorStore['changeLog'] = inner.changeLog): TranslatorStore {
  return {
    serviceEntries: inner.serviceEntries,
    changeLog,
    resources: {
      loadAll: () => inner.resources.loadAll(),
      readOwner: (owner, ids) => inner.resources.readOwner(owner, ids),
      listOwners: () => inner.resources.listOwners(),
      replace: async (input) => {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return inner.resources.replace(input);
      },
      deleteOwner: (owner, options) => inner.resources.deleteOwner(owner, options),
    },
    health: () => inner.health(),
    onStateChange: (listener) => inner.onStateChange(listener),
  };
}

describe.each(environments)('translator on the %s store', (_kind, open) => {
  let env: StoreEnvironment;
  let writer: EntryWriter;
  const running: Translator[] = [];

  beforeEach(async () => {
    env = await open();
    writer = await EntryWriter.create(env.store);
  });

  afterEach(async () => {
    try {
      await Promise.all(running.splice(0).map((t) => t.close()));
    } finally {
      await env.close();
    }
  });

  const start = (store: TranslatorStore, consumer: string, options: Parameters<typeof startTranslator>[2] = {}): Translator => {
    const translator = startTranslator(store, consumer, options);
    running.push(translator);
    return translator;
  };

  /** Waits for a build of each of `names` (ServiceEntries in `apps`), then long enough for claims to find their entries idle were they not held; each was built once. */
  const expectEachBuiltOnce = async (translator: Translator, names: readonly string[]): Promise<void> => {
    await eventually(() => expect(translator.status().recentBuilds).toHaveLength(names.length), { timeoutMs: 15_000 });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await translator.idle();
    expect((await env.store.changeLog.pending()).count).toBe(0);
    expect(translator.status().recentBuilds.map((build) => build.serviceEntry).sort()).toEqual(names.map((name) => `apps/${name}`));
    expect(translator.status().totals.applied).toBe(names.length);
  };

  it('builds every served variant of a changed ServiceEntry, stores it with its visibility, then acknowledges', async () => {
    const entry = staticEntry('orders', 'apps', { exportTo: ['.', 'web'], creationTime: 1_700_000_123_000, hosts: ['orders.example.com', 'orders.internal'] });
    const revision = await writer.put(entry, [vm('vm-1', '10.0.0.1', 'orders'), vm('vm-2', '10.0.0.2', 'orders')]);
    const messages: Invalidation[] = [];
    await env.store.invalidations.subscribe({ onInvalidation: (m) => messages.push(m), onGap: () => undefined }, { afterSeq: 0 });

    const translator = start(env.store, 't1');
    await eventually(() => expect(translator.status().totals.applied).toBe(1));

    const owned = await env.store.resources.readOwner(key('orders'));
    expect(owned?.record).toMatchObject({ namespace: 'apps', name: 'orders', exportTo: ['.', 'web'], creationTime: 1_700_000_123_000, hosts: ['orders.example.com', 'orders.internal'], revision });
    const names = (variant: string, typeUrl: string) => owned!.record.resources.filter((r) => r.variant === variant && r.typeUrl === typeUrl).map((r) => r.name);
    expect(names('envoy-sidecar', TypeUrl.Cluster)).toEqual(['outbound|80||orders.example.com', 'outbound|80||orders.internal']);
    expect(names('envoy-sidecar', TypeUrl.ClusterLoadAssignment)).toEqual(['outbound|80||orders.example.com', 'outbound|80||orders.internal']);
    expect(names('envoy-sni-dnat', TypeUrl.Cluster)).toEqual(['outbound_.80_._.orders.example.com', 'outbound_.80_._.orders.internal']);
    expect(names('grpc', TypeUrl.Cluster)).toEqual(['outbound|80||orders.example.com', 'outbound|80||orders.internal']);
    expect(names('grpc', TypeUrl.Listener)).toEqual(['orders.example.com:80', 'orders.internal:80']);
    expect(names('grpc', TypeUrl.RouteConfiguration)).toEqual(['outbound|80||orders.example.com', 'outbound|80||orders.internal']);
    expect(names('envoy-sidecar', TypeUrl.Listener)).toEqual([]);

    const { storedRefs, expectedRefs } = await storedAndExpected(env.store, key('orders'));
    expect(storedRefs).toEqual(expectedRefs);
    await eventually(() => expect(messages).toHaveLength(1));
    expect(messages[0]).toMatchObject({ owner: key('orders'), op: 'upsert', ownerChanged: true, removed: [] });
    expect(messages[0]!.changed).toHaveLength(owned!.record.resources.length);
    expect((await env.store.changeLog.pending()).count).toBe(0);
    expect(translator.status().recentBuilds[0]).toMatchObject({ serviceEntry: 'apps/orders', revision, outcome: 'applied', entries: 1, errors: [] });
  });

  it('builds once per DestinationRule policy scope, under scoped variants, and stores the scope table; a ServiceEntry without rules is unchanged', async () => {
    const plain = staticEntry('plain');
    await writer.put(plain, [vm('vm-1', '10.0.0.1', 'plain')]);
    const entry = staticEntry('orders');
    const privateRule = normalizedDestinationRule({ namespace: 'apps', name: 'orders', host: 'orders.example.com', exportTo: ['.'] });
    const revision = await writer.put(entry, [vm('vm-2', '10.0.0.2', 'orders')], undefined, [privateRule]);
    const translator = start(env.store, 't1');
    await eventually(() => expect(translator.status().totals.applied).toBe(2));

    const plainOwned = await env.store.resources.readOwner(key('plain'));
    expect(plainOwned?.record).not.toHaveProperty('policyScopes');
    expect(new Set(plainOwned?.record.resources.map((r) => r.variant))).toEqual(new Set(['envoy-sidecar', 'envoy-sni-dnat', 'grpc']));

    const owned = await env.store.resources.readOwner(key('orders'));
    expect(owned?.record.revision).toBe(revision);
    const scopes = owned?.record.policyScopes;
    expect(scopes?.otherNamespaces).toEqual({ selectors: [], scopes: [''] });
    const scope = scopes?.namespaces['apps']?.scopes[0] ?? '';
    expect(scope).toMatch(/^p[0-9a-f]{12}$/);
    expect(policyScopeFor(scopes, 'apps', {})).toBe(scope);
    const variants = new Set(owned?.record.resources.map((r) => r.variant));
    expect(variants).toEqual(new Set(['envoy-sidecar', 'envoy-sni-dnat', 'grpc', ...['envoy-sidecar', 'envoy-sni-dnat', 'grpc'].map((v) => scopedVariant(v, scope))]));
    const { storedRefs, expectedRefs } = await storedAndExpected(env.store, key('orders'));
    expect(storedRefs).toEqual(expectedRefs);
  });

  it('coalesces ten waiting changes to one ServiceEntry into one build of the latest state', async () => {
    let last = 0;
    for (let i = 1; i <= 10; i++) {
      const endpoints = Array.from({ length: i }, (_, n) => vm(`vm-${n}`, `10.0.1.${n + 1}`, 'cart'));
      last = (await writer.put(staticEntry('cart'), endpoints))!;
    }
    const translator = start(env.store, 't1');
    await eventually(() => expect(translator.status().totals.applied).toBe(1));
    await translator.idle();
    expect(translator.status().recentBuilds).toEqual([expect.objectContaining({ serviceEntry: 'apps/cart', revision: last, entries: 10, outcome: 'applied' })]);
    const { storedRefs, expectedRefs } = await storedAndExpected(env.store, key('cart'));
    expect(storedRefs).toEqual(expectedRefs);
    expect((await env.store.changeLog.pending()).count).toBe(0);
  });

  it('publishes nothing when a new revision builds the same output', async () => {
    await writer.put(staticEntry('search', 'apps', { labels: { team: 'a' } }), [vm('vm-1', '10.0.2.1', 'search')]);
    const translator = start(env.store, 't1');
    await eventually(() => expect(translator.status().totals.applied).toBe(1));
    const seqBefore = await env.store.invalidations.currentSeq();
    const messages: Invalidation[] = [];
    await env.store.invalidations.subscribe({ onInvalidation: (m) => messages.push(m), onGap: () => undefined }, { afterSeq: seqBefore });

    // A workload label no output carries (only the canonical service labels reach endpoint metadata).
    const relabelled = workload('apps', 'vm-1', '10.0.2.1', { labels: { app: 'search', rack: 'r2' } });
    const revision = await writer.put(staticEntry('search', 'apps', { labels: { team: 'a' } }), [relabelled]);
    expect(revision).not.toBeNull();
    await eventually(() => expect(translator.status().totals.unchanged).toBe(1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await env.store.invalidations.currentSeq()).toBe(seqBefore);
    expect(messages).toEqual([]);
    expect((await env.store.changeLog.pending()).count).toBe(0);
  });

  it("publishes only the owner's record when its labels change: they decide which same-host entries merge, not what is built", async () => {
    await writer.put(staticEntry('search', 'apps', { labels: { team: 'a' } }), [vm('vm-1', '10.0.2.1', 'search')]);
    const translator = start(env.store, 't1');
    await eventually(() => expect(translator.status().totals.applied).toBe(1));
    const messages: Invalidation[] = [];
    await env.store.invalidations.subscribe({ onInvalidation: (m) => messages.push(m), onGap: () => undefined }, { afterSeq: await env.store.invalidations.currentSeq() });

    await writer.put(staticEntry('search', 'apps', { labels: { team: 'b' } }), [vm('vm-1', '10.0.2.1', 'search')]);
    await eventually(() => expect(messages).toHaveLength(1));
    expect(messages[0]).toMatchObject({ ownerChanged: true, changed: [], removed: [] });
    expect((await env.store.resources.readOwner(key('search')))?.record.mergeKey).toContain('"team":"b"');
  });

  it('has caught up once everything written is built and acknowledged; the initial build is done only after the write it waits for', async () => {
    await writer.put(staticEntry('one'), [vm('vm-1', '10.0.4.1', 'one')]);
    await writer.put(staticEntry('two'), [vm('vm-2', '10.0.4.2', 'two')]);
    let written = false;
    let done = false;
    const translator = start(env.store, 't1', { concurrency: 1 });
    void initialBuildDone({ written: () => written, translators: [translator], pollMs: 5 }).then(() => (done = true));
    await eventually(async () => expect(await translator.caughtUp()).toBe(true));
    expect(translator.status().totals.applied).toBe(2);
    // Built, but the write it waits for is not done yet.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(done).toBe(false);
    await writer.put(staticEntry('three'), [vm('vm-3', '10.0.4.3', 'three')]);
    written = true;
    await eventually(() => expect(done).toBe(true));
    expect(translator.status().totals.applied).toBe(3);
    expect(await translator.caughtUp()).toBe(true);
  });

  it('removes the resources of a deleted ServiceEntry and publishes the removal', async () => {
    await writer.put(staticEntry('legacy'), [vm('vm-1', '10.0.3.1', 'legacy')]);
    const translator = start(env.store, 't1');
    await eventually(() => expect(translator.status().totals.applied).toBe(1));
    const built = (await env.store.resources.readOwner(key('legacy')))!.record.resources;
    const messages: Invalidation[] = [];
    await env.store.invalidations.subscribe({ onInvalidation: (m) => messages.push(m), onGap: () => undefined }, { afterSeq: await env.store.invalidations.currentSeq() });

    const revision = await writer.remove(key('legacy'));
    await eventually(() => expect(translator.status().totals.deleted).toBe(1));
    expect(await env.store.resources.readOwner(key('legacy'))).toBeNull();
    expect(await env.store.resources.listOwners()).toEqual([]);
    await eventually(() => expect(messages).toHaveLength(1));
    expect(messages[0]).toMatchObject({ owner: key('legacy'), op: 'delete', ownerChanged: true, changed: [] });
    expect(messages[0]!.removed.map((r) => r.version).sort()).toEqual(built.map((r) => r.version).sort());
    expect(translator.status().recentBuilds[0]).toMatchObject({ op: 'delete', revision, outcome: 'deleted' });
    expect((await env.store.changeLog.pending()).count).toBe(0);
  });

  it("keeps what a ServiceEntry's later builds reuse from its second build on, and forgets it with the ServiceEntry", async () => {
    await writer.put(staticEntry('catalog'), [vm('vm-1', '10.0.9.1', 'catalog')]);
    const translator = start(env.store, 't1');
    await eventually(() => expect(translator.status().totals.applied).toBe(1));
    // A first build of a few endpoints keeps nothing (FIRST_BUILD_KEEPS_FROM).
    expect(translator.status().kept).toEqual({ decodedFields: 0, endpointInstances: 0, edsClusters: 0 });

    await writer.put(staticEntry('catalog'), [vm('vm-1', '10.0.9.2', 'catalog')]);
    await eventually(() => expect(translator.status().totals.applied).toBe(2));
    const kept = translator.status().kept;
    expect(kept.decodedFields).toBeGreaterThan(0);
    expect(kept.endpointInstances).toBeGreaterThan(0);
    expect(kept.edsClusters).toBeGreaterThan(0);

    await writer.remove(key('catalog'));
    await eventually(() => expect(translator.status().totals.deleted).toBe(1));
    expect(translator.status().kept).toEqual({ decodedFields: 0, endpointInstances: 0, edsClusters: 0 });
  });

  it('acknowledges a hash that does not decode, keeps the previous build, and builds the next good write', async () => {
    await writer.put(staticEntry('billing'), [vm('vm-1', '10.0.4.1', 'billing')]);
    const translator = start(env.store, 't1');
    await eventually(() => expect(translator.status().totals.applied).toBe(1));
    const before = (await env.store.resources.readOwner(key('billing')))!.record;

    await writer.putRaw(key('billing'), { se: JSON.stringify({ schemaVersion: 99, namespace: 'apps', name: 'billing' }) });
    await eventually(() => expect(translator.status().totals.corrupt).toBe(1));
    expect((await env.store.resources.readOwner(key('billing')))!.record).toEqual(before);
    expect((await env.store.changeLog.pending()).count).toBe(0);
    expect(translator.status().recentBuilds[0]!.errors[0]).toContain('schemaVersion');

    await writer.put(staticEntry('billing'), [vm('vm-2', '10.0.4.2', 'billing')]);
    await eventually(() => expect(translator.status().totals.applied).toBe(2));
    const { storedRefs, expectedRefs } = await storedAndExpected(env.store, key('billing'));
    expect(storedRefs).toEqual(expectedRefs);
  });

  it('stores every variant and reports what one of them had to leave out', async () => {
    // A unix socket endpoint: Envoy connects to it, a proxyless gRPC client cannot (its assignment leaves it out).
    await writer.put(staticEntry('agent'), [vm('vm-1', 'unix:///run/agent.sock', 'agent'), vm('vm-2', '10.0.5.2', 'agent')]);
    const translator = start(env.store, 't1');
    await eventually(() => expect(translator.status().totals.applied).toBe(1));
    const variants = new Set((await env.store.resources.readOwner(key('agent')))!.record.resources.map((r) => r.variant));
    expect([...variants].sort()).toEqual(['envoy-sidecar', 'envoy-sni-dnat', 'grpc']);
    expect(translator.status().recentBuilds[0]!.errors).toEqual([expect.stringMatching(/^grpc: apps\/agent outbound\|80\|\|agent\.example\.com: proxyless gRPC clients accept only IP-literal endpoints/)]);
  });

  it('leaves a variant built on request out until asked for, then builds every ServiceEntry with it before resolving, and every later build too', async () => {
    await writer.put(staticEntry('orders'), [vm('vm-1', '10.0.6.1', 'orders')]);
    await writer.put(staticEntry('billing'), [vm('vm-2', '10.0.6.2', 'billing')]);
    const translator = start(env.store, 't1', { buildOnRequest: ['grpc'] });
    await eventually(() => expect(translator.status().totals.applied).toBe(2));
    const variantsOf = async (name: string): Promise<string[]> => [...new Set((await env.store.resources.readOwner(key(name)))?.record.resources.map((r) => r.variant))].sort();
    expect(await variantsOf('orders')).toEqual(['envoy-sidecar', 'envoy-sni-dnat']);
    expect(await variantsOf('billing')).toEqual(['envoy-sidecar', 'envoy-sni-dnat']);
    expect(translator.status()).toMatchObject({ variants: ['envoy-sidecar', 'envoy-sni-dnat'], notRequested: ['grpc'] });
    const messages: Invalidation[] = [];
    await env.store.invalidations.subscribe({ onInvalidation: (m) => messages.push(m), onGap: () => undefined });

    const request = translator.requestVariant('grpc');
    expect(translator.requestVariant('grpc')).toBe(request);
    await request;
    // Stored, as a fresh build of every served variant stores it, by the time the request resolves.
    for (const name of ['orders', 'billing']) {
      const { storedRefs, expectedRefs } = await storedAndExpected(env.store, key(name));
      expect(storedRefs).toEqual(expectedRefs);
    }
    expect(translator.status()).toMatchObject({ variants: ['envoy-sidecar', 'envoy-sni-dnat', 'grpc'], notRequested: [] });
    // The variant's resources are published as changed; the others, built again the same, are not.
    await eventually(() => expect(messages).toHaveLength(2));
    for (const message of messages) {
      expect(new Set(message.changed.map((ref) => ref.variant))).toEqual(new Set(['grpc']));
      expect(new Set(message.changed.map((ref) => ref.typeUrl))).toEqual(new Set([TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]));
    }
    expect(translator.status().totals).toMatchObject({ applied: 4, failed: 0 });

    await writer.put(staticEntry('ledger'), [vm('vm-3', '10.0.6.3', 'ledger')]);
    await eventually(async () => expect(await variantsOf('ledger')).toEqual(['envoy-sidecar', 'envoy-sni-dnat', 'grpc']));
    expect((await env.store.changeLog.pending()).count).toBe(0);
    await expect(translator.requestVariant('envoy-sidecar')).resolves.toBeUndefined();
    await expect(translator.requestVariant('envoy')).rejects.toThrow('the translator builds no variant named envoy');
    expect(() => startTranslator(env.store, 't2', { buildOnRequest: ['envoy'] })).toThrow('buildOnRequest names envoy, which is not one of the variants');
  });

  it('builds a variant asked for alone, onto the stored build of the hash revision', async () => {
    const revision = (await writer.put(staticEntry('orders'), [vm('vm-1', '10.0.7.1', 'orders')]))!;
    const translator = start(env.store, 't1', { buildOnRequest: ['grpc'] });
    await eventually(() => expect(translator.status().totals.applied).toBe(1));
    // A resource no build makes, stored with the build of the current revision: only a build of every variant drops it.
    const marker = { typeUrl: TypeUrl.Cluster, name: 'kept-marker', variant: 'envoy-sidecar', version: 'm1', bytes: new Uint8Array([1]) };
    const owned = (await env.store.resources.readOwner(key('orders')))!;
    const { resources: _refs, revision: _revision, ...visibility } = owned.record;
    expect((await env.store.resources.replace({ visibility, revision, resources: [...owned.resources, marker] })).status).toBe('applied');
    const sidecarNames = async (): Promise<string[]> => (await env.store.resources.readOwner(key('orders')))!.record.resources.filter((r) => r.variant === 'envoy-sidecar').map((r) => r.name);

    await translator.requestVariant('grpc');
    expect(await sidecarNames()).toContain('kept-marker');
    // Not a change: the caches that a ServiceEntry's later builds keep stay as the first build left them.
    expect(translator.status().kept).toEqual({ decodedFields: 0, endpointInstances: 0, edsClusters: 0 });
    expect((await env.store.resources.readOwner(key('orders')))!.record.resources.some((r) => r.variant === 'grpc')).toBe(true);
    // A change of the ServiceEntry builds every variant again.
    await writer.put(staticEntry('orders'), [vm('vm-1', '10.0.7.2', 'orders')]);
    await eventually(async () => expect(await sidecarNames()).not.toContain('kept-marker'));
    const { storedRefs, expectedRefs } = await storedAndExpected(env.store, key('orders'));
    expect(storedRefs).toEqual(expectedRefs);
  });

  it('acknowledges a change whose build the store already holds in a newer revision', async () => {
    const revision = (await writer.put(staticEntry('stale'), [vm('vm-1', '10.0.5.1', 'stale')]))!;
    // Another translator stored a build of a later revision first.
    await env.store.resources.replace({
      visibility: { namespace: 'apps', name: 'stale', exportTo: [], creationTime: 0, hosts: ['stale.example.com'] },
      revision: revision + 100,
      resources: [],
    });
    const translator = start(env.store, 't1');
    await eventually(() => expect(translator.status().totals.stale).toBe(1));
    expect((await env.store.resources.readOwner(key('stale')))!.record.revision).toBe(revision + 100);
    expect((await env.store.changeLog.pending()).count).toBe(0);
  });

  it('keeps entries pending while the store fails, and builds them once it answers', async () => {
    const failures = { replace: 5, read: 2 };
    const flaky: TranslatorStore = {
      ...env.store,
      serviceEntries: env.store.serviceEntries,
      changeLog: {
        ...env.store.changeLog,
        read: (consumer, options) => (failures.read-- > 0 ? Promise.reject(new StoreError('unavailable', 'connection lost')) : env.store.changeLog.read(consumer, options)),
      },
      resources: {
        ...env.store.resources,
        replace: (input) => (failures.replace-- > 0 ? Promise.reject(new StoreError('unavailable', 'connection lost')) : env.store.resources.replace(input)),
      },
      health: () => env.store.health(),
      onStateChange: (listener) => env.store.onStateChange(listener),
    };
    await writer.put(staticEntry('flaky'), [vm('vm-1', '10.0.6.1', 'flaky')]);
    const translator = start(flaky, 't1', { retry: { initialMs: 20, maxMs: 40 } });
    await eventually(async () => {
      expect(failures.replace).toBeLessThan(4);
      expect((await env.store.changeLog.pending()).perConsumer['t1']).toBe(1);
    });
    expect(translator.status().totals.applied).toBe(0);
    await eventually(() => expect(translator.status().totals.applied).toBe(1));
    expect((await env.store.changeLog.pending()).count).toBe(0);
    const { storedRefs, expectedRefs } = await storedAndExpected(env.store, key('flaky'));
    expect(storedRefs).toEqual(expectedRefs);
  });

  it('shares the log between two translators, each change built once', async () => {
    const keys = Array.from({ length: 24 }, (_, i) => `svc-${String(i).padStart(2, '0')}`);
    for (const [i, name] of keys.entries()) await writer.put(staticEntry(name), [vm(`vm-${name}`, `10.1.0.${i + 1}`, name)]);
    const first = start(await env.openTranslatorStore(), 't1', { readCount: 2, concurrency: 1 });
    const second = start(await env.openTranslatorStore(), 't2', { readCount: 2, concurrency: 1 });
    await eventually(() => expect(first.status().totals.applied + second.status().totals.applied).toBe(keys.length));
    expect(first.status().totals.applied).toBeGreaterThan(0);
    expect(second.status().totals.applied).toBeGreaterThan(0);
    expect(first.status().totals.unchanged + second.status().totals.unchanged).toBe(0);
    for (const name of keys) {
      const { storedRefs, expectedRefs } = await storedAndExpected(env.store, key(name));
      expect(storedRefs).toEqual(expectedRefs);
    }
    expect((await env.store.changeLog.pending()).count).toBe(0);
  });

  it('does not take its own entries over while a build outlasts claimMinIdleMs: each change is built once', async () => {
    const names = ['slow-a', 'slow-b', 'slow-c', 'slow-d'];
    for (const [i, name] of names.entries()) await writer.put(staticEntry(name), [vm(`vm-${name}`, `10.4.0.${i + 1}`, name)]);
    // Every resource write takes longer than the idle time after which entries count as abandoned.
    const slow = withSlowWrites(await env.openTranslatorStore(), 400);
    await expectEachBuiltOnce(start(slow, 'slow', { claimMinIdleMs: 100, claimIntervalMs: 20 }), names);
  });

  it('does not take its own entries over when they are acknowledged while a claim of them is answered: each change is built once', async () => {
    const names = ['raced-a', 'raced-b'];
    for (const [i, name] of names.entries()) await writer.put(staticEntry(name), [vm(`vm-${name}`, `10.5.0.${i + 1}`, name)]);
    const inner = await env.openTranslatorStore();
    // The fault: Redis runs the claim before the acknowledgement, and the claim's reply reaches the
    // translator after it. The store holds back a claim that took entries until an acknowledgement
    // has been answered; writes outlast the idle time after which entries count as abandoned.
    let acknowledged = 0;
    const raced = withSlowWrites(inner, 300, {
      read: (consumer, options) => inner.changeLog.read(consumer, options),
      ack: async (ids) => {
        const count = await inner.changeLog.ack(ids);
        acknowledged++;
        return count;
      },
      claimStale: async (consumer, minIdleMs, count) => {
        const claimed = await inner.changeLog.claimStale(consumer, minIdleMs, count);
        if (claimed.length === 0) return claimed;
        const before = acknowledged;
        await eventually(() => expect(acknowledged).toBeGreaterThan(before), { timeoutMs: 5_000 });
        return claimed;
      },
      pending: () => inner.changeLog.pending(),
      hasUndelivered: () => inner.changeLog.hasUndelivered(),
      length: () => inner.changeLog.length(),
    });
    await expectEachBuiltOnce(start(raced, 'raced', { claimMinIdleMs: 100, claimIntervalMs: 20 }), names);
  });

  it('loses no change when a translator dies between reading and acknowledging: another one takes its entries over', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `item-${String(i).padStart(2, '0')}`);
    for (const [i, name] of names.entries()) await writer.put(staticEntry(name), [vm(`vm-${name}`, `10.2.0.${i + 1}`, name)]);

    const dying = new DyingStore(await env.openTranslatorStore());
    dying.hangWrites();
    const doomed = startTranslator(dying.store, 'doomed', { readCount: 8, concurrency: 2 });
    await eventually(async () => {
      expect(dying.hungWrites).toBe(2);
      expect((await env.store.changeLog.pending()).perConsumer['doomed']).toBeGreaterThanOrEqual(8);
    });

    const survivor = start(await env.openTranslatorStore(), 'survivor', { claimMinIdleMs: 300, claimIntervalMs: 50 });
    dying.die();
    await doomed.close();
    const abandoned = (await env.store.changeLog.pending()).perConsumer['doomed'] ?? 0;
    expect(abandoned).toBeGreaterThanOrEqual(8);

    // The stream goes on while the dead translator's entries wait to be taken over.
    for (const [i, name] of names.slice(0, 10).entries()) await writer.put(staticEntry(name), [vm(`vm-${name}`, `10.3.0.${i + 1}`, name)]);
    for (const name of names.slice(25)) await writer.remove(key(name));

    await eventually(async () => expect((await env.store.changeLog.pending()).count).toBe(0));
    await survivor.idle();
    for (const name of names) {
      const { stored, storedRefs, expectedRefs } = await storedAndExpected(env.store, key(name));
      expect(storedRefs, name).toEqual(expectedRefs);
      if (names.indexOf(name) >= 25) expect(stored, name).toBeNull();
    }
    // Every entry of the stream was acknowledged by the survivor, the dead translator's included.
    expect(doomed.status().totals.applied).toBe(0);
    expect(survivor.status().recentBuilds.reduce((sum, build) => sum + build.entries, 0)).toBe(names.length + 10 + 5);
  });
});
