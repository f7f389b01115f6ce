/**
 * The Redis store keeps nothing of a call once it has answered: a gateway lists the fleet's reports
 * (megabytes with thousands of proxies) every heartbeat, and every service reads the store all day, so
 * a result held until the store closes is memory that only grows. Checked with a weak reference to a
 * result and a forced garbage collection.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStore } from './redis.js';
import { SHARED_REDIS_URL, connectAdmin, deleteKeys, uniquePrefix } from './test-support/redis.js';

const prefix = uniquePrefix('redis-retention');

afterAll(async () => {
  const admin = await connectAdmin();
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

/** A full garbage collection, whether or not the process was started with --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('redis store', () => {
  it('holds no result after the call has answered', async () => {
    const store = createRedisStore({ url: SHARED_REDIS_URL, keyPrefix: prefix });
    try {
      await store.fleet.publish('replica-a', 'x'.repeat(100_000), 60_000);
      const reference = await (async () => new WeakRef(await store.fleet.list()))();
      expect(reference.deref()?.[0]?.report?.length).toBe(100_000);
      // A weak reference keeps its target alive until the end of the job that made it.
      await new Promise((resolve) => setTimeout(resolve, 10));
      collectGarbage();
      expect(reference.deref()).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('still ends a call in flight when the store closes', async () => {
    const store = createRedisStore({ url: 'redis://127.0.0.1:1', keyPrefix: prefix, connectTimeoutMs: 60_000 });
    const pending = store.fleet.list();
    await store.close();
    await expect(pending).rejects.toMatchObject({ code: 'closed' });
  });
});
