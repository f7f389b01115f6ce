/**
 * Exponential backoff with jitter for reconnect loops (Redis, the Kubernetes watch, an upstream
 * gateway). It follows gRPC's connection backoff (doc/connection-backoff.md in grpc/grpc): the base
 * delay grows by `multiplier` per attempt up to `maxMs`, and each delay is spread by +-`jitter` of
 * the base so that replicas that lost the same peer do not all come back at the same instant.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface BackoffOptions {
  /** First delay. Default 1000 ms (gRPC's initial backoff). */
  readonly initialMs?: number;
  /** Largest delay, jitter included. Default 30 000 ms, the Kubernetes client's informer cap. */
  readonly maxMs?: number;
  /** Growth per attempt. Default 1.6 (gRPC's). */
  readonly multiplier?: number;
  /** Spread as a fraction of the base delay, 0..1. Default 0.2 (gRPC's). */
  readonly jitter?: number;
  /** Uniform random numbers in [0, 1); injectable for tests. */
  readonly random?: () => number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly multiplier: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private baseMs: number;
  private attempts = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 1000;
    this.maxMs = options.maxMs ?? 30_000;
    this.multiplier = options.multiplier ?? 1.6;
    this.jitter = options.jitter ?? 0.2;
    this.random = options.random ?? Math.random;
    if (!(this.initialMs > 0)) throw new Error(`initialMs must be positive, got ${this.initialMs}`);
    if (!(this.maxMs >= this.initialMs)) throw new Error(`maxMs (${this.maxMs}) must be at least initialMs (${this.initialMs})`);
    if (!(this.multiplier >= 1)) throw new Error(`multiplier must be at least 1, got ${this.multiplier}`);
    if (!(this.jitter >= 0 && this.jitter <= 1)) throw new Error(`jitter must be within 0..1, got ${this.jitter}`);
    this.baseMs = this.initialMs;
  }

  /** How many delays were handed out since the last reset. */
  get attempt(): number {
    return this.attempts;
  }

  /** The delay before the next attempt, in milliseconds; each call moves one step further. */
  next(): number {
    const base = this.baseMs;
    this.baseMs = Math.min(this.baseMs * this.multiplier, this.maxMs);
    this.attempts += 1;
    const spread = base * this.jitter * (2 * this.random() - 1);
    return Math.min(Math.max(base + spread, 0), this.maxMs);
  }

  /** Back to the initial delay, after a connection has succeeded. */
  reset(): void {
    this.baseMs = this.initialMs;
    this.attempts = 0;
  }

  /** Sleeps for `next()`; rejects with an AbortError if `signal` aborts first. */
  async wait(signal?: AbortSignal): Promise<void> {
    const delay = this.next();
    await (signal === undefined ? sleep(delay) : sleep(delay, undefined, { signal }));
  }
}
