import { createMemoryStore, type Lease, type MemoryStore, type WatcherStore } from '@skiff/store';
import { silentLogger } from '@skiff/runtime';
import type { ConfigSource, SourceEvent, SourceHandler } from '@skiff/config-sources';
import { afterEach, describe, expect, it } from 'vitest';
import { Watcher } from './watcher.js';
import { eventually } from '@skiff/testing';

/** A source the test drives by hand: what a file or Kubernetes source would deliver. */
class ScriptedSource implements ConfigSource {
  readonly name = 'scripted';
  private handler: SourceHandler | undefined;
  constructor(private readonly initial: unknown[]) {}
  async start(handler: SourceHandler): Promise<void> {
    this.handler = handler;
    for (const object of this.initial) handler.event({ type: 'upsert', object, origin: 'test' });
    handler.synced();
  }
  async close(): Promise<void> {}
  upsert(object: unknown): void {
    this.handler?.event({ type: 'upsert', object, origin: 'test' });
  }
  delete(kind: string, namespace: string, name: string): void {
    const event: SourceEvent = { type: 'delete', ref: { kind, namespace, name }, origin: 'test' };
    this.handler?.event(event);
  }
}

const serviceEntry = (name: string, selector: Record<string, string>, namespace = 'mesh') => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'ServiceEntry',
  metadata: { name, namespace },
  spec: { hosts: [`${name}.example.com`], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', workloadSelector: { labels: selector } },
});
const workloadEntry = (name: string, address: string, labels: Record<string, string>, namespace = 'mesh') => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'WorkloadEntry',
  metadata: { name, namespace },
  spec: { address, labels },
});

const sidecar = (name: string, hosts: string[], namespace = 'mesh', workloadSelector?: Record<string, string>) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'Sidecar',
  metadata: { name, namespace },
  spec: { ...(workloadSelector === undefined ? {} : { workloadSelector: { labels: workloadSelector } }), egress: [{ hosts }] },
});

const gateway = (name: string, tlsMode: string, namespace = 'istio-system') => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'Gateway',
  metadata: { name, namespace },
  spec: { selector: { istio: 'eastwestgateway' }, servers: [{ port: { number: 15443, name: 'tls', protocol: 'TLS' }, tls: { mode: tlsMode }, hosts: ['*.local'] }] },
});

const pickWatcherStore = (store: MemoryStore): WatcherStore => ({
  serviceEntries: store.serviceEntries,
  sidecars: store.sidecars,
  gateways: store.gateways,
  lease: store.lease,
  epoch: () => store.epoch(),
  health: () => store.health(),
  onStateChange: (listener) => store.onStateChange(listener),
});

describe('Watcher on the in-memory store', () => {
  const running: Watcher[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.close()));
  });

  async function startWatcher(store: MemoryStore, source: ScriptedSource, holder = 'w1', leaseTtlMs = 15_000): Promise<Watcher> {
    const watcher = new Watcher({ source, store, logger: silentLogger(), holder, leaseTtlMs, epochCheckMs: 20 });
    running.push(watcher);
    await watcher.start();
    return watcher;
  }

  async function revisions(store: MemoryStore, names: string[]): Promise<Record<string, number | null>> {
    const out: Record<string, number | null> = {};
    for (const name of names) out[name] = (await store.serviceEntries.read({ namespace: 'mesh', name }))?.revision ?? null;
    return out;
  }

  async function endpointFields(store: MemoryStore, name: string): Promise<string[]> {
    const stored = await store.serviceEntries.read({ namespace: 'mesh', name });
    return Object.keys(stored?.fields ?? {}).filter((f) => f.startsWith('ep:')).sort();
  }

  it('writes one hash per ServiceEntry with one field per selected WorkloadEntry after the initial sync', async () => {
    const store = createMemoryStore();
    const source = new ScriptedSource([serviceEntry('a', { app: 'a' }), serviceEntry('b', { app: 'b' }), workloadEntry('a-1', '10.0.0.1', { app: 'a' })]);
    const watcher = await startWatcher(store, source);
    await eventually(() => expect(watcher.status().converged).toBe(true));
    expect(await endpointFields(store, 'a')).toEqual(['ep:WorkloadEntry/mesh/a-1']);
    expect(await endpointFields(store, 'b')).toEqual([]);
    expect(watcher.isReady()).toBe(true);
  });

  it('writes nothing before the initial list is in, even with the lease won first, so the converge reads nothing back', async () => {
    const store = createMemoryStore();
    const objects = [serviceEntry('a', { app: 'a' }), serviceEntry('b', { app: 'b' }), workloadEntry('a-1', '10.0.0.1', { app: 'a' })];
    // The in-memory lease is granted at once; this list arrives after it, as a large directory's does.
    const source = new (class extends ScriptedSource {
      override async start(handler: SourceHandler): Promise<void> {
        await new Promise((resolve) => setTimeout(resolve, 50));
        await super.start(handler);
      }
    })(objects);
    const watcher = await startWatcher(store, source);
    await eventually(() => expect(watcher.status().converged).toBe(true));
    expect(watcher.status().lastConverge).toMatchObject({ stored: 0, desired: 2, written: 2 });
    expect(watcher.status().writes.upsert).toBe(2);
    expect(await endpointFields(store, 'a')).toEqual(['ep:WorkloadEntry/mesh/a-1']);
  });

  it('writes a WorkloadEntry update to exactly the hashes of the ServiceEntries that select it', async () => {
    const store = createMemoryStore();
    const names = ['s1', 's2', 's3', 'other1', 'other2'];
    const source = new ScriptedSource([
      serviceEntry('s1', { tier: 'web' }),
      serviceEntry('s2', { tier: 'web', zone: 'z1' }),
      serviceEntry('s3', {}),
      serviceEntry('other1', { tier: 'db' }),
      serviceEntry('other2', { app: 'x' }, 'elsewhere'),
      workloadEntry('we', '10.0.0.1', { tier: 'web', zone: 'z1' }),
    ]);
    const watcher = await startWatcher(store, source);
    await eventually(() => expect(watcher.status().converged).toBe(true));
    const before = await revisions(store, names);
    source.upsert(workloadEntry('we', '10.0.0.2', { tier: 'web', zone: 'z1' }));
    await watcher.flush();
    const after = await revisions(store, names);
    for (const name of ['s1', 's2', 's3']) expect(after[name]).toBeGreaterThan(before[name] ?? 0);
    expect(after['other1']).toBe(before['other1']);
    const stored = await store.serviceEntries.read({ namespace: 'mesh', name: 's2' });
    expect(JSON.parse(stored?.fields['ep:WorkloadEntry/mesh/we'] ?? '{}').address).toBe('10.0.0.2');
  });

  it('writes a DestinationRule change to exactly the hashes of the ServiceEntries with a matching host', async () => {
    const store = createMemoryStore();
    const names = Array.from({ length: 40 }, (_, i) => `s${i}`);
    const rule = (host: string, subsets: string[]) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'r', namespace: 'mesh' },
      spec: { host, subsets: subsets.map((name) => ({ name, labels: { version: name } })) },
    });
    const source = new ScriptedSource([...names.map((name) => serviceEntry(name, { app: name })), rule('s1.example.com', ['v1'])]);
    const watcher = await startWatcher(store, source);
    await eventually(() => expect(watcher.status().converged).toBe(true));
    const ruleOf = async (name: string) => (await store.serviceEntries.read({ namespace: 'mesh', name }))?.fields['dr:mesh/r'];
    expect(JSON.parse((await ruleOf('s1')) ?? '{}').subsets).toEqual([{ name: 'v1', labels: { version: 'v1' }, trafficPolicy: null }]);

    let before = await revisions(store, names);
    source.upsert(rule('s1.example.com', ['v1', 'v2']));
    await watcher.flush();
    let after = await revisions(store, names);
    expect(names.filter((name) => after[name] !== before[name])).toEqual(['s1']);

    // Moving the rule to another host rewrites the old and the new ServiceEntry only.
    before = after;
    source.upsert(rule('s2.example.com', ['v1']));
    await watcher.flush();
    after = await revisions(store, names);
    expect(names.filter((name) => after[name] !== before[name])).toEqual(['s1', 's2']);
    expect(await ruleOf('s1')).toBeUndefined();
    expect(await ruleOf('s2')).toBeDefined();

    before = after;
    source.delete('DestinationRule', 'mesh', 'r');
    await watcher.flush();
    after = await revisions(store, names);
    expect(names.filter((name) => after[name] !== before[name])).toEqual(['s2']);
    expect(await ruleOf('s2')).toBeUndefined();
  });

  it('moves a WorkloadEntry between ServiceEntries on a label change, and removes it on delete', async () => {
    const store = createMemoryStore();
    const source = new ScriptedSource([serviceEntry('blue', { color: 'blue' }), serviceEntry('green', { color: 'green' }), workloadEntry('we', '10.0.0.1', { color: 'blue' })]);
    const watcher = await startWatcher(store, source);
    await eventually(() => expect(watcher.status().converged).toBe(true));
    source.upsert(workloadEntry('we', '10.0.0.1', { color: 'green' }));
    await watcher.flush();
    expect(await endpointFields(store, 'blue')).toEqual([]);
    expect(await endpointFields(store, 'green')).toEqual(['ep:WorkloadEntry/mesh/we']);
    source.delete('WorkloadEntry', 'mesh', 'we');
    await watcher.flush();
    expect(await endpointFields(store, 'green')).toEqual([]);
    source.delete('ServiceEntry', 'mesh', 'blue');
    await watcher.flush();
    expect(await store.serviceEntries.read({ namespace: 'mesh', name: 'blue' })).toBeNull();
    expect(await store.serviceEntries.list()).toEqual([{ namespace: 'mesh', name: 'green' }]);
  });

  it('changes nothing for an invalid object, keeps the last valid version, and reports the rejection', async () => {
    const store = createMemoryStore();
    const source = new ScriptedSource([serviceEntry('a', { app: 'a' }), workloadEntry('a-1', '10.0.0.1', { app: 'a' })]);
    const watcher = await startWatcher(store, source);
    await eventually(() => expect(watcher.status().converged).toBe(true));
    const before = await store.serviceEntries.read({ namespace: 'mesh', name: 'a' });
    const logLength = await store.changeLog.length();
    source.upsert({ ...serviceEntry('a', { app: 'a' }), spec: { hosts: ['*'], resolution: 'STATIC' } });
    source.upsert(workloadEntry('a-1', 'not an address!', { app: 'a' }));
    await watcher.flush();
    expect(await store.serviceEntries.read({ namespace: 'mesh', name: 'a' })).toEqual(before);
    expect(await store.changeLog.length()).toBe(logLength);
    expect(watcher.status().rejected).toBe(2);
    const rejected = watcher.objects().filter((o) => o.rejection);
    expect(rejected.map((o) => `${o.kind} ${o.name}: ${o.rejection?.errors.map((e) => `${e.field}: ${e.reason}`).join('; ')}`)).toEqual([
      'ServiceEntry a: spec.hosts[0]: invalid host *',
      `WorkloadEntry a-1: spec.address: endpoint address "not an address!" is not a valid FQDN or an IP address`,
    ]);
    // The valid version is still in effect and a fix clears the rejection.
    source.upsert(workloadEntry('a-1', '10.0.0.9', { app: 'a' }));
    await watcher.flush();
    const fixed = await store.serviceEntries.read({ namespace: 'mesh', name: 'a' });
    expect(JSON.parse(fixed?.fields['ep:WorkloadEntry/mesh/a-1'] ?? '{}').address).toBe('10.0.0.9');
    expect(watcher.status().rejected).toBe(1);
  });

  it('refills a store that lost its data, detected through the epoch', async () => {
    const store = createMemoryStore();
    const source = new ScriptedSource([serviceEntry('a', { app: 'a' }), workloadEntry('a-1', '10.0.0.1', { app: 'a' })]);
    const watcher = await startWatcher(store, source, 'w1', 300);
    await eventually(() => expect(watcher.status().converged).toBe(true));
    store.wipe();
    expect(await store.serviceEntries.list()).toEqual([]);
    await eventually(async () => expect(await endpointFields(store, 'a')).toEqual(['ep:WorkloadEntry/mesh/a-1']));
  });

  it('writes Sidecars, rewrites them on change, deletes them, and converges them after the store lost its data', async () => {
    const store = createMemoryStore();
    const source = new ScriptedSource([sidecar('default', ['./*']), serviceEntry('a', { app: 'a' })]);
    const watcher = await startWatcher(store, source, 'w1', 300);
    await eventually(() => expect(watcher.status().converged).toBe(true));
    const hostsOf = async () => (await store.sidecars.list()).map((stored) => [stored.key.name, (JSON.parse(stored.json) as { egress: { hosts: string[] }[] }).egress[0]?.hosts]);
    expect(await hostsOf()).toEqual([['default', ['./*']]]);
    expect(watcher.status().sidecars).toBe(1);

    source.upsert(sidecar('default', ['./*', 'istio-system/*']));
    source.upsert(sidecar('app', ['./a.example.com'], 'mesh', { app: 'a' }));
    await watcher.flush();
    expect(await hostsOf()).toEqual([
      ['app', ['./a.example.com']],
      ['default', ['./*', 'istio-system/*']],
    ]);
    // An invalid version keeps the last valid one.
    source.upsert(sidecar('app', ['a.example.com']));
    await watcher.flush();
    expect((await hostsOf())[0]).toEqual(['app', ['./a.example.com']]);

    source.delete('Sidecar', 'mesh', 'app');
    await watcher.flush();
    expect(await hostsOf()).toEqual([['default', ['./*', 'istio-system/*']]]);

    store.wipe();
    await eventually(async () => expect(await hostsOf()).toEqual([['default', ['./*', 'istio-system/*']]]));
    // A Sidecar left in the store by a previous writer is deleted by the next convergence.
    const lease = await store.lease.current();
    expect(lease).not.toBeNull();
    await store.sidecars.put({ namespace: 'mesh', name: 'stale' }, '{"stale":true}', lease!);
    await watcher.close();
    running.splice(0);
    const next = await startWatcher(store, new ScriptedSource([sidecar('default', ['./*'])]), 'w2', 300);
    await eventually(() => expect(next.status().converged).toBe(true), { timeoutMs: 3_000 });
    expect(await hostsOf()).toEqual([['default', ['./*']]]);
  });

  it('writes Gateways, rewrites them on change, keeps the last valid version, deletes them and removes stale ones on convergence', async () => {
    const store = createMemoryStore();
    const source = new ScriptedSource([gateway('cross-network', 'AUTO_PASSTHROUGH')]);
    const watcher = await startWatcher(store, source, 'w1', 300);
    await eventually(() => expect(watcher.status().converged).toBe(true));
    const modesOf = async () => (await store.gateways.list()).map((stored) => [stored.key.name, (JSON.parse(stored.json) as { servers: { tlsMode: string }[] }).servers[0]?.tlsMode]);
    expect(await modesOf()).toEqual([['cross-network', 'AUTO_PASSTHROUGH']]);
    expect(watcher.status().gateways).toBe(1);
    source.upsert(gateway('cross-network', 'PASSTHROUGH'));
    await watcher.flush();
    expect(await modesOf()).toEqual([['cross-network', 'PASSTHROUGH']]);
    // An invalid version (ISTIO_MUTUAL with a certificate) keeps the last valid one.
    source.upsert({ ...gateway('cross-network', 'ISTIO_MUTUAL'), spec: { servers: [{ port: { number: 15443, name: 'tls', protocol: 'TLS' }, tls: { mode: 'ISTIO_MUTUAL', credentialName: 'x' }, hosts: ['*.local'] }] } });
    await watcher.flush();
    expect(await modesOf()).toEqual([['cross-network', 'PASSTHROUGH']]);
    source.delete('Gateway', 'istio-system', 'cross-network');
    await watcher.flush();
    expect(await modesOf()).toEqual([]);
    const lease = await store.lease.current();
    await store.gateways.put({ namespace: 'mesh', name: 'stale' }, '{"stale":true}', lease!);
    await watcher.close();
    running.splice(0);
    const next = await startWatcher(store, new ScriptedSource([gateway('east-west', 'AUTO_PASSTHROUGH')]), 'w2', 300);
    await eventually(() => expect(next.status().converged).toBe(true), { timeoutMs: 3_000 });
    expect(await modesOf()).toEqual([['east-west', 'AUTO_PASSTHROUGH']]);
  });

  it('lets only the lease holder write; a standby takes over when the holder freezes, and fencing stops the old holder', async () => {
    const store = createMemoryStore();
    const initial = [serviceEntry('a', { app: 'a' }), workloadEntry('a-1', '10.0.0.1', { app: 'a' })];
    const sourceOne = new ScriptedSource(initial);
    const sourceTwo = new ScriptedSource(initial);
    // The first holder's lease calls can be frozen, as for a process paused or cut off from the store.
    // Frozen calls never answer until the test thaws them (then they fail, as a timed-out call would).
    let frozen = false;
    let thaw: (error: Error) => void = () => {};
    const frozenCall = new Promise<never>((_, reject) => {
      thaw = reject;
    });
    frozenCall.catch(() => {});
    const freezable: Lease = {
      acquire: (holder, ttl) => (frozen ? frozenCall : store.lease.acquire(holder, ttl)),
      renew: (grant, ttl) => (frozen ? frozenCall : store.lease.renew(grant, ttl)),
      release: (grant) => (frozen ? frozenCall : store.lease.release(grant)),
      current: () => store.lease.current(),
    };
    const one = new Watcher({ source: sourceOne, store: { ...pickWatcherStore(store), lease: freezable }, logger: silentLogger(), holder: 'one', leaseTtlMs: 200, epochCheckMs: 20 });
    await one.start();
    await eventually(() => expect(one.status().converged).toBe(true));
    const two = await startWatcher(store, sourceTwo, 'two', 200);
    await new Promise((r) => setTimeout(r, 300));
    expect(two.status().leader).toBe(false);
    expect(two.isReady()).toBe(true);
    // The holder wrote the store; the standby has read the source, and takes the store as written.
    expect(one.initialStateWritten()).toBe(true);
    expect(two.initialStateWritten()).toBe(true);
    // The standby sees a change but does not write it.
    const revision = (await store.serviceEntries.read({ namespace: 'mesh', name: 'a' }))?.revision;
    sourceTwo.upsert(workloadEntry('a-2', '10.0.0.2', { app: 'a' }));
    await two.flush();
    expect((await store.serviceEntries.read({ namespace: 'mesh', name: 'a' }))?.revision).toBe(revision);

    // The holder freezes: its lease expires, the standby takes over with a larger token and converges.
    const oldToken = one.status().leaseToken ?? 0;
    frozen = true;
    await eventually(() => expect(two.status().leader).toBe(true), { timeoutMs: 3_000 });
    expect(two.status().leaseToken).toBeGreaterThan(oldToken);
    await eventually(async () => expect(await endpointFields(store, 'a')).toEqual(['ep:WorkloadEntry/mesh/a-1', 'ep:WorkloadEntry/mesh/a-2']));

    // The old holder still believes it leads, but its writes are fenced off.
    expect(one.status().leader).toBe(true);
    const takeoverRevision = (await store.serviceEntries.read({ namespace: 'mesh', name: 'a' }))?.revision;
    sourceOne.upsert(workloadEntry('a-1', '10.9.9.9', { app: 'a' }));
    await one.flush();
    expect((await store.serviceEntries.read({ namespace: 'mesh', name: 'a' }))?.revision).toBe(takeoverRevision);
    expect(one.status().leader).toBe(false);
    thaw(new Error('timed out'));
    await one.close();
  });
});
