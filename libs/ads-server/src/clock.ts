/** Time for the protocol state machine, injectable so tests drive debounce and waits by hand. */

export interface Clock {
  /** Monotonic milliseconds (`performance.now()`), for scheduling and durations. */
  now(): number;
  /** Milliseconds since the epoch, for timestamps shown in status and debug output. */
  epochMs(): number;
  /** Calls `callback` once after `delayMs`; returns a handle for `clearTimer`. */
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(timer: unknown): void;
}

/** A system timer: an immediate for "as soon as possible", a timeout otherwise. */
type SystemTimer = { readonly immediate: NodeJS.Immediate } | { readonly timeout: NodeJS.Timeout };

export const systemClock: Clock = {
  now: () => performance.now(),
  epochMs: () => Date.now(),
  setTimer: (callback, delayMs): SystemTimer => (delayMs <= 0 ? { immediate: setImmediate(callback) } : { timeout: setTimeout(callback, delayMs) }),
  clearTimer: (timer) => {
    // Each kind must be cleared by its own function: clearImmediate on a timeout corrupts Node's timer lists.
    const handle = timer as SystemTimer;
    if ('immediate' in handle) clearImmediate(handle.immediate);
    else clearTimeout(handle.timeout);
  },
};
