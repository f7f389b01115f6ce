import { describe, expect, it } from 'vitest';
import { ArrivalRecorder } from './recorder.js';

const EDS = 'eds-type';
const CDS = 'cds-type';

describe('ArrivalRecorder', () => {
  it('records a version once per proxy, and a new version again', () => {
    const recorder = new ArrivalRecorder(2);
    expect(recorder.record(0, EDS, 'a', 'v1', 100)).toBe(true);
    expect(recorder.record(0, EDS, 'a', 'v1', 110)).toBe(false);
    expect(recorder.record(1, EDS, 'a', 'v1', 105)).toBe(true);
    expect(recorder.record(0, EDS, 'a', 'v2', 120)).toBe(true);
    // The same name of another type is another resource.
    expect(recorder.record(0, CDS, 'a', 'v2', 120)).toBe(true);
    expect(recorder.size).toBe(4);
  });

  it('answers which subscribers got a new version since a time, with their delays', () => {
    const recorder = new ArrivalRecorder(3);
    for (const proxy of [0, 1, 2]) recorder.setSubscription(proxy, EDS, proxy === 2 ? ['b'] : ['a'], false);
    for (const proxy of [0, 1]) recorder.record(proxy, EDS, 'a', 'v1', 100);
    recorder.record(1, EDS, 'a', 'v2', 1_007);
    recorder.record(1, EDS, 'a', 'v3', 1_009);
    recorder.record(2, EDS, 'a', 'v2', 1_003);
    // Proxy 2 is not subscribed to `a` (it got it anyway: not counted); proxy 1's first new version counts.
    expect(recorder.arrivalsSince(EDS, 'a', 1_000)).toEqual({ subscribers: 2, delaysMs: [7], missing: 1 });
    recorder.record(0, EDS, 'a', 'v3', 1_012);
    expect(recorder.arrivalsSince(EDS, 'a', 1_000)).toEqual({ subscribers: 2, delaysMs: [7, 12], missing: 0 });
  });

  it('follows subscription changes', () => {
    const recorder = new ArrivalRecorder(1);
    recorder.setSubscription(0, EDS, ['a', 'b'], false);
    recorder.setSubscription(0, EDS, ['b'], false);
    expect(recorder.arrivalsSince(EDS, 'a', 0).subscribers).toBe(0);
    expect(recorder.arrivalsSince(EDS, 'b', 0).subscribers).toBe(1);
  });

  it('counts wildcard subscribers of a name once they hold it', () => {
    const recorder = new ArrivalRecorder(2);
    recorder.setSubscription(0, CDS, [], true);
    recorder.setSubscription(1, CDS, [], true);
    recorder.record(0, CDS, 'c', 'v1', 10);
    expect(recorder.arrivalsSince(CDS, 'c', 0)).toEqual({ subscribers: 1, delaysMs: [10], missing: 0 });
  });

  it('waits until every subscriber has a new version, counting arrivals from before the wait began', async () => {
    const recorder = new ArrivalRecorder(3);
    for (const proxy of [0, 1, 2]) recorder.setSubscription(proxy, EDS, ['a'], false);
    recorder.record(0, EDS, 'a', 'v2', 1_002);
    const waiting = recorder.waitForArrivals(EDS, 'a', 1_000, 5_000);
    recorder.record(2, EDS, 'a', 'v2', 1_030);
    recorder.record(2, EDS, 'a', 'v3', 1_040);
    recorder.record(1, EDS, 'a', 'v2', 1_020);
    expect(await waiting).toEqual({ subscribers: 3, delaysMs: [2, 20, 30], missing: 0 });
  });

  it('gives up after the timeout with what arrived', async () => {
    const recorder = new ArrivalRecorder(2);
    recorder.setSubscription(0, EDS, ['a'], false);
    recorder.setSubscription(1, EDS, ['a'], false);
    const waiting = recorder.waitForArrivals(EDS, 'a', 1_000, 20);
    recorder.record(1, EDS, 'a', 'v2', 1_004);
    expect(await waiting).toEqual({ subscribers: 2, delaysMs: [4], missing: 1 });
  });

  it('ends pending waits on cancel', async () => {
    const recorder = new ArrivalRecorder(1);
    recorder.setSubscription(0, EDS, ['a'], false);
    const waiting = recorder.waitForArrivals(EDS, 'a', 0, 60_000);
    recorder.cancelWaits();
    expect(await waiting).toEqual({ subscribers: 1, delaysMs: [], missing: 1 });
  });

  it('treats a forgotten resource received again as a new arrival', () => {
    const recorder = new ArrivalRecorder(1);
    recorder.record(0, EDS, 'a', 'v1', 1);
    recorder.forget(0, EDS, 'a');
    expect(recorder.record(0, EDS, 'a', 'v1', 2)).toBe(true);
  });

  it('measures how far apart proxies received each version pushed after a cut-off', () => {
    const recorder = new ArrivalRecorder(3);
    for (const proxy of [0, 1, 2]) recorder.record(proxy, EDS, 'a', 'v1', 10 + proxy);
    recorder.record(0, EDS, 'a', 'v2', 1_000);
    recorder.record(1, EDS, 'a', 'v2', 1_004);
    recorder.record(2, EDS, 'a', 'v2', 1_010);
    recorder.record(2, EDS, 'b', 'v1', 2_000);
    // The cut-off leaves out the initial v1 of `a`; each pushed version's first arrival counts 0.
    const spread = recorder.versionSpread(500);
    expect(spread).toMatchObject({ versions: 2, arrivals: 4 });
    expect(spread.spreadMs).toMatchObject({ count: 4, p50: 0, max: 10 });
  });

  it('keeps rows beyond its first capacity', () => {
    const recorder = new ArrivalRecorder(1);
    for (let i = 0; i < 10_000; i++) recorder.record(0, EDS, 'a', `v${i}`, i);
    expect(recorder.size).toBe(10_000);
    expect(recorder.arrivalsSince(EDS, 'a', 9_990).delaysMs).toEqual([]);
    recorder.setSubscription(0, EDS, ['a'], false);
    expect(recorder.arrivalsSince(EDS, 'a', 9_990)).toEqual({ subscribers: 1, delaysMs: [0], missing: 0 });
  });
});
