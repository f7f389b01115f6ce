/**
 * Keeps the store's writer lease: exactly one watcher replica writes at a time, and every write it
 * makes carries the lease grant as a fencing token, so a replica that lost the lease (paused, cut off)
 * cannot write even if it still believes it leads.
 *
 * In a Kubernetes cluster an optional elector (a coordination.k8s.io Lease) decides who may even try:
 * only its leader acquires the store lease, and gives it up when it stops leading. The store lease
 * stays the fence in both modes.
 */
import type { Logger } from '@skiff/runtime';
import type { Lease, LeaseGrant } from '@skiff/store';

/** An outside leader election (a Kubernetes Lease). */
export interface LeaderElector {
  isLeader(): boolean;
  /** Calls `listener` whenever leadership changes; returns the function that removes it. */
  onChange(listener: (leading: boolean) => void): () => void;
}

export interface WriterLeaseOptions {
  readonly lease: Lease;
  /** Unique per process (pod name plus a random suffix). */
  readonly holder: string;
  readonly logger: Logger;
  /** Lease time to live (default 15 s); it is renewed every third of it. */
  readonly ttlMs?: number;
  /** How often a standby tries to acquire (default: a third of the TTL). */
  readonly retryMs?: number;
  readonly elector?: LeaderElector;
}

export class WriterLease {
  private readonly lease: Lease;
  private readonly holder: string;
  private readonly logger: Logger;
  private readonly ttlMs: number;
  private readonly retryMs: number;
  private answeredOnce = false;
  private readonly elector: LeaderElector | undefined;
  private readonly listeners = new Set<(grant: LeaseGrant | null) => void>();
  private grant: LeaseGrant | null = null;
  /** When the current grant was last confirmed (acquired or renewed), for expiry while the store is unreachable. */
  private confirmedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private removeElectorListener: (() => void) | undefined;
  private running = false;
  private ticking: Promise<void> = Promise.resolve();

  constructor(options: WriterLeaseOptions) {
    this.lease = options.lease;
    this.holder = options.holder;
    this.logger = options.logger;
    this.ttlMs = options.ttlMs ?? 15_000;
    this.retryMs = options.retryMs ?? Math.max(Math.floor(this.ttlMs / 3), 1);
    this.elector = options.elector;
  }

  /** The grant to write under, or null when this replica must not write. */
  current(): LeaseGrant | null {
    return this.grant;
  }

  /** Calls `listener` with the new grant (or null) on every change; returns the function that removes it. */
  onChange(listener: (grant: LeaseGrant | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.removeElectorListener = this.elector?.onChange(() => this.kick());
    this.kick();
  }

  /** The lease was found lost elsewhere (a fenced write): stop writing at once and try again later. */
  lost(): void {
    this.setGrant(null);
    this.schedule(this.retryMs);
  }

  async close(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.removeElectorListener?.();
    await this.ticking;
    const grant = this.grant;
    this.setGrant(null);
    if (grant) {
      try {
        await this.lease.release(grant);
      } catch (error) {
        this.logger.warn({ err: String(error) }, 'could not release the writer lease; it expires on its own');
      }
    }
  }

  private kick(): void {
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.ticking = this.ticking.then(() => this.tick());
    }, delayMs);
  }

  /** Whether a lease call has answered since start, so `current()` tells whether this replica leads. */
  get answered(): boolean {
    return this.answeredOnce;
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    const mayLead = this.elector?.isLeader() ?? true;
    try {
      if (this.grant && !mayLead) {
        const grant = this.grant;
        this.setGrant(null);
        await this.lease.release(grant);
        this.logger.info('no longer the elected leader: released the writer lease');
      } else if (this.grant) {
        if (await this.lease.renew(this.grant, this.ttlMs)) {
          this.confirmedAt = performance.now();
        } else {
          this.logger.warn({ token: this.grant.token }, 'writer lease lost (expired or taken over)');
          this.setGrant(null);
        }
      } else if (mayLead) {
        const grant = await this.lease.acquire(this.holder, this.ttlMs);
        if (grant) {
          this.confirmedAt = performance.now();
          this.logger.info({ token: grant.token, holder: grant.holder }, 'acquired the writer lease');
          this.setGrant(grant);
        }
      }
      this.answeredOnce = true;
    } catch (error) {
      // The store is unreachable: a grant not confirmed within its TTL may have been taken over.
      if (this.grant && performance.now() - this.confirmedAt >= this.ttlMs) {
        this.logger.warn('writer lease not renewed within its TTL (store unreachable): stopping writes');
        this.setGrant(null);
      }
      this.logger.debug({ err: String(error) }, 'writer lease check failed');
    }
    this.schedule(this.grant ? Math.max(Math.floor(this.ttlMs / 3), 1) : this.retryMs);
  }

  private setGrant(grant: LeaseGrant | null): void {
    if (grant === this.grant) return;
    this.grant = grant;
    for (const listener of this.listeners) listener(grant);
  }
}
