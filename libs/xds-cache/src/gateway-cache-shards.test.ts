/**
 * The cache following a sharded store: one subscription, sequence and reconcile per shard, every
 * shard's owners merged into one view. On a real three-shard `ShardedRedisStore` (shared Redis, own
 * key prefix): the first load and later writes of every shard; a gap on one shard reconciles that
 * shard alone and keeps the other shards' owners; Gateways of every shard decide which routers get the
 * sni-dnat clusters, and a reconcile of one shard keeps the other shards' Gateways.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceChange } from '@skiff/ads-server';
import type { NormalizedGateway, ObjectKey } from '@skiff/model';
import { silentLogger } from '@skiff/runtime';
import { createShardedRedisStore, type BuiltResource, type GapEvent, type InvalidationListener, type LeaseGrant, type ShardedRedisStore } from '@skiff/store';
import { connectAdmin, eventually, SHARED_REDIS_URL, uniquePrefix } from '@skiff/testing';
import { GatewayCache, type CacheStore } from './gateway-cache.js';
import { SNI_DNAT_VARIANT } from './profile.js';
import { autoPassthroughGateway, built, CDS, visibility } from './test-support/fixtures.js';

const envoyIn = (namespace: string) => ({ namespace, flavor: 'envoy', naming: 'sidecar' }) as const;

describe('gateway cache over a sharded store', () => {
  const prefix = uniquePrefix('xds-cache-shards');
  let admin: Awaited<ReturnType<typeof connectAdmin>>;
  let store: ShardedRedisStore;
  let cache: GatewayCache | undefined;
  let revision = 0;

  beforeAll(async () => {
    admin = await connectAdmin();
    store = createShardedRedisStore({ url: SHARED_REDIS_URL, keyPrefix: prefix, shards: 3 });
  });

  afterEach(async () => {
    await cache?.close();
    cache = undefined;
  });

  afterAll(async () => {
    await store?.close();
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `{${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await admin.del(keys);
    } while (cursor !== '0');
    admin?.disconnect();
  });

  /** One owner per shard, found by trying names (the shard is a hash of the id). */
  const ownersOnEveryShard = (namespace: string): ObjectKey[] => {
    const found = new Map<number, ObjectKey>();
    for (let i = 0; found.size < store.shardCount; i++) {
      const key = { namespace, name: `svc-${i}` };
      if (!found.has(store.shardOf(key))) found.set(store.shardOf(key), key);
    }
    return [...found.entries()].sort(([a], [b]) => a - b).map(([, key]) => key);
  };

  const write = async (owner: ObjectKey, resources: BuiltResource[]) => {
    const outcome = await store.shards[store.shardOf(owner)]!.resources.replace({ visibility: visibility(owner.namespace, owner.name), revision: ++revision, resources });
    expect(outcome.status).toBe('applied');
  };

  const versions = (namespace: string) => Object.fromEntries([...cache!.viewFor(envoyIn(namespace)).all(CDS)].map(([name, resource]) => [name, resource.version]));

  it('loads every shard, then follows each shard’s invalidations into one view', async () => {
    const owners = ownersOnEveryShard('load');
    await write(owners[0]!, [built('load-0', 'v1')]);
    await write(owners[1]!, [built('load-1', 'v1')]);
    cache = new GatewayCache({ store: store.shards[0]!, shards: store.shards, logger: silentLogger() });
    const changes: ResourceChange[][] = [];
    cache.onChange((batch) => changes.push([...batch]));
    await cache.start();
    expect(versions('x')).toEqual({ 'load-0': 'v1', 'load-1': 'v1' });
    expect(cache.status().shards).toHaveLength(3);

    await write(owners[2]!, [built('load-2', 'v1')]);
    await write(owners[0]!, [built('load-0', 'v2')]);
    await eventually(() => expect(versions('x')).toEqual({ 'load-0': 'v2', 'load-1': 'v1', 'load-2': 'v1' }));
    expect(changes.flat().flatMap((change) => change.names)).toEqual(expect.arrayContaining(['load-0', 'load-2']));
    await store.shards[store.shardOf(owners[1]!)]!.resources.deleteOwner(owners[1]!, { revision: ++revision });
    await eventually(() => expect(versions('x')).toEqual({ 'load-0': 'v2', 'load-2': 'v1' }));
    expect(cache.status()).toMatchObject({ owners: 2, reconciles: { start: 3 } });
  });

  it('a gap on one shard reconciles that shard alone and keeps the owners of the others', async () => {
    const owners = ownersOnEveryShard('gap');
    for (const [i, owner] of owners.entries()) await write(owner, [built(`gap-${i}`, 'v1')]);
    // Shard 1's invalidations pass through a gate that loses the next message and then signals the gap.
    let dropNext = false;
    let missed: number | undefined;
    const gated = (shard: CacheStore): CacheStore => ({
      ...shard,
      invalidations: {
        currentSeq: () => shard.invalidations.currentSeq(),
        subscribe: (listener: InvalidationListener, options) =>
          shard.invalidations.subscribe(
            {
              onInvalidation: (message) => {
                if (dropNext) {
                  dropNext = false;
                  missed = message.seq;
                  return;
                }
                if (missed !== undefined) listener.onGap({ reason: 'sequence', expected: missed, received: message.seq });
                missed = undefined;
                listener.onInvalidation(message);
              },
              onGap: (event: GapEvent) => listener.onGap(event),
            },
            options,
          ),
      },
    });
    const shards = store.shards.map((shard, i) => (i === 1 ? gated(shard) : shard));
    cache = new GatewayCache({ store: shards[0]!, shards, logger: silentLogger() });
    await cache.start();
    // Other test's owners are in the store too; only this test's names are compared.
    const mine = () => Object.fromEntries(Object.entries(versions('x')).filter(([name]) => name.startsWith('gap-')));
    expect(mine()).toEqual({ 'gap-0': 'v1', 'gap-1': 'v1', 'gap-2': 'v1' });

    dropNext = true;
    await write(owners[1]!, [built('gap-1', 'v2')]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(mine()['gap-1']).toBe('v1');
    // The next message of shard 1 shows the gap: shard 1 is reloaded, shards 0 and 2 are not touched.
    await write(owners[1]!, [built('gap-1', 'v3'), built('gap-1b', 'v1')]);
    await eventually(() => expect(mine()).toEqual({ 'gap-0': 'v1', 'gap-1': 'v3', 'gap-1b': 'v1', 'gap-2': 'v1' }));
    expect(cache.status().reconciles).toEqual({ start: 3, sequence: 1 });
    expect(cache.status().lastReconcile).toMatchObject({ reason: 'sequence', shard: 1 });
    await write(owners[2]!, [built('gap-2', 'v2')]);
    await eventually(() => expect(mine()['gap-2']).toBe('v2'));
  });

  it('follows the Gateways of every shard: an AUTO_PASSTHROUGH Gateway on any shard gives routers the sni-dnat clusters, and a shard reconcile keeps the others', async () => {
    const grant: LeaseGrant = (await store.lease.acquire('watcher-gateways', 60_000))!;
    const gateways = ownersOnEveryShard('gw');
    const owners = ownersOnEveryShard('gw-se');
    await write(owners[0]!, [built('gw-plain', 'v1')]);
    await write(owners[1]!, [built('outbound_.443_._.gw-dnat', 'v1', SNI_DNAT_VARIANT)]);
    const put = (value: NormalizedGateway) => store.gateways.put(value, JSON.stringify(value), grant);
    // Gateways on shards 0 and 2, for two different routers.
    await put(autoPassthroughGateway(gateways[0]!, { istio: 'east' }));
    cache = new GatewayCache({ store: store.shards[0]!, shards: store.shards, logger: silentLogger() });
    await cache.start();
    const router = (istio: string) => ({ namespace: 'istio-system', flavor: 'envoy', labels: { istio }, router: true }) as const;
    const names = (istio: string) => [...cache!.viewFor(router(istio)).all(CDS).keys()].filter((name) => name.startsWith('gw-') || name.includes('gw-dnat')).sort();
    expect(cache.getsSniDnatClusters(router('east'))).toBe(true);
    expect(names('east')).toEqual(['gw-plain', 'outbound_.443_._.gw-dnat']);
    expect(names('west')).toEqual(['gw-plain']);
    expect(cache.status().gateways).toBe(1);

    // A Gateway written to another shard is stored there alone and arrives on that shard's channel.
    await put(autoPassthroughGateway(gateways[2]!, { istio: 'west' }));
    expect(await store.shards[2]!.gateways.get(gateways[2]!)).not.toBeNull();
    expect(await store.shards[0]!.gateways.get(gateways[2]!)).toBeNull();
    await eventually(() => expect(names('west')).toEqual(['gw-plain', 'outbound_.443_._.gw-dnat']));
    await store.gateways.delete(gateways[2]!, grant);
    await eventually(() => expect(names('west')).toEqual(['gw-plain']));
    await put(autoPassthroughGateway(gateways[2]!, { istio: 'west' }));
    await eventually(() => expect(cache!.status().gateways).toBe(2));

    // A reload reconciles shard after shard; shard 1 (no Gateway) and shard 2 each keep the other shards' Gateways.
    const before = cache.status().reconciles.requested ?? 0;
    await cache.reconcileNow();
    expect(cache.status().reconciles.requested).toBe(before + 3);
    expect(cache.status().gateways).toBe(2);
    expect(names('east')).toEqual(['gw-plain', 'outbound_.443_._.gw-dnat']);
    expect(names('west')).toEqual(['gw-plain', 'outbound_.443_._.gw-dnat']);
    expect(cache.gatewaysFor(router('east')).map((g) => g.name)).toEqual([gateways[0]!.name]);
    await store.lease.release(grant);
  });
});
