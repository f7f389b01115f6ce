/** Waiting in tests: every wait has a deadline, and a failure shows the last assertion error. */
import { createServer } from 'node:net';

export interface EventuallyOptions {
  /** Give up after this long (default 10 s). */
  readonly timeoutMs?: number;
  /** Pause between attempts (default 20 ms). */
  readonly intervalMs?: number;
}

/**
 * Retries `check` until it returns without throwing, and resolves with its result; after the deadline,
 * rejects with the last error (an assertion's message says what was still wrong).
 */
export async function eventually<T>(check: () => T | Promise<T>, options: EventuallyOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 20));
    }
  }
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

