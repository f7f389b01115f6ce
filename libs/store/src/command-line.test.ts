/**
 * The shared command-line face of the store: `--redis-shards` values, and the shard count recorded in
 * the store by the first service and enforced on every later one (shared Redis, own key prefix).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@skiff/runtime';
import { connectAdmin, SHARED_REDIS_URL, uniquePrefix } from '@skiff/testing';
import { REDIS_SHARDS_OPTION, redisStoresFromCommandLine } from './command-line.js';

describe('--redis-shards', () => {
  it('takes an integer from 1 to 256', () => {
    expect(REDIS_SHARDS_OPTION.parse('3')).toBe(3);
    expect(REDIS_SHARDS_OPTION.parse('256')).toBe(256);
    for (const bad of ['0', '257', '-1', '2.5', 'three', '']) expect(() => REDIS_SHARDS_OPTION.parse(bad), bad).toThrow('expected an integer from 1 to 256');
  });
});

describe('the recorded shard count', () => {
  const prefix = uniquePrefix('command-line');
  let admin: Awaited<ReturnType<typeof connectAdmin>>;

  beforeAll(async () => {
    admin = await connectAdmin();
  });

  afterAll(async () => {
    const keys = await admin.keys(`{${prefix}*`);
    if (keys.length > 0) await admin.del(keys);
    admin.disconnect();
  });

  const startWith = async (shards: number): Promise<void> => {
    const { store, shards: parts, runner } = redisStoresFromCommandLine({ redisUrl: SHARED_REDIS_URL, keyPrefix: prefix, redisShards: shards }, { connectionName: 'test', logger: silentLogger() });
    expect(parts).toHaveLength(shards);
    try {
      await runner.start(new AbortController().signal);
      await store.ping();
    } finally {
      await runner.close();
    }
  };

  it('is recorded by the first service and refused, naming the flag, when another count is given', async () => {
    await startWith(3);
    expect(await admin.get(`{${prefix}}:shards`)).toBe('3');
    await startWith(3);
    await expect(startWith(1)).rejects.toThrow(/^\[invalid-argument\] --redis-shards \(SKIFF_REDIS_SHARDS\) is 1 but the store at redis:\/\/127\.0\.0\.1:6379\S* is laid out in 3 shards: give every service --redis-shards 3/);
    await expect(startWith(4)).rejects.toThrow(/is 4 but .* laid out in 3 shards/);
    expect(await admin.get(`{${prefix}}:shards`)).toBe('3');
  });
});
