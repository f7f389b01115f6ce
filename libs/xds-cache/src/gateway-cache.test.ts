/**
 * The cache over the in-memory store: the first load, invalidations read only what changed, gaps and
 * the periodic check reconcile, read failures change nothing, a store that lost its data is not
 * believed until the grace period ends, and each version's Any bytes are shared by every push.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ResourceChange } from '@skiff/ads-server';
import type { ObjectKey } from '@skiff/model';
import { silentLogger } from '@skiff/runtime';
import { createMemoryStore, StoreError, type BuiltResource, type GapEvent, type Invalidation, type InvalidationListener, type MemoryStore } from '@skiff/store';
import { eventually } from '@skiff/testing';
import { GatewayCache, type CacheStore, type GatewayCacheOptions } from './gateway-cache.js';
import { SNI_DNAT_VARIANT } from './profile.js';
import { autoPassthroughGateway, built, CDS, EDS, visibility } from './test-support/fixtures.js';

const A: ObjectKey = { namespace: 'a', name: 'alpha' };
const B: ObjectKey = { namespace: 'b', name: 'beta' };
const C: ObjectKey = { namespace: 'c', name: 'gamma' };

const envoyIn = (namespace: string) => ({ namespace, flavor: 'envoy'}) as const;

/**
 * A store the test can interfere with: read failures, a held first load, lost invalidations (with or
 * without the gap signal the real store would give), and a log of owner reads.
 */
class InterferingStore {
  readonly store: CacheStore;
  readonly ownerReads: { owner: string; ids: string[] | 'all' }[] = [];
  failReads = 0;
  holdLoad: Promise<void> | undefined;
  dropNext: 'with-gap' | 'silently' | undefined;

  constructor(readonly inner: MemoryStore) {
    this.store = {
      resources: {
        loadAll: async () => {
          await this.holdLoad;
          this.maybeFail();
          return inner.resources.loadAll();
        },
        readOwner: async (owner, ids) => {
          this.ownerReads.push({ owner: `${owner.namespace}/${owner.name}`, ids: ids === undefined ? 'all' : ids.map((id) => `${id.variant} ${id.name}`) });
          this.maybeFail();
          return inner.resources.readOwner(owner, ids);
        },
        listOwners: () => inner.resources.listOwners(),
      },
      invalidations: {
        subscribe: (listener, options) => inner.invalidations.subscribe(this.interpose(listener), options),
        currentSeq: () => inner.invalidations.currentSeq(),
      },
      epoch: () => inner.epoch(),
      gateways: inner.gateways,
    };
  }

  private maybeFail(): void {
    if (this.failReads > 0) {
      this.failReads--;
      throw new StoreError('unavailable', 'connection lost');
    }
  }

  /** Loses the next message when asked to; with `with-gap`, the following one arrives with the gap signal, as a jump in sequence gives. */
  private interpose(listener: InvalidationListener): InvalidationListener {
    let missed: number | undefined;
    return {
      onInvalidation: (message: Invalidation) => {
        if (this.dropNext !== undefined) {
          if (this.dropNext === 'with-gap') missed = message.seq;
          this.dropNext = undefined;
          return;
        }
        if (missed !== undefined) listener.onGap({ reason: 'sequence', expected: missed, received: message.seq });
        missed = undefined;
        listener.onInvalidation(message);
      },
      onGap: (event: GapEvent) => listener.onGap(event),
    };
  }
}

describe('gateway cache', () => {
  let memory: MemoryStore;
  let store: InterferingStore;
  let cache: GatewayCache | undefined;
  let changes: ResourceChange[][];
  let revision = 0;

  beforeEach(() => {
    memory = createMemoryStore();
    store = new InterferingStore(memory);
    changes = [];
    cache = undefined;
  });

  afterEach(async () => {
    await cache?.close();
    await memory.close();
  });

  const write = async (owner: ObjectKey, resources: BuiltResource[], vis: Partial<Parameters<typeof visibility>[2]> = {}) => {
    const outcome = await memory.resources.replace({ visibility: visibility(owner.namespace, owner.name, vis), revision: ++revision, resources });
    expect(outcome.status).toBe('applied');
  };

  const start = async (options: Partial<GatewayCacheOptions> = {}): Promise<GatewayCache> => {
    cache = new GatewayCache({ store: store.store, logger: silentLogger(), retry: { initialMs: 10, maxMs: 40 }, ...options });
    cache.onChange((batch) => changes.push([...batch]));
    await cache.start();
    return cache;
  };

  const versions = (namespace: string, typeUrl: string = CDS) =>
    Object.fromEntries([...cache!.viewFor(envoyIn(namespace)).all(typeUrl)].map(([name, resource]) => [name, resource.version]));

  it('is ready only once the store state is loaded, and serves it', async () => {
    await write(A, [built('a1', 'v1'), built('a1', 'e1', 'envoy-sidecar', EDS), built('a1', 'g1', 'grpc')]);
    await write(B, [built('b1', 'v1')], { exportTo: ['.'] });
    let release: () => void = () => undefined;
    store.holdLoad = new Promise((resolve) => {
      release = resolve;
    });
    cache = new GatewayCache({ store: store.store, logger: silentLogger() });
    const started = cache.start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(cache.isReady()).toBe(false);
    release();
    await started;
    expect(cache.isReady()).toBe(true);
    expect(versions('a')).toEqual({ a1: 'v1' });
    expect(versions('b')).toEqual({ a1: 'v1', b1: 'v1' });
    expect(versions('a', EDS)).toEqual({ a1: 'e1' });
    expect(cache.viewFor({ namespace: 'a', flavor: 'grpc'}).get(CDS, 'a1')?.version).toBe('g1');
    expect(cache.status()).toMatchObject({ ready: true, owners: 2, resources: 4, seq: 2, reconciles: { start: 1 } });
  });

  it('holds serving until the awaited build is done and everything published by then is applied', async () => {
    await write(A, [built('a1', 'v1')]);
    let buildDone: () => void = () => undefined;
    const building = new Promise<void>((resolve) => {
      buildDone = resolve;
    });
    // The owner read of B is held, so the cache has seen B's invalidation but not applied it yet.
    let releaseRead: () => void = () => undefined;
    const readHeld = new Promise<void>((resolve) => {
      releaseRead = resolve;
    });
    const readOwner = store.store.resources.readOwner;
    store.store.resources.readOwner = async (owner, ids) => {
      if (owner.name === B.name) await readHeld;
      return readOwner(owner, ids);
    };
    const held = new GatewayCache({ store: store.store, logger: silentLogger() });
    cache = held;
    held.holdServingUntil(building);
    await held.start();
    expect(held.isReady()).toBe(false);
    expect(held.status()).toMatchObject({ ready: false, servingHeld: true, owners: 1 });

    await write(B, [built('b1', 'v1')]);
    buildDone();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Built, published, not yet applied: still held.
    expect(held.isReady()).toBe(false);
    releaseRead();
    await eventually(() => expect(held.isReady()).toBe(true));
    expect(held.status()).toMatchObject({ ready: true, servingHeld: false, owners: 2 });
    expect(versions('b')).toEqual({ a1: 'v1', b1: 'v1' });
    // Released for good: a later change does not hold it again.
    await write(C, [built('c1', 'v1')]);
    expect(held.isReady()).toBe(true);
  });

  it('serves anyway, with a warning, when the awaited build fails', async () => {
    const held = new GatewayCache({ store: store.store, logger: silentLogger() });
    cache = held;
    held.holdServingUntil(Promise.reject(new Error('the watcher gave up')));
    await held.start();
    await eventually(() => expect(held.isReady()).toBe(true));
  });

  describe('variants built on request', () => {
    const grpcIn = (namespace: string) => ({ namespace, flavor: 'grpc' }) as const;
    const router = { namespace: 'istio-system', flavor: 'envoy', labels: { istio: 'eastwestgateway' }, router: true } as const;
    /** A translator stand-in: records what is asked for; each request resolves when the test says so. */
    const onRequest = () => {
      const requested: string[] = [];
      const finish = new Map<string, (error?: Error) => void>();
      const request = (variant: string) =>
        new Promise<void>((resolve, reject) => {
          requested.push(variant);
          finish.set(variant, (error) => (error === undefined ? resolve() : reject(error)));
        });
      return { requested, finish, variantsOnRequest: { variants: ['envoy-sni-dnat', 'grpc'], request } };
    };

    it('asks for a variant when the first proxy needing it checks, and serves it once built and applied; other proxies at once', async () => {
      await write(A, [built('a1', 'v1')]);
      const translator = onRequest();
      await start({ variantsOnRequest: translator.variantsOnRequest });
      expect(cache!.isReady()).toBe(true);
      expect(cache!.isReady(envoyIn('a'))).toBe(true);
      expect(translator.requested).toEqual([]);
      expect(cache!.isReady(grpcIn('a'))).toBe(false);
      expect(cache!.isReady(grpcIn('b'))).toBe(false);
      expect(translator.requested).toEqual(['grpc']);
      expect(cache!.status().variantsOnRequest).toEqual({ 'envoy-sni-dnat': 'not requested', grpc: 'building' });

      // The translator stores the variant and resolves; the cache has seen the invalidation but not read the owner yet.
      let releaseRead: () => void = () => undefined;
      const readHeld = new Promise<void>((resolve) => {
        releaseRead = resolve;
      });
      const readOwner = store.store.resources.readOwner;
      store.store.resources.readOwner = async (owner, ids) => {
        await readHeld;
        return readOwner(owner, ids);
      };
      await write(A, [built('a1', 'v1'), built('a1', 'g1', 'grpc')]);
      translator.finish.get('grpc')!();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(cache!.isReady(grpcIn('a'))).toBe(false);
      releaseRead();
      await eventually(() => expect(cache!.isReady(grpcIn('a'))).toBe(true));
      expect(cache!.viewFor(grpcIn('a')).get(CDS, 'a1')?.version).toBe('g1');
      expect(cache!.status().variantsOnRequest).toEqual({ 'envoy-sni-dnat': 'not requested', grpc: 'served' });
      expect(translator.requested).toEqual(['grpc']);
    });

    it('asks for the sni-dnat variant as soon as a Gateway has an AUTO_PASSTHROUGH server, and holds the routers it selects until it is served', async () => {
      await write(A, [built('a1', 'v1')]);
      const translator = onRequest();
      await start({ variantsOnRequest: translator.variantsOnRequest });
      expect(cache!.isReady(router)).toBe(true);
      const grant = (await memory.lease.acquire('watcher-gateways', 60_000))!;
      const gateway = autoPassthroughGateway({ namespace: 'istio-system', name: 'cross-network' }, { istio: 'eastwestgateway' });
      await memory.gateways.put(gateway, JSON.stringify(gateway), grant);
      // Asked for with no router checking.
      await eventually(() => expect(translator.requested).toEqual(['envoy-sni-dnat']));
      expect(cache!.isReady(router)).toBe(false);
      expect(cache!.isReady(envoyIn('a'))).toBe(true);
      await write(A, [built('a1', 'v1'), built('outbound_.80_._.a1', 'd1', SNI_DNAT_VARIANT)]);
      translator.finish.get('envoy-sni-dnat')!();
      await eventually(() => expect(cache!.isReady(router)).toBe(true));
      expect([...cache!.viewFor(router).all(CDS).keys()].sort()).toEqual(['a1', 'outbound_.80_._.a1']);
    });

    it('serves anyway, with a warning, when the request fails', async () => {
      const translator = onRequest();
      await start({ variantsOnRequest: translator.variantsOnRequest });
      expect(cache!.isReady(grpcIn('a'))).toBe(false);
      translator.finish.get('grpc')!(new Error('the translator stopped'));
      await eventually(() => expect(cache!.isReady(grpcIn('a'))).toBe(true));
    });
  });

  it('applies an invalidation by reading only the changed resources, then tells listeners', async () => {
    await write(A, [built('a1', 'v1'), built('a2', 'v1'), built('a3', 'v1')]);
    await start();
    const view = cache!.viewFor(envoyIn('x'));
    const unchanged = view.get(CDS, 'a2');
    const seenByListener: (string | undefined)[] = [];
    cache!.onChange(() => seenByListener.push(view.get(CDS, 'a1')?.version));

    await write(A, [built('a1', 'v2'), built('a2', 'v1'), built('a4', 'v1')]);
    await eventually(() => expect(changes).toHaveLength(1));
    expect(store.ownerReads).toEqual([{ owner: 'a/alpha', ids: ['envoy-sidecar a1', 'envoy-sidecar a4'] }]);
    expect(changes[0]).toEqual([{ typeUrl: CDS, names: expect.arrayContaining(['a1', 'a3', 'a4']), since: expect.any(Number) }]);
    expect(changes[0]![0]!.names).toHaveLength(3);
    expect(seenByListener).toEqual(['v2']);
    expect(Object.fromEntries([...view.all(CDS)].map(([n, r]) => [n, r.version]))).toEqual({ a1: 'v2', a2: 'v1', a4: 'v1' });
    expect(view.get(CDS, 'a2')).toBe(unchanged);
  });

  it('names the proxies a change concerns when only a variant some proxies alone see changed', async () => {
    await write(A, [built('a1', 'v1'), built('a1', 'g1', 'grpc')]);
    await start();
    const grpc = { namespace: 'a', flavor: 'grpc' } as const;
    const router = { namespace: 'istio-system', flavor: 'envoy', labels: {}, router: true } as const;
    await write(A, [built('a1', 'v1'), built('a1', 'g2', 'grpc')]);
    await eventually(() => expect(changes).toHaveLength(1));
    const grpcOnly = changes[0]![0]!;
    expect(grpcOnly).toMatchObject({ typeUrl: CDS, names: ['a1'] });
    expect([grpcOnly.concerns?.(grpc), grpcOnly.concerns?.(envoyIn('a')), grpcOnly.concerns?.(router)]).toEqual([true, false, false]);

    await write(A, [built('a1', 'v1'), built('a1', 'g2', 'grpc'), built('outbound_.80_._.a1', 'd1', SNI_DNAT_VARIANT)]);
    await eventually(() => expect(changes).toHaveLength(2));
    const sniDnatOnly = changes[1]![0]!;
    expect([sniDnatOnly.concerns?.(grpc), sniDnatOnly.concerns?.(envoyIn('a')), sniDnatOnly.concerns?.(router)]).toEqual([false, false, true]);

    // A change every proxy may see names nobody in particular.
    await write(A, [built('a1', 'v2'), built('a1', 'g3', 'grpc'), built('outbound_.80_._.a1', 'd1', SNI_DNAT_VARIANT)]);
    await eventually(() => expect(changes).toHaveLength(3));
    expect(changes[2]![0]!.concerns).toBeUndefined();
  });

  it('passes the trace of the change to listeners', async () => {
    await start();
    await memory.resources.replace({ visibility: visibility('a', 'alpha'), revision: ++revision, resources: [built('a1', 'v1')], trace: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    await eventually(() => expect(changes).toHaveLength(1));
    expect(changes[0]![0]).toMatchObject({ typeUrl: CDS, names: ['a1'], trace: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
  });

  it('removes a deleted owner without reading the store', async () => {
    await write(A, [built('a1', 'v1'), built('a1', 'e1', 'envoy-sidecar', EDS)]);
    await start();
    await memory.resources.deleteOwner(A, { revision: ++revision });
    await eventually(() => expect(changes).toHaveLength(1));
    expect(store.ownerReads).toEqual([]);
    expect(changes[0]!.map((c) => [c.typeUrl, c.names])).toEqual([
      [CDS, ['a1']],
      [EDS, ['a1']],
    ]);
    expect(versions('a')).toEqual({});
    expect(cache!.status().owners).toBe(0);
  });

  it('re-decides every name of an owner whose visibility changed, reading no resource bytes', async () => {
    await write(A, [built('shared', 'from-a')], { creationTime: 1 });
    await write(B, [built('shared', 'from-b')], { creationTime: 2 });
    await start();
    expect(versions('c')).toEqual({ shared: 'from-a' });
    const bytesBefore = cache!.viewFor(envoyIn('a')).get(CDS, 'shared');

    await write(A, [built('shared', 'from-a')], { creationTime: 1, exportTo: ['.'] });
    await eventually(() => expect(changes).toHaveLength(1));
    expect(store.ownerReads).toEqual([{ owner: 'a/alpha', ids: [] }]);
    expect(versions('c')).toEqual({ shared: 'from-b' });
    expect(versions('a')).toEqual({ shared: 'from-a' });
    expect(cache!.viewFor(envoyIn('a')).get(CDS, 'shared')).toBe(bytesBefore);
  });

  it('reconciles after a sequence gap and reports what it missed', async () => {
    await write(A, [built('a1', 'v1')]);
    await start();
    store.dropNext = 'with-gap';
    await write(B, [built('b1', 'v1')]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(versions('x')).toEqual({ a1: 'v1' });

    await write(C, [built('c1', 'v1')]);
    await eventually(() => expect(versions('x')).toEqual({ a1: 'v1', b1: 'v1', c1: 'v1' }));
    expect(cache!.status().reconciles).toEqual({ start: 1, sequence: 1 });
    expect(changes.flat().flatMap((c) => c.names)).toEqual(expect.arrayContaining(['b1', 'c1']));
    expect(changes.flat().flatMap((c) => c.names)).not.toContain('a1');
  });

  it('reconciles when the periodic check finds the store ahead, and not otherwise', async () => {
    await write(A, [built('a1', 'v1')]);
    await start({ checkIntervalMs: 50 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(cache!.status().reconciles).toEqual({ start: 1 });

    store.dropNext = 'silently';
    await write(A, [built('a1', 'v2')]);
    await eventually(() => expect(versions('x')).toEqual({ a1: 'v2' }));
    expect(cache!.status().reconciles).toEqual({ start: 1, periodic: 1 });
  });

  it('changes nothing while reads fail, and applies the change once they succeed', async () => {
    await write(A, [built('a1', 'v1')]);
    await start();
    store.failReads = 3;
    await write(A, [built('a1', 'v2')]);
    await eventually(() => expect(cache!.status().storeErrors).toBeGreaterThanOrEqual(1));
    expect(versions('x')).toEqual({ a1: 'v1' });
    await eventually(() => expect(versions('x')).toEqual({ a1: 'v2' }));
    expect(cache!.status().storeErrors).toBe(3);
    expect(changes).toHaveLength(1);
  });

  it('keeps retrying the first load while the store fails', async () => {
    await write(A, [built('a1', 'v1')]);
    store.failReads = 2;
    await start();
    expect(versions('x')).toEqual({ a1: 'v1' });
    expect(cache!.status().storeErrors).toBe(2);
  });

  it('keeps serving owners a wiped store lost until they are rebuilt or the grace period ends', async () => {
    await write(A, [built('a1', 'v1')]);
    await write(B, [built('b1', 'v1')]);
    await write(C, [built('c1', 'v1')]);
    await start({ checkIntervalMs: 30, resetGraceMs: 400 });
    const a1 = cache!.viewFor(envoyIn('x')).get(CDS, 'a1');
    const sizes: number[] = [];
    cache!.onChange(() => sizes.push(cache!.viewFor(envoyIn('x')).all(CDS).size));

    memory.wipe();
    await eventually(() => expect(cache!.status().reconciles.reset).toBe(1));
    expect(cache!.status().retainedOwners).toBe(3);
    expect(versions('x')).toEqual({ a1: 'v1', b1: 'v1', c1: 'v1' });

    // The translators rebuild A unchanged and B with a new version; C is never rebuilt (it was deleted meanwhile).
    revision = 0;
    await write(A, [built('a1', 'v1')]);
    await write(B, [built('b1', 'v2')]);
    await eventually(() => expect(versions('x')).toEqual({ a1: 'v1', b1: 'v2', c1: 'v1' }));
    expect(cache!.viewFor(envoyIn('x')).get(CDS, 'a1')).toBe(a1);
    await eventually(() => expect(versions('x')).toEqual({ a1: 'v1', b1: 'v2' }));
    expect(cache!.status()).toMatchObject({ retainedOwners: 0, owners: 2 });
    expect(cache!.status().reconciles['reset-grace']).toBeGreaterThanOrEqual(1);
    // C left only when the grace period ended; the view never lost anything before.
    expect(sizes.at(-1)).toBe(2);
    expect(sizes.slice(0, -1).every((size) => size === 3)).toBe(true);
  });

  it('shares the Any bytes of a version across pushes, changes elsewhere and reconciles', async () => {
    await write(A, [built('a1', 'v1'), built('a2', 'v1')]);
    await write(B, [built('b1', 'v1')]);
    await start();
    const first = cache!.viewFor(envoyIn('x')).get(CDS, 'a1')!;
    const anyBytes = first.anyBytes;

    await write(B, [built('b1', 'v2')]);
    await write(A, [built('a1', 'v1'), built('a2', 'v2')]);
    await eventually(() => expect(versions('x')).toEqual({ a1: 'v1', a2: 'v2', b1: 'v2' }));
    await cache!.reconcileNow();
    for (const namespace of ['x', 'y', 'a']) {
      const served = cache!.viewFor(envoyIn(namespace)).get(CDS, 'a1')!;
      expect(served.anyBytes).toBe(anyBytes);
      expect(cache!.viewFor(envoyIn(namespace)).all(CDS).get('a1')!.anyBytes).toBe(anyBytes);
    }
    await write(A, [built('a1', 'v3'), built('a2', 'v2')]);
    await eventually(() => expect(versions('x')).toMatchObject({ a1: 'v3' }));
    expect(cache!.viewFor(envoyIn('x')).get(CDS, 'a1')!.anyBytes).not.toBe(anyBytes);
  });

  it('reads a whole owner when its record moved past the message', async () => {
    await write(A, [built('a1', 'v1'), built('a2', 'v1')]);
    await start();
    // Two writes land before the first message is applied: the first read finds a record newer than
    // the message named, with a version it did not ask for.
    await Promise.all([write(A, [built('a1', 'v2'), built('a2', 'v1')]), write(A, [built('a1', 'v2'), built('a2', 'v2')])]);
    await eventually(() => expect(versions('x')).toEqual({ a1: 'v2', a2: 'v2' }));
    expect(store.ownerReads[0]).toEqual({ owner: 'a/alpha', ids: ['envoy-sidecar a1'] });
    expect(store.ownerReads[1]).toEqual({ owner: 'a/alpha', ids: 'all' });
  });
});
