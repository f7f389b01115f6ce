import { createMetrics } from '@skiff/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStore } from './redis.js';
import { connectAdmin, deleteKeys, SHARED_REDIS_URL, uniquePrefix } from './test-support/redis.js';

describe('Redis store operation metrics', () => {
  const prefix = uniquePrefix('redis-metrics');
  afterAll(async () => {
    const admin = await connectAdmin();
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });

  it('records the latency of every store call by operation and outcome', async () => {
    const metrics = createMetrics({ serviceName: 'test' });
    const store = createRedisStore({ url: SHARED_REDIS_URL, keyPrefix: prefix, meter: metrics.meter });
    await store.lease.acquire('w', 10_000);
    await store.serviceEntries.list();
    await expect(store.fleet.publish('bad id', '{}', 1000)).rejects.toThrow();
    const text = await metrics.collectText();
    expect(text).toMatch(/skiff_store_operation_seconds_count\{operation="acquire lease",outcome="ok"\} 1/);
    expect(text).toMatch(/skiff_store_operation_seconds_count\{operation="list ServiceEntries",outcome="ok"\} 1/);
    expect(text).toMatch(/skiff_store_operation_seconds_count\{operation="publish fleet report",outcome="error"\} 1/);
    await store.close();
    await metrics.shutdown();
  });
});
