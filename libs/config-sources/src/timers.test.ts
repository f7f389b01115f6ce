import { describe, expect, it } from 'vitest';
import { Timers } from './timers.js';

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
