/**
 * Makes the store's ServiceEntry hashes equal to the desired state, one ServiceEntry at a time.
 *
 * - Only fields that differ from what was last written are sent, and the store applies them atomically
 *   with the change-log entry (the translators' work queue).
 * - Writes for one ServiceEntry never race: they run through a keyed queue that coalesces, so ten
 *   WorkloadEntry events for one ServiceEntry waiting behind a running write become one more write of
 *   the latest state. Different ServiceEntries are written concurrently, up to `concurrency`.
 * - Every write carries the lease grant; without one, changes are only remembered, and written when the
 *   lease is won (after a full convergence).
 * - A write that fails because the store is unreachable is retried with backoff; the ServiceEntry stays
 *   dirty until it succeeds. A fenced write means the lease is gone: the grant is dropped.
 */
import type { ObjectKey } from '@skiff/model';
import type { Tracer } from '@opentelemetry/api';
import { Backoff, inSpan, KeyedQueue, traceparentOf, type Logger } from '@skiff/runtime';
import {
  diffFields,
  FencedError,
  isEmptyDiff,
  REVISION_FIELD,
  parseServiceEntryId,
  serviceEntryId,
  type LeaseGrant,
  type ServiceEntryId,
  type ServiceEntryWriter,
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
  /** ServiceEntries written concurrently (default 32). */
  readonly concurrency?: number;
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
  private readonly queue: KeyedQueue<ServiceEntryId>;
  private readonly retryBackoff: Backoff;
  private readonly tracer: Tracer | undefined;
  /** What this writer believes each hash holds (field -> JSON, without `rev`), from its own writes and reads. */
  private readonly written = new Map<ServiceEntryId, Record<string, string>>();
  /** ServiceEntries that changed and are not written yet, with when they first changed. */
  private readonly dirty = new Map<ServiceEntryId, number>();
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
    this.queue = new KeyedQueue<ServiceEntryId>({
      concurrency: options.concurrency ?? 32,
      coalesce: true,
      onError: (error, id) => this.onSyncError(error, id),
    });
  }

  /** The lease this writer writes under, or null to stop writing (changes are still remembered). */
  setGrant(grant: LeaseGrant | null): void {
    this.grant = grant;
  }

  get leaseGrant(): LeaseGrant | null {
    return this.grant;
  }

  /** ServiceEntries changed by an event: write them (now if holding the lease, else once it is won). */
  markDirty(keys: readonly ObjectKey[]): void {
    const now = performance.now();
    for (const key of keys) {
      const id = serviceEntryId(key);
      if (!this.dirty.has(id)) this.dirty.set(id, now);
      if (this.grant) this.queue.enqueue(id, (target) => this.sync(target));
    }
  }

  /** ServiceEntries changed and not yet written. */
  get backlog(): number {
    return this.dirty.size;
  }

  get counters(): { readonly writes: number; readonly deletes: number } {
    return { writes: this.writesDone, deletes: this.deletesDone };
  }

  /** Resolves when every queued write has finished (retries scheduled later are not waited for). */
  async drain(): Promise<void> {
    await this.queue.drain();
  }

  /**
   * Makes the store equal to the desired state: reads what every stored hash holds, writes what
   * differs and deletes the hashes of ServiceEntries that no longer exist. Run after the initial list,
   * after winning the lease, and when the store came back empty.
   */
  async converge(): Promise<ConvergeReport> {
    const started = performance.now();
    const storedKeys = await this.store.list();
    this.written.clear();
    const desiredKeys = this.state.serviceEntryKeys();
    const ids = new Set<ServiceEntryId>([...storedKeys.map(serviceEntryId), ...desiredKeys.map(serviceEntryId)]);
    // Read the stored hashes first (concurrently, bounded), so each sync below diffs against the truth.
    await forEachBounded(storedKeys, 32, async (key) => {
      const stored = await this.store.read(key);
      if (stored) this.written.set(serviceEntryId(key), Object.fromEntries(Object.entries(stored.fields).filter(([field]) => field !== REVISION_FIELD)));
    });
    const before = { writes: this.writesDone, deletes: this.deletesDone };
    const now = performance.now();
    for (const id of ids) if (!this.dirty.has(id)) this.dirty.set(id, now);
    for (const id of ids) this.queue.enqueue(id, (target) => this.sync(target));
    await this.queue.drain();
    return {
      stored: storedKeys.length,
      desired: desiredKeys.length,
      written: this.writesDone - before.writes,
      deleted: this.deletesDone - before.deletes,
      durationMs: performance.now() - started,
    };
  }

  /** Forgets what the store was believed to hold (it restarted empty); the next converge rewrites all. */
  forgetStoredState(): void {
    this.written.clear();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private async sync(id: ServiceEntryId): Promise<void> {
    const grant = this.grant;
    if (!grant || this.closed) return;
    const key = parseServiceEntryId(id);
    const dirtySince = this.dirty.get(id);
    const desired = this.state.desiredFields(key);
    const current = this.written.get(id);
    if (desired === null) {
      if (current !== undefined || dirtySince !== undefined) {
        const result = await this.traced('watcher.delete', id, (trace) => this.store.delete(key, grant, trace));
        this.written.delete(id);
        if (result.status === 'deleted') {
          this.deletesDone += 1;
          this.hooks.onWrite?.('delete', dirtySince === undefined ? 0 : performance.now() - dirtySince);
        }
      }
      this.clearDirty(id, dirtySince);
      return;
    }
    const diff = diffFields(current ?? null, desired);
    if (!isEmptyDiff(diff)) {
      const result = await this.traced('watcher.write', id, (trace) => this.store.write(key, diff, grant, trace));
      if (result.status === 'written') {
        this.writesDone += 1;
        this.hooks.onWrite?.('upsert', dirtySince === undefined ? 0 : performance.now() - dirtySince);
      }
    }
    this.written.set(id, desired);
    this.clearDirty(id, dirtySince);
  }

  /** Runs a store call in a span (when tracing) and hands it the span's context for the change log. */
  private traced<T>(name: string, id: ServiceEntryId, call: (options: { trace?: string }) => Promise<T>): Promise<T> {
    if (this.tracer === undefined) return call({});
    return inSpan(this.tracer, name, [], { 'skiff.service_entry': id }, (span) => {
      const trace = traceparentOf(span);
      return call(trace === undefined ? {} : { trace });
    });
  }

  /** Clears the dirty mark unless the ServiceEntry changed again while it was being written. */
  private clearDirty(id: ServiceEntryId, dirtySince: number | undefined): void {
    if (this.dirty.get(id) === dirtySince) this.dirty.delete(id);
    if (this.dirty.size === 0) this.retryBackoff.reset();
  }

  private onSyncError(error: unknown, id: ServiceEntryId): void {
    if (error instanceof FencedError) {
      this.logger.warn({ serviceEntry: id, err: error.message }, 'lease lost: write refused, stopping writes');
      this.grant = null;
      this.hooks.onFenced?.(error);
      return;
    }
    this.hooks.onWriteError?.(error);
    // What the store holds for this ServiceEntry is now unknown: re-diff against a full write.
    this.written.delete(id);
    this.scheduleRetry();
    this.logger.warn({ serviceEntry: id, err: error instanceof Error ? error.message : String(error) }, 'store write failed; will retry');
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    const delay = this.retryBackoff.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.grant) return;
      for (const id of this.dirty.keys()) this.queue.enqueue(id, (target) => this.sync(target));
    }, delay);
  }
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
