/**
 * The Redis store on a local Redis Cluster (three masters, three replicas, started by the test): the
 * unchanged contract suite through the cluster client, with the single-tag layout (`shards: 1`) and
 * on each shard of a three-shard layout.
 */
import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { describeStoreContract, type StoreHarnessFactory } from './contract.suite.js';
import { createRedisStore } from './redis.js';
import { redisHarness } from './test-support/redis-harness.js';
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
