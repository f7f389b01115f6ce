/**
 * The one contract suite both implementations pass (`memory.test.ts`, `redis.test.ts`). It speaks
 * only the `Store` interface; a harness supplies what differs: how to open a second client on the
 * same data, how time passes, and how the backing store loses everything (a restart without
 * persistence).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ObjectKey } from '@skiff/model';
import {
  FencedError,
  StoreError,
  type GapEvent,
  type Invalidation,
  type InvalidationListener,
  type LeaseGrant,
  type PolicyScopes,
  type DeleteResult,
  type FleetReport,
  type ReplaceOutcome,
  type ResourceId,
  type Store,
  type StoreOptions,
  type WriteResult,
} from './contract.js';
import { decodeServiceEntry, diffFields, FRESH_FIELD_ENCODING, serviceEntryFields } from './fields.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, resource, rule, serviceEntry, virtualService, visibility, workload } from './test-support/fixtures.js';

export interface StoreHarness {
  /** The store under test. */
  readonly store: Store;
  /** Another client on the same data (another process, for Redis). Closed by `close`. */
  open(): Promise<Store>;
  /** Lets `ms` milliseconds pass for leases, idle entries and tombstones (a manual clock, or real time). */
  advance(ms: number): Promise<void>;
  /** Loses all data, as a store restarted without persistence does. */
  wipe(): Promise<void>;
  close(): Promise<void>;
}

export type StoreHarnessFactory = (options: Pick<StoreOptions, 'changeLogMaxLength' | 'tombstoneTtlMs'>) => Promise<StoreHarness>;

const A: ObjectKey = { namespace: 'default', name: 'a' };
const B: ObjectKey = { namespace: 'default', name: 'b' };
const C: ObjectKey = { namespace: 'other', name: 'c' };

const WAIT = { timeout: 5000, interval: 5 } as const;

/** A listener that records everything. */
function recorder() {
  const messages: Invalidation[] = [];
  const gaps: GapEvent[] = [];
  const listener: InvalidationListener = { onInvalidation: (m) => messages.push(m), onGap: (g) => gaps.push(g) };
  return { messages, gaps, listener };
}

/** The log entry of a write or delete that changed something. */
function logged(result: WriteResult | DeleteResult): { readonly logId: string; readonly revision: number } {
  if (result.status !== 'written' && result.status !== 'deleted') throw new Error(`expected a logged change, got ${JSON.stringify(result)}`);
  return result;
}

function applied(outcome: ReplaceOutcome): Invalidation {
  if (outcome.status !== 'applied') throw new Error(`expected an applied replace, got ${JSON.stringify(outcome)}`);
  return outcome.invalidation;
}

export function describeStoreContract(name: string, createHarness: StoreHarnessFactory): void {
  describe(`store contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;
    let grant: LeaseGrant;

    beforeEach(async () => {
      harness = await createHarness({ changeLogMaxLength: 1000 });
      store = harness.store;
      const acquired = await store.lease.acquire('watcher-1', 60_000);
      if (acquired === null) throw new Error('a fresh store has no lease holder');
      grant = acquired;
    });

    afterEach(async () => {
      await harness.close();
    });

    const writeFull = (key: ObjectKey, addresses: string[], fence = grant) =>
      store.serviceEntries.write(
        key,
        diffFields(null, serviceEntryFields(serviceEntry(key), addresses.map((address, i) => workload(key.namespace, `${key.name}-w${i}`, address)))),
        fence,
      );

    describe('ServiceEntry hashes', () => {
      it('stores the ServiceEntry and one field per endpoint, with a revision that grows on every write', async () => {
        const first = await writeFull(A, ['10.0.0.1', '10.0.0.2']);
        expect(first.status).toBe('written');
        const stored = await store.serviceEntries.read(A);
        expect(stored).not.toBeNull();
        expect(Object.keys(stored?.fields ?? {}).sort()).toEqual(['ep:WorkloadEntry/default/a-w0', 'ep:WorkloadEntry/default/a-w1', 'se']);
        const decoded = decodeServiceEntry(stored!);
        expect(decoded.serviceEntry).toEqual(serviceEntry(A));
        expect(decoded.endpoints.map((e) => e.address)).toEqual(['10.0.0.1', '10.0.0.2']);
        expect(decoded.revision).toBe(first.revision);

        const second = await store.serviceEntries.write(A, { set: { 'ep:WorkloadEntry/default/a-w2': JSON.stringify(workload('default', 'a-w2', '10.0.0.3')) }, delete: [] }, grant);
        const third = await writeFull(B, ['10.0.1.1']);
        const fourth = await store.serviceEntries.write(A, { set: {}, delete: ['ep:WorkloadEntry/default/a-w0'] }, grant);
        expect(second.revision).toBeGreaterThan(first.revision);
        expect(third.revision).toBeGreaterThan(second.revision);
        expect(fourth.revision).toBeGreaterThan(third.revision);
        expect((await store.serviceEntries.read(A))?.revision).toBe(fourth.revision);
        expect(Object.keys((await store.serviceEntries.read(A))?.fields ?? {}).sort()).toEqual(['ep:WorkloadEntry/default/a-w1', 'ep:WorkloadEntry/default/a-w2', 'se']);
      });

      it('stores DestinationRule fields beside the endpoints, rewrites and drops them like any field, and decodes them', async () => {
        const reviews = rule('shop', 'reviews', { host: 'a.example.com' });
        const fields = serviceEntryFields(serviceEntry(A), [workload('default', 'a-w0', '10.0.0.1')], FRESH_FIELD_ENCODING, [reviews]);
        const first = await store.serviceEntries.write(A, diffFields(null, fields), grant);
        expect(first.status).toBe('written');
        expect(decodeServiceEntry((await store.serviceEntries.read(A))!).destinationRules).toEqual([reviews]);

        const changed = { ...reviews, subsets: [{ name: 'v1', labels: { version: 'v1' }, trafficPolicy: null }] };
        const updated = serviceEntryFields(serviceEntry(A), [workload('default', 'a-w0', '10.0.0.1')], FRESH_FIELD_ENCODING, [changed]);
        const second = await store.serviceEntries.write(A, diffFields(fields, updated), grant);
        expect(second).toMatchObject({ status: 'written', changedFields: ['dr:shop/reviews'] });
        expect(decodeServiceEntry((await store.serviceEntries.read(A))!).destinationRules).toEqual([changed]);

        const withoutRule = serviceEntryFields(serviceEntry(A), [workload('default', 'a-w0', '10.0.0.1')]);
        const third = await store.serviceEntries.write(A, diffFields(updated, withoutRule), grant);
        expect(third).toMatchObject({ status: 'written', changedFields: ['dr:shop/reviews'] });
        expect(Object.keys((await store.serviceEntries.read(A))?.fields ?? {}).sort()).toEqual(['ep:WorkloadEntry/default/a-w0', 'se']);
      });

      it('stores VirtualService fields beside the rules, rewrites and drops them like any field, and decodes them', async () => {
        const routes = virtualService('shop', 'routes', ['a.example.com']);
        const fields = serviceEntryFields(serviceEntry(A), [], FRESH_FIELD_ENCODING, [rule('shop', 'reviews', { host: 'a.example.com' })], [], [routes]);
        expect((await store.serviceEntries.write(A, diffFields(null, fields), grant)).status).toBe('written');
        expect(decodeServiceEntry((await store.serviceEntries.read(A))!).virtualServices).toEqual([routes]);

        const changed = { ...routes, http: [{ route: [{ destination: { host: 'b.example.com' } }] }] };
        const updated = serviceEntryFields(serviceEntry(A), [], FRESH_FIELD_ENCODING, [rule('shop', 'reviews', { host: 'a.example.com' })], [], [changed]);
        expect(await store.serviceEntries.write(A, diffFields(fields, updated), grant)).toMatchObject({ status: 'written', changedFields: ['vs:shop/routes'] });
        expect(decodeServiceEntry((await store.serviceEntries.read(A))!).virtualServices).toEqual([changed]);

        const without = serviceEntryFields(serviceEntry(A), [], FRESH_FIELD_ENCODING, [rule('shop', 'reviews', { host: 'a.example.com' })]);
        expect(await store.serviceEntries.write(A, diffFields(updated, without), grant)).toMatchObject({ status: 'written', changedFields: ['vs:shop/routes'] });
        expect(Object.keys((await store.serviceEntries.read(A))?.fields ?? {}).sort()).toEqual(['dr:shop/reviews', 'se']);
      });

      it('writes only the fields whose value differs, and nothing at all when none does', async () => {
        const fields = serviceEntryFields(serviceEntry(A), [workload('default', 'a-w0', '10.0.0.1'), workload('default', 'a-w1', '10.0.0.2')]);
        const first = await store.serviceEntries.write(A, diffFields(null, fields), grant);
        const logLength = await store.changeLog.length();

        const again = await store.serviceEntries.write(A, { set: fields, delete: ['ep:WorkloadEntry/default/never-there'] }, grant);
        expect(again).toMatchObject({ status: 'unchanged', revision: first.revision });
        expect(await store.changeLog.length()).toBe(logLength);

        const moved = { ...fields, 'ep:WorkloadEntry/default/a-w1': JSON.stringify(workload('default', 'a-w1', '10.0.0.9')) };
        const second = await store.serviceEntries.write(A, { set: moved, delete: [] }, grant);
        expect(second).toMatchObject({ status: 'written', changedFields: ['ep:WorkloadEntry/default/a-w1'] });
        expect(second.revision).toBeGreaterThan(first.revision);
        expect(await store.changeLog.length()).toBe(logLength + 1);
        expect((await store.serviceEntries.read(A))?.fields).toEqual(moved);
      });

      it('deletes the hash, drops it from the list and logs the deletion with a newer revision', async () => {
        const written = await writeFull(A, ['10.0.0.1']);
        await writeFull(B, ['10.0.1.1']);
        const deleted = logged(await store.serviceEntries.delete(A, grant));
        expect(deleted.revision).toBeGreaterThan(logged(written).revision);
        expect(await store.serviceEntries.read(A)).toBeNull();
        expect(await store.serviceEntries.list()).toEqual([B]);
        const changes = await store.changeLog.read('t1', { count: 10, blockMs: 0 });
        expect(changes.find((c) => c.serviceEntry.name === 'a')).toMatchObject({ op: 'delete', revision: deleted.revision, ids: [logged(written).logId, deleted.logId] });

        const logLength = await store.changeLog.length();
        expect((await store.serviceEntries.delete(A, grant)).status).toBe('absent');
        expect(await store.changeLog.length()).toBe(logLength);
      });

      it('refuses a write or delete with a lease that is not current and leaves nothing behind', async () => {
        await writeFull(A, ['10.0.0.1']);
        const before = await store.serviceEntries.read(A);
        const logLength = await store.changeLog.length();
        const stale: LeaseGrant = { holder: grant.holder, token: grant.token - 1 };
        const impostor: LeaseGrant = { holder: 'watcher-2', token: grant.token };

        for (const fence of [stale, impostor]) {
          const write = store.serviceEntries.write(A, { set: { 'ep:WorkloadEntry/default/x': '{}' }, delete: ['ep:WorkloadEntry/default/a-w0'] }, fence);
          await expect(write).rejects.toBeInstanceOf(FencedError);
          await expect(store.serviceEntries.write(B, diffFields(null, serviceEntryFields(serviceEntry(B), [])), fence)).rejects.toMatchObject({ code: 'fenced', current: grant });
          await expect(store.serviceEntries.delete(A, fence)).rejects.toBeInstanceOf(FencedError);
        }
        expect(await store.serviceEntries.read(A)).toEqual(before);
        expect(await store.serviceEntries.read(B)).toBeNull();
        expect(await store.serviceEntries.list()).toEqual([A]);
        expect(await store.changeLog.length()).toBe(logLength);

        expect(await store.lease.release(grant)).toBe(true);
        await expect(writeFull(A, ['10.0.0.2'])).rejects.toMatchObject({ code: 'fenced', current: null });
        expect(await store.serviceEntries.read(A)).toEqual(before);
      });

      it('refuses fields the contract does not allow before writing anything', async () => {
        const invalid = [
          { set: { rev: '7' }, delete: [] },
          { set: { other: '{}' }, delete: [] },
          { set: {}, delete: ['se'] },
          { set: { 'ep:WorkloadEntry/default/x': '{}' }, delete: ['ep:WorkloadEntry/default/x'] },
        ];
        for (const diff of invalid) await expect(store.serviceEntries.write(A, diff, grant)).rejects.toMatchObject({ code: 'invalid-argument' });
        // A new hash without the ServiceEntry itself would be a hash no reader can decode.
        await expect(store.serviceEntries.write(A, { set: { 'ep:WorkloadEntry/default/x': '{}' }, delete: [] }, grant)).rejects.toMatchObject({ code: 'invalid-argument' });
        await expect(store.serviceEntries.write({ namespace: 'default', name: 'a/b' }, { set: { se: '{}' }, delete: [] }, grant)).rejects.toMatchObject({ code: 'invalid-argument' });
        expect(await store.serviceEntries.read(A)).toBeNull();
        expect(await store.changeLog.length()).toBe(0);
      });

      it('applies a batch of writes and deletes in one step, each hash with its own revision and log entry, in order', async () => {
        const fullDiff = (key: ObjectKey, address: string) => diffFields(null, serviceEntryFields(serviceEntry(key), [workload(key.namespace, `${key.name}-w0`, address)]));
        const first = await store.serviceEntries.writeMany(
          [
            { key: A, diff: fullDiff(A, '10.0.0.1') },
            { key: B, diff: fullDiff(B, '10.0.1.1'), trace: '00-bbbb-01' },
          ],
          grant,
        );
        expect(first.map((r) => r.status)).toEqual(['written', 'written']);
        const [a1, b1] = first.map(logged);
        expect(b1!.revision).toBeGreaterThan(a1!.revision);
        expect(first.map((r) => r.epoch)).toEqual([await store.epoch(), await store.epoch()]);

        const moved = { 'ep:WorkloadEntry/default/a-w0': JSON.stringify(workload('default', 'a-w0', '10.0.0.9')) };
        const second = await store.serviceEntries.writeMany(
          [
            { key: C, diff: fullDiff(C, '10.0.2.1') },
            { key: B, delete: true },
            { key: A, diff: { set: moved, delete: [] } },
            { key: { namespace: 'default', name: 'never' }, delete: true },
          ],
          grant,
        );
        expect(second.map((r) => r.status)).toEqual(['written', 'deleted', 'written', 'absent']);
        expect(second[2]).toMatchObject({ changedFields: ['ep:WorkloadEntry/default/a-w0'] });
        const [c2, b2, a2] = second.slice(0, 3).map(logged);
        const revisions = [a1, b1, c2, b2, a2].map((r) => r!.revision);
        expect(new Set(revisions).size).toBe(5);
        expect(revisions).toEqual([...revisions].sort((x, y) => x - y));
        expect((await store.serviceEntries.read(A))?.revision).toBe(a2!.revision);
        expect((await store.serviceEntries.read(B))).toBeNull();
        expect(await store.serviceEntries.list()).toEqual([A, C]);

        const unchanged = await store.serviceEntries.writeMany([{ key: A, diff: { set: moved, delete: [] } }], grant);
        expect(unchanged).toEqual([{ status: 'unchanged', revision: a2!.revision, epoch: await store.epoch() }]);
        expect(await store.serviceEntries.writeMany([], grant)).toEqual([]);

        const changes = await store.changeLog.read('t1', { count: 100, blockMs: 0 });
        expect(changes).toEqual([
          { serviceEntry: A, op: 'upsert', revision: a2!.revision, ids: [a1!.logId, a2!.logId], traces: [] },
          { serviceEntry: B, op: 'delete', revision: b2!.revision, ids: [b1!.logId, b2!.logId], traces: ['00-bbbb-01'] },
          { serviceEntry: C, op: 'upsert', revision: c2!.revision, ids: [c2!.logId], traces: [] },
        ]);
      });

      it('refuses a whole batch, changing nothing, when the lease is not current or any change is invalid', async () => {
        await writeFull(A, ['10.0.0.1']);
        const before = await store.serviceEntries.read(A);
        const logLength = await store.changeLog.length();
        const newB = { key: B, diff: diffFields(null, serviceEntryFields(serviceEntry(B), [])) };
        const touchA = { key: A, diff: { set: { 'ep:WorkloadEntry/default/x': '{}' }, delete: [] } };
        const stale: LeaseGrant = { holder: grant.holder, token: grant.token - 1 };
        await expect(store.serviceEntries.writeMany([newB, touchA], stale)).rejects.toBeInstanceOf(FencedError);
        // A new hash without `se`, placed after valid changes: nothing of the batch is written.
        const headless = { key: C, diff: { set: { 'ep:WorkloadEntry/other/x': '{}' }, delete: [] } };
        await expect(store.serviceEntries.writeMany([newB, touchA, headless], grant)).rejects.toMatchObject({ code: 'invalid-argument' });
        await expect(store.serviceEntries.writeMany([newB, touchA, { key: A, delete: true }], grant)).rejects.toMatchObject({ code: 'invalid-argument' });
        await expect(store.serviceEntries.writeMany([newB, { key: A, diff: { set: { rev: '1' }, delete: [] } }], grant)).rejects.toMatchObject({ code: 'invalid-argument' });
        expect(await store.serviceEntries.read(A)).toEqual(before);
        expect(await store.serviceEntries.read(B)).toBeNull();
        expect(await store.serviceEntries.list()).toEqual([A]);
        expect(await store.changeLog.length()).toBe(logLength);
      });

      it('lists every ServiceEntry in namespace/name order', async () => {
        for (const key of [C, B, A]) await writeFull(key, []);
        expect(await store.serviceEntries.list()).toEqual([A, B, C]);
      });
    });

    describe('change log', () => {
      it('delivers each entry to one consumer of the group and keeps it pending until acked; tells whether something is not delivered yet', async () => {
        expect(await store.changeLog.hasUndelivered()).toBe(false);
        const written = [await writeFull(A, ['10.0.0.1']), await writeFull(B, ['10.0.1.1'])];
        expect(await store.changeLog.hasUndelivered()).toBe(true);
        const second = await harness.open();
        const first = await store.changeLog.read('t1', { count: 1, blockMs: 0 });
        expect(await second.changeLog.hasUndelivered()).toBe(true);
        const rest = await second.changeLog.read('t2', { count: 10, blockMs: 0 });
        expect(await store.changeLog.hasUndelivered()).toBe(false);
        expect(first).toHaveLength(1);
        expect(rest).toHaveLength(1);
        expect([...first, ...rest].map((c) => c.serviceEntry)).toEqual([A, B]);
        expect([...first, ...rest].map((c) => c.revision)).toEqual(written.map((w) => w.revision));
        expect(await store.changeLog.read('t1', { count: 10, blockMs: 0 })).toEqual([]);
        expect(await store.changeLog.pending()).toEqual({ count: 2, perConsumer: { t1: 1, t2: 1 } });

        expect(await store.changeLog.ack(first[0]!.ids)).toBe(1);
        expect(await store.changeLog.ack(first[0]!.ids)).toBe(0);
        expect(await second.changeLog.ack(rest[0]!.ids)).toBe(1);
        expect((await store.changeLog.pending()).count).toBe(0);
      });

      it("hands a dead consumer's entries to another once they have been idle long enough", async () => {
        await writeFull(A, ['10.0.0.1']);
        await writeFull(B, ['10.0.1.1']);
        const taken = await store.changeLog.read('dies', { count: 10, blockMs: 0 });
        expect(taken).toHaveLength(2);

        const survivor = await harness.open();
        expect(await survivor.changeLog.claimStale('survivor', 500)).toEqual([]);
        await harness.advance(600);
        const claimed = await survivor.changeLog.claimStale('survivor', 500);
        expect(claimed.map((c) => c.ids)).toEqual(taken.map((c) => c.ids));
        expect(await survivor.changeLog.pending()).toEqual({ count: 2, perConsumer: { survivor: 2 } });
        // Claiming resets the idle time: nobody takes them from the survivor right away.
        expect(await store.changeLog.claimStale('third', 500)).toEqual([]);
        await survivor.changeLog.ack(claimed.flatMap((c) => c.ids));
        expect((await survivor.changeLog.pending()).count).toBe(0);
      });

      it('coalesces repeated changes to one ServiceEntry into one change with all ids and the latest revision and op', async () => {
        const a1 = await writeFull(A, ['10.0.0.1'], grant);
        const b1 = await writeFull(B, ['10.0.1.1']);
        const a2 = await writeFull(A, ['10.0.0.2']);
        const a3 = await store.serviceEntries.delete(A, grant);
        const c1 = await writeFull(C, []);
        const changes = await store.changeLog.read('t1', { count: 100, blockMs: 0 });
        const ids = (result: WriteResult | DeleteResult) => logged(result).logId;
        expect(changes).toEqual([
          { serviceEntry: A, op: 'delete', revision: logged(a3).revision, ids: [a1, a2, a3].map(ids), traces: [] },
          { serviceEntry: B, op: 'upsert', revision: b1.revision, ids: [ids(b1)], traces: [] },
          { serviceEntry: C, op: 'upsert', revision: c1.revision, ids: [ids(c1)], traces: [] },
        ]);
      });

      it('carries the trace context of each write', async () => {
        await store.serviceEntries.write(A, diffFields(null, serviceEntryFields(serviceEntry(A), [])), grant, { trace: '00-aaaa-01' });
        await store.serviceEntries.delete(A, grant, { trace: '00-bbbb-01' });
        const [change] = await store.changeLog.read('t1', { count: 10, blockMs: 0 });
        expect(change?.traces).toEqual(['00-aaaa-01', '00-bbbb-01']);
      });

      it('is trimmed to about its maximum length, and trimmed pending entries are dropped when claimed', async () => {
        const small = await createHarness({ changeLogMaxLength: 10 });
        try {
          const s = small.store;
          const fence = (await s.lease.acquire('w', 60_000))!;
          await s.serviceEntries.write(A, diffFields(null, serviceEntryFields(serviceEntry(A), [])), fence);
          const early = await s.changeLog.read('dies', { count: 1, blockMs: 0 });
          expect(early).toHaveLength(1);
          for (let i = 0; i < 250; i++) {
            await s.serviceEntries.write(A, { set: { 'ep:WorkloadEntry/default/w': JSON.stringify(workload('default', 'w', `10.0.${i >> 8}.${i & 255}`)) }, delete: [] }, fence);
          }
          const length = await s.changeLog.length();
          expect(length).toBeGreaterThanOrEqual(10);
          expect(length).toBeLessThan(251);
          expect(await s.changeLog.claimStale('survivor', 0)).toEqual([]);
          expect((await s.changeLog.pending()).count).toBe(0);
          // The group's last delivery was trimmed away (Redis's group lag then counts the trimmed entries too).
          expect(await s.changeLog.hasUndelivered()).toBe(true);
          const rest = await s.changeLog.read('t1', { count: 1000, blockMs: 0 });
          expect(rest).toHaveLength(1);
          expect(rest[0]?.ids.length).toBe(length);
          expect(await s.changeLog.hasUndelivered()).toBe(false);
        } finally {
          await small.close();
        }
      });

      it('wakes a blocked reader when an entry arrives', async () => {
        const reader = await harness.open();
        const reading = reader.changeLog.read('t1', { count: 10, blockMs: 10_000 });
        await new Promise((resolve) => setTimeout(resolve, 50));
        const written = await writeFull(A, ['10.0.0.1']);
        const changes = await reading;
        expect(changes).toEqual([{ serviceEntry: A, op: 'upsert', revision: written.revision, ids: [logged(written).logId], traces: [] }]);
      });

      it('keeps a second blocked reader waiting when the first took the entry', async () => {
        const first = (await harness.open()).changeLog.read('t1', { count: 10, blockMs: 10_000 });
        const second = (await harness.open()).changeLog.read('t2', { count: 10, blockMs: 10_000 });
        await new Promise((resolve) => setTimeout(resolve, 50));
        await writeFull(A, ['10.0.0.1']);
        await new Promise((resolve) => setTimeout(resolve, 50));
        await writeFull(B, ['10.0.1.1']);
        const taken = [...(await first), ...(await second)].map((change) => change.serviceEntry.name);
        expect(taken.sort()).toEqual(['a', 'b']);
      });

      it('returns nothing from a blocking read that times out', async () => {
        expect(await store.changeLog.read('t1', { count: 10, blockMs: 30 })).toEqual([]);
      });
    });

    describe('resources', () => {
      const v1 = [resource(CLUSTER_TYPE, 'outbound|80||a.example.com', 'c1'), resource(ENDPOINT_TYPE, 'outbound|80||a.example.com', 'e1')];

      it('replaces one owner atomically and loads it back byte for byte; the same build publishes nothing', async () => {
        const first = await store.resources.replace({ visibility: visibility(A), revision: 3, resources: v1 });
        expect(applied(first)).toMatchObject({ seq: 1, owner: A, op: 'upsert', ownerChanged: true, removed: [] });
        expect(applied(first).changed.map((r) => r.version).sort()).toEqual(['c1', 'e1']);

        const snapshot = await store.resources.loadAll();
        expect(snapshot.seq).toBe(1);
        expect(snapshot.owners).toHaveLength(1);
        const [owner] = snapshot.owners;
        expect(owner?.record).toEqual({
          ...visibility(A),
          revision: 3,
          // Sorted by variant, type URL, name.
          resources: [
            { typeUrl: CLUSTER_TYPE, name: 'outbound|80||a.example.com', variant: 'envoy', version: 'c1' },
            { typeUrl: ENDPOINT_TYPE, name: 'outbound|80||a.example.com', variant: 'envoy', version: 'e1' },
          ],
        });
        const byVersion = new Map(owner?.resources.map((r) => [r.version, r]));
        for (const expected of v1) expect(Buffer.from(byVersion.get(expected.version)!.bytes).equals(Buffer.from(expected.bytes))).toBe(true);

        expect(await store.resources.replace({ visibility: visibility(A), revision: 4, resources: v1 })).toEqual({ status: 'unchanged' });
        expect(await store.invalidations.currentSeq()).toBe(1);
        expect((await store.resources.readOwner(A))?.record.revision).toBe(4);
      });

      it('reports changed and removed resources with versions, and visibility changes', async () => {
        await store.resources.replace({ visibility: visibility(A), revision: 1, resources: v1 });
        const grpc = resource(CLUSTER_TYPE, 'outbound|80||a.example.com', 'g1', 'grpc');
        const second = applied(await store.resources.replace({ visibility: visibility(A), revision: 2, resources: [resource(CLUSTER_TYPE, 'outbound|80||a.example.com', 'c2'), grpc] }));
        expect(second).toMatchObject({ seq: 2, ownerChanged: false });
        expect(second.changed.map((r) => `${r.variant}:${r.version}`).sort()).toEqual(['envoy:c2', 'grpc:g1']);
        expect(second.removed).toEqual([{ typeUrl: ENDPOINT_TYPE, name: 'outbound|80||a.example.com', variant: 'envoy', version: 'e1' }]);

        const moved = applied(await store.resources.replace({ visibility: visibility(A, { exportTo: ['.'] }), revision: 3, resources: [resource(CLUSTER_TYPE, 'outbound|80||a.example.com', 'c2'), grpc] }));
        expect(moved).toMatchObject({ seq: 3, ownerChanged: true, changed: [], removed: [] });
        expect((await store.resources.readOwner(A))?.record.exportTo).toEqual(['.']);
      });

      it('keeps the policy scope table in the record; a change of scopes alone is an owner change', async () => {
        const scopes: PolicyScopes = {
          namespaces: { shop: { selectors: [{ app: 'web' }], scopes: ['p1', 'p2'] } },
          otherNamespaces: { selectors: [], scopes: [''] },
        };
        const scoped = [...v1, resource(CLUSTER_TYPE, 'outbound|80|v1|a.example.com', 's1', 'envoy.p1')];
        await store.resources.replace({ visibility: visibility(A, { policyScopes: scopes }), revision: 1, resources: scoped });
        expect((await store.resources.readOwner(A))?.record.policyScopes).toEqual(scopes);
        expect((await store.resources.loadAll()).owners[0]?.record.policyScopes).toEqual(scopes);

        const wider = { ...scopes, otherNamespaces: { selectors: [], scopes: ['p1'] } };
        expect(applied(await store.resources.replace({ visibility: visibility(A, { policyScopes: wider }), revision: 2, resources: scoped }))).toMatchObject({ ownerChanged: true, changed: [], removed: [] });
        const without = applied(await store.resources.replace({ visibility: visibility(A), revision: 3, resources: v1 }));
        expect(without).toMatchObject({ ownerChanged: true });
        expect((await store.resources.readOwner(A))?.record).not.toHaveProperty('policyScopes');

        const broken = { namespaces: {}, otherNamespaces: { selectors: [{ app: 'web' }], scopes: ['p1'] } };
        await expect(store.resources.replace({ visibility: visibility(A, { policyScopes: broken }), revision: 4, resources: v1 })).rejects.toMatchObject({ code: 'invalid-argument' });
      });

      it('reads an owner, or only the resources named', async () => {
        await store.resources.replace({ visibility: visibility(A), revision: 1, resources: v1 });
        const some = await store.resources.readOwner(A, [{ typeUrl: ENDPOINT_TYPE, name: 'outbound|80||a.example.com', variant: 'envoy' }, { typeUrl: CLUSTER_TYPE, name: 'missing', variant: 'envoy' }]);
        expect(some?.resources.map((r) => r.version)).toEqual(['e1']);
        expect(Buffer.from(some!.resources[0]!.bytes).equals(Buffer.from(v1[1]!.bytes))).toBe(true);
        expect(some?.record.resources).toHaveLength(2);
        expect((await store.resources.readOwner(A))?.resources).toHaveLength(2);
        expect(await store.resources.readOwner(B)).toBeNull();
        expect(await store.resources.listOwners()).toEqual([A]);
      });

      it('keeps what a read returned when the owner is replaced after it', async () => {
        await store.resources.replace({ visibility: visibility(A), revision: 1, resources: v1 });
        const first = await store.resources.readOwner(A);
        const loaded = (await store.resources.loadAll()).owners.find((owner) => owner.record.name === A.name);
        const bytesIn = (resources: typeof v1, read: ResourceId) => Buffer.from(resources.find((r) => r.typeUrl === read.typeUrl && r.name === read.name)!.bytes);
        const v2 = v1.map((r) => ({ ...r, version: `${r.version}-2`, bytes: new Uint8Array(r.bytes.length + 3).fill(0xee) }));
        await store.resources.replace({ visibility: visibility(A), revision: 2, resources: v2 });
        for (const read of [...first!.resources, ...loaded!.resources]) expect(Buffer.from(read.bytes).equals(bytesIn(v1, read))).toBe(true);
        const again = await store.resources.readOwner(A);
        expect(again!.resources.map((read) => Buffer.from(read.bytes).equals(bytesIn(v2, read)))).toEqual([true, true]);
      });

      it('deletes an owner and its index entry, and publishes the removal', async () => {
        await store.resources.replace({ visibility: visibility(A), revision: 1, resources: v1 });
        await store.resources.replace({ visibility: visibility(B), revision: 2, resources: [resource(CLUSTER_TYPE, 'outbound|80||b.example.com', 'b1')] });
        const removal = applied(await store.resources.deleteOwner(A, { revision: 5, trace: 't' }));
        expect(removal).toMatchObject({ seq: 3, owner: A, op: 'delete', ownerChanged: true, changed: [], trace: 't' });
        expect(removal.removed.map((r) => r.version).sort()).toEqual(['c1', 'e1']);
        expect(await store.resources.readOwner(A)).toBeNull();
        expect(await store.resources.listOwners()).toEqual([B]);
        expect((await store.resources.loadAll()).owners.map((o) => o.record.name)).toEqual(['b']);
        expect(await store.resources.deleteOwner(A, { revision: 6 })).toEqual({ status: 'unchanged' });
      });

      it('refuses a build older than what is stored, also right after a delete', async () => {
        await store.resources.replace({ visibility: visibility(A), revision: 5, resources: v1 });
        expect(await store.resources.replace({ visibility: visibility(A), revision: 4, resources: [] })).toEqual({ status: 'stale', storedRevision: 5 });
        expect(await store.resources.deleteOwner(A, { revision: 4 })).toEqual({ status: 'stale', storedRevision: 5 });
        await store.resources.deleteOwner(A, { revision: 7 });
        expect(await store.resources.replace({ visibility: visibility(A), revision: 6, resources: v1 })).toEqual({ status: 'stale', storedRevision: 7 });
        expect(await store.resources.readOwner(A)).toBeNull();
        expect(await store.invalidations.currentSeq()).toBe(2);
        // A newer build brings the owner back.
        expect(applied(await store.resources.replace({ visibility: visibility(A), revision: 8, resources: v1 })).changed).toHaveLength(2);
        expect(await store.resources.listOwners()).toEqual([A]);
      });

      it('forgets a tombstone after its time to live', async () => {
        const short = await createHarness({ tombstoneTtlMs: 500 });
        try {
          const r = short.store.resources;
          await r.replace({ visibility: visibility(A), revision: 5, resources: v1 });
          await r.deleteOwner(A, { revision: 7 });
          expect((await r.replace({ visibility: visibility(A), revision: 6, resources: v1 })).status).toBe('stale');
          await short.advance(600);
          expect((await r.replace({ visibility: visibility(A), revision: 6, resources: v1 })).status).toBe('applied');
        } finally {
          await short.close();
        }
      });

      it('rejects resource ids and revisions it could not store faithfully', async () => {
        await expect(store.resources.replace({ visibility: visibility(A), revision: 1, resources: [v1[0]!, v1[0]!] })).rejects.toMatchObject({ code: 'invalid-argument' });
        await expect(store.resources.replace({ visibility: visibility(A), revision: 1, resources: [resource(CLUSTER_TYPE, 'x', 'v', 'has space')] })).rejects.toMatchObject({ code: 'invalid-argument' });
        await expect(store.resources.replace({ visibility: visibility(A), revision: -1, resources: [] })).rejects.toMatchObject({ code: 'invalid-argument' });
        expect(await store.resources.listOwners()).toEqual([]);
      });
    });

    describe('invalidations', () => {
      const publishFor = (key: ObjectKey, version: string, revision: number) =>
        store.resources.replace({ visibility: visibility(key), revision, resources: [resource(CLUSTER_TYPE, `outbound|80||${key.name}.example.com`, version)] });

      it('delivers one message per change, in order, numbered one by one', async () => {
        const seen = recorder();
        const subscription = await store.invalidations.subscribe(seen.listener, { afterSeq: await store.invalidations.currentSeq() });
        const outcomes = [await publishFor(A, 'v1', 1), await publishFor(B, 'v1', 1), await publishFor(A, 'v2', 2)];
        await publishFor(A, 'v2', 3); // unchanged: no message
        await vi.waitFor(() => expect(seen.messages).toHaveLength(3), WAIT);
        expect(seen.messages).toEqual(outcomes.map(applied));
        expect(seen.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
        expect(seen.gaps).toEqual([]);
        expect(subscription.lastReceived).toBe(3);
        expect(await store.invalidations.currentSeq()).toBe(3);
        await subscription.close();
      });

      it('reaches every subscriber, also on another client', async () => {
        const local = recorder();
        const remote = recorder();
        await store.invalidations.subscribe(local.listener);
        await (await harness.open()).invalidations.subscribe(remote.listener);
        const message = applied(await publishFor(A, 'v1', 1));
        await vi.waitFor(() => expect(remote.messages).toEqual([message]), WAIT);
        await vi.waitFor(() => expect(local.messages).toEqual([message]), WAIT);
      });

      it('signals a gap when numbers are skipped, and skips what a rebase already covers', async () => {
        await publishFor(A, 'v1', 1);
        await publishFor(B, 'v1', 1);
        const seen = recorder();
        const subscription = await store.invalidations.subscribe(seen.listener, { afterSeq: 0 });
        await publishFor(A, 'v2', 2);
        await vi.waitFor(() => expect(seen.messages.map((m) => m.seq)).toEqual([3]), WAIT);
        expect(seen.gaps).toEqual([{ reason: 'sequence', expected: 1, received: 3 }]);

        // Reconcile from a load that already includes the next write: its message is skipped.
        subscription.rebase(4);
        await publishFor(B, 'v2', 2);
        await publishFor(A, 'v3', 3);
        await vi.waitFor(() => expect(seen.messages.map((m) => m.seq)).toEqual([3, 5]), WAIT);
        expect(seen.gaps).toHaveLength(1);
      });

      it('signals a reset when the sequence starts over after the store lost its data', async () => {
        const seen = recorder();
        await store.invalidations.subscribe(seen.listener, { afterSeq: 0 });
        await publishFor(A, 'v1', 1);
        await publishFor(A, 'v2', 2);
        await vi.waitFor(() => expect(seen.messages).toHaveLength(2), WAIT);
        await harness.wipe();
        await publishFor(B, 'v1', 1);
        await vi.waitFor(() => expect(seen.messages).toHaveLength(3), WAIT);
        expect(seen.gaps).toEqual([{ reason: 'reset', lastReceived: 2, received: 1 }]);
        expect(seen.messages[2]).toMatchObject({ seq: 1, owner: B });
      });

      it('keeps delivering after a listener throws, and counts it', async () => {
        const delivered: number[] = [];
        await store.invalidations.subscribe({
          onInvalidation: (m) => {
            delivered.push(m.seq);
            if (m.seq === 1) throw new Error('listener bug');
          },
          onGap: () => undefined,
        });
        await publishFor(A, 'v1', 1);
        await publishFor(A, 'v2', 2);
        await vi.waitFor(() => expect(delivered).toEqual([1, 2]), WAIT);
        expect(store.health().listenerErrors).toBe(1);
      });

      it('stops delivering to a closed subscription', async () => {
        const closed = recorder();
        const open = recorder();
        const subscription = await store.invalidations.subscribe(closed.listener);
        await store.invalidations.subscribe(open.listener);
        await subscription.close();
        await publishFor(A, 'v1', 1);
        await vi.waitFor(() => expect(open.messages).toHaveLength(1), WAIT);
        expect(closed.messages).toEqual([]);
      });
    });

    describe.each([
      ['Sidecars', 'Sidecar', (s: Store) => s.sidecars],
      ['Gateways', 'Gateway', (s: Store) => s.gateways],
    ] as const)('%s', (_title, kind, facet) => {
      const json = (hosts: string[]) => JSON.stringify({ schemaVersion: 1, egress: [{ bind: '', hosts }] });

      it('stores, lists sorted, reads back and deletes, numbering each change on the invalidation sequence', async () => {
        const seen = recorder();
        await store.invalidations.subscribe(seen.listener, { afterSeq: await store.invalidations.currentSeq() });
        const first = await facet(store).put(C, json(['./*']), grant);
        const second = await facet(store).put(A, json(['*/*']), grant, { trace: '00-abc-def-01' });
        expect(first).toMatchObject({ status: 'written', invalidation: { seq: 1, owner: C, kind, op: 'upsert', changed: [], removed: [] } });
        expect(second).toMatchObject({ status: 'written', invalidation: { seq: 2, owner: A, kind, trace: '00-abc-def-01' } });
        const revisions = [first, second].map((result) => (result.status === 'written' ? result.revision : -1));
        expect(revisions[1]).toBeGreaterThan(revisions[0]!);
        expect(await facet(store).list()).toEqual([
          { key: A, revision: revisions[1], json: json(['*/*']) },
          { key: C, revision: revisions[0], json: json(['./*']) },
        ]);
        expect(await facet(store).get(C)).toEqual({ key: C, revision: revisions[0], json: json(['./*']) });
        expect(await facet(store).put(C, json(['./*']), grant)).toEqual({ status: 'unchanged', revision: revisions[0] });
        const deleted = await facet(store).delete(C, grant);
        expect(deleted).toMatchObject({ status: 'deleted', invalidation: { seq: 3, owner: C, kind, op: 'delete' } });
        expect(await facet(store).delete(C, grant)).toEqual({ status: 'absent' });
        expect(await facet(store).get(C)).toBeNull();
        await vi.waitFor(() => expect(seen.messages.map((m) => [m.seq, m.kind, m.op])).toEqual([[1, kind, 'upsert'], [2, kind, 'upsert'], [3, kind, 'delete']]), WAIT);
        expect(seen.gaps).toEqual([]);
      });

      it('shares the sequence with resource writes, so a gateway orders both', async () => {
        await store.resources.replace({ visibility: visibility(A), revision: 1, resources: [resource(CLUSTER_TYPE, 'outbound|80||a.example.com', 'v1')] });
        const written = await facet(store).put(B, json(['./*']), grant);
        expect(written).toMatchObject({ status: 'written', invalidation: { seq: 2 } });
        expect(await store.invalidations.currentSeq()).toBe(2);
        expect(await facet(await harness.open()).list()).toHaveLength(1);
      });

      it('refuses writes and deletes without the current lease, changing nothing', async () => {
        await facet(store).put(A, json(['./*']), grant);
        await store.lease.release(grant);
        await expect(facet(store).put(A, json(['*/*']), grant)).rejects.toBeInstanceOf(FencedError);
        await expect(facet(store).delete(A, grant)).rejects.toBeInstanceOf(FencedError);
        expect((await facet(store).get(A))?.json).toBe(json(['./*']));
        expect(await store.invalidations.currentSeq()).toBe(1);
      });

      it('refuses keys and values it cannot store', async () => {
        await expect(facet(store).put({ namespace: 'a/b', name: 'c' }, json([]), grant)).rejects.toMatchObject({ code: 'invalid-argument' });
        await expect(facet(store).put(A, '', grant)).rejects.toMatchObject({ code: 'invalid-argument' });
      });

      it('keep apart from the other kind under the same name', async () => {
        await facet(store).put(A, json(['./*']), grant);
        const other = kind === 'Sidecar' ? store.gateways : store.sidecars;
        expect(await other.get(A)).toBeNull();
        expect(await other.list()).toEqual([]);
      });

      it('are gone after the store lost its data', async () => {
        await facet(store).put(A, json(['./*']), grant);
        await harness.wipe();
        expect(await facet(store).list()).toEqual([]);
      });
    });

    describe('lease', () => {
      it('is exclusive while held, including against its own holder, and can be renewed', async () => {
        const other = await harness.open();
        expect(await other.lease.acquire('watcher-2', 60_000)).toBeNull();
        expect(await store.lease.acquire('watcher-1', 60_000)).toBeNull();
        const current = await other.lease.current();
        expect(current).toMatchObject({ holder: 'watcher-1', token: grant.token });
        expect(current!.remainingMs).toBeGreaterThan(50_000);
        expect(current!.remainingMs).toBeLessThanOrEqual(60_000);

        expect(await store.lease.release(grant)).toBe(true);
        const short = (await store.lease.acquire('watcher-1', 1000))!;
        await harness.advance(600);
        expect(await store.lease.renew(short, 1000)).toBe(true);
        await harness.advance(600);
        expect(await other.lease.current()).toMatchObject({ holder: 'watcher-1', token: short.token });
        expect(await other.lease.acquire('watcher-2', 60_000)).toBeNull();
      });

      it('expires, and the next holder gets a larger token that fences the previous one', async () => {
        const other = await harness.open();
        expect(await store.lease.release(grant)).toBe(true);
        const first = (await store.lease.acquire('watcher-1', 250))!;
        await writeFull(A, ['10.0.0.1'], first);
        await harness.advance(400);
        expect(await other.lease.current()).toBeNull();
        const second = (await other.lease.acquire('watcher-2', 60_000))!;
        expect(second.token).toBeGreaterThan(first.token);
        expect(await store.lease.renew(first, 60_000)).toBe(false);
        expect(await store.lease.release(first)).toBe(false);
        await expect(writeFull(A, ['10.0.0.2'], first)).rejects.toMatchObject({ code: 'fenced', current: second });
        expect((await writeFull(A, ['10.0.0.2'], second)).status).toBe('written');
        expect(await other.lease.current()).toMatchObject({ holder: 'watcher-2', token: second.token });
      });

      it('once released, goes to the next holder with a larger token', async () => {
        expect(await store.lease.release(grant)).toBe(true);
        expect(await store.lease.release(grant)).toBe(false);
        expect(await store.lease.current()).toBeNull();
        const next = await store.lease.acquire('watcher-2', 60_000);
        expect(next?.token).toBeGreaterThan(grant.token);
      });
    });

    describe('fleet', () => {
      it('lists every live replica report, sorted, replaces on publish, and drops a report at once on remove', async () => {
        const other = await harness.open();
        await store.fleet.publish('gw-b', '{"proxies":2}', 60_000);
        await other.fleet.publish('gw-a', '{"proxies":1}', 60_000);
        await store.fleet.publish('gw-b', '{"proxies":3}', 60_000);
        expect(await other.fleet.list()).toEqual([
          { replica: 'gw-a', revision: expect.any(String), report: '{"proxies":1}' },
          { replica: 'gw-b', revision: expect.any(String), report: '{"proxies":3}' },
        ]);
        await other.fleet.remove('gw-a');
        expect(await store.fleet.list()).toEqual([{ replica: 'gw-b', revision: expect.any(String), report: '{"proxies":3}' }]);
      });

      it('forgets a replica that stops heartbeating once its TTL passes', async () => {
        await store.fleet.publish('dead', '{}', 200);
        await store.fleet.publish('alive', '{}', 60_000);
        await harness.advance(350);
        expect((await store.fleet.list()).map((r) => r.replica)).toEqual(['alive']);
      });

      it('refuses replica ids that cannot be keys', async () => {
        await expect(store.fleet.publish('a b', '{}', 1000)).rejects.toMatchObject({ code: 'invalid-argument' });
        await expect(store.fleet.refresh('a b', 1000)).rejects.toMatchObject({ code: 'invalid-argument' });
      });

      it('keeps a live report for another TTL on refresh, and answers false for one that is gone', async () => {
        await store.fleet.publish('kept', '{"proxies":1}', 1000);
        await store.fleet.publish('lapsed', '{"proxies":2}', 1000);
        await harness.advance(700);
        expect(await store.fleet.refresh('kept', 1000)).toBe(true);
        await harness.advance(700);
        // 1.4 s after publishing with a 1 s TTL: only the refreshed report is still there, unchanged.
        expect(await store.fleet.list()).toEqual([{ replica: 'kept', revision: expect.any(String), report: '{"proxies":1}' }]);
        expect(await store.fleet.refresh('lapsed', 300)).toBe(false);
        expect(await store.fleet.refresh('never-published', 300)).toBe(false);
        await store.fleet.remove('kept');
        expect(await store.fleet.refresh('kept', 300)).toBe(false);
        expect(await store.fleet.list()).toEqual([]);
      });

      it("lists the other replicas' reports without the asking replica's own", async () => {
        await store.fleet.publish('gw-a', '{"proxies":1}', 60_000);
        await store.fleet.publish('gw-b', '{"proxies":2}', 60_000);
        await store.fleet.publish('gw-c', '{"proxies":3}', 60_000);
        expect((await store.fleet.list('gw-b')).map((report) => report.replica)).toEqual(['gw-a', 'gw-c']);
        expect((await store.fleet.list('gw-z')).map((report) => report.replica)).toEqual(['gw-a', 'gw-b', 'gw-c']);
      });

      it('leaves out the text of a report whose revision the caller holds, until it is published again', async () => {
        const other = await harness.open();
        await store.fleet.publish('gw-a', '{"proxies":1}', 1000);
        await store.fleet.publish('gw-b', '{"proxies":2}', 60_000);
        const first = await other.fleet.list();
        const revisionOf = (reports: readonly FleetReport[], replica: string): string => reports.find((report) => report.replica === replica)?.revision as string;
        const known = new Map([
          ['gw-a', revisionOf(first, 'gw-a')],
          ['gw-b', revisionOf(first, 'gw-b')],
        ]);
        expect(known.get('gw-a')).not.toBe(known.get('gw-b'));
        expect(await other.fleet.list(undefined, known)).toEqual([
          { replica: 'gw-a', revision: known.get('gw-a'), report: null },
          { replica: 'gw-b', revision: known.get('gw-b'), report: null },
        ]);
        // A refresh keeps the revision; a publish, even of the same text, makes a new one.
        await harness.advance(700);
        expect(await store.fleet.refresh('gw-a', 1000)).toBe(true);
        await store.fleet.publish('gw-b', '{"proxies":2}', 60_000);
        await harness.advance(700);
        const after = await other.fleet.list(undefined, known);
        expect(after).toEqual([
          { replica: 'gw-a', revision: known.get('gw-a'), report: null },
          { replica: 'gw-b', revision: expect.any(String), report: '{"proxies":2}' },
        ]);
        expect(revisionOf(after, 'gw-b')).not.toBe(known.get('gw-b'));
        // A held revision does not keep a report that is gone in the list.
        await harness.advance(700);
        expect((await other.fleet.list(undefined, known)).map((report) => report.replica)).toEqual(['gw-b']);
        await store.fleet.remove('gw-b');
        expect(await other.fleet.list(undefined, known)).toEqual([]);
      });
    });

    describe('epoch', () => {
      it('is created by the first write into an empty store, stays, and changes after the store lost its data', async () => {
        await harness.wipe();
        expect(await store.epoch()).toBeNull();
        await harness.advance(5);
        const lease = (await store.lease.acquire('watcher-1', 60_000))!;
        expect(lease.token).toBeGreaterThan(grant.token);
        const epoch = await store.epoch();
        expect(epoch).not.toBeNull();
        const written = await writeFull(A, ['10.0.0.1'], lease);
        expect(written.status === 'written' && written.epoch).toBe(epoch);
        await store.resources.replace({ visibility: visibility(A), revision: written.revision, resources: [] });
        expect(await store.epoch()).toBe(epoch);

        await harness.wipe();
        expect(await store.epoch()).toBeNull();
        await expect(writeFull(A, ['10.0.0.1'], lease)).rejects.toMatchObject({ code: 'fenced', current: null });
        await harness.advance(5);
        const again = (await store.lease.acquire('watcher-1', 60_000))!;
        expect(again.token).toBeGreaterThan(lease.token);
        const rewritten = await writeFull(A, ['10.0.0.1'], again);
        expect(rewritten.status === 'written' && rewritten.epoch).not.toBe(epoch);
        expect(await store.epoch()).toEqual(rewritten.status === 'written' ? rewritten.epoch : 'never');
      });
    });

    it('refuses every call once closed', async () => {
      await store.close();
      await expect(store.ping()).rejects.toMatchObject({ code: 'closed' });
      await expect(store.serviceEntries.read(A)).rejects.toBeInstanceOf(StoreError);
      await expect(store.changeLog.read('t1', { count: 1, blockMs: 0 })).rejects.toMatchObject({ code: 'closed' });
      await expect(store.lease.acquire('w', 1000)).rejects.toMatchObject({ code: 'closed' });
      expect(store.health().state).toBe('closed');
    });

    it('ends a blocked read when closed', async () => {
      const reader = await harness.open();
      const reading = reader.changeLog.read('t1', { count: 10, blockMs: 10_000 });
      const outcome = expect(reading).rejects.toMatchObject({ code: 'closed' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await reader.close();
      await outcome;
    });
  });
}
