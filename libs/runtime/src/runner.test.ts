import { describe, expect, it } from 'vitest';
import { createLogger } from './logging.js';
import { MonitoringServer } from './monitoring-server.js';
import { runServices, type Runner } from './runner.js';

function recordingLogger() {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'debug',
    name: 'test',
    pretty: false,
    destination: { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { logger, records };
}

interface FakeRunnerBehaviour {
  start?: (signal: AbortSignal) => Promise<void>;
  close?: () => Promise<void>;
}

/** A runner that records its lifecycle calls into a shared journal. */
function fakeRunner(name: string, journal: string[], behaviour: FakeRunnerBehaviour = {}): Runner & { signal?: AbortSignal } {
  const runner: Runner & { signal?: AbortSignal } = {
    name,
    async start(signal) {
      journal.push(`start ${name}`);
      runner.signal = signal;
      await behaviour.start?.(signal);
    },
    async close() {
      journal.push(`close ${name}`);
      await behaviour.close?.();
    },
  };
  return runner;
}

/** Delivers a real signal when the tests run in a child process (vitest's forks pool), else emits it. */
function sendSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) === 0) throw new Error(`no ${signal} handler installed; the signal would kill the test process`);
  if (typeof process.send === 'function') process.kill(process.pid, signal);
  else process.emit(signal, signal);
}

const never = () => new Promise<void>(() => {});

describe('runServices', () => {
  it('starts runners in order and closes them in reverse order on stop(), exiting 0', async () => {
    const journal: string[] = [];
    const exits: number[] = [];
    const { logger } = recordingLogger();
    const runners = ['store', 'informer', 'grpc'].map((name) => fakeRunner(name, journal));
    const handle = runServices(runners, { logger, shutdownTimeoutMs: 1000, signals: [], exit: (code) => void exits.push(code) });
    expect(handle.state).toBe('starting');
    await handle.started;
    expect(handle.state).toBe('running');
    expect(journal).toEqual(['start store', 'start informer', 'start grpc']);
    expect(runners[0]?.signal?.aborted).toBe(false);

    expect(await handle.stop('test over')).toBe(0);
    expect(journal.slice(3)).toEqual(['close grpc', 'close informer', 'close store']);
    expect(runners[0]?.signal?.aborted).toBe(true);
    expect(handle.state).toBe('stopped');
    expect(exits).toEqual([0]);
    expect(await handle.done).toBe(0);
    expect(await handle.stop()).toBe(0);
    expect(exits).toEqual([0]);
  });

  it('stops starting at the first failure, closes what it started (the failed one too), and exits 1', async () => {
    const journal: string[] = [];
    const exits: number[] = [];
    const { logger, records } = recordingLogger();
    const runners = [
      fakeRunner('store', journal),
      fakeRunner('informer', journal, { start: () => Promise.reject(new Error('403 Forbidden')) }),
      fakeRunner('grpc', journal),
    ];
    const handle = runServices(runners, { logger, shutdownTimeoutMs: 1000, signals: [], exit: (code) => void exits.push(code) });
    await expect(handle.started).rejects.toThrow('runner informer failed to start');
    await expect(handle.started).rejects.toMatchObject({ cause: new Error('403 Forbidden') });
    expect(await handle.done).toBe(1);
    expect(journal).toEqual(['start store', 'start informer', 'close informer', 'close store']);
    expect(exits).toEqual([1]);
    expect(records).toContainEqual(expect.objectContaining({ level: 'error', msg: 'start failed', err: expect.objectContaining({ message: 'runner informer failed to start: 403 Forbidden' }) }));
  });

  it('shuts down gracefully on SIGTERM, exits 0 and removes its signal handlers', async () => {
    const journal: string[] = [];
    const exits: number[] = [];
    const { logger, records } = recordingLogger();
    const before = process.listenerCount('SIGTERM');
    const handle = runServices([fakeRunner('a', journal), fakeRunner('b', journal)], { logger, shutdownTimeoutMs: 1000, exit: (code) => void exits.push(code) });
    await handle.started;
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    sendSignal('SIGTERM');
    expect(await handle.done).toBe(0);
    expect(journal).toEqual(['start a', 'start b', 'close b', 'close a']);
    expect(exits).toEqual([0]);
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(process.listenerCount('SIGINT')).toBe(0);
    expect(records).toContainEqual(expect.objectContaining({ msg: 'signal received, shutting down', signal: 'SIGTERM' }));
  });

  it('exits at once with 130 when a second SIGINT arrives during a slow shutdown', async () => {
    const journal: string[] = [];
    const exits: number[] = [];
    const { logger } = recordingLogger();
    const handle = runServices([fakeRunner('slow', journal, { close: never })], { logger, shutdownTimeoutMs: 60_000, exit: (code) => void exits.push(code) });
    await handle.started;
    sendSignal('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(exits).toEqual([]);
    expect(handle.state).toBe('stopping');
    sendSignal('SIGINT');
    expect(await handle.done).toBe(130);
    expect(exits).toEqual([130]);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('gives up when closing takes longer than the shutdown timeout, exits 1 and names what did not close', async () => {
    const journal: string[] = [];
    const exits: number[] = [];
    const { logger, records } = recordingLogger();
    const runners = [fakeRunner('store', journal), fakeRunner('stuck', journal, { close: never }), fakeRunner('grpc', journal)];
    const handle = runServices(runners, { logger, shutdownTimeoutMs: 50, signals: [], exit: (code) => void exits.push(code) });
    await handle.started;
    expect(await handle.stop()).toBe(1);
    expect(journal.slice(3)).toEqual(['close grpc', 'close stuck']);
    expect(exits).toEqual([1]);
    expect(records).toContainEqual(expect.objectContaining({ msg: 'shutdown timed out', runner: 'stuck', notClosed: ['store', 'stuck'] }));
  });

  it('keeps closing the others when one close fails, then exits 1', async () => {
    const journal: string[] = [];
    const { logger, records } = recordingLogger();
    const runners = [fakeRunner('a', journal), fakeRunner('b', journal, { close: () => Promise.reject(new Error('flush failed')) }), fakeRunner('c', journal)];
    const handle = runServices(runners, { logger, shutdownTimeoutMs: 1000, signals: [], exit: () => {} });
    await handle.started;
    expect(await handle.stop()).toBe(1);
    expect(journal.slice(3)).toEqual(['close c', 'close b', 'close a']);
    expect(records).toContainEqual(expect.objectContaining({ msg: 'runner failed to close', runner: 'b' }));
  });

  it('aborts a start in progress when stopped, closes it, and does not start the rest', async () => {
    const journal: string[] = [];
    const { logger, records } = recordingLogger();
    const waitsForAbort = (signal: AbortSignal) =>
      new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted while connecting')), { once: true }));
    const runners = [fakeRunner('store', journal), fakeRunner('connecting', journal, { start: waitsForAbort }), fakeRunner('grpc', journal)];
    const handle = runServices(runners, { logger, shutdownTimeoutMs: 1000, signals: [], exit: () => {} });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await handle.stop()).toBe(0);
    expect(journal).toEqual(['start store', 'start connecting', 'close connecting', 'close store']);
    await expect(handle.started).rejects.toMatchObject({ cause: new Error('aborted while connecting') });
    expect(records.filter((r) => r['level'] === 'error')).toEqual([]);
  });

  it('fail() logs the fatal error and shuts down with exit code 1', async () => {
    const journal: string[] = [];
    const exits: number[] = [];
    const { logger, records } = recordingLogger();
    const handle = runServices([fakeRunner('a', journal), fakeRunner('consumer', journal)], { logger, shutdownTimeoutMs: 1000, signals: [], exit: (code) => void exits.push(code) });
    await handle.started;
    expect(await handle.fail(new Error('consumer group deleted'), 'consumer')).toBe(1);
    expect(journal.slice(2)).toEqual(['close consumer', 'close a']);
    expect(exits).toEqual([1]);
    expect(records).toContainEqual(
      expect.objectContaining({ level: 'error', msg: 'fatal error, shutting down', runner: 'consumer', err: expect.objectContaining({ message: 'consumer group deleted' }) }),
    );
  });

  it('runs the monitoring server as a runner', async () => {
    const { logger } = recordingLogger();
    const monitoring = new MonitoringServer({ logger });
    const handle = runServices([monitoring.toRunner('127.0.0.1:0')], { logger, shutdownTimeoutMs: 1000, signals: [], exit: () => {} });
    await handle.started;
    const port = monitoring.address?.port;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await handle.stop();
    expect(monitoring.address).toBeUndefined();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
