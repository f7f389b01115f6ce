import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { keyLayout } from './redis-keys.js';
import { describeStoreContract } from './contract.suite.js';
import { diffFields, serviceEntryFields } from './fields.js';
import { createRedisStore, resolveRedisOptions } from './redis.js';
import { CLUSTER_TYPE, resource, serviceEntry, visibility } from './test-support/fixtures.js';
import { redisHarness } from './test-support/redis-harness.js';
import { SHARED_REDIS_URL, connectAdmin, deleteKeys, freePort, listKeys, uniquePrefix } from './test-support/redis.js';
import { eventually } from '@skiff/testing';

let admin: Redis;
const filePrefix = uniquePrefix('redis');
let harnesses = 0;

beforeAll(async () => {
  admin = await connectAdmin();
});

afterAll(async () => {
  // Every harness cleans up after itself; this catches what a failed test left.
  for (let i = 1; i <= harnesses; i++) await deleteKeys(admin, `${filePrefix}-${i}`);
  admin.disconnect();
});

describeStoreContract('redis', async (options) => {
  const prefix = `${filePrefix}-${++harnesses}`;
  return redisHarness(
    () => createRedisStore({ url: SHARED_REDIS_URL, keyPrefix: prefix, commandRetries: 3, ...options }),
    () => deleteKeys(admin, prefix),
  );
});

/** The slot-deciding part of a key, by Redis Cluster's rule (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags). */
function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('Redis store', () => {
  it('keeps every key it writes under one hash tag, so every script is single-slot on Redis Cluster', async () => {
    const prefix = `${filePrefix}-layout`;
    const store = createRedisStore({ url: SHARED_REDIS_URL, keyPrefix: prefix });
    try {
      const key = { namespace: 'default', name: 'a' };
      const grant = (await store.lease.acquire('w', 60_000))!;
      await store.serviceEntries.write(key, diffFields(null, serviceEntryFields(serviceEntry(key), [])), grant);
      await store.changeLog.read('t1', { count: 10, blockMs: 0 });
      await store.resources.replace({ visibility: visibility(key), revision: 1, resources: [resource(CLUSTER_TYPE, 'outbound|80||a.example.com', 'v1')] });
      await store.resources.deleteOwner({ namespace: 'default', name: 'gone' }, { revision: 2 });
      await store.fleet.publish('gw-1', '{}', 60_000);
      const keys = await listKeys(admin, prefix);
      const layout = keyLayout(prefix);
      expect(keys).toEqual(
        [
          layout.serviceEntry('default/a'),
          layout.serviceEntryIndex,
          layout.revisionCounter,
          layout.changeLog,
          layout.resources('default/a'),
          layout.resources('default/gone'),
          layout.resourceIndex,
          layout.sequence,
          layout.epoch,
          layout.lease,
          layout.leaseTokenCounter,
          layout.fleetReport('gw-1'),
          layout.fleetRevision('gw-1'),
          layout.fleetIndex,
        ].sort(),
      );
      expect(new Set(keys.map(hashTagOf))).toEqual(new Set([prefix]));
      // The tombstone of a deleted owner expires on its own.
      expect(await admin.pttl(layout.resources('default/gone'))).toBeGreaterThan(0);
    } finally {
      await store.close();
      await deleteKeys(admin, prefix);
    }
  });

  it('lists a fleet report stored without a revision (an older replica) with revision null, and reads it every time', async () => {
    const prefix = `${filePrefix}-fleet-revision`;
    const store = createRedisStore({ url: SHARED_REDIS_URL, keyPrefix: prefix });
    try {
      const layout = keyLayout(prefix);
      await admin.multi().set(layout.fleetReport('gw-old'), '{"proxies":1}', 'PX', 60_000).sadd(layout.fleetIndex, 'gw-old').exec();
      await store.fleet.publish('gw-new', '{"proxies":2}', 60_000);
      const first = await store.fleet.list();
      expect(first).toEqual([
        { replica: 'gw-new', revision: expect.any(String), report: '{"proxies":2}' },
        { replica: 'gw-old', revision: null, report: '{"proxies":1}' },
      ]);
      const known = new Map([['gw-new', first[0]?.revision as string]]);
      expect(await store.fleet.list(undefined, known)).toEqual([
        { replica: 'gw-new', revision: known.get('gw-new'), report: null },
        { replica: 'gw-old', revision: null, report: '{"proxies":1}' },
      ]);
      // Its revision lost (a key evicted alone): the report is read again, and a refresh asks for a full publish.
      await admin.del(layout.fleetRevision('gw-new'));
      expect(await store.fleet.list(undefined, known)).toContainEqual({ replica: 'gw-new', revision: null, report: '{"proxies":2}' });
      expect(await store.fleet.refresh('gw-new', 60_000)).toBe(false);
    } finally {
      await store.close();
      await deleteKeys(admin, prefix);
    }
  });

  it('with replicaWaitMs, writes alone on a server without replicas, and refuses a negative wait', async () => {
    const prefix = `${filePrefix}-replica-wait`;
    // The shared server has no replica: there is nothing to wait for (WAIT 1 would only time out).
    const store = createRedisStore({ url: SHARED_REDIS_URL, keyPrefix: prefix, replicaWaitMs: 5000 });
    try {
      const key = { namespace: 'default', name: 'a' };
      const grant = (await store.lease.acquire('w', 60_000))!;
      const started = performance.now();
      expect((await store.serviceEntries.write(key, diffFields(null, serviceEntryFields(serviceEntry(key), [])), grant)).status).toBe('written');
      expect(performance.now() - started).toBeLessThan(4000);
      expect(() => createRedisStore({ url: SHARED_REDIS_URL, replicaWaitMs: -1 })).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
    } finally {
      await store.close();
      await deleteKeys(admin, prefix);
    }
  });

  it('fails calls with "unavailable" while no server answers, counts the errors, and does not crash', async () => {
    const port = await freePort();
    const states: string[] = [];
    const store = createRedisStore({ url: `redis://127.0.0.1:${port}`, commandRetries: 2, retry: { minDelayMs: 10, maxDelayMs: 20 } });
    const errors: string[] = [];
    store.onStateChange((event) => (event.error === undefined ? states.push(`${event.connection}:${event.state}`) : errors.push(`${event.connection}: ${event.error}`)));
    try {
      // The message names the server and why it cannot be reached, not ioredis's retry limit.
      await expect(store.ping()).rejects.toMatchObject({
        name: 'StoreError',
        code: 'unavailable',
        message: `[unavailable] ping: cannot reach Redis at redis://127.0.0.1:${port}/0: connect ECONNREFUSED 127.0.0.1:${port}`,
      });
      // The outage was reported once, with its reason, when it began.
      expect(errors).toEqual([`commands: connect ECONNREFUSED 127.0.0.1:${port}`]);
      await expect(store.serviceEntries.list()).rejects.toMatchObject({ code: 'unavailable' });
      const health = store.health();
      expect(health.state).not.toBe('ready');
      expect(health.errors).toBeGreaterThanOrEqual(2);
      expect(health.connections[0]).toMatchObject({ name: 'commands', reconnects: 0 });
      expect(health.connections[0]!.reconnectAttempts).toBeGreaterThanOrEqual(2);
      expect(health.connections[0]!.lastError).toMatch(/ECONNREFUSED/);
    } finally {
      await store.close();
    }
    expect(states.at(-1)).toBe('commands:closed');
  });

  it('after beginShutdown, calls stop waiting for an unreachable server at once', async () => {
    const port = await freePort();
    // The default retries would keep a call waiting for about 11 s.
    const store = createRedisStore({ url: `redis://127.0.0.1:${port}` });
    try {
      const waiting = store.serviceEntries.list();
      waiting.catch(() => {});
      await eventually(() => expect(store.health().errors).toBeGreaterThan(0));
      const started = performance.now();
      store.beginShutdown();
      await expect(waiting).rejects.toMatchObject({ code: 'unavailable', message: expect.stringContaining(`cannot reach Redis at redis://127.0.0.1:${port}/0`) });
      await expect(store.epoch()).rejects.toMatchObject({ code: 'unavailable', message: expect.stringContaining('not waiting for it while stopping') });
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      await store.close();
    }
  });

  it('reports a refused command as "command", not as a connection problem', async () => {
    const prefix = `${filePrefix}-wrongtype`;
    const store = createRedisStore({ url: SHARED_REDIS_URL, keyPrefix: prefix });
    try {
      await admin.set(keyLayout(prefix).changeLog, 'not a stream');
      await expect(store.changeLog.length()).rejects.toMatchObject({ code: 'command' });
    } finally {
      await store.close();
      await deleteKeys(admin, prefix);
    }
  });
});

describe('Redis connection options', () => {
  it('reads host, port, credentials and database from the URL, with explicit options winning', () => {
    const fromUrl = resolveRedisOptions({ url: 'redis://user:p%40ss@10.1.2.3:6380/4' });
    expect(fromUrl).toMatchObject({ host: '10.1.2.3', port: 6380, username: 'user', password: 'p@ss', db: 4 });
    expect(fromUrl.tls).toBeUndefined();
    expect(resolveRedisOptions({ url: 'redis://:secret@[::1]' })).toMatchObject({ host: '::1', port: 6379, password: 'secret', db: 0 });
    expect(resolveRedisOptions({ url: 'redis://:secret@h:1/2', password: 'other', db: 7 })).toMatchObject({ password: 'other', db: 7 });
    expect(resolveRedisOptions({})).toMatchObject({ host: '127.0.0.1', port: 6379, db: 0 });
  });

  it('turns TLS on for rediss:// and passes TLS settings through', () => {
    expect(resolveRedisOptions({ url: 'rediss://cache.example.com:6380' })).toMatchObject({ host: 'cache.example.com', port: 6380, tls: {} });
    expect(resolveRedisOptions({ url: 'rediss://cache.example.com', tls: { servername: 'x' } }).tls).toEqual({ servername: 'x' });
  });

  it('rejects what is not a Redis URL', () => {
    expect(() => resolveRedisOptions({ url: 'http://localhost:6379' })).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => resolveRedisOptions({ url: 'redis://localhost/db1' })).toThrow(/database must be a number/);
    expect(() => resolveRedisOptions({ url: 'not a url' })).toThrow(/invalid Redis URL/);
  });

  it('reconnects with the shared backoff: from the minimum delay up to the cap, spread by 20 %, never giving up', () => {
    const strategy = resolveRedisOptions({ retry: { minDelayMs: 10, maxDelayMs: 40 } }).retryStrategy!;
    for (const attempt of [1, 5, 1000]) {
      const delay = strategy(attempt);
      expect(typeof delay).toBe('number');
      expect(delay).toBeGreaterThanOrEqual(attempt === 1 ? 8 : 32);
      expect(delay).toBeLessThanOrEqual(attempt === 1 ? 12 : 40);
    }
  });
});
