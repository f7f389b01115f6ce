/**
 * The in-memory store: the same contract as Redis inside one process, for the all-in-one mode and for
 * unit tests. Every operation runs to completion before another starts (one JavaScript thread), which
 * gives the atomicity the Redis scripts give; time (lease expiry, idle entries, tombstones) comes from
 * an injectable clock; invalidations are delivered asynchronously, like pub/sub.
 */
import { randomUUID } from 'node:crypto';
import type { ObjectKey } from '@skiff/model';
import {
  DEFAULT_CHANGE_LOG_MAX_LENGTH,
  DEFAULT_TOMBSTONE_TTL_MS,
  checkReplicaId,
  FencedError,
  parseLeaseValue,
  REVISION_FIELD,
  SERVICE_ENTRY_FIELD,
  StoreError,
  leaseValue,
  parseServiceEntryId,
  resourceKey,
  serviceEntryId,
  type BuiltResource,
  type ChangeLog,
  type ChangeLogEntry,
  type ChangeOp,
  type CoalescedChange,
  type ConnectionStateEvent,
  type FleetRegistry,
  type DeleteResult,
  type InvalidationBus,
  type InvalidationListener,
  type Lease,
  type LeaseGrant,
  type LeaseState,
  type OwnedResources,
  type OwnershipRecord,
  type PendingSummary,
  type ReadOptions,
  type ReplaceOutcome,
  type ReplaceResources,
  type ResourceId,
  type ResourceRef,
  type ResourceSnapshot,
  type ResourceWriter,
  type ServiceEntryDiff,
  type ServiceEntryWriter,
  type Store,
  type StoreHealth,
  type StoreOptions,
  type StoredServiceEntry,
  type Subscription,
  type WriteOptions,
  type WriteResult,
} from './contract.js';
import { keyLayout } from './redis-keys.js';
import { coalesce, compareStreamIds } from './change-log-entries.js';
import { checkDiff, checkHolder, checkRevision, checkTtl, traceOf } from './checks.js';
import { SubscriptionState, type DeliveryCounters } from './invalidation-codec.js';
import { compareObjectKeys, prepareReplace } from './ownership-records.js';

/** Milliseconds since the epoch. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to: lease expiry and idle times in tests without waiting. */
export class ManualClock implements Clock {
  constructor(private current = 1_700_000_000_000) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    if (ms < 0) throw new RangeError('a clock does not go back');
    this.current += ms;
  }
}

export interface MemoryStoreOptions extends StoreOptions {
  readonly clock?: Clock;
}

interface StreamEntry {
  readonly id: string;
  readonly ms: number;
  readonly seqInMs: number;
  readonly entry: Omit<ChangeLogEntry, 'id'>;
}

interface PendingEntry {
  consumer: string;
  deliveredAt: number;
}

interface OwnerState {
  readonly kind: 'owner';
  readonly revision: number;
  readonly visibilityJson: string;
  readonly record: OwnershipRecord;
  readonly bytes: ReadonlyMap<string, Uint8Array>;
}

interface Tombstone {
  readonly kind: 'tombstone';
  readonly revision: number;
  readonly expiresAt: number;
}

/** Everything a Redis server would hold for one store. `wipe` replaces it, like a restart without persistence. */
class MemoryData {
  readonly serviceEntries = new Map<string, Map<string, string>>();
  revisionCounter = 0;
  readonly log: StreamEntry[] = [];
  lastIdMs = 0;
  lastIdSeq = -1;
  lastDeliveredId = '0-0';
  readonly pending = new Map<string, PendingEntry>();
  readonly owners = new Map<string, OwnerState | Tombstone>();
  sequence = 0;
  epoch: string | null = null;
  lease: { value: string; expiresAt: number } | null = null;
  leaseTokenCounter: number | null = null;
  readonly fleet = new Map<string, { report: string; expiresAt: number }>();
}

export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryStore(options);
}

export class MemoryStore implements Store {
  readonly serviceEntries: ServiceEntryWriter;
  readonly changeLog: ChangeLog;
  readonly resources: ResourceWriter;
  readonly invalidations: InvalidationBus;
  readonly lease: Lease;
  readonly fleet: FleetRegistry;

  private data = new MemoryData();
  private readonly clock: Clock;
  private readonly maxLength: number;
  private readonly tombstoneTtlMs: number;
  private readonly trimStep: number;
  private readonly subscriptions = new Set<SubscriptionState>();
  private readonly logWaiters = new Set<() => void>();
  private readonly stateListeners = new Set<(event: ConnectionStateEvent) => void>();
  private readonly counters: DeliveryCounters = { listenerErrors: 0, malformed: 0 };
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    keyLayout(options.keyPrefix); // same prefix rules as Redis, although memory has no keys
    this.clock = options.clock ?? systemClock;
    this.maxLength = options.changeLogMaxLength ?? DEFAULT_CHANGE_LOG_MAX_LENGTH;
    this.tombstoneTtlMs = options.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS;
    if (!Number.isSafeInteger(this.maxLength) || this.maxLength < 1) throw new StoreError('invalid-argument', 'changeLogMaxLength must be a positive integer');
    this.trimStep = Math.max(64, Math.ceil(this.maxLength / 8));
    this.serviceEntries = {
      read: async (key) => this.op(() => this.readServiceEntry(key)),
      list: async () => this.op(() => [...this.data.serviceEntries.keys()].map(parseServiceEntryId).sort(compareObjectKeys)),
      write: async (key, diff, fence, writeOptions) => this.op(() => this.writeServiceEntry(key, diff, fence, writeOptions)),
      delete: async (key, fence, writeOptions) => this.op(() => this.deleteServiceEntry(key, fence, writeOptions)),
    };
    this.changeLog = {
      read: (consumer, readOptions) => this.readLog(consumer, readOptions),
      ack: async (ids) => this.op(() => ids.filter((id) => this.data.pending.delete(id)).length),
      claimStale: async (consumer, minIdleMs, count) => this.op(() => this.claimStale(consumer, minIdleMs, count ?? 100)),
      pending: async () => this.op(() => this.pendingSummary()),
      length: async () => this.op(() => this.data.log.length),
    };
    this.resources = {
      loadAll: async () => this.op(() => this.loadAll()),
      readOwner: async (owner, ids) => this.op(() => this.readOwner(owner, ids)),
      listOwners: async () => this.op(() => this.liveOwners().map(([id]) => parseServiceEntryId(id))),
      replace: async (input) => this.op(() => this.replace(input)),
      deleteOwner: async (owner, deleteOptions) => this.op(() => this.deleteOwner(owner, deleteOptions.revision, traceOf(deleteOptions))),
    };
    this.invalidations = {
      subscribe: async (listener, subscribeOptions) => this.op(() => this.subscribe(listener, subscribeOptions?.afterSeq)),
      currentSeq: async () => this.op(() => this.data.sequence),
    };
    this.lease = {
      acquire: async (holder, ttlMs) => this.op(() => this.acquireLease(holder, ttlMs)),
      renew: async (grant, ttlMs) => this.op(() => this.renewLease(grant, ttlMs)),
      release: async (grant) => this.op(() => this.releaseLease(grant)),
      current: async () => this.op(() => this.currentLease()),
    };
    this.fleet = {
      publish: async (replica, report, ttlMs) =>
        this.op(() => {
          checkReplicaId(replica);
          checkTtl(ttlMs);
          this.data.fleet.set(replica, { report, expiresAt: this.now() + ttlMs });
        }),
      list: async () =>
        this.op(() => {
          const now = this.now();
          for (const [replica, entry] of this.data.fleet) if (entry.expiresAt <= now) this.data.fleet.delete(replica);
          return [...this.data.fleet].map(([replica, entry]) => ({ replica, report: entry.report })).sort((a, b) => (a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : 0));
        }),
      remove: async (replica) =>
        this.op(() => {
          this.data.fleet.delete(replica);
        }),
    };
  }

  async epoch(): Promise<string | null> {
    return this.op(() => this.data.epoch);
  }

  async ping(): Promise<void> {
    return this.op(() => undefined);
  }

  health(): StoreHealth {
    const state = this.closed ? 'closed' : 'ready';
    return {
      state,
      reconnects: 0,
      errors: 0,
      connections: [{ name: 'memory', state, reconnects: 0, reconnectAttempts: 0, errors: 0 }],
      listenerErrors: this.counters.listenerErrors,
      malformed: this.counters.malformed,
    };
  }

  onStateChange(listener: (event: ConnectionStateEvent) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Drops all data, as a Redis restarted without persistence would; subscriptions stay open. */
  wipe(): void {
    this.data = new MemoryData();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.logWaiters) wake();
    this.logWaiters.clear();
    await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
    for (const listener of this.stateListeners) listener({ connection: 'memory', state: 'closed' });
  }

  // -------------------------------------------------------------------------------------------------

  private op<T>(body: () => T): T {
    if (this.closed) throw new StoreError('closed', 'the store is closed');
    return body();
  }

  private now(): number {
    return this.clock.now();
  }

  private ensureEpoch(): string {
    this.data.epoch ??= randomUUID();
    return this.data.epoch;
  }

  private liveLease(): { value: string; expiresAt: number } | null {
    const lease = this.data.lease;
    if (lease !== null && lease.expiresAt <= this.now()) this.data.lease = null;
    return this.data.lease;
  }

  private checkFence(fence: LeaseGrant): void {
    const lease = this.liveLease();
    if (lease === null || lease.value !== leaseValue(fence)) {
      throw new FencedError(fence, lease === null ? null : parseLeaseValue(lease.value));
    }
  }

  // ServiceEntry hashes ------------------------------------------------------------------------------

  private readServiceEntry(key: ObjectKey): StoredServiceEntry | null {
    const hash = this.data.serviceEntries.get(serviceEntryId(key));
    if (hash === undefined) return null;
    const fields: Record<string, string> = {};
    for (const [field, value] of hash) if (field !== REVISION_FIELD) fields[field] = value;
    return { key: { namespace: key.namespace, name: key.name }, revision: Number(hash.get(REVISION_FIELD)), fields };
  }

  private writeServiceEntry(key: ObjectKey, diff: ServiceEntryDiff, fence: LeaseGrant, options: WriteOptions | undefined): WriteResult {
    const id = serviceEntryId(key);
    checkDiff(diff);
    this.checkFence(fence);
    const existing = this.data.serviceEntries.get(id);
    const sets = Object.entries(diff.set);
    if (existing === undefined && sets.length > 0 && !Object.hasOwn(diff.set, SERVICE_ENTRY_FIELD)) {
      throw new StoreError('invalid-argument', `a new ServiceEntry hash needs the ${SERVICE_ENTRY_FIELD} field`);
    }
    const changedFields: string[] = [];
    for (const [field, value] of sets) if (existing?.get(field) !== value) changedFields.push(field);
    for (const field of diff.delete) if (existing?.has(field) === true) changedFields.push(field);
    if (changedFields.length === 0) {
      return { status: 'unchanged', revision: existing === undefined ? 0 : Number(existing.get(REVISION_FIELD)), epoch: this.data.epoch };
    }
    const hash = existing ?? new Map<string, string>();
    for (const [field, value] of sets) hash.set(field, value);
    for (const field of diff.delete) hash.delete(field);
    const revision = ++this.data.revisionCounter;
    hash.set(REVISION_FIELD, String(revision));
    this.data.serviceEntries.set(id, hash);
    const logId = this.appendLog({ serviceEntry: { namespace: key.namespace, name: key.name }, op: 'upsert', revision }, traceOf(options));
    return { status: 'written', revision, logId, changedFields, epoch: this.ensureEpoch() };
  }

  private deleteServiceEntry(key: ObjectKey, fence: LeaseGrant, options: WriteOptions | undefined): DeleteResult {
    const id = serviceEntryId(key);
    this.checkFence(fence);
    if (!this.data.serviceEntries.delete(id)) return { status: 'absent', epoch: this.data.epoch };
    const revision = ++this.data.revisionCounter;
    const logId = this.appendLog({ serviceEntry: { namespace: key.namespace, name: key.name }, op: 'delete', revision }, traceOf(options));
    return { status: 'deleted', revision, logId, epoch: this.ensureEpoch() };
  }

  // Change log ---------------------------------------------------------------------------------------

  private appendLog(entry: { serviceEntry: ObjectKey; op: ChangeOp; revision: number }, trace: string): string {
    const data = this.data;
    const ms = Math.max(this.now(), data.lastIdMs);
    const seqInMs = ms === data.lastIdMs ? data.lastIdSeq + 1 : 0;
    data.lastIdMs = ms;
    data.lastIdSeq = seqInMs;
    const id = `${ms}-${seqInMs}`;
    data.log.push({ id, ms, seqInMs, entry: trace === '' ? entry : { ...entry, trace } });
    // Like Redis with `MAXLEN ~`, keep at least the maximum and trim in steps, so a write at the cap
    // does not shift the whole log every time.
    if (data.log.length > this.maxLength + this.trimStep) data.log.splice(0, data.log.length - this.maxLength);
    for (const wake of this.logWaiters) wake();
    this.logWaiters.clear();
    return id;
  }

  private async readLog(consumer: string, options: ReadOptions): Promise<CoalescedChange[]> {
    const deadline = Date.now() + options.blockMs;
    for (;;) {
      const taken = this.op(() => this.takeNew(consumer, options.count));
      const remaining = deadline - Date.now();
      if (taken.length > 0 || remaining <= 0) return taken;
      // Wait for the next append (another reader may take it first, then wait again) or the deadline.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.logWaiters.delete(wake);
          resolve();
        }, remaining);
        const wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
        this.logWaiters.add(wake);
      });
    }
  }

  /** Index of the first log entry with an id after `id` (the log is in id order). */
  private indexAfter(id: string): number {
    const log = this.data.log;
    let low = 0;
    let high = log.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareStreamIds(log[middle]!.id, id) <= 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private takeNew(consumer: string, count: number): CoalescedChange[] {
    const data = this.data;
    const now = this.now();
    const start = this.indexAfter(data.lastDeliveredId);
    const taken: ChangeLogEntry[] = [];
    for (const item of data.log.slice(start, start + count)) {
      taken.push({ id: item.id, ...item.entry });
      data.pending.set(item.id, { consumer, deliveredAt: now });
      data.lastDeliveredId = item.id;
    }
    return coalesce(taken);
  }

  private claimStale(consumer: string, minIdleMs: number, count: number): CoalescedChange[] {
    const data = this.data;
    const now = this.now();
    const claimed: ChangeLogEntry[] = [];
    for (const id of [...data.pending.keys()].sort(compareStreamIds)) {
      if (claimed.length >= count) break;
      const pending = data.pending.get(id);
      if (pending === undefined || now - pending.deliveredAt < minIdleMs) continue;
      const item = data.log[this.indexAfter(id) - 1];
      if (item?.id !== id) {
        // Trimmed while pending: Redis 7 XAUTOCLAIM drops such ids from the pending list.
        data.pending.delete(id);
        continue;
      }
      pending.consumer = consumer;
      pending.deliveredAt = now;
      claimed.push({ id, ...item.entry });
    }
    return coalesce(claimed);
  }

  private pendingSummary(): PendingSummary {
    const perConsumer: Record<string, number> = {};
    for (const { consumer } of this.data.pending.values()) perConsumer[consumer] = (perConsumer[consumer] ?? 0) + 1;
    return { count: this.data.pending.size, perConsumer };
  }

  // Resources ----------------------------------------------------------------------------------------

  private ownerState(id: string): OwnerState | Tombstone | undefined {
    const state = this.data.owners.get(id);
    if (state?.kind === 'tombstone' && state.expiresAt <= this.now()) {
      this.data.owners.delete(id);
      return undefined;
    }
    return state;
  }

  private liveOwners(): [string, OwnerState][] {
    const owners: [string, OwnerState][] = [];
    for (const [id, state] of this.data.owners) if (state.kind === 'owner') owners.push([id, state]);
    return owners.sort(([, a], [, b]) => compareObjectKeys(a.record, b.record));
  }

  private loadAll(): ResourceSnapshot {
    return { seq: this.data.sequence, owners: this.liveOwners().map(([, state]) => ownedResources(state, undefined)) };
  }

  private readOwner(owner: ObjectKey, ids: readonly ResourceId[] | undefined): OwnedResources | null {
    const state = this.ownerState(serviceEntryId(owner));
    return state?.kind === 'owner' ? ownedResources(state, ids) : null;
  }

  private replace(input: ReplaceResources): ReplaceOutcome {
    const prepared = prepareReplace(input);
    const id = serviceEntryId(prepared.owner);
    const previous = this.ownerState(id);
    if (previous !== undefined && previous.revision > input.revision) return { status: 'stale', storedRevision: previous.revision };
    const old = previous?.kind === 'owner' ? previous : undefined;
    const oldVersions = new Map(old?.record.resources.map((ref) => [resourceKey(ref), ref.version]));
    const kept = new Set<string>();
    const changed: ResourceRef[] = [];
    const bytes = new Map<string, Uint8Array>();
    for (const resource of prepared.resources) {
      kept.add(resource.key);
      const stored = old?.bytes.get(resource.key);
      if (oldVersions.get(resource.key) !== resource.ref.version || stored === undefined) {
        changed.push(resource.ref);
        bytes.set(resource.key, Uint8Array.from(resource.bytes));
      } else {
        bytes.set(resource.key, stored);
      }
    }
    const removed = (old?.record.resources ?? []).filter((ref) => !kept.has(resourceKey(ref)));
    const ownerChanged = old?.visibilityJson !== prepared.visibilityJson;
    this.data.owners.set(id, { kind: 'owner', revision: input.revision, visibilityJson: prepared.visibilityJson, record: prepared.record, bytes });
    if (!ownerChanged && changed.length === 0 && removed.length === 0) return { status: 'unchanged' };
    return { status: 'applied', invalidation: this.publish(prepared.owner, 'upsert', ownerChanged, changed, removed, input.trace ?? '') };
  }

  private deleteOwner(owner: ObjectKey, revision: number, trace: string): ReplaceOutcome {
    const id = serviceEntryId(owner);
    checkRevision(revision);
    const previous = this.ownerState(id);
    if (previous !== undefined && previous.revision > revision) return { status: 'stale', storedRevision: previous.revision };
    this.data.owners.set(id, { kind: 'tombstone', revision, expiresAt: this.now() + this.tombstoneTtlMs });
    if (previous?.kind !== 'owner') return { status: 'unchanged' };
    return { status: 'applied', invalidation: this.publish(owner, 'delete', true, [], previous.record.resources, trace) };
  }

  // Invalidations ------------------------------------------------------------------------------------

  private publish(owner: ObjectKey, op: ChangeOp, ownerChanged: boolean, changed: readonly ResourceRef[], removed: readonly ResourceRef[], trace: string) {
    const seq = ++this.data.sequence;
    this.ensureEpoch();
    const base = { seq, owner: { namespace: owner.namespace, name: owner.name }, op, ownerChanged, changed: [...changed], removed: [...removed] };
    const invalidation = trace === '' ? base : { ...base, trace };
    const receivers = [...this.subscriptions];
    // Pub/sub delivers after the publishing command has returned, in publish order.
    setImmediate(() => {
      for (const subscription of receivers) subscription.receive(invalidation);
    });
    return invalidation;
  }

  private subscribe(listener: InvalidationListener, afterSeq: number | undefined): Subscription {
    const state = new SubscriptionState(listener, afterSeq, this.counters, async (closing) => {
      this.subscriptions.delete(closing);
    });
    this.subscriptions.add(state);
    return state;
  }

  // Lease --------------------------------------------------------------------------------------------

  private acquireLease(holder: string, ttlMs: number): LeaseGrant | null {
    checkHolder(holder);
    checkTtl(ttlMs);
    if (this.liveLease() !== null) return null;
    // A fresh counter starts at the clock in milliseconds, like the Redis script, so tokens keep growing across an empty restart.
    const token = this.data.leaseTokenCounter === null ? this.now() : this.data.leaseTokenCounter + 1;
    this.data.leaseTokenCounter = token;
    const grant = { holder, token };
    this.data.lease = { value: leaseValue(grant), expiresAt: this.now() + ttlMs };
    this.ensureEpoch();
    return grant;
  }

  private renewLease(grant: LeaseGrant, ttlMs: number): boolean {
    checkTtl(ttlMs);
    const lease = this.liveLease();
    if (lease === null || lease.value !== leaseValue(grant)) return false;
    lease.expiresAt = this.now() + ttlMs;
    return true;
  }

  private releaseLease(grant: LeaseGrant): boolean {
    const lease = this.liveLease();
    if (lease === null || lease.value !== leaseValue(grant)) return false;
    this.data.lease = null;
    return true;
  }

  private currentLease(): LeaseState | null {
    const lease = this.liveLease();
    return lease === null ? null : { ...parseLeaseValue(lease.value), remainingMs: lease.expiresAt - this.now() };
  }
}

function ownedResources(state: OwnerState, ids: readonly ResourceId[] | undefined): OwnedResources {
  const wanted = ids === undefined ? null : new Set(ids.map(resourceKey));
  const resources: BuiltResource[] = [];
  for (const ref of state.record.resources) {
    const key = resourceKey(ref);
    if (wanted !== null && !wanted.has(key)) continue;
    const bytes = state.bytes.get(key);
    if (bytes !== undefined) resources.push({ ...ref, bytes: Uint8Array.from(bytes) });
  }
  return { record: structuredClone(state.record), resources };
}
