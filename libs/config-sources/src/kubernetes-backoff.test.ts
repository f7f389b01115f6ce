import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, Timers, backoffDelay, resolveBackoff } from './kubernetes-backoff.js';

describe('backoffDelay', () => {
  const noJitter = resolveBackoff({ jitter: 0 });

  it('doubles from 100 ms up to 30 s', () => {
    const delays = Array.from({ length: 12 }, (_, attempt) => backoffDelay(noJitter, attempt));
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
  });

  it('shortens each delay by up to the jitter fraction, also at the cap', () => {
    expect(backoffDelay(DEFAULT_BACKOFF, 0, () => 0)).toBe(100);
    expect(backoffDelay(DEFAULT_BACKOFF, 0, () => 1)).toBe(80);
    expect(backoffDelay(DEFAULT_BACKOFF, 20, () => 0.5)).toBe(27000);
  });

  it('rejects policies that cannot back off', () => {
    expect(() => resolveBackoff({ initialMs: 0 })).toThrow(RangeError);
    expect(() => resolveBackoff({ initialMs: 500, maxMs: 100 })).toThrow(RangeError);
    expect(() => resolveBackoff({ jitter: 1.5 })).toThrow(RangeError);
  });
});

describe('Timers', () => {
  it('cancels pending timers and ends pending sleeps when cleared', async () => {
    const timers = new Timers();
    let fired = false;
    timers.after(10_000, () => (fired = true));
    const slept = timers.sleep(10_000).then(() => 'ended');
    timers.clear();
    expect(await slept).toBe('ended');
    expect(fired).toBe(false);
    timers.after(0, () => (fired = true));
    timers.soon(() => (fired = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(fired).toBe(false);
  });

  it('cancels one timer on its own', async () => {
    const timers = new Timers();
    const fired: string[] = [];
    const cancel = timers.after(5, () => fired.push('cancelled'));
    timers.after(5, () => fired.push('kept'));
    cancel();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fired).toEqual(['kept']);
  });
});
