/**
 * The Redis store on a local Redis Cluster (three masters, three replicas, started by the test): the
 * unchanged contract suite through the cluster client, with the single-tag layout and on one shard of
 * a three-shard store; then what sharding adds: where keys (ServiceEntries, Sidecars, Gateways) go, fencing through the shards' copies of the
 * lease, and the epoch.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import type { ObjectKey } from '@skiff/model';
import type { LeaseGrant } from './contract.js';
import { diffFields, serviceEntryFields } from './fields.js';
import { keyLayout } from './redis-keys.js';
import { createShardedRedisStore, type ShardedRedisStore } from './redis-sharded.js';
import { serviceEntry, workload } from './test-support/fixtures.js';
import { describeStoreContract, type StoreHarnessFactory } from './contract.suite.js';
import { REDIS_CLUSTER_OPTION, redisStoreFromCommandLine } from './command-line.js';
import { createRedisStore } from './redis.js';
import { redisHarness } from './test-support/redis-harness.js';
import { silentLogger } from '@skiff/runtime';
import { LocalRedisCluster, uniquePrefix } from '@skiff/testing';

let cluster: LocalRedisCluster;
const filePrefix = uniquePrefix('cluster');
let harnesses = 0;

beforeAll(async () => {
  cluster = await LocalRedisCluster.start();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

/** Deletes every key of a store whose tags start with `prefix`, on every master. */
async function deleteClusterKeys(prefix: string): Promise<void> {
  for (const port of await cluster.masterPorts()) {
    const admin = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => null });
    admin.on('error', () => undefined);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', `{${prefix}*`, 'COUNT', 1000);
        cursor = next;
        // One DEL per key: the keys of several tags may sit on one master but in different slots.
        for (const key of keys) await admin.del(key);
      } while (cursor !== '0');
    } finally {
      admin.disconnect();
    }
  }
}

const clusterHarness: StoreHarnessFactory = async (options) => {
  const prefix = `${filePrefix}-${++harnesses}`;
  return redisHarness(
    () => createRedisStore({ cluster: cluster.seeds, keyPrefix: prefix, commandRetries: 3, ...options }),
    () => deleteClusterKeys(prefix),
  );
};

describeStoreContract('redis cluster', clusterHarness);

// One shard of a three-shard store is a complete store: its own log, sequence and resources, fenced by
// its copy of the installation's lease; its writes wait for a replica.
describeStoreContract('redis cluster, shard 1 of 3', async (options) => {
  const prefix = `${filePrefix}-${++harnesses}`;
  return redisHarness(
    () => createShardedRedisStore({ cluster: cluster.seeds, keyPrefix: prefix, commandRetries: 3, shards: 3, replicaWaitMs: 2000, ...options }).shards[1]!,
    () => deleteClusterKeys(prefix),
  );
});

describe('Redis Cluster from the command line', () => {
  it('connects every service option set with --redis-cluster through the cluster client, and names a bad seed', async () => {
    expect(REDIS_CLUSTER_OPTION.parse('10.0.0.1:6379, redis-1.redis:7000,[::1]:6380')).toEqual(['10.0.0.1:6379', 'redis-1.redis:7000', '[::1]:6380']);
    expect(() => REDIS_CLUSTER_OPTION.parse('10.0.0.1:6379,redis-2')).toThrow('item "redis-2": expected host:port');
    const prefix = `${filePrefix}-${++harnesses}`;
    // The URL's host is not used with a cluster: nothing listens on port 1.
    const store = redisStoreFromCommandLine({ redisUrl: 'redis://127.0.0.1:1', keyPrefix: prefix, redisCluster: cluster.seeds }, { connectionName: 'cli-test', logger: silentLogger() });
    try {
      await store.ping();
      expect(store.target).toBe(`redis cluster ${cluster.seeds.join(',')}`);
      expect(await store.lease.acquire('watcher-1', 60_000)).not.toBeNull();
    } finally {
      await store.close();
      await deleteClusterKeys(prefix);
    }
  });
});

describe('sharded Redis store on a cluster', () => {
  const keys: ObjectKey[] = Array.from({ length: 30 }, (_, i) => ({ namespace: `ns-${i % 4}`, name: `se-${i}` }));
  let prefix: string;
  let store: ShardedRedisStore;

  beforeEach(() => {
    prefix = `${filePrefix}-${++harnesses}`;
    store = createShardedRedisStore({ cluster: cluster.seeds, keyPrefix: prefix, shards: 3 });
  });

  afterEach(async () => {
    await store.close();
    await deleteClusterKeys(prefix);
  });

  const writeAll = (fence: LeaseGrant) =>
    Promise.all(keys.map((key) => store.serviceEntries.write(key, diffFields(null, serviceEntryFields(serviceEntry(key), [workload(key.namespace, `${key.name}-w`, '10.0.0.1')])), fence)));

  it('puts each ServiceEntry in the shard its key hashes to, each shard on a master of its own, and lists them all', async () => {
    const grant = (await store.lease.acquire('watcher-1', 60_000))!;
    await writeAll(grant);
    expect(await store.serviceEntries.list()).toEqual([...keys].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name)));
    const perShard = [0, 0, 0];
    for (const key of keys) {
      const home = store.shardOf(key);
      perShard[home]!++;
      for (const [index, shard] of store.shards.entries()) expect((await shard.serviceEntries.read(key)) !== null).toBe(index === home);
    }
    // Thirty keys over three shards: every shard gets some.
    expect(perShard.every((count) => count > 0)).toBe(true);
    // Each shard's change log holds exactly its own keys' entries.
    for (const [index, shard] of store.shards.entries()) expect(await shard.changeLog.length()).toBe(perShard[index]);
    // Each shard's keys sit in one slot, served by a master no other shard uses.
    const masters = await Promise.all([0, 1, 2].map((index) => cluster.masterOfSlot(calculateSlot(keyLayout(prefix, { index, count: 3 }).changeLog))));
    expect(new Set(masters).size).toBe(3);
  });

  it('splits a batch by shard, one script call per shard, and returns the results in the batch order', async () => {
    const grant = (await store.lease.acquire('watcher-1', 60_000))!;
    const fullDiff = (key: ObjectKey) => diffFields(null, serviceEntryFields(serviceEntry(key), [workload(key.namespace, `${key.name}-w`, '10.0.0.1')]));
    const written = await store.serviceEntries.writeMany(keys.map((key) => ({ key, diff: fullDiff(key) })), grant);
    expect(written.map((r) => r.status)).toEqual(keys.map(() => 'written'));
    for (const [i, key] of keys.entries()) expect((await store.shards[store.shardOf(key)]!.serviceEntries.read(key))?.revision).toBe((written[i] as { revision: number }).revision);
    const deleted = await store.serviceEntries.writeMany([{ key: keys[0]!, delete: true }, { key: keys[1]!, diff: fullDiff(keys[1]!) }, { key: keys[2]!, delete: true }], grant);
    expect(deleted.map((r) => r.status)).toEqual(['deleted', 'unchanged', 'deleted']);
    expect(await store.serviceEntries.list()).toHaveLength(keys.length - 2);
    await expect(store.serviceEntries.writeMany([{ key: keys[3]!, delete: true }], { holder: 'watcher-2', token: grant.token + 1 })).rejects.toMatchObject({ code: 'fenced' });
    expect(await store.serviceEntries.read(keys[3]!)).not.toBeNull();
  });

  it('puts each Sidecar and Gateway in the shard its key hashes to, invalidates on that shard alone, and lists them all', async () => {
    const grant = (await store.lease.acquire('watcher-1', 60_000))!;
    const json = JSON.stringify({ schemaVersion: 1, egress: [{ bind: '', hosts: ['./*'] }] });
    const seen = store.shards.map(() => [] as string[]);
    const subscriptions = await Promise.all(
      store.shards.map((shard, index) => shard.invalidations.subscribe({ onInvalidation: (m) => seen[index]!.push(`${m.kind} ${m.owner.namespace}/${m.owner.name}`), onGap: () => undefined }, { afterSeq: 0 })),
    );
    try {
      const some = keys.slice(0, 9);
      for (const key of some) {
        expect((await store.gateways.put(key, json, grant)).status).toBe('written');
        expect((await store.sidecars.put(key, json, grant)).status).toBe('written');
      }
      const sorted = [...some].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
      expect((await store.gateways.list()).map((stored) => stored.key)).toEqual(sorted);
      expect((await store.sidecars.list()).map((stored) => stored.key)).toEqual(sorted);
      const expected = store.shards.map(() => [] as string[]);
      for (const key of some) {
        const home = store.shardOf(key);
        for (const kind of ['Gateway', 'Sidecar']) expected[home]!.push(`${kind} ${key.namespace}/${key.name}`);
        for (const [index, shard] of store.shards.entries()) expect((await shard.gateways.get(key)) !== null).toBe(index === home);
      }
      await vi.waitFor(() => expect(seen).toEqual(expected), { timeout: 20_000 });
      expect((await store.gateways.delete(some[0]!, grant)).status).toBe('deleted');
      expect(await store.shards[store.shardOf(some[0]!)]!.gateways.get(some[0]!)).toBeNull();
    } finally {
      await Promise.all(subscriptions.map((subscription) => subscription.close()));
    }
  });

  it('fences every shard with the lease: a new holder installs its copy everywhere, the old one is refused everywhere', async () => {
    const first = (await store.lease.acquire('watcher-1', 400))!;
    await writeAll(first);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const second = (await store.lease.acquire('watcher-2', 60_000))!;
    expect(second.token).toBeGreaterThan(first.token);
    for (const shard of [0, 1, 2]) {
      const key = keys.find((k) => store.shardOf(k) === shard)!;
      await expect(store.serviceEntries.delete(key, first)).rejects.toMatchObject({ code: 'fenced', current: second });
    }
    // The old holder cannot renew (the lease is gone) nor bring its copies back.
    expect(await store.lease.renew(first, 60_000)).toBe(false);
    expect((await store.serviceEntries.delete(keys[0]!, second)).status).toBe('deleted');
    // Released: no shard takes writes until the next holder installs its copy.
    expect(await store.lease.release(second)).toBe(true);
    await expect(store.serviceEntries.delete(keys[1]!, second)).rejects.toMatchObject({ code: 'fenced', current: null });
  });

  it('refuses writes on a shard that lost its fence copy until the holder renews', async () => {
    const grant = (await store.lease.acquire('watcher-1', 60_000))!;
    const key = keys[0]!;
    const layout = keyLayout(prefix, { index: store.shardOf(key), count: 3 });
    const admin = new Cluster(cluster.seeds.map((seed) => ({ host: '127.0.0.1', port: Number(seed.split(':')[1]) })));
    try {
      await admin.del(layout.lease);
    } finally {
      admin.disconnect();
    }
    await expect(store.serviceEntries.write(key, diffFields(null, serviceEntryFields(serviceEntry(key), [])), grant)).rejects.toMatchObject({ code: 'fenced' });
    expect(await store.lease.renew(grant, 60_000)).toBe(true);
    expect((await store.serviceEntries.write(key, diffFields(null, serviceEntryFields(serviceEntry(key), [])), grant)).status).toBe('written');
  });

  it('with replicaWaitMs, fails a write its replica does not confirm as unavailable, leaving it on the master', async () => {
    await store.close();
    store = createShardedRedisStore({ cluster: cluster.seeds, keyPrefix: prefix, shards: 3, replicaWaitMs: 300 });
    const grant = (await store.lease.acquire('watcher-1', 60_000))!;
    const key = keys[0]!;
    const master = await cluster.masterOfKey(keyLayout(prefix, { index: store.shardOf(key), count: 3 }).changeLog);
    const replica = await cluster.replicaOf(master);
    cluster.freeze(replica, true);
    try {
      await expect(store.serviceEntries.write(key, diffFields(null, serviceEntryFields(serviceEntry(key), [])), grant)).rejects.toMatchObject({
        code: 'unavailable',
        message: '[unavailable] write-service-entries: no replica confirmed the write within 300 ms (it is on the master; repeating it is harmless)',
      });
    } finally {
      cluster.freeze(replica, false);
    }
    expect((await store.serviceEntries.read(key))?.fields).toEqual(diffFields(null, serviceEntryFields(serviceEntry(key), [])).set);
    // Repeating it once the replica answers again: nothing differs, and the replica confirms.
    expect((await store.serviceEntries.write(key, diffFields(null, serviceEntryFields(serviceEntry(key), [])), grant)).status).toBe('unchanged');
  });

  it('changes its epoch when one shard lost its data', async () => {
    const grant = (await store.lease.acquire('watcher-1', 60_000))!;
    await writeAll(grant);
    const before = await store.epoch();
    expect(before?.split(',')).toHaveLength(4);
    const layout = keyLayout(prefix, { index: 2, count: 3 });
    const admin = new Cluster(cluster.seeds.map((seed) => ({ host: '127.0.0.1', port: Number(seed.split(':')[1]) })));
    try {
      await admin.del(layout.epoch);
    } finally {
      admin.disconnect();
    }
    expect(await store.epoch()).toBeNull();
  });
});
