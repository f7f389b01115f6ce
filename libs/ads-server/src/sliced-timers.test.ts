/** Timers that fire together run a slice per turn of the event loop, in order, and can be cleared while they wait. */
import { describe, expect, it } from 'vitest';
import { systemClock, type Clock } from './clock.js';
import { SlicedTimers } from './sliced-timers.js';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A base clock whose timers fire when the test says, all due ones in a row, as Node's timer list fires expired timers. */
function handFiredBase(): { base: Clock; fireDue: () => void } {
  const due: Array<{ callback: () => void; cleared: boolean }> = [];
  const base: Clock = {
    now: () => 0,
    epochMs: () => 0,
    setTimer: (callback) => {
      const timer = { callback, cleared: false };
      due.push(timer);
      return timer;
    },
    clearTimer: (timer) => {
      (timer as { cleared: boolean }).cleared = true;
    },
  };
  return { base, fireDue: () => { for (const timer of due.splice(0)) if (!timer.cleared) timer.callback(); } };
}

describe('SlicedTimers', () => {
  it('runs timers that fire together a slice per turn, first in first out, letting the loop run between slices', async () => {
    const clock = new SlicedTimers(systemClock, 100);
    const ran: number[] = [];
    /** How many callbacks had run when the event loop first got a turn (an immediate queued by the first callback). */
    let ranWhenLoopTurned: number | undefined;
    for (let i = 0; i < 1_000; i += 1) {
      clock.setTimer(() => {
        if (i === 0) setImmediate(() => (ranWhenLoopTurned = ran.length));
        ran.push(i);
      }, 5);
    }
    await sleep(20);
    while (ran.length < 1_000) await sleep(5);
    expect(ran).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    // With plain timers all 1,000 would have run before the immediate; here the slice of the pass
    // that fired them and at most the next turn's (queued before the test's immediate) did.
    expect(ranWhenLoopTurned).toBeLessThanOrEqual(200);
    expect(clock.waiting).toBe(0);
  });

  it('never runs a timer cleared before it fired or while it waited for its slice', async () => {
    const { base, fireDue } = handFiredBase();
    const clock = new SlicedTimers(base, 2);
    const ran: string[] = [];
    const handles = new Map(['a', 'b', 'c', 'd', 'e', 'f'].map((name) => [name, clock.setTimer(() => ran.push(name), 5)]));
    clock.clearTimer(handles.get('b'));
    fireDue();
    // 'a' and 'c' ran in the pass that fired them; 'd', 'e' and 'f' wait for the next turn.
    expect(ran).toEqual(['a', 'c']);
    expect(clock.waiting).toBe(3);
    clock.clearTimer(handles.get('e'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a', 'c', 'd', 'f']);
    expect(clock.waiting).toBe(0);
  });

  it('counts as pending the timers armed or waiting for a slice, until each has run or been cleared', async () => {
    const { base, fireDue } = handFiredBase();
    const clock = new SlicedTimers(base, 2);
    const handles = ['a', 'b', 'c', 'd', 'e'].map(() => clock.setTimer(() => {}, 5));
    expect(clock.pending).toBe(5);
    // Cleared before firing, twice: counted off once.
    clock.clearTimer(handles[0]);
    clock.clearTimer(handles[0]);
    expect(clock.pending).toBe(4);
    // Fired: two run in this pass, two wait for the next turn and stay pending.
    fireDue();
    expect(clock.pending).toBe(2);
    // Clearing one that already ran changes nothing.
    clock.clearTimer(handles[1]);
    expect(clock.pending).toBe(2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock.pending).toBe(0);
  });

  it('runs an immediate timer (delay 0) in the turn it fires when nothing waits', async () => {
    const clock = new SlicedTimers(systemClock, 10);
    let ran = false;
    clock.setTimer(() => (ran = true), 0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toBe(true);
  });

  it('ends a slice once its callbacks have written its bytes, and refills them the next turn', async () => {
    const due: Array<() => void> = [];
    const base: Clock = { now: () => 0, epochMs: () => 0, setTimer: (callback) => due.push(callback), clearTimer: () => {} };
    const clock = new SlicedTimers(base, 100, 1_000);
    const ran: string[] = [];
    /** A push writing `bytes`, as the server's sink reports its responses. */
    const push = (name: string, bytes: number) => () => {
      ran.push(name);
      clock.spent(bytes);
    };
    for (const [name, bytes] of [['a', 400], ['b', 700], ['c', 10], ['d', 2_500], ['e', 10], ['f', 10]] as const) clock.setTimer(push(name, bytes), 5);
    for (const callback of due) callback();
    // 'b' took the slice past 1,000 bytes: the rest wait, though the slice had room for 98 more callbacks.
    expect(ran).toEqual(['a', 'b']);
    await new Promise((resolve) => setImmediate(resolve));
    // One large response fills a slice on its own.
    expect(ran).toEqual(['a', 'b', 'c', 'd']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(clock.waiting).toBe(0);
  });

  it('counts bytes written outside its callbacks against the turn they are written in', async () => {
    const due: Array<() => void> = [];
    const base: Clock = { now: () => 0, epochMs: () => 0, setTimer: (callback) => due.push(callback), clearTimer: () => {} };
    const clock = new SlicedTimers(base, 100, 1_000);
    const ran: string[] = [];
    clock.setTimer(() => ran.push('a'), 5);
    clock.spent(1_000);
    for (const callback of due) callback();
    expect(ran).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a']);
  });

  it('refuses a slice size that is not a positive integer, and bytes per slice that are not positive', () => {
    expect(() => new SlicedTimers(systemClock, 0)).toThrow(/positive integer/);
    expect(() => new SlicedTimers(systemClock, 10, 0)).toThrow(/bytes per slice must be positive/);
  });
});
