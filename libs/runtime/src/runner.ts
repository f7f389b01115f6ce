/**
 * Runners and the process lifecycle, after Envoy Gateway's internal/cmd/server.go: a service is a
 * list of runners started in order and closed in reverse order, so a runner may rely on every runner
 * before it while it runs.
 */
import { findListenError } from './listen-error.js';
import type { Logger } from './logging.js';

/**
 * A long-lived part of a service: an informer, a consumer loop, the gRPC server, the monitoring server.
 * `start` resolves once the runner is working (its loops then run in the background) and rejects if
 * it cannot start. `signal` is aborted when the service begins to shut down, including during a slow
 * `start`. `close` releases everything; it is called for every runner whose `start` was called, even
 * one whose start failed or was aborted, so it must cope with a half-started runner.
 */
export interface Runner {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface RunServicesOptions {
  readonly logger: Logger;
  /** The whole shutdown (every `close`) must finish within this time, else the exit code is 1. */
  readonly shutdownTimeoutMs: number;
  /** Signals that begin a graceful shutdown; a second one forces an exit. Default SIGTERM and SIGINT; `[]` for none. */
  readonly signals?: readonly NodeJS.Signals[];
  /** Called with the exit code once the services are stopped; default `process.exit`. Tests pass their own. */
  readonly exit?: (code: number) => void;
}

export type ServicesState = 'starting' | 'running' | 'stopping' | 'stopped';

/** Control over a running set of services, for the process's own fatal errors and for tests. */
export interface ServicesHandle {
  readonly state: ServicesState;
  /** Resolves when every runner has started; rejects with the start failure otherwise. */
  readonly started: Promise<void>;
  /** Resolves with the exit code after the shutdown, just before `exit` is called. */
  readonly done: Promise<number>;
  /** Begins a graceful shutdown (idempotent) and resolves with the exit code. */
  stop(reason?: string): Promise<number>;
  /** Logs a fatal error of a running component and shuts down with exit code 1. */
  fail(error: unknown, component?: string): Promise<number>;
}

/** Exit code for a second signal that cuts the shutdown short: 128 + the signal number, as shells report. */
const FORCED_EXIT_CODES: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129, SIGQUIT: 131 };

/**
 * Starts `runners` in order and keeps them running until a signal, `stop()` or `fail()`. Then closes the
 * started ones in reverse order within `shutdownTimeoutMs` and calls `exit`: 0 after a clean stop, 1 if a
 * runner failed to start, failed at run time, failed to close, or the shutdown ran out of time.
 */
export function runServices(runners: readonly Runner[], options: RunServicesOptions): ServicesHandle {
  const { logger, shutdownTimeoutMs } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const lifetime = new AbortController();
  const startCalled: Runner[] = [];
  let state: ServicesState = 'starting';
  let exitCode = 0;
  let shutdown: Promise<number> | undefined;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });

  let finished = false;
  /** Ends the run exactly once: a forced exit may overtake a graceful shutdown still in progress. */
  const finish = (code: number): void => {
    if (finished) return;
    finished = true;
    removeSignalHandlers();
    resolveDone(code);
    exit(code);
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (shutdown !== undefined) {
      logger.warn({ signal }, 'second signal during shutdown, exiting now');
      finish(FORCED_EXIT_CODES[signal] ?? 1);
      return;
    }
    logger.info({ signal }, 'signal received, shutting down');
    void beginShutdown();
  };
  const removeSignalHandlers = (): void => {
    for (const signal of signals) process.off(signal, onSignal);
  };
  for (const signal of signals) process.on(signal, onSignal);

  const beginShutdown = (): Promise<number> => {
    shutdown ??= closeAll();
    return shutdown;
  };

  const closeAll = async (): Promise<number> => {
    state = 'stopping';
    const deadline = Date.now() + shutdownTimeoutMs;
    lifetime.abort();
    // A start still in progress should settle (it has seen the abort) before its runner is closed.
    const startSettled = await settleWithin(startSequence, shutdownTimeoutMs);
    if (startSettled.kind === 'timeout') {
      logger.error({ runner: startCalled.at(-1)?.name, shutdownTimeoutMs }, 'start did not end within the shutdown timeout');
      exitCode = 1;
    }
    for (const runner of [...startCalled].reverse()) {
      const closed = await settleWithin(Promise.resolve().then(() => runner.close()), Math.max(deadline - Date.now(), 0));
      if (closed.kind === 'timeout') {
        const notClosed = startCalled.slice(0, startCalled.indexOf(runner) + 1).map((r) => r.name);
        logger.error({ runner: runner.name, notClosed, shutdownTimeoutMs }, 'shutdown timed out');
        exitCode = 1;
        break;
      }
      if (closed.kind === 'rejected') {
        logger.error({ err: closed.error, runner: runner.name }, 'runner failed to close');
        exitCode = 1;
      } else {
        logger.debug({ runner: runner.name }, 'runner closed');
      }
    }
    state = 'stopped';
    logger.info({ exitCode }, 'stopped');
    finish(exitCode);
    return exitCode;
  };

  const startAll = async (): Promise<void> => {
    for (const runner of runners) {
      if (lifetime.signal.aborted) throw new Error(`shutdown began before ${runner.name} started`);
      startCalled.push(runner);
      const startedAt = performance.now();
      try {
        await runner.start(lifetime.signal);
      } catch (error) {
        // The cause carries the details; pino's error serializer appends its message to this one.
        throw new Error(`runner ${runner.name} failed to start`, { cause: error });
      }
      logger.info({ runner: runner.name, ms: Math.round(performance.now() - startedAt) }, 'runner started');
    }
  };
  const startSequence = startAll();
  startSequence.then(
    () => {
      if (state === 'starting') {
        state = 'running';
        logger.info({ runners: runners.map((r) => r.name) }, 'all runners started');
      }
    },
    (error: unknown) => {
      if (shutdown !== undefined) return;
      // A port in use is the user's to fix: one line naming it, no stack.
      const listenError = findListenError(error);
      if (listenError !== undefined) logger.error({ runner: startCalled.at(-1)?.name }, `start failed: ${listenError.message}`);
      else logger.error({ err: error }, 'start failed');
      exitCode = 1;
      void beginShutdown();
    },
  );

  return {
    get state() {
      return state;
    },
    started: startSequence,
    done,
    stop(reason = 'stop requested') {
      if (shutdown === undefined) logger.info({ reason }, 'shutting down');
      return beginShutdown();
    },
    fail(error, component) {
      logger.error({ err: error, ...(component === undefined ? {} : { runner: component }) }, 'fatal error, shutting down');
      exitCode = 1;
      return beginShutdown();
    },
  };
}

type Settled = { kind: 'fulfilled' } | { kind: 'rejected'; error: unknown } | { kind: 'timeout' };

async function settleWithin(promise: Promise<void>, timeoutMs: number): Promise<Settled> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Settled>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
  });
  try {
    return await Promise.race([
      promise.then(
        (): Settled => ({ kind: 'fulfilled' }),
        (error: unknown): Settled => ({ kind: 'rejected', error }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
