/**
 * Makes the store's ServiceEntry hashes equal to the desired state.
 *
 * - Only fields that differ from what was last written are sent, and the store applies them atomically
 *   with the change-log entry (the translators' work queue).
 * - Changed ServiceEntries are written in batches: one store call (`writeMany`: one script, one fence
 *   check) carries up to `batchSize` of them, and up to `concurrency` calls are in flight, pipelined on
 *   the connection. A batch is sent once the events of the current turn of the event loop are in (a
 *   source hands over a watch read's events in one turn), so no write waits for a timer, and the
 *   client's per-call work is paid once per batch rather than once per ServiceEntry.
 * - Writes for one ServiceEntry never race: a ServiceEntry is in at most one call in flight. Events for
 *   it meanwhile coalesce into one more write of the latest state once that call returns.
 * - Every write carries the lease grant; without one, changes are only remembered, and written when the
 *   lease is won (after a full convergence).
 * - A write that fails because the store is unreachable is retried with backoff; its ServiceEntries
 *   stay dirty until it succeeds. A fenced write means the lease is gone: the grant is dropped.
 */
import type { ObjectKey } from '@skiff/model';
import { SpanStatusCode, type Span, type Tracer } from '@opentelemetry/api';
import { Backoff, traceparentOf, type Logger } from '@skiff/runtime';
import {
  diffFields,
  fieldRecord,
  FencedError,
  isEmptyDiff,
  REVISION_FIELD,
  parseServiceEntryId,
  serviceEntryId,
  type LeaseGrant,
  type ServiceEntryChange,
  type ServiceEntryChangeResult,
  type ServiceEntryDiff,
  type ServiceEntryId,
  type ServiceEntryWriter,
  type StoredServiceEntry,
} from '@skiff/store';
import type { DesiredState } from './desired-state.js';

export interface HashWriterHooks {
  /** A ServiceEntry hash was written (`op` upsert or delete) after `lagMs` since it was marked dirty. */
  onWrite?(op: 'upsert' | 'delete', lagMs: number): void;
  onWriteError?(error: unknown): void;
  /** A write was refused because the lease was lost. */
  onFenced?(error: FencedError): void;
}

export interface HashWriterOptions {
  readonly store: ServiceEntryWriter;
  readonly state: DesiredState;
  readonly logger: Logger;
  /** Store calls in flight at once (default 4). */
  readonly concurrency?: number;
  /** Most ServiceEntries one store call carries (default 64). */
  readonly batchSize?: number;
  readonly hooks?: HashWriterHooks;
  readonly retryBackoff?: Backoff;
  /** Each write is a span whose context travels with the change-log entry to the translator. */
  readonly tracer?: Tracer;
}

export interface ConvergeReport {
  readonly stored: number;
  readonly desired: number;
  readonly written: number;
  readonly deleted: number;
  readonly durationMs: number;
}

export class HashWriter {
  private readonly store: ServiceEntryWriter;
  private readonly state: DesiredState;
  private readonly logger: Logger;
  private readonly hooks: HashWriterHooks;
  private readonly concurrency: number;
  private readonly batchSize: number;
  private readonly retryBackoff: Backoff;
  private readonly tracer: Tracer | undefined;
  /** What this writer believes each hash holds (field -> JSON, without `rev`), from its own writes and reads. */
  private readonly written = new Map<ServiceEntryId, Record<string, string>>();
  /** ServiceEntries that changed and are not written yet, with when they first changed. */
  private readonly dirty = new Map<ServiceEntryId, number>();
  /** Dirty ServiceEntries waiting for the next batch, oldest first. */
  private readonly ready = new Set<ServiceEntryId>();
  /**
   * Since its last write was prepared, the workloads whose fields alone changed in a ServiceEntry
   * (by `<namespace>/<name>`); `fullCompare` holds those where anything may have changed.
   */
  private readonly changedWorkloads = new Map<ServiceEntryId, Map<string, ObjectKey>>();
  private readonly fullCompare = new Set<ServiceEntryId>();
  /** ServiceEntries whose last write failed: what their hashes hold is read back before they are written again. */
  private readonly unknown = new Set<ServiceEntryId>();
  /** ServiceEntries in a call in flight, and whether they changed again since it was sent. */
  private readonly inFlight = new Map<ServiceEntryId, boolean>();
  private readonly idleWaiters: (() => void)[] = [];
  private running = 0;
  private readonly callWaiters: (() => void)[] = [];
  /** Set while a converge reads the store: nothing is sent meanwhile. */
  private paused = false;
  /** The ServiceEntries the last `readStored` found a hash of. */
  private storedIds: ServiceEntryId[] = [];
  private pumpScheduled = false;
  private grant: LeaseGrant | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private writesDone = 0;
  private deletesDone = 0;
  private closed = false;

  constructor(options: HashWriterOptions) {
    this.store = options.store;
    this.state = options.state;
    this.logger = options.logger;
    this.hooks = options.hooks ?? {};
    this.retryBackoff = options.retryBackoff ?? new Backoff({ initialMs: 100, maxMs: 5_000 });
    this.tracer = options.tracer;
    this.concurrency = positive('concurrency', options.concurrency ?? 4);
    this.batchSize = positive('batchSize', options.batchSize ?? 64);
  }

  /** The lease this writer writes under, or null to stop writing (changes are still remembered). */
  setGrant(grant: LeaseGrant | null): void {
    this.grant = grant;
    // Without a grant nothing more is sent: whoever waits for the queue to drain stops waiting.
    this.notifyIfIdle();
  }

  get leaseGrant(): LeaseGrant | null {
    return this.grant;
  }

  /**
   * ServiceEntries changed by an event: write them (now if holding the lease, else once it is won).
   * `workload` names the WorkloadEntry whose endpoint field is the only field the event changed in each
   * of them (`ApplyOutcome.workload`); without it, any field may have changed.
   */
  markDirty(keys: readonly ObjectKey[], workload?: ObjectKey): void {
    const now = performance.now();
    for (const key of keys) {
      const id = serviceEntryId(key);
      if (!this.dirty.has(id)) this.dirty.set(id, now);
      this.noteChange(id, workload);
      if (this.grant) this.enqueue(id);
    }
    this.schedulePump();
  }

  /** ServiceEntries changed and not yet written. */
  get backlog(): number {
    return this.dirty.size;
  }

  get counters(): { readonly writes: number; readonly deletes: number } {
    return { writes: this.writesDone, deletes: this.deletesDone };
  }

  /** Resolves when every queued write has finished (retries scheduled later are not waited for). */
  drain(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Makes the store equal to the desired state: reads what every stored hash holds, writes what
   * differs and deletes the hashes of ServiceEntries that no longer exist. Run after the initial list,
   * after winning the lease, and when the store came back empty.
   */
  async converge(): Promise<ConvergeReport> {
    const started = performance.now();
    // Nothing is sent while the store is read, and what is in flight lands first: each write below
    // then diffs against what the store holds after every earlier write, not against a read that an
    // earlier write overtook (a write planned without knowing the hash sets fields and deletes none).
    this.paused = true;
    try {
      await this.callsDone();
      this.written.clear();
      this.unknown.clear();
      await this.readStored();
    } finally {
      this.paused = false;
    }
    const before = { writes: this.writesDone, deletes: this.deletesDone };
    const desiredKeys = this.state.serviceEntryKeys();
    const ids = new Set<ServiceEntryId>([...this.storedIds, ...desiredKeys.map(serviceEntryId)]);
    const storedCount = this.storedIds.length;
    this.storedIds = [];
    const now = performance.now();
    for (const id of ids) {
      if (!this.dirty.has(id)) this.dirty.set(id, now);
      // What was read may differ from the desired state anywhere: compare every field.
      this.changedWorkloads.delete(id);
      this.fullCompare.add(id);
      this.enqueue(id);
    }
    this.pump();
    await this.drain();
    return {
      stored: storedCount,
      desired: desiredKeys.length,
      written: this.writesDone - before.writes,
      deleted: this.deletesDone - before.deletes,
      durationMs: performance.now() - started,
    };
  }

  /** Reads every stored hash into `written` (concurrently, bounded) and remembers which ServiceEntries have one. */
  private async readStored(): Promise<void> {
    const storedKeys = await this.store.list();
    this.storedIds = storedKeys.map(serviceEntryId);
    await forEachBounded(storedKeys, 32, async (key) => {
      const stored = await this.store.read(key);
      if (stored) this.written.set(serviceEntryId(key), fieldsOf(stored));
    });
  }

  /** Resolves once no store call is in flight. */
  private callsDone(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.callWaiters.push(resolve));
  }

  /** Forgets what the store was believed to hold (it restarted empty); the next converge rewrites all. */
  forgetStoredState(): void {
    this.written.clear();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.notifyIfIdle();
  }

  /**
   * Remembers which workloads' fields changed in `id` since its last write was prepared, while what the
   * store holds is known (`written`, or a write in flight that will be); anything else means a full
   * comparison (no entry).
   */
  private noteChange(id: ServiceEntryId, workload: ObjectKey | undefined): void {
    const changed = this.changedWorkloads.get(id);
    if (workload === undefined) {
      this.changedWorkloads.delete(id);
      this.fullCompare.add(id);
    } else if (changed !== undefined) {
      changed.set(`${workload.namespace}/${workload.name}`, workload);
    } else if (!this.fullCompare.has(id) && (this.written.has(id) || this.inFlight.has(id))) {
      this.changedWorkloads.set(id, new Map([[`${workload.namespace}/${workload.name}`, workload]]));
    } else {
      this.fullCompare.add(id);
    }
  }

  /** Queues `id` for the next batch, or, while a call carrying it is in flight, for once that call returns. */
  private enqueue(id: ServiceEntryId): void {
    if (this.inFlight.has(id)) this.inFlight.set(id, true);
    else this.ready.add(id);
  }

  /** Pumps once the events of this turn are in, so they share batches. */
  private schedulePump(): void {
    if (this.pumpScheduled || this.ready.size === 0) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Sends batches of ready ServiceEntries while fewer than `concurrency` calls are in flight. */
  private pump(): void {
    while (this.running < this.concurrency && this.ready.size > 0 && this.grant !== null && !this.closed && !this.paused) {
      const grant = this.grant;
      const batch: PendingWrite[] = [];
      for (const id of this.ready) {
        this.ready.delete(id);
        // Its last write failed: it waits for the retry, which reads what the store holds first.
        if (this.unknown.has(id)) continue;
        const write = this.prepare(id);
        if (write === null) continue;
        batch.push(write);
        this.inFlight.set(id, false);
        if (batch.length >= this.batchSize) break;
      }
      if (batch.length === 0) continue;
      this.running += 1;
      void this.send(batch, grant).finally(() => {
        this.running -= 1;
        if (this.running === 0) for (const resolve of this.callWaiters.splice(0)) resolve();
        this.pump();
        this.notifyIfIdle();
      });
    }
    this.notifyIfIdle();
  }

  /**
   * What `id` needs written, or null when the store already holds its desired state. When only known
   * workloads' fields changed since the last write, only those fields are compared (a WorkloadEntry
   * event touches one field of a ServiceEntry that has twenty); otherwise every field is built and
   * compared.
   */
  private prepare(id: ServiceEntryId): PendingWrite | null {
    const key = parseServiceEntryId(id);
    const dirtySince = this.dirty.get(id);
    const current = this.written.get(id);
    const changed = this.changedWorkloads.get(id);
    this.changedWorkloads.delete(id);
    this.fullCompare.delete(id);
    if (changed !== undefined && current !== undefined) {
      const set = fieldRecord();
      const remove: string[] = [];
      for (const workload of changed.values()) {
        for (const { field, text } of this.state.desiredWorkloadFields(key, workload)) {
          if (current[field] === text) continue;
          if (text === undefined) remove.push(field);
          else set[field] = text;
        }
      }
      const diff = { set, delete: remove };
      if (!isEmptyDiff(diff)) return { id, change: { key, diff }, after: { patch: diff }, dirtySince };
    } else {
      const desired = this.state.desiredFields(key);
      if (desired === null) {
        if (current !== undefined || dirtySince !== undefined) return { id, change: { key, delete: true }, after: null, dirtySince };
      } else {
        // Nothing known in the store (a cold sync): every field is sent, so the fields themselves are the diff.
        const diff = current === undefined ? { set: desired, delete: [] } : diffFields(current, desired);
        if (!isEmptyDiff(diff)) return { id, change: { key, diff }, after: { fields: desired }, dirtySince };
        this.written.set(id, desired);
      }
    }
    this.clearDirty(id, dirtySince);
    return null;
  }

  private async send(batch: readonly PendingWrite[], grant: LeaseGrant): Promise<void> {
    let results: ServiceEntryChangeResult[];
    try {
      results = await this.traced(batch, (changes) => this.store.writeMany(changes, grant));
    } catch (error) {
      // Every ServiceEntry of the batch stays dirty: the retry (or the converge after a new lease) writes it.
      for (const { id } of batch) this.inFlight.delete(id);
      this.onBatchError(error, batch);
      return;
    }
    batch.forEach(({ id, after, dirtySince }, i) => {
      const result = results[i];
      const lagMs = dirtySince === undefined ? 0 : performance.now() - dirtySince;
      if (after === null) {
        this.written.delete(id);
        if (result?.status === 'deleted') {
          this.deletesDone += 1;
          this.hooks.onWrite?.('delete', lagMs);
        }
      } else {
        if ('patch' in after) applyDiff(this.written.get(id), after.patch);
        else this.written.set(id, after.fields);
        if (result?.status === 'written') {
          this.writesDone += 1;
          this.hooks.onWrite?.('upsert', lagMs);
        }
      }
      // Changed again while being written: write the latest state next; else it is done.
      if (this.inFlight.get(id) === true) this.ready.add(id);
      else this.clearDirty(id, dirtySince);
      this.inFlight.delete(id);
    });
  }

  /**
   * Runs a store call; when tracing, each ServiceEntry's change gets a span of its own whose context
   * travels with its change-log entry to the translator.
   */
  private async traced<T>(batch: readonly PendingWrite[], call: (changes: ServiceEntryChange[]) => Promise<T>): Promise<T> {
    const tracer = this.tracer;
    if (tracer === undefined) return call(batch.map((write) => write.change));
    const spans = batch.map(({ id, after }) => tracer.startSpan(after === null ? 'watcher.delete' : 'watcher.write', { root: true, attributes: { 'skiff.service_entry': id } }));
    const changes = batch.map(({ change }, i) => {
      const trace = traceparentOf(spans[i] as Span);
      return trace === undefined ? change : { ...change, trace };
    });
    try {
      return await call(changes);
    } catch (error) {
      for (const span of spans) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      }
      throw error;
    } finally {
      for (const span of spans) span.end();
    }
  }

  /** Clears the dirty mark unless the ServiceEntry changed again while it was being written. */
  private clearDirty(id: ServiceEntryId, dirtySince: number | undefined): void {
    if (this.dirty.get(id) === dirtySince) this.dirty.delete(id);
    if (this.dirty.size === 0) this.retryBackoff.reset();
  }

  private isIdle(): boolean {
    return this.running === 0 && (this.ready.size === 0 || this.grant === null || this.closed || this.paused);
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private onBatchError(error: unknown, batch: readonly PendingWrite[]): void {
    const first = batch[0]?.id;
    if (error instanceof FencedError) {
      this.logger.warn({ serviceEntry: first, serviceEntries: batch.length, err: error.message }, 'lease lost: write refused, stopping writes');
      this.grant = null;
      this.ready.clear();
      for (const { id } of batch) {
        this.changedWorkloads.delete(id);
        this.fullCompare.add(id);
      }
      this.hooks.onFenced?.(error);
      return;
    }
    this.hooks.onWriteError?.(error);
    // What the store holds for these ServiceEntries is now unknown (the call may or may not have been
    // applied): the retry reads it back and compares every field with it, so a field that should be
    // gone is deleted too.
    for (const { id } of batch) {
      this.written.delete(id);
      this.unknown.add(id);
      // Changes noted while it was in flight were relative to a write that may not have happened.
      this.changedWorkloads.delete(id);
      this.fullCompare.add(id);
    }
    this.scheduleRetry();
    this.logger.warn({ serviceEntry: first, serviceEntries: batch.length, err: error instanceof Error ? error.message : String(error) }, 'store write failed; will retry');
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    const delay = this.retryBackoff.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.grant || this.closed) return;
      this.readUnknown().then(
        () => {
          for (const id of this.dirty.keys()) this.enqueue(id);
          this.pump();
        },
        (error: unknown) => {
          this.hooks.onWriteError?.(error);
          this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'reading ServiceEntry hashes back failed; will retry');
          this.scheduleRetry();
        },
      );
    }, delay);
  }

  /** Reads back the hashes whose last write failed, so their next write compares with what is stored. */
  private async readUnknown(): Promise<void> {
    await forEachBounded([...this.unknown], 32, async (id) => {
      const stored = await this.store.read(parseServiceEntryId(id));
      if (!this.unknown.delete(id)) return;
      if (stored) this.written.set(id, fieldsOf(stored));
      else this.written.delete(id);
    });
  }
}

/** One ServiceEntry in a batch: its change, since when it was dirty, and what the hash holds once it is written. */
interface PendingWrite {
  readonly id: ServiceEntryId;
  readonly change: ServiceEntryChange;
  /** Every field (after a full comparison), the diff to apply to what was written before (some fields compared), or null (deleted). */
  readonly after: { readonly fields: Record<string, string> } | { readonly patch: ServiceEntryDiff } | null;
  readonly dirtySince: number | undefined;
}

/**
 * Applies a written diff to the record of what the hash holds; no record (forgotten meanwhile) stays none.
 * A record from the store's own read is the truth before or after the write, and the diff makes either the truth after.
 */
function applyDiff(record: Record<string, string> | undefined, diff: ServiceEntryDiff): void {
  if (record === undefined) return;
  for (const field of Object.keys(diff.set)) record[field] = diff.set[field] as string;
  for (const field of diff.delete) delete record[field];
}

/** A stored hash's fields without `rev` (which only the store writes). */
function fieldsOf(stored: StoredServiceEntry): Record<string, string> {
  return Object.fromEntries(Object.entries(stored.fields).filter(([field]) => field !== REVISION_FIELD));
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function forEachBounded<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
