import { describe, expect, it } from 'vitest';
import type { GapEvent, Invalidation } from './contract.js';
import { decodeInvalidation, encodeInvalidation, SubscriptionState } from './invalidation-codec.js';

const A = { namespace: 'ns', name: 'a' };

function message(seq: number): Invalidation {
  return { seq, owner: A, op: 'upsert', ownerChanged: false, changed: [], removed: [] };
}

function tracked(afterSeq?: number) {
  const seqs: number[] = [];
  const gaps: GapEvent[] = [];
  const counters = { listenerErrors: 0, malformed: 0 };
  const state = new SubscriptionState({ onInvalidation: (m) => seqs.push(m.seq), onGap: (g) => gaps.push(g) }, afterSeq, counters, async () => undefined);
  return { state, seqs, gaps };
}

describe('subscription sequence tracking', () => {
  it('accepts the first message without a baseline, then expects one more each time', () => {
    const { state, seqs, gaps } = tracked();
    for (const seq of [7, 8, 9]) state.receive(message(seq));
    expect(seqs).toEqual([7, 8, 9]);
    expect(gaps).toEqual([]);
    state.receive(message(12));
    expect(gaps).toEqual([{ reason: 'sequence', expected: 10, received: 12 }]);
    expect(seqs).toEqual([7, 8, 9, 12]);
  });

  it('skips what the baseline covers and checks from there', () => {
    const { state, seqs, gaps } = tracked(5);
    state.receive(message(4));
    state.receive(message(5));
    state.receive(message(6));
    expect(seqs).toEqual([6]);
    expect(gaps).toEqual([]);
    state.rebase(10);
    state.receive(message(11));
    expect(gaps).toEqual([]);
    state.receive(message(13));
    expect(gaps).toEqual([{ reason: 'sequence', expected: 12, received: 13 }]);
  });

  it('does not count messages that arrived before a rebase to an older number as a gap', () => {
    const { state, seqs, gaps } = tracked();
    state.receive(message(3));
    state.receive(message(4));
    state.rebase(3);
    state.receive(message(5));
    expect(seqs).toEqual([3, 4, 5]);
    expect(gaps).toEqual([]);
  });

  it('reports a reset when the sequence goes back, then follows the new count', () => {
    const { state, seqs, gaps } = tracked(0);
    state.receive(message(1));
    state.receive(message(2));
    state.receive(message(1));
    state.receive(message(2));
    expect(seqs).toEqual([1, 2, 1, 2]);
    expect(gaps).toEqual([{ reason: 'reset', lastReceived: 2, received: 1 }]);
  });

  it('forgets everything on reconnect until the next rebase', () => {
    const { state, seqs, gaps } = tracked(10);
    state.receive(message(11));
    state.reconnected();
    state.receive(message(1));
    expect(seqs).toEqual([11, 1]);
    expect(gaps).toEqual([{ reason: 'reconnect' }]);
    expect(state.lastReceived).toBe(1);
  });

  it('delivers nothing once closed', async () => {
    const { state, seqs, gaps } = tracked();
    await state.close();
    state.receive(message(1));
    state.reconnected();
    expect(seqs).toEqual([]);
    expect(gaps).toEqual([]);
  });
});

describe('invalidation wire format', () => {
  it('round-trips and rejects malformed messages', () => {
    const original: Invalidation = { ...message(3), changed: [{ typeUrl: 't', name: 'n', variant: 'envoy', version: 'v' }], trace: 'x' };
    expect(decodeInvalidation(encodeInvalidation({ ...original, owner: 'ns/a' }))).toEqual(original);
    // What the Redis script writes: cjson escapes '/' as '\/'.
    expect(decodeInvalidation('{"seq":1,"owner":"ns\\/a","op":"delete","ownerChanged":true,"changed":[],"removed":[]}')).toMatchObject({ owner: A, op: 'delete' });
    for (const bad of ['nope', '{}', '{"seq":1.5,"owner":"ns/a","op":"upsert","ownerChanged":true,"changed":[],"removed":[]}', '{"seq":1,"owner":"ns/a","op":"upsert","ownerChanged":true,"changed":[{}],"removed":[]}']) {
      expect(() => decodeInvalidation(bad)).toThrow(expect.objectContaining({ code: 'corrupt' }));
    }
  });
});
