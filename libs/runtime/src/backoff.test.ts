import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, resolveBackoff } from './backoff.js';

/** The random value that gives no jitter: 2r - 1 = 0. */
const noJitter = () => 0.5;

describe('Backoff', () => {
  it('grows by the multiplier from the initial delay up to the maximum', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, multiplier: 2, random: noJitter });
    expect(Array.from({ length: 7 }, () => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(backoff.attempt).toBe(7);
  });

  it('uses gRPC connection backoff defaults: 1 s, x1.6, capped at 30 s', () => {
    const backoff = new Backoff({ random: noJitter });
    const delays = Array.from({ length: 10 }, () => backoff.next());
    expect(delays.slice(0, 3).map(Math.round)).toEqual([1000, 1600, 2560]);
    expect(delays.at(-1)).toBe(30_000);
  });

  it('spreads each delay by at most the jitter fraction, to both sides', () => {
    const low = new Backoff({ initialMs: 1000, jitter: 0.2, random: () => 0 });
    const high = new Backoff({ initialMs: 1000, jitter: 0.2, random: () => 0.999_999 });
    expect(low.next()).toBe(800);
    expect(high.next()).toBeCloseTo(1200, 1);
  });

  it('never exceeds the maximum or goes below zero, whatever the randomness', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 1, max: 4, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 0.999_999, noNaN: true }), { minLength: 1, maxLength: 30 }),
        (initialMs, extraMs, multiplier, jitter, randoms) => {
          const maxMs = initialMs + extraMs;
          let index = 0;
          const backoff = new Backoff({ initialMs, maxMs, multiplier, jitter, random: () => randoms[index++ % randoms.length] ?? 0 });
          for (let i = 0; i < randoms.length; i += 1) {
            const delay = backoff.next();
            expect(delay).toBeGreaterThanOrEqual(0);
            expect(delay).toBeLessThanOrEqual(maxMs);
          }
        },
      ),
    );
  });

  it('starts over after reset()', () => {
    const backoff = new Backoff({ initialMs: 50, maxMs: 1000, multiplier: 3, random: noJitter });
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.attempt).toBe(0);
    expect(backoff.next()).toBe(50);
  });

  it('wait() sleeps for the next delay and stops early when aborted', async () => {
    const backoff = new Backoff({ initialMs: 5, maxMs: 60_000, multiplier: 10_000, random: noJitter });
    await backoff.wait();
    expect(backoff.attempt).toBe(1);
    const controller = new AbortController();
    const waiting = backoff.wait(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('rejects settings that cannot make a backoff', () => {
    expect(() => new Backoff({ initialMs: 0 })).toThrow('initialMs');
    expect(() => new Backoff({ initialMs: 100, maxMs: 50 })).toThrow('maxMs');
    expect(() => new Backoff({ multiplier: 0.5 })).toThrow('multiplier');
    expect(() => new Backoff({ jitter: 1.5 })).toThrow('jitter');
  });
});

describe('backoffDelay', () => {
  it('numbers retries from 0, as the Backoff class hands them out', () => {
    const policy = resolveBackoff({ initialMs: 50, maxMs: 2000, multiplier: 2 });
    expect([0, 1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(policy, attempt, noJitter))).toEqual([50, 100, 200, 400, 800, 1600, 2000]);
    expect(backoffDelay(policy, 10_000, noJitter)).toBe(2000);
    const backoff = new Backoff({ initialMs: 50, maxMs: 2000, multiplier: 2, random: noJitter });
    expect([0, 1, 2].map(() => backoff.next())).toEqual([0, 1, 2].map((attempt) => backoffDelay(policy, attempt, noJitter)));
  });
});
