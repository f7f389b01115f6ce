/**
 * Exponential backoff with jitter, and a set of timers that `close()` can cancel all at once.
 *
 * The shape is client-go's wait.Backoff (k8s.io/apimachinery/pkg/util/wait/backoff.go): a delay that
 * starts small, is multiplied on every failed attempt up to a cap, and is jittered so that many
 * replicas that lost the API server together do not come back in lockstep.
 */

export interface BackoffPolicy {
  /** Delay before the first retry. */
  readonly initialMs: number;
  /** The delay never exceeds this. */
  readonly maxMs: number;
  /** Each failed attempt multiplies the delay by this. */
  readonly factor: number;
  /** Fraction (0..1) by which a delay is randomly shortened, so retries spread out even at the cap. */
  readonly jitter: number;
}

/** 100 ms doubling to 30 s, shortened by up to 20 %. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 30_000, factor: 2, jitter: 0.2 };

export function resolveBackoff(overrides: Partial<BackoffPolicy> = {}): BackoffPolicy {
  const policy = { ...DEFAULT_BACKOFF, ...overrides };
  if (!(policy.initialMs > 0) || !(policy.maxMs >= policy.initialMs) || !(policy.factor >= 1) || !(policy.jitter >= 0 && policy.jitter <= 1)) {
    throw new RangeError(`invalid backoff ${JSON.stringify(policy)}: need 0 < initialMs <= maxMs, factor >= 1, 0 <= jitter <= 1`);
  }
  return policy;
}

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const exponential = policy.initialMs * policy.factor ** Math.max(0, attempt);
  const capped = Math.min(policy.maxMs, exponential);
  return Math.round(capped * (1 - policy.jitter * random()));
}

/**
 * Timers owned by one component. `clear()` cancels every pending one and resolves pending sleeps, so
 * nothing of the component runs, or keeps the process alive, after it closed.
 */
export class Timers {
  private readonly timeouts = new Map<NodeJS.Timeout, () => void>();
  private readonly immediates = new Set<NodeJS.Immediate>();
  private cleared = false;

  get isCleared(): boolean {
    return this.cleared;
  }

  /** Runs `fn` after `ms`, unless cleared first. Returns a function that cancels just this timer. */
  after(ms: number, fn: () => void): () => void {
    if (this.cleared) return noop;
    const timeout = setTimeout(() => {
      this.timeouts.delete(timeout);
      fn();
    }, ms);
    this.timeouts.set(timeout, noop);
    return () => {
      clearTimeout(timeout);
      this.timeouts.delete(timeout);
    };
  }

  /** Resolves after `ms`, or as soon as the timers are cleared. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.cleared) {
        resolve();
        return;
      }
      const timeout = setTimeout(() => {
        this.timeouts.delete(timeout);
        resolve();
      }, ms);
      this.timeouts.set(timeout, resolve);
    });
  }

  /** Runs `fn` once the current I/O callbacks and microtasks are done, unless cleared first. */
  soon(fn: () => void): void {
    if (this.cleared) return;
    const immediate = setImmediate(() => {
      this.immediates.delete(immediate);
      fn();
    });
    this.immediates.add(immediate);
  }

  clear(): void {
    this.cleared = true;
    for (const [timeout, release] of this.timeouts) {
      clearTimeout(timeout);
      release();
    }
    this.timeouts.clear();
    for (const immediate of this.immediates) clearImmediate(immediate);
    this.immediates.clear();
  }
}

function noop(): void {}
