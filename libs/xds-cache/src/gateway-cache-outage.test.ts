/**
 * A store outage against a real Redis of the test's own: the server is killed (SIGKILL) while the cache
 * serves, and started again empty. Throughout, connected and new proxies are served what the cache
 * holds, nothing is announced as removed, and once the translators have rebuilt the store the cache
 * follows it; what was not rebuilt leaves when the grace period ends.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ResourceChange } from '@skiff/ads-server';
import type { ObjectKey } from '@skiff/model';
import { silentLogger } from '@skiff/runtime';
import { createRedisStore, type BuiltResource, type RedisStore } from '@skiff/store';
import { eventually, PrivateRedisServer } from '@skiff/testing';
import { GatewayCache } from './gateway-cache.js';
import { built, CDS, EDS, visibility } from './test-support/fixtures.js';

const A: ObjectKey = { namespace: 'a', name: 'alpha' };
const B: ObjectKey = { namespace: 'b', name: 'beta' };
const C: ObjectKey = { namespace: 'c', name: 'gamma' };
const envoyIn = (namespace: string) => ({ namespace, flavor: 'envoy'}) as const;
const WAIT = { timeoutMs: 20_000 };

let server: PrivateRedisServer;
const stores: RedisStore[] = [];
let cache: GatewayCache | undefined;

beforeAll(async () => {
  server = await PrivateRedisServer.start('outage-secret');
});

afterAll(async () => {
  await cache?.close();
  await Promise.all(stores.map((store) => store.close()));
  await server?.stop();
});

function openStore(): RedisStore {
  const store = createRedisStore({ url: server.url(0), keyPrefix: 'outage', retry: { minDelayMs: 20, maxDelayMs: 200 }, commandRetries: 3, connectTimeoutMs: 500 });
  stores.push(store);
  return store;
}

it('keeps serving through a store outage and an empty restart, then follows the rebuilt store', { timeout: 60_000 }, async () => {
  const translator = openStore();
  let revision = 0;
  const write = async (owner: ObjectKey, resources: BuiltResource[]) => {
    const outcome = await translator.resources.replace({ visibility: visibility(owner.namespace, owner.name), revision: ++revision, resources });
    expect(outcome.status).toBe('applied');
  };
  await write(A, [built('a1', 'v1'), built('a1', 'e1', 'envoy-sidecar', EDS)]);
  await write(B, [built('b1', 'v1')]);
  await write(C, [built('c1', 'v1')]);

  cache = new GatewayCache({ store: openStore(), logger: silentLogger(), checkIntervalMs: 100, resetGraceMs: 3_000, retry: { initialMs: 20, maxMs: 200 } });
  await cache.start();
  const connected = cache.viewFor(envoyIn('x'));
  const a1 = connected.get(CDS, 'a1');
  const full = { a1: 'v1', b1: 'v1', c1: 'v1' };
  const versionsOf = (namespace: string) => Object.fromEntries([...cache!.viewFor(envoyIn(namespace)).all(CDS)].map(([name, r]) => [name, r.version]));
  expect(versionsOf('x')).toEqual(full);

  const announced: ResourceChange[] = [];
  const servedAtEachChange: Record<string, string>[] = [];
  cache.onChange((batch) => {
    for (const item of batch) announced.push(item);
    servedAtEachChange.push(versionsOf('x'));
  });

  // The server dies. The cache keeps everything, for connected proxies and for new ones.
  await server.kill();
  await eventually(() => expect(cache!.status().storeErrors).toBeGreaterThan(2), WAIT);
  expect(cache.isReady()).toBe(true);
  expect(versionsOf('x')).toEqual(full);
  expect(versionsOf('new-namespace')).toEqual(full);
  expect(cache.viewFor(envoyIn('x')).get(CDS, 'a1')).toBe(a1);
  expect(announced).toEqual([]);

  // It comes back empty: the cache resubscribes, sees the data is gone, and still serves what it has.
  await server.launch();
  await eventually(() => expect(cache!.status().retainedOwners).toBe(3), WAIT);
  expect(versionsOf('x')).toEqual(full);
  expect(announced).toEqual([]);

  // The watcher and translators rebuild: A unchanged, B with a new version; C was deleted meanwhile.
  revision = 0;
  await eventually(async () => {
    await translator.ping();
  }, WAIT);
  await write(A, [built('a1', 'v1'), built('a1', 'e1', 'envoy-sidecar', EDS)]);
  await write(B, [built('b1', 'v2')]);
  await eventually(() => expect(versionsOf('x')).toEqual({ a1: 'v1', b1: 'v2', c1: 'v1' }), WAIT);
  expect(cache.viewFor(envoyIn('x')).get(CDS, 'a1')).toBe(a1);

  // When the grace period ends, what the store still lacks goes.
  await eventually(() => expect(versionsOf('x')).toEqual({ a1: 'v1', b1: 'v2' }), WAIT);
  expect(cache.status()).toMatchObject({ owners: 2, retainedOwners: 0 });
  expect(announced.flatMap((change) => change.names).sort()).toEqual(['b1', 'c1']);
  // Nothing was ever announced with a1 or b1 missing.
  expect(servedAtEachChange.every((served) => served['a1'] === 'v1' && served['b1'] !== undefined)).toBe(true);

  // And it follows the store again.
  await write(A, [built('a1', 'v3')]);
  await eventually(() => expect(versionsOf('x')).toEqual({ a1: 'v3', b1: 'v2' }), WAIT);
});
