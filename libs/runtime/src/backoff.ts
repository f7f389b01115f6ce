/**
 * Exponential backoff with jitter, the one implementation for every retry and reconnect loop: Redis
 * reconnections (the store's ioredis `retryStrategy`), Kubernetes informer restarts,
 * the translator's and the gateway cache's store retries, the watcher's writes and convergence, and
 * skiff-loadgen's proxy reconnections. It follows gRPC's connection backoff (doc/connection-backoff.md
 * in grpc/grpc): the base delay grows by `multiplier` per attempt up to `maxMs`, and each delay is
 * spread by +-`jitter` of the base so that replicas that lost the same peer do not all come back at
 * the same instant.
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
}

/** A complete, checked set of backoff options. */
export type BackoffPolicy = Required<BackoffOptions>;

/** Fills in the defaults and checks the result; throws a RangeError for a policy that cannot back off. */
export function resolveBackoff(options: BackoffOptions = {}): BackoffPolicy {
  const policy: BackoffPolicy = { initialMs: options.initialMs ?? 1000, maxMs: options.maxMs ?? 30_000, multiplier: options.multiplier ?? 1.6, jitter: options.jitter ?? 0.2 };
  if (!(policy.initialMs > 0)) throw new RangeError(`initialMs must be positive, got ${policy.initialMs}`);
  if (!(policy.maxMs >= policy.initialMs)) throw new RangeError(`maxMs (${policy.maxMs}) must be at least initialMs (${policy.initialMs})`);
  if (!(policy.multiplier >= 1)) throw new RangeError(`multiplier must be at least 1, got ${policy.multiplier}`);
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) throw new RangeError(`jitter must be within 0..1, got ${policy.jitter}`);
  return policy;
}

/**
 * The delay before retry number `attempt` (0 for the first), for loops that count attempts themselves
 * (ioredis passes its attempt number to `retryStrategy`). `random` gives uniform numbers in [0, 1).
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.initialMs * policy.multiplier ** Math.max(0, Math.min(attempt, 1000)), policy.maxMs);
  const spread = base * policy.jitter * (2 * random() - 1);
  return Math.round(Math.min(Math.max(base + spread, 0), policy.maxMs));
}

/** The same sequence with its own attempt counter, for a loop that retries one thing. */
export class Backoff {
  private readonly policy: BackoffPolicy;
  private readonly random: () => number;
  private attempts = 0;

  constructor(options: BackoffOptions & { readonly random?: () => number } = {}) {
    this.policy = resolveBackoff(options);
    this.random = options.random ?? Math.random;
  }

  /** How many delays were handed out since the last reset. */
  get attempt(): number {
    return this.attempts;
  }

  /** The delay before the next attempt, in milliseconds; each call moves one step further. */
  next(): number {
    return backoffDelay(this.policy, this.attempts++, this.random);
  }

  /** Back to the initial delay, after a connection has succeeded. */
  reset(): void {
    this.attempts = 0;
  }

  /** Sleeps for `next()`; rejects with an AbortError if `signal` aborts first. */
  async wait(signal?: AbortSignal): Promise<void> {
    const delay = this.next();
    await (signal === undefined ? sleep(delay) : sleep(delay, undefined, { signal }));
  }
}
