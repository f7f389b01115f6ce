import type { ObjectKey } from '@skiff/model';
import { Backoff, silentLogger } from '@skiff/runtime';
import { createMemoryStore, StoreError, type LeaseGrant, type MemoryStore, type ServiceEntryChange, type ServiceEntryWriter } from '@skiff/store';
import { afterEach, describe, expect, it } from 'vitest';
import { DesiredState } from './desired-state.js';
import { HashWriter } from './hash-writer.js';

const serviceEntry = (name: string, labels: Record<string, string>) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'ServiceEntry',
  metadata: { name, namespace: 'mesh' },
  spec: { hosts: [`${name}.example.com`], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', workloadSelector: { labels } },
});
const workloadEntry = (name: string, address: string, labels: Record<string, string>) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'WorkloadEntry',
  metadata: { name, namespace: 'mesh' },
  spec: { address, labels },
});

/** The store's ServiceEntry facet with every batch recorded, and a gate that can hold or fail the next calls. */
function recordingWriter(store: MemoryStore) {
  const inner = store.serviceEntries;
  const calls: ServiceEntryChange[][] = [];
  const gate: { hold: Promise<void> | null; failNext: number } = { hold: null, failNext: 0 };
  /** Holds the calls from now on until the returned function is called. */
  const holdCalls = (): (() => void) => {
    let release = (): void => undefined;
    gate.hold = new Promise((resolve) => (release = resolve));
    return () => {
      gate.hold = null;
      release();
    };
  };
  const facet: ServiceEntryWriter = {
    ...inner,
    writeMany: async (changes, fence) => {
      calls.push([...changes]);
      if (gate.hold !== null) await gate.hold;
      if (gate.failNext > 0) {
        gate.failNext -= 1;
        throw new StoreError('unavailable', 'injected outage');
      }
      return inner.writeMany(changes, fence);
    },
  };
  return { facet, calls, gate, holdCalls };
}

describe('HashWriter', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  async function setup(options: { batchSize: number; concurrency: number }) {
    const store = createMemoryStore();
    const state = new DesiredState();
    const recording = recordingWriter(store);
    const writer = new HashWriter({ store: recording.facet, state, logger: silentLogger(), retryBackoff: new Backoff({ initialMs: 5, maxMs: 20 }), ...options });
    cleanups.push(() => writer.close());
    const grant = (await store.lease.acquire('w', 60_000)) as LeaseGrant;
    writer.setGrant(grant);
    const apply = (object: unknown) => {
      const outcome = state.apply({ type: 'upsert', object, origin: 'test' });
      if (outcome.result === 'applied') writer.markDirty(outcome.affected, outcome.workload);
      return outcome;
    };
    /** Every stored hash equals what the desired state says, field by field. */
    const expectStoreEqualsDesired = async (keys: readonly ObjectKey[]) => {
      for (const key of keys) expect((await store.serviceEntries.read(key))?.fields).toEqual(state.desiredFields(key));
    };
    return { store, state, writer, apply, expectStoreEqualsDesired, ...recording };
  }

  const keys = Array.from({ length: 10 }, (_, i) => ({ namespace: 'mesh', name: `s${i}` }));

  it('writes the ServiceEntries of one turn in batches of at most batchSize, one store call each', async () => {
    const { state, writer, calls, expectStoreEqualsDesired } = await setup({ batchSize: 4, concurrency: 2 });
    for (const [i, key] of keys.entries()) {
      state.apply({ type: 'upsert', object: serviceEntry(key.name, { app: key.name }), origin: 'test' });
      state.apply({ type: 'upsert', object: workloadEntry(`w${i}`, `10.0.0.${i + 1}`, { app: key.name }), origin: 'test' });
    }
    const report = await writer.converge();
    expect(report).toMatchObject({ desired: 10, written: 10 });
    expect(calls.map((batch) => batch.length)).toEqual([4, 4, 2]);
    await expectStoreEqualsDesired(keys);
  });

  it('after a full write, sends only the fields of the workloads an event changed, and moves a workload between hashes in one call', async () => {
    const { apply, writer, calls, expectStoreEqualsDesired } = await setup({ batchSize: 64, concurrency: 4 });
    apply(serviceEntry('s0', { app: 's0' }));
    apply(serviceEntry('s1', { app: 's1' }));
    for (let i = 0; i < 5; i++) apply(workloadEntry(`w${i}`, `10.0.0.${i + 1}`, { app: 's0' }));
    await writer.drain();
    calls.length = 0;

    apply(workloadEntry('w1', '10.0.1.1', { app: 's0' }));
    await writer.drain();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toEqual([{ key: keys[0], diff: { set: { 'ep:WorkloadEntry/mesh/w1': expect.stringContaining('10.0.1.1') }, delete: [] } }]);

    // A label move changes two hashes: the field leaves one and joins the other, in one batch.
    apply(workloadEntry('w2', '10.0.0.3', { app: 's1' }));
    await writer.drain();
    expect(calls[1]).toEqual([
      { key: keys[0], diff: { set: {}, delete: ['ep:WorkloadEntry/mesh/w2'] } },
      { key: keys[1], diff: { set: { 'ep:WorkloadEntry/mesh/w2': expect.stringContaining('10.0.0.3') }, delete: [] } },
    ]);
    // A ServiceEntry change compares every field again.
    apply({ ...serviceEntry('s0', { app: 's0' }), spec: { ...serviceEntry('s0', { app: 's0' }).spec, hosts: ['renamed.example.com'] } });
    await writer.drain();
    expect(calls[2]).toEqual([{ key: keys[0], diff: { set: { se: expect.stringContaining('renamed.example.com') }, delete: [] } }]);
    await expectStoreEqualsDesired(keys.slice(0, 2));
  });

  it('writes a workload change into the hashes of the selecting entry and of its siblings, field by field', async () => {
    const { apply, writer, calls, expectStoreEqualsDesired } = await setup({ batchSize: 64, concurrency: 4 });
    const shared = (name: string, labels: Record<string, string>) => ({ ...serviceEntry(name, labels), spec: { ...serviceEntry(name, labels).spec, hosts: ['shared.example.com'] } });
    apply(shared('s0', { app: 's0' }));
    apply(shared('s1', { app: 's1' }));
    apply(workloadEntry('w0', '10.0.0.1', { app: 's0' }));
    await writer.drain();
    await expectStoreEqualsDesired(keys.slice(0, 2));
    calls.length = 0;

    apply(workloadEntry('w0', '10.0.0.2', { app: 's0' }));
    await writer.drain();
    expect(calls).toEqual([
      [
        { key: keys[0], diff: { set: { 'ep:WorkloadEntry/mesh/w0': expect.stringContaining('10.0.0.2') }, delete: [] } },
        { key: keys[1], diff: { set: { 'sib:s0:ep:WorkloadEntry/mesh/w0': expect.stringContaining('10.0.0.2') }, delete: [] } },
      ],
    ]);
    // Moved to the sibling: it leaves s0's own fields and s1's copy of s0, and joins s1's own and s0's copy of s1.
    apply(workloadEntry('w0', '10.0.0.2', { app: 's1' }));
    await writer.drain();
    expect(calls[1]).toEqual([
      { key: keys[0], diff: { set: { 'sib:s1:ep:WorkloadEntry/mesh/w0': expect.stringContaining('10.0.0.2') }, delete: ['ep:WorkloadEntry/mesh/w0'] } },
      { key: keys[1], diff: { set: { 'ep:WorkloadEntry/mesh/w0': expect.stringContaining('10.0.0.2') }, delete: ['sib:s0:ep:WorkloadEntry/mesh/w0'] } },
    ]);
    await expectStoreEqualsDesired(keys.slice(0, 2));
  });

  it('writes a ServiceEntry that changed while its write was in flight again, with the latest state', async () => {
    const { apply, writer, calls, holdCalls, store, expectStoreEqualsDesired } = await setup({ batchSize: 64, concurrency: 4 });
    apply(serviceEntry('s0', { app: 's0' }));
    apply(workloadEntry('w0', '10.0.0.1', { app: 's0' }));
    await writer.drain();
    const release = holdCalls();
    apply(workloadEntry('w0', '10.0.0.2', { app: 's0' }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toHaveLength(2);
    // Both arrive while the first is held: they coalesce into one more write, sent after it.
    apply(workloadEntry('w0', '10.0.0.3', { app: 's0' }));
    apply(workloadEntry('w1', '10.0.0.4', { app: 's0' }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toHaveLength(2);
    release();
    await writer.drain();
    expect(calls).toHaveLength(3);
    expect(Object.keys((calls[2]?.[0] as { diff: { set: object } }).diff.set).sort()).toEqual(['ep:WorkloadEntry/mesh/w0', 'ep:WorkloadEntry/mesh/w1']);
    expect(writer.backlog).toBe(0);
    expect((await store.serviceEntries.read(keys[0]!))?.fields['ep:WorkloadEntry/mesh/w0']).toContain('10.0.0.3');
    await expectStoreEqualsDesired(keys.slice(0, 1));
  });

  it('retries a failed batch against the hashes read back, deleting what should be gone', async () => {
    const { apply, writer, calls, gate, holdCalls, expectStoreEqualsDesired } = await setup({ batchSize: 64, concurrency: 4 });
    apply(serviceEntry('s0', { app: 's0' }));
    apply(serviceEntry('s1', { app: 's1' }));
    apply(workloadEntry('w0', '10.0.0.1', { app: 's0' }));
    await writer.drain();
    gate.failNext = 1;
    apply(workloadEntry('w0', '10.0.0.2', { app: 's1' }));
    await writer.drain();
    expect(writer.backlog).toBe(2);
    await expect.poll(() => writer.backlog, { timeout: 2000, interval: 5 }).toBe(0);
    // The retry cannot trust what it believed the hashes held: it reads them back and compares every
    // field, so the field the workload left behind is deleted.
    expect(calls[calls.length - 1]).toEqual([
      { key: keys[0], diff: { set: {}, delete: ['ep:WorkloadEntry/mesh/w0'] } },
      { key: keys[1], diff: { set: { 'ep:WorkloadEntry/mesh/w0': expect.stringContaining('10.0.0.2') }, delete: [] } },
    ]);
    await expectStoreEqualsDesired(keys.slice(0, 2));

    // A change noted while a call that then fails was in flight is not written alone: the failed
    // call's fields go out again with it.
    const release = holdCalls();
    gate.failNext = 1;
    apply(workloadEntry('w0', '10.0.0.3', { app: 's1' }));
    await new Promise((resolve) => setImmediate(resolve));
    apply(workloadEntry('w1', '10.0.0.4', { app: 's1' }));
    release();
    await expect.poll(() => writer.backlog, { timeout: 2000, interval: 5 }).toBe(0);
    await expectStoreEqualsDesired(keys.slice(0, 2));
  });

  it('converges against what the store holds once the calls in flight have landed', async () => {
    const { apply, writer, holdCalls, store, state, expectStoreEqualsDesired } = await setup({ batchSize: 64, concurrency: 4 });
    apply(serviceEntry('s0', { app: 's0' }));
    apply(workloadEntry('w0', '10.0.0.1', { app: 's0' }));
    await writer.drain();
    // The writer forgets what it wrote (the store came back), and a write it plans without that knowledge is held in flight.
    writer.forgetStoredState();
    const release = holdCalls();
    state.apply({ type: 'delete', ref: { kind: 'WorkloadEntry', namespace: 'mesh', name: 'w0' }, origin: 'test' });
    writer.markDirty([keys[0]!]);
    await new Promise((resolve) => setImmediate(resolve));
    const converged = writer.converge();
    release();
    await converged;
    // The held write set fields and deleted none; the converge read the hash after it and dropped w0.
    expect(Object.keys((await store.serviceEntries.read(keys[0]!))?.fields ?? {})).toEqual(['se']);
    await expectStoreEqualsDesired(keys.slice(0, 1));
  });
});
