/**
 * A keyed serial executor with bounded concurrency. Tasks with the same key run one at a time in the
 * order they were queued; tasks with different keys run concurrently, at most `concurrency` at once.
 * The watcher keys its writes by ServiceEntry and the translator its builds, so two updates of one
 * ServiceEntry never race, while different ServiceEntries proceed in parallel.
 *
 * With `coalesce`, a key keeps only its latest pending task: ten changes to one ServiceEntry queued
 * behind a running build become one more build (Envoy Gateway's `coalesceUpdates`, Istio's push
 * queue merge). A task already running is never cancelled.
 *
 * Keys take turns: a key whose task finishes goes to the back of the line if it has more work, so a
 * busy key cannot starve the others.
 */

/** A unit of work; it gets its key. */
export type KeyedTask<K> = (key: K) => Promise<void> | void;

export interface KeyedQueueOptions<K> {
  /** Most tasks running at once, across all keys. */
  readonly concurrency: number;
  /** Keep only the latest pending task per key. */
  readonly coalesce?: boolean;
  /**
   * Receives the error of a failed task; the queue goes on. It must not throw: an exception from it
   * is rethrown outside the queue, as an uncaught exception, rather than silently lost.
   */
  readonly onError: (error: unknown, key: K) => void;
}

export class KeyedQueue<K = string> {
  private readonly concurrency: number;
  private readonly coalesce: boolean;
  private readonly onError: (error: unknown, key: K) => void;
  /** Tasks not yet started, per key, oldest first. */
  private readonly pendingByKey = new Map<K, KeyedTask<K>[]>();
  /** Keys with pending tasks and nothing running, in the order they get a turn (a Set keeps insertion order). */
  private readonly readyKeys = new Set<K>();
  private readonly runningKeys = new Set<K>();
  private pendingTotal = 0;
  private drainWaiters: (() => void)[] = [];

  constructor(options: KeyedQueueOptions<K>) {
    if (!Number.isSafeInteger(options.concurrency) || options.concurrency < 1) {
      throw new Error(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
    this.concurrency = options.concurrency;
    this.coalesce = options.coalesce ?? false;
    this.onError = options.onError;
  }

  /**
   * Queues `task` for `key`. Tasks always start asynchronously, never inside this call. Returns false
   * when coalescing replaced a pending task of the same key, true when the task was added.
   */
  enqueue(key: K, task: KeyedTask<K>): boolean {
    const pending = this.pendingByKey.get(key);
    if (pending !== undefined && pending.length > 0 && this.coalesce) {
      pending[pending.length - 1] = task;
      return false;
    }
    if (pending === undefined) this.pendingByKey.set(key, [task]);
    else pending.push(task);
    this.pendingTotal += 1;
    if (!this.runningKeys.has(key)) this.readyKeys.add(key);
    this.pump();
    return true;
  }

  /** Tasks running now. */
  get running(): number {
    return this.runningKeys.size;
  }

  /** Tasks queued and not started. */
  get pending(): number {
    return this.pendingTotal;
  }

  /** True when nothing runs and nothing waits. */
  get idle(): boolean {
    return this.runningKeys.size === 0 && this.pendingTotal === 0;
  }

  /** Resolves when the queue is idle, including tasks queued while waiting. */
  drain(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private pump(): void {
    while (this.runningKeys.size < this.concurrency) {
      const next = this.readyKeys.values().next();
      if (next.done === true) return;
      const key = next.value;
      this.readyKeys.delete(key);
      const pending = this.pendingByKey.get(key);
      const task = pending?.shift();
      if (pending === undefined || task === undefined) continue;
      if (pending.length === 0) this.pendingByKey.delete(key);
      this.pendingTotal -= 1;
      this.runningKeys.add(key);
      void this.run(key, task);
    }
  }

  private async run(key: K, task: KeyedTask<K>): Promise<void> {
    try {
      // Awaiting first moves the task out of enqueue()'s call stack.
      await undefined;
      await task(key);
    } catch (error) {
      this.report(error, key);
    } finally {
      this.runningKeys.delete(key);
      if (this.pendingByKey.has(key)) this.readyKeys.add(key);
      this.pump();
      if (this.idle) this.wakeDrainWaiters();
    }
  }

  private report(error: unknown, key: K): void {
    try {
      this.onError(error, key);
    } catch (callbackError) {
      queueMicrotask(() => {
        throw callbackError;
      });
    }
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }
}
