/**
 * What the in-memory store's facets (`memory-*.ts`) share: the data a Redis server would hold, the
 * clock, and the steps that cross facets the way the Redis scripts do (a ServiceEntry write checks
 * the lease fence and appends to the change log; a resource write publishes the invalidation).
 * Every operation runs to completion before another starts (one JavaScript thread), which gives the
 * atomicity the Redis scripts give.
 */
import { randomUUID } from 'node:crypto';
import type { ObjectKey } from '@skiff/model';
import {
  FencedError,
  StoreError,
  leaseValue,
  parseLeaseValue,
  type ChangeLogEntry,
  type ChangeOp,
  type Invalidation,
  type InvalidationKind,
  type LeaseGrant,
  type OwnershipRecord,
  type ResourceRef,
} from './contract.js';
import type { DeliveryCounters, SubscriptionState } from './invalidation-codec.js';

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

export interface StreamEntry {
  readonly id: string;
  readonly ms: number;
  readonly seqInMs: number;
  readonly entry: Omit<ChangeLogEntry, 'id'>;
}

export interface PendingEntry {
  consumer: string;
  deliveredAt: number;
}

export interface OwnerState {
  readonly kind: 'owner';
  readonly revision: number;
  readonly visibilityJson: string;
  readonly record: OwnershipRecord;
  /** `record` as JSON: a reader gets its own copy parsed from it, cheaper than cloning the object. */
  readonly recordJson: string;
  readonly bytes: ReadonlyMap<string, Uint8Array>;
}

export interface Tombstone {
  readonly kind: 'tombstone';
  readonly revision: number;
  readonly expiresAt: number;
}

/** Everything a Redis server would hold for one store. `wipe` replaces it, like a restart without persistence. */
export class MemoryData {
  readonly serviceEntries = new Map<string, Map<string, string>>();
  readonly sidecars = new Map<string, { readonly revision: number; readonly json: string }>();
  readonly gateways = new Map<string, { readonly revision: number; readonly json: string }>();
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
  readonly fleet = new Map<string, { report: string; revision: string; expiresAt: number }>();
}

export class MemoryState {
  data = new MemoryData();
  closed = false;
  readonly subscriptions = new Set<SubscriptionState>();
  /** Readers blocked on an empty change log, woken by the next append. */
  readonly logWaiters = new Set<() => void>();
  readonly counters: DeliveryCounters = { listenerErrors: 0, malformed: 0 };
  private readonly trimStep: number;

  constructor(
    readonly clock: Clock,
    readonly changeLogMaxLength: number,
  ) {
    this.trimStep = Math.max(64, Math.ceil(changeLogMaxLength / 8));
  }

  /** Runs one store call; refuses after close. */
  op<T>(body: () => T): T {
    if (this.closed) throw new StoreError('closed', 'the store is closed');
    return body();
  }

  now(): number {
    return this.clock.now();
  }

  ensureEpoch(): string {
    this.data.epoch ??= randomUUID();
    return this.data.epoch;
  }

  liveLease(): { value: string; expiresAt: number } | null {
    const lease = this.data.lease;
    if (lease !== null && lease.expiresAt <= this.now()) this.data.lease = null;
    return this.data.lease;
  }

  checkFence(fence: LeaseGrant): void {
    const lease = this.liveLease();
    if (lease === null || lease.value !== leaseValue(fence)) {
      throw new FencedError(fence, lease === null ? null : parseLeaseValue(lease.value));
    }
  }

  appendLog(entry: { serviceEntry: ObjectKey; op: ChangeOp; revision: number }, trace: string): string {
    const data = this.data;
    const ms = Math.max(this.now(), data.lastIdMs);
    const seqInMs = ms === data.lastIdMs ? data.lastIdSeq + 1 : 0;
    data.lastIdMs = ms;
    data.lastIdSeq = seqInMs;
    const id = `${ms}-${seqInMs}`;
    data.log.push({ id, ms, seqInMs, entry: trace === '' ? entry : { ...entry, trace } });
    // Like Redis with `MAXLEN ~`, keep at least the maximum and trim in steps, so a write at the cap
    // does not shift the whole log every time.
    if (data.log.length > this.changeLogMaxLength + this.trimStep) data.log.splice(0, data.log.length - this.changeLogMaxLength);
    for (const wake of this.logWaiters) wake();
    this.logWaiters.clear();
    return id;
  }

  publish(
    owner: ObjectKey,
    op: ChangeOp,
    ownerChanged: boolean,
    changed: readonly ResourceRef[],
    removed: readonly ResourceRef[],
    trace: string,
    kind?: InvalidationKind,
  ): Invalidation {
    const seq = ++this.data.sequence;
    this.ensureEpoch();
    const base = {
      seq,
      owner: { namespace: owner.namespace, name: owner.name },
      ...(kind === undefined ? {} : { kind }),
      op,
      ownerChanged,
      changed: [...changed],
      removed: [...removed],
    };
    const invalidation = trace === '' ? base : { ...base, trace };
    const receivers = [...this.subscriptions];
    // Pub/sub delivers after the publishing command has returned, in publish order.
    setImmediate(() => {
      for (const subscription of receivers) subscription.receive(invalidation);
    });
    return invalidation;
  }
}
