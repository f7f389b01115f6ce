/**
 * A master failover under load loses no change: the watcher's writer (desired state -> HashWriter) writes
 * ServiceEntries into a three-shard store on a local Redis Cluster (three masters, three replicas) while
 * one consumer per shard reads that shard's change log through its consumer group; the master of one
 * shard is SIGKILLed in the middle of the writes. Writes wait for a replica (`replicaWaitMs`), so every
 * write the writer counts as done is on the replica that takes over; writes that failed during the
 * failover are retried, and the writer lease is kept as the watcher keeps it (`WriterLease`, and a
 * converge after each new grant). In the end the store holds exactly the desired state, and every
 * shard's consumers have seen each ServiceEntry's final revision (entries whose acks were lost are
 * re-read via `claimStale`). A failure shows the last steps of the lease and the writer.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { ObjectKey } from '@skiff/model';
import { Backoff, silentLogger } from '@skiff/runtime';
import { createShardedRedisStore, keyLayout, serviceEntryId, type LeaseGrant, type ShardedRedisStore } from '@skiff/store';
import { LocalRedisCluster, uniquePrefix } from '@skiff/testing';
import { DesiredState } from './desired-state.js';
import { HashWriter } from './hash-writer.js';
import { WriterLease } from './writer-lease.js';

const COUNT = 45;
const WAIT = { timeout: 60_000, interval: 100 } as const;

let cluster: LocalRedisCluster;
let store: ShardedRedisStore | undefined;
const leases: WriterLease[] = [];

beforeAll(async () => {
  cluster = await LocalRedisCluster.start();
}, 120_000);

afterAll(async () => {
  for (const lease of leases) await lease.close();
  await store?.close();
  await cluster?.stop();
});

const serviceEntry = (name: string) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'ServiceEntry',
  metadata: { name, namespace: 'mesh' },
  spec: { hosts: [`${name}.example.com`], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', workloadSelector: { labels: { app: name } } },
});
const workloadEntry = (name: string, round: number) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'WorkloadEntry',
  metadata: { name: `${name}-w`, namespace: 'mesh' },
  spec: { address: `10.${Math.floor(round / 250)}.${round % 250}.1`, labels: { app: name } },
});

it('keeps every change through a master failover in the middle of the writes', { timeout: 240_000 }, async () => {
  const prefix = uniquePrefix('failover');
  store = createShardedRedisStore({ cluster: cluster.seeds, keyPrefix: prefix, shards: 3, replicaWaitMs: 2000, commandRetries: 50 });
  const sharded = store;
  const logger = silentLogger();
  const state = new DesiredState();
  // The lease is kept as the watcher keeps it: renewed every third of its TTL, and given up and taken again after a
  // fenced write. A shard that fails over before its replica had the fence copy refuses writes until then (fail-safe,
  // see redis-sharded.ts); that costs time, never a change.
  const trail: string[] = [];
  const note = (line: string): void => void trail.push(`${(performance.now() / 1000).toFixed(2)} ${line}`);
  const traced = <T>(call: string, outcome: Promise<T>): Promise<T> =>
    outcome.then(
      (value) => (note(`${call} -> ${JSON.stringify(value)}`), value),
      (error: unknown) => {
        note(`${call} threw ${String(error)}`);
        throw error;
      },
    );
  const lease = new WriterLease({
    lease: {
      acquire: (holder, ttlMs) => traced('acquire', sharded.lease.acquire(holder, ttlMs)),
      renew: (grant, ttlMs) => traced(`renew ${grant.token}`, sharded.lease.renew(grant, ttlMs)),
      release: (grant) => traced(`release ${grant.token}`, sharded.lease.release(grant)),
      current: () => sharded.lease.current(),
    },
    holder: 'watcher-1',
    logger,
    ttlMs: 6000,
  });
  const writer = new HashWriter({
    store: sharded.serviceEntries,
    state,
    logger,
    concurrency: 8,
    hooks: {
      onWriteError: (e) => note(`write error ${String(e)}`),
      onFenced: (e) => {
        note(`fenced ${String(e)}`);
        lease.lost();
      },
    },
    retryBackoff: new Backoff({ initialMs: 50, maxMs: 500 }),
  });
  // As the watcher keeps its writer (watcher.ts, `onLeaseChange`): a new grant is followed by a converge, which writes
  // what stayed dirty while the lease was lost (a fenced write is not retried on its own), tried again until it succeeds.
  const convergeUnder = async (grant: LeaseGrant): Promise<void> => {
    while (lease.current() === grant) {
      try {
        const report = await writer.converge();
        note(`converged under ${grant.token}: ${report.written} written`);
        return;
      } catch (error) {
        note(`converge failed ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  };
  lease.onChange((grant) => {
    note(`grant ${grant?.token ?? 'none'}`);
    writer.setGrant(grant);
    if (grant) void convergeUnder(grant);
  });
  lease.start();
  leases.push(lease);
  await vi.waitFor(() => expect(lease.current(), 'a fresh store has no lease holder').not.toBeNull(), WAIT);

  const names = Array.from({ length: COUNT }, (_, i) => `se-${i}`);
  const keys: ObjectKey[] = names.map((name) => ({ namespace: 'mesh', name }));
  const apply = (object: unknown): void => {
    const outcome = state.apply({ type: 'upsert', object, origin: 'test' });
    if (outcome.result !== 'applied') throw new Error(`fixture not applied: ${JSON.stringify(outcome)}`);
    writer.markDirty(outcome.affected);
  };
  for (const name of names) apply(serviceEntry(name));

  // One consumer per shard, as translators consume each shard's log: the latest revision seen per ServiceEntry.
  const seen = new Map<string, number>();
  let consuming = true;
  const consumers = sharded.shards.map(async (shard, index) => {
    while (consuming) {
      try {
        const changes = (await shard.changeLog.claimStale(`t-${index}`, 1000)).concat(await shard.changeLog.read(`t-${index}`, { count: 100, blockMs: 100 }));
        for (const change of changes) {
          const id = serviceEntryId(change.serviceEntry);
          seen.set(id, Math.max(seen.get(id) ?? 0, change.revision));
        }
        await shard.changeLog.ack(changes.flatMap((c) => c.ids));
      } catch {
        // The shard's master is failing over: read again once its replica took over.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });

  // Rounds of WorkloadEntry changes; the master of shard 1 dies in the middle.
  const victim = await cluster.masterOfKey(keyLayout(prefix, { index: 1, count: 3 }).changeLog);
  let round = 0;
  const writeRounds = async (rounds: number): Promise<void> => {
    for (let i = 0; i < rounds; i++, round++) {
      for (const name of names) apply(workloadEntry(name, round));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await writeRounds(15);
  const killed = cluster.kill(victim);
  await writeRounds(15);
  await killed;
  const promoted = await cluster.waitFailover(victim);
  expect(promoted).not.toBe(victim);
  await writeRounds(5);

  // The writer catches up (failed writes are retried), then the store equals the desired state.
  await vi.waitFor(() => expect(writer.backlog, trail.slice(-12).join('\n')).toBe(0), WAIT);
  await writer.drain();
  for (const key of keys) {
    const stored = await sharded.serviceEntries.read(key);
    expect(stored?.fields).toEqual(state.desiredFields(key));
  }
  expect(await sharded.serviceEntries.list()).toHaveLength(COUNT);
  // Every shard's consumers saw each ServiceEntry's final revision.
  const finalRevisions = new Map<string, number>();
  for (const key of keys) finalRevisions.set(serviceEntryId(key), (await sharded.serviceEntries.read(key))!.revision);
  await vi.waitFor(() => {
    for (const [id, revision] of finalRevisions) expect(seen.get(id), id).toBe(revision);
  }, WAIT);
  consuming = false;
  await Promise.all(consumers);
  const shardOfVictim = keys.filter((key) => sharded.shardOf(key) === 1);
  expect(shardOfVictim.length).toBeGreaterThan(0);
});
