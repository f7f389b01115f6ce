import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyedQueue } from './keyed-queue.js';

/** A promise with its resolver, to hold a task open until the test lets it finish. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Lets queued microtasks and already-resolved continuations run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function collectingErrors() {
  const errors: [unknown, string][] = [];
  return { errors, onError: (error: unknown, key: string) => void errors.push([error, key]) };
}

describe('KeyedQueue', () => {
  it('runs the tasks of one key one at a time, in the order they were queued', async () => {
    const queue = new KeyedQueue<string>({ concurrency: 4, onError: () => {} });
    const log: string[] = [];
    let active = 0;
    for (let i = 0; i < 5; i += 1) {
      queue.enqueue('se-a', async () => {
        active += 1;
        expect(active).toBe(1);
        log.push(`start ${i}`);
        await settle();
        log.push(`end ${i}`);
        active -= 1;
      });
    }
    await queue.drain();
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3', 'start 4', 'end 4']);
  });

  it('runs different keys concurrently, never more than the limit', async () => {
    const queue = new KeyedQueue<string>({ concurrency: 3, onError: () => {} });
    const gates = new Map<string, ReturnType<typeof gate>>();
    const started: string[] = [];
    for (const key of ['a', 'b', 'c', 'd', 'e']) {
      const g = gate();
      gates.set(key, g);
      queue.enqueue(key, async () => {
        started.push(key);
        await g.promise;
      });
    }
    await settle();
    expect(started).toEqual(['a', 'b', 'c']);
    expect(queue.running).toBe(3);
    expect(queue.pending).toBe(2);
    gates.get('b')?.open();
    await settle();
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    for (const g of gates.values()) g.open();
    await queue.drain();
    expect(started).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(queue.idle).toBe(true);
  });

  it('keeps per-key order and the concurrency bound for any interleaving of keys', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        async (keys, concurrency) => {
          const queue = new KeyedQueue<string>({ concurrency, onError: () => {} });
          const runningKeys = new Set<string>();
          let maxRunning = 0;
          const finished = new Map<string, number[]>();
          keys.forEach((key, index) => {
            queue.enqueue(key, async () => {
              expect(runningKeys.has(key)).toBe(false);
              runningKeys.add(key);
              maxRunning = Math.max(maxRunning, runningKeys.size);
              await settle();
              runningKeys.delete(key);
              finished.set(key, [...(finished.get(key) ?? []), index]);
            });
          });
          await queue.drain();
          expect(maxRunning).toBeLessThanOrEqual(concurrency);
          for (const [key, order] of finished) {
            expect(order).toEqual(keys.flatMap((k, i) => (k === key ? [i] : [])));
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('gives keys turns, so a key with a long backlog does not starve the others', async () => {
    const queue = new KeyedQueue<string>({ concurrency: 1, onError: () => {} });
    const order: string[] = [];
    for (let i = 0; i < 3; i += 1) queue.enqueue('busy', () => void order.push('busy'));
    queue.enqueue('quiet', () => void order.push('quiet'));
    await queue.drain();
    expect(order).toEqual(['busy', 'quiet', 'busy', 'busy']);
  });

  it('with coalesce, keeps only the latest pending task of a key behind the running one', async () => {
    const queue = new KeyedQueue<string>({ concurrency: 2, coalesce: true, onError: () => {} });
    const first = gate();
    const ran: string[] = [];
    expect(queue.enqueue('se', () => first.promise.then(() => void ran.push('v1')))).toBe(true);
    await settle();
    expect(queue.enqueue('se', () => void ran.push('v2'))).toBe(true);
    expect(queue.enqueue('se', () => void ran.push('v3'))).toBe(false);
    expect(queue.enqueue('se', () => void ran.push('v4'))).toBe(false);
    expect(queue.enqueue('other', () => void ran.push('other'))).toBe(true);
    expect(queue.pending).toBe(1);
    await settle();
    expect(ran).toEqual(['other']);
    first.open();
    await queue.drain();
    expect(ran).toEqual(['other', 'v1', 'v4']);
  });

  it('without coalesce, runs every queued task', async () => {
    const queue = new KeyedQueue<string>({ concurrency: 1, onError: () => {} });
    const ran: number[] = [];
    for (let i = 0; i < 4; i += 1) expect(queue.enqueue('se', () => void ran.push(i))).toBe(true);
    await queue.drain();
    expect(ran).toEqual([0, 1, 2, 3]);
  });

  it('reports a failing task with its key and goes on with the rest, of that key and of others', async () => {
    const { errors, onError } = collectingErrors();
    const queue = new KeyedQueue<string>({ concurrency: 2, onError });
    const ran: string[] = [];
    const boom = new Error('boom');
    queue.enqueue('a', async () => {
      throw boom;
    });
    queue.enqueue('a', () => void ran.push('a2'));
    queue.enqueue('b', () => {
      throw new TypeError('sync failure');
    });
    queue.enqueue('b', () => void ran.push('b2'));
    await queue.drain();
    expect(ran.sort()).toEqual(['a2', 'b2']);
    expect(errors).toHaveLength(2);
    expect(errors).toContainEqual([boom, 'a']);
    expect(errors.find(([, key]) => key === 'b')?.[0]).toBeInstanceOf(TypeError);
  });

  it('never starts a task inside enqueue()', () => {
    const queue = new KeyedQueue<string>({ concurrency: 1, onError: () => {} });
    let started = false;
    queue.enqueue('a', () => {
      started = true;
    });
    expect(started).toBe(false);
    expect(queue.running).toBe(1);
    return queue.drain().then(() => expect(started).toBe(true));
  });

  it('drain() resolves at once when idle and waits for tasks queued while draining', async () => {
    const queue = new KeyedQueue<string>({ concurrency: 1, onError: () => {} });
    await queue.drain();
    const ran: string[] = [];
    queue.enqueue('a', () => {
      ran.push('a');
      queue.enqueue('b', async () => {
        await settle();
        ran.push('b');
      });
    });
    await queue.drain();
    expect(ran).toEqual(['a', 'b']);
    expect(queue.idle).toBe(true);
  });

  it('rejects a concurrency that is not a positive integer', () => {
    expect(() => new KeyedQueue({ concurrency: 0, onError: () => {} })).toThrow('positive integer');
    expect(() => new KeyedQueue({ concurrency: 1.5, onError: () => {} })).toThrow('positive integer');
  });
});
