/**
 * Makes the store's Sidecars (or Gateways) equal to the desired state. They are few (one or a few per
 * namespace) and change rarely, so they are written one at a time, in the order they changed, under the
 * same writer lease as the ServiceEntry hashes; the store compares each value and publishes only real
 * changes. A failed write keeps the object dirty and is retried with backoff; a fenced write means the
 * lease is gone.
 */
import type { ObjectKey } from '@skiff/model';
import { Backoff, type Logger } from '@skiff/runtime';
import { FencedError, serviceEntryId, type LeaseGrant, type ScopeKind, type SidecarWriter } from '@skiff/store';

/** The desired objects of one kind. */
export interface DesiredScopeObjects {
  /** The JSON the store should hold for `key`, or null when it does not exist. */
  json(key: ObjectKey): string | null;
  /** Every object in effect. */
  keys(): ObjectKey[];
}

export interface SidecarWriterOptions {
  readonly kind: ScopeKind;
  /** The store's facet for `kind`. */
  readonly store: SidecarWriter;
  readonly desired: DesiredScopeObjects;
  readonly logger: Logger;
  readonly retryBackoff?: Backoff;
  /** A write was refused because the lease was lost. */
  readonly onFenced?: (error: FencedError) => void;
}

export interface SidecarConvergeReport {
  readonly stored: number;
  readonly desired: number;
  readonly written: number;
  readonly deleted: number;
}

export class SidecarSync {
  private readonly options: SidecarWriterOptions;
  private readonly retryBackoff: Backoff;
  /** Objects changed and not yet written, in the order they first changed. */
  private readonly dirty = new Map<string, ObjectKey>();
  private grant: LeaseGrant | null = null;
  private running: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private counts = { written: 0, deleted: 0 };

  constructor(options: SidecarWriterOptions) {
    this.options = options;
    this.retryBackoff = options.retryBackoff ?? new Backoff({ initialMs: 100, maxMs: 5_000 });
  }

  setGrant(grant: LeaseGrant | null): void {
    this.grant = grant;
  }

  get backlog(): number {
    return this.dirty.size;
  }

  /** Objects changed by an event: written now if holding the lease, else at the next convergence. */
  markDirty(keys: readonly ObjectKey[]): void {
    for (const key of keys) this.dirty.set(serviceEntryId(key), key);
    this.kick();
  }

  /** Writes every desired object and deletes stored ones that no longer exist. */
  async converge(): Promise<SidecarConvergeReport> {
    const stored = await this.options.store.list();
    const desired = this.options.desired.keys();
    for (const key of [...stored.map((entry) => entry.key), ...desired]) this.dirty.set(serviceEntryId(key), key);
    const before = { ...this.counts };
    this.kick();
    await this.drain();
    if (this.dirty.size > 0) throw new Error(`${this.dirty.size} ${this.options.kind}s could not be written`);
    return { stored: stored.length, desired: desired.length, written: this.counts.written - before.written, deleted: this.counts.deleted - before.deleted };
  }

  /** Resolves when nothing is being written (a retry scheduled later is not waited for). */
  async drain(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private kick(): void {
    if (this.running !== null || this.closed || this.grant === null || this.dirty.size === 0) return;
    this.running = this.writeAll().finally(() => {
      this.running = null;
    });
  }

  private async writeAll(): Promise<void> {
    while (!this.closed) {
      const grant = this.grant;
      const next = this.dirty.entries().next();
      if (grant === null || next.done === true) return;
      const [id, key] = next.value;
      this.dirty.delete(id);
      try {
        const json = this.options.desired.json(key);
        if (json === null) {
          if ((await this.options.store.delete(key, grant)).status === 'deleted') this.counts.deleted += 1;
        } else if ((await this.options.store.put(key, json, grant)).status === 'written') {
          this.counts.written += 1;
        }
        this.retryBackoff.reset();
      } catch (error) {
        if (!this.dirty.has(id)) this.dirty.set(id, key);
        if (error instanceof FencedError) {
          this.options.logger.warn({ [this.options.kind.toLowerCase()]: id, err: error.message }, `lease lost: ${this.options.kind} write refused, stopping writes`);
          this.grant = null;
          this.options.onFenced?.(error);
          return;
        }
        this.options.logger.warn({ [this.options.kind.toLowerCase()]: id, err: error instanceof Error ? error.message : String(error) }, `${this.options.kind} write failed; will retry`);
        this.scheduleRetry();
        return;
      }
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, this.retryBackoff.next());
  }
}
