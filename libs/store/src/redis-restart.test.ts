/**
 * The Redis store against a server of its own that is killed (SIGKILL) and started again without
 * persistence: the process survives, every connection comes back and says so in its counters, the
 * invalidation subscription resumes and signals the possible gap, a blocked change-log read carries on
 * (the consumer group is recreated), and the epoch reveals that the data is gone.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { ObjectKey } from '@skiff/model';
import type { ConnectionStateEvent, GapEvent, Invalidation } from './contract.js';
import { diffFields, serviceEntryFields } from './fields.js';
import { createRedisStore, type RedisStore } from './redis.js';
import { CLUSTER_TYPE, resource, serviceEntry, visibility } from './test-support/fixtures.js';
import { PrivateRedisServer } from './test-support/redis.js';

const A: ObjectKey = { namespace: 'default', name: 'a' };
const B: ObjectKey = { namespace: 'default', name: 'b' };
const WAIT = { timeout: 10_000, interval: 10 } as const;

let server: PrivateRedisServer;
let store: RedisStore;

beforeAll(async () => {
  server = await PrivateRedisServer.start('restart-secret');
});

afterAll(async () => {
  await store?.close();
  await server?.stop();
});

it('survives a kill and an empty restart of the server, and shows it', { timeout: 60_000 }, async () => {
  // Password and database from the URL; reconnect quickly so the test is short.
  store = createRedisStore({ url: server.url(2), keyPrefix: 'restart', retry: { minDelayMs: 20, maxDelayMs: 200 }, commandRetries: 100 });
  const states: ConnectionStateEvent[] = [];
  store.onStateChange((event) => states.push(event));
  const messages: Invalidation[] = [];
  const gaps: GapEvent[] = [];
  const subscription = await store.invalidations.subscribe({ onInvalidation: (m) => messages.push(m), onGap: (g) => gaps.push(g) }, { afterSeq: 0 });

  const lease = (await store.lease.acquire('watcher-1', 60_000))!;
  const before = await store.serviceEntries.write(A, diffFields(null, serviceEntryFields(serviceEntry(A), [])), lease);
  const epochBefore = await store.epoch();
  expect(before.status === 'written' && before.epoch).toBe(epochBefore);
  expect(await store.changeLog.read('translator-1', { count: 10, blockMs: 0 })).toHaveLength(1);
  await store.resources.replace({ visibility: visibility(A), revision: before.revision, resources: [resource(CLUSTER_TYPE, 'outbound|80||a.example.com', 'v1')] });
  await vi.waitFor(() => expect(messages.map((m) => m.seq)).toEqual([1]), WAIT);

  // A translator waits for the next change while the server dies.
  const blockedRead = store.changeLog.read('translator-1', { count: 10, blockMs: 30_000 });
  await vi.waitFor(() => expect(store.health().connections.find((c) => c.name === 'blocking')?.state).toBe('ready'), WAIT);
  await new Promise((resolve) => setTimeout(resolve, 50));

  await server.kill();
  await vi.waitFor(() => expect(store.health().state).toBe('reconnecting'), WAIT);
  // At least one reconnection attempt fails while the server is down (counted as an error), whatever the timing.
  await vi.waitFor(() => expect(store.health().errors).toBeGreaterThan(0), WAIT);
  // While the server is down a call fails cleanly (here: a second client that gives up quickly).
  const impatient = createRedisStore({ url: server.url(2), keyPrefix: 'restart', retry: { minDelayMs: 10, maxDelayMs: 20 }, commandRetries: 1 });
  await expect(impatient.epoch()).rejects.toMatchObject({ code: 'unavailable' });
  await impatient.close();

  await server.launch();
  await vi.waitFor(() => {
    const health = store.health();
    expect(health.connections.map((c) => [c.name, c.state, c.reconnects])).toEqual([
      ['commands', 'ready', 1],
      ['blocking', 'ready', 1],
      ['subscriber', 'ready', 1],
    ]);
  }, WAIT);
  await vi.waitFor(() => expect(gaps).toEqual([{ reason: 'reconnect' }]), WAIT);
  const health = store.health();
  expect(health.reconnects).toBe(3);
  expect(health.errors).toBeGreaterThan(0);
  expect(health.connections.every((c) => c.reconnectAttempts >= 1)).toBe(true);
  expect(states.filter((e) => e.connection === 'commands' && e.error === undefined).map((e) => e.state)).toEqual(['ready', 'reconnecting', 'ready']);
  // The outage's reason came with it (each reason once: a reset, then refused connections).
  const reasons = states.filter((e) => e.connection === 'commands' && e.error !== undefined).map((e) => e.error);
  expect(reasons).toContainEqual(expect.stringMatching(/ECONNREFUSED/));
  expect(new Set(reasons).size).toBe(reasons.length);

  // The data is gone, and the epoch says so.
  expect(await store.epoch()).toBeNull();
  expect(await store.serviceEntries.list()).toEqual([]);
  await expect(store.serviceEntries.write(B, diffFields(null, serviceEntryFields(serviceEntry(B), [])), lease)).rejects.toMatchObject({ code: 'fenced', current: null });
  const again = (await store.lease.acquire('watcher-1', 60_000))!;
  expect(again.token).toBeGreaterThan(lease.token);
  const after = await store.serviceEntries.write(B, diffFields(null, serviceEntryFields(serviceEntry(B), [])), again);
  expect(after.status === 'written' && after.epoch).not.toBe(epochBefore);

  // The read that was blocked when the server died delivers the first change after the restart.
  expect((await blockedRead).map((c) => c.serviceEntry)).toEqual([B]);

  // The subscription is back: a message published now arrives; after the reconcile the count starts over.
  const snapshot = await store.resources.loadAll();
  expect(snapshot).toEqual({ seq: 0, owners: [] });
  subscription.rebase(snapshot.seq);
  await store.resources.replace({ visibility: visibility(B), revision: after.revision, resources: [resource(CLUSTER_TYPE, 'outbound|80||b.example.com', 'v1')] });
  await vi.waitFor(() => expect(messages.map((m) => [m.seq, m.owner.name])).toEqual([[1, 'a'], [1, 'b']]), WAIT);
  expect(gaps).toEqual([{ reason: 'reconnect' }]);
});
