/** Timers a component owns, so that closing it cancels everything it scheduled. */

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
