/**
 * When the demo must stop and clean up: on SIGINT, SIGTERM or SIGHUP, and when its stdout goes away
 * (`skiff-demo | head`). Whatever the demo started (the skiff process, backends, the temporary mesh
 * directory) is released in its `finally` blocks, which an abort reaches.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** 128 + the signal number, as shells report a process ended by a signal. */
const SIGNAL_EXIT_CODES: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

export interface Lifecycle {
  readonly signal: AbortSignal;
  /** The exit code the stop asks for: 128 + signal, 0 for a closed stdout, undefined while running. */
  readonly exitCode: number | undefined;
  /** Writes a line to stdout, or nothing once stdout is closed. */
  out(line?: string): void;
  /** Waits `ms`, or rejects with the abort reason when the demo is stopped. */
  pause(ms: number): Promise<void>;
  /** Resolves when the demo is stopped. */
  stopped(): Promise<void>;
  dispose(): void;
}

export function processLifecycle(stdout: NodeJS.WriteStream = process.stdout): Lifecycle {
  const controller = new AbortController();
  let exitCode: number | undefined;
  let stdoutOpen = true;
  const stop = (code: number, reason: string): void => {
    if (controller.signal.aborted) return;
    exitCode = code;
    controller.abort(new Error(reason));
  };
  const onSignal = (signal: NodeJS.Signals): void => stop(SIGNAL_EXIT_CODES[signal] ?? 1, `stopped by ${signal}`);
  // EPIPE once the reader is gone: stop quietly, as a command does whose output nobody reads any more.
  const onStdoutError = (): void => {
    stdoutOpen = false;
    stop(0, 'stdout closed');
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, onSignal);
  stdout.on('error', onStdoutError);
  return {
    signal: controller.signal,
    get exitCode() {
      return exitCode;
    },
    out(line = '') {
      if (stdoutOpen && !stdout.destroyed) stdout.write(`${line}\n`);
    },
    pause: (ms) => sleep(ms, undefined, { signal: controller.signal }),
    stopped: () =>
      controller.signal.aborted ? Promise.resolve() : new Promise((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true })),
    dispose() {
      for (const signal of signals) process.off(signal, onSignal);
      stdout.off('error', onStdoutError);
    },
  };
}
