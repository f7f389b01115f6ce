/**
 * The Redis store spread over shards: each shard is a `RedisStore` under its own hash tag
 * (`{<prefix>:<i>:<n>}`, see `redis-keys.ts`) with its own ServiceEntry hashes, change log, revision
 * counter, resources, invalidation sequence and channel, and fence; a ServiceEntry (or Sidecar, or Gateway) lives
 * in shard `shardOf(<namespace>/<name>)`. On Redis Cluster the tags hash to different slots, so the
 * shards spread over the primaries and their scripts run in parallel.
 *
 * The writer lease stays one, under the store's own tag `{<prefix>}`. A shard's scripts cannot read it
 * (another slot), so they check the shard's fence instead: a copy of the lease that the holder writes
 * to every shard when it gains the lease, before its first write, and refreshes on every renewal with
 * the same time to live. Why that fences as the single lease does:
 *
 * - A copy is only ever replaced by a copy with a larger token (`INSTALL_FENCE`), and tokens only grow.
 *   Once a new holder has installed its copy on a shard, every write of an older holder to that shard
 *   is refused: the fencing-token rule (https://martin.kleppmann.com/2016/02/08/how-to-do-distributed-locking.html),
 *   with each shard as the storage that checks tokens.
 * - `acquire` returns only after every shard has the new copy, so the new holder's first write to any
 *   shard comes after its copy is there. An older holder's write to a shard that lands before the new
 *   copy is ordered before the new holder's writes there, and the new holder converges from its own
 *   desired state (it reads what is stored and writes the difference), which overwrites it.
 * - A copy expires with the lease's time to live (refreshed right after the lease is), so a holder
 *   that stopped renewing is fenced on every shard within about one TTL, as it is by the lease.
 * - A shard that lost its copy (restarted empty, or failed over before its replica had it) refuses
 *   writes until the holder's next renewal installs it again: fail-safe. With `replicaWaitMs` each
 *   install waits for a replica (`WAIT 1`), which makes that rare: the copy is on a replica before the
 *   holder writes.
 *
 * Services use this store as the watcher's `WatcherStore` (writes routed to their shard, the lease),
 * and per shard through `shards[i]` (a complete `Store` whose lease is this store's): a translator
 * consumes each shard's change log (one consumer group per shard), a gateway follows each shard's
 * invalidations with their own sequence.
 */
import type { ObjectKey } from '@skiff/model';
import {
  serviceEntryId,
  StoreError,
  type ConnectionState,
  type ConnectionStateEvent,
  type FleetRegistry,
  type Lease,
  type LeaseGrant,
  type GatewayWriter,
  type ServiceEntryChange,
  type ServiceEntryChangeResult,
  type ServiceEntryWriter,
  type SidecarWriter,
  type Store,
  type StoreHealth,
  type WatcherStore,
} from './contract.js';
import { checkChanges } from './checks.js';
import { compareObjectKeys } from './ownership-records.js';
import { checkShards, shardOf } from './redis-keys.js';
import { RedisStore, type RedisStoreOptions } from './redis.js';

export interface ShardedRedisStoreOptions extends Omit<RedisStoreOptions, 'shard'> {
  /** How many shards (1..`MAX_SHARDS`); the same for every service of an installation. */
  readonly shards: number;
}

export function createShardedRedisStore(options: ShardedRedisStoreOptions): ShardedRedisStore {
  return new ShardedRedisStore(options);
}

/** The order of connection states from worst to best, for the state of the whole store. */
const STATE_RANK: Record<ConnectionState, number> = { closed: 0, connecting: 1, reconnecting: 2, ready: 3 };

export class ShardedRedisStore implements WatcherStore {
  readonly shardCount: number;
  readonly serviceEntries: ServiceEntryWriter;
  readonly sidecars: SidecarWriter;
  readonly gateways: GatewayWriter;
  readonly lease: Lease;
  readonly fleet: FleetRegistry;
  /** One complete store per shard, sharing this store's lease and fleet. */
  readonly shards: readonly Store[];
  readonly target: string;

  /** Holds the lease and the fleet reports (the store's own tag). */
  private readonly global: RedisStore;
  private readonly stores: readonly RedisStore[];
  private closed = false;

  constructor(options: ShardedRedisStoreOptions) {
    checkShards(options.shards);
    this.shardCount = options.shards;
    const { shards, ...common } = options;
    this.global = new RedisStore(common);
    // One shard is the plain layout: the store's own tag holds everything, the lease included, and no fence copy is needed.
    this.stores = shards === 1 ? [this.global] : Array.from({ length: shards }, (_, index) => new RedisStore({ ...common, shard: { index, count: shards } }));
    this.target = `${this.global.target} (${shards} shards)`;
    this.lease = this.shardedLease();
    this.fleet = this.global.fleet;
    const route = (key: ObjectKey): RedisStore => this.storeOf(key);
    const all = this.stores;
    const sortedUnion = async <T>(lists: Promise<T[]>[], keyOf: (item: T) => ObjectKey): Promise<T[]> =>
      (await Promise.all(lists)).flat().sort((a, b) => compareObjectKeys(keyOf(a), keyOf(b)));
    this.serviceEntries = {
      read: (key) => route(key).serviceEntries.read(key),
      list: () => sortedUnion(all.map((s) => s.serviceEntries.list()), (key) => key),
      write: (key, diff, fence, writeOptions) => route(key).serviceEntries.write(key, diff, fence, writeOptions),
      delete: (key, fence, writeOptions) => route(key).serviceEntries.delete(key, fence, writeOptions),
      writeMany: (changes, fence) => this.writeManySharded(changes, fence),
    };
    // Sidecars and Gateways are routed like ServiceEntries (by `<namespace>/<name>`): each lives in one shard's hash
    // and its invalidation goes out on that shard's channel with that shard's sequence.
    const scopeObjects = (facet: (store: RedisStore) => SidecarWriter): SidecarWriter => ({
      get: (key) => facet(route(key)).get(key),
      list: () => sortedUnion(all.map((s) => facet(s).list()), (object) => object.key),
      put: (key, json, fence, writeOptions) => facet(route(key)).put(key, json, fence, writeOptions),
      delete: (key, fence, writeOptions) => facet(route(key)).delete(key, fence, writeOptions),
    });
    this.sidecars = scopeObjects((s) => s.sidecars);
    this.gateways = scopeObjects((s) => s.gateways);
    this.shards = this.stores.map((store) => this.view(store));
  }

  /** The shard of a ServiceEntry, Sidecar or Gateway. */
  shardOf(key: ObjectKey): number {
    return shardOf(serviceEntryId(key), this.shardCount);
  }

  /**
   * The epochs of the lease's tag and of every shard, joined; null while any is missing. A shard that
   * lost its data (its epoch is gone or new) changes the value, so the watcher converges again.
   */
  async epoch(): Promise<string | null> {
    if (this.shardCount === 1) return this.global.epoch();
    const epochs = await Promise.all([this.global.epoch(), ...this.stores.map((s) => s.epoch())]);
    return epochs.some((e) => e === null) ? null : epochs.join(',');
  }

  /** Records the shard count on the store's own tag unless one is there; returns the recorded one. */
  recordShardCount(count: number = this.shardCount): Promise<number> {
    return this.global.recordShardCount(count);
  }

  async ping(): Promise<void> {
    await Promise.all([this.global, ...this.stores].map((s) => s.ping()));
  }

  health(): StoreHealth {
    const parts = this.named();
    const healths = parts.map(({ name, store }) => ({ name, health: store.health() }));
    const worst = healths.reduce<ConnectionState>((state, { health }) => (STATE_RANK[health.state] < STATE_RANK[state] ? health.state : state), 'ready');
    return {
      state: worst,
      reconnects: healths.reduce((sum, { health }) => sum + health.reconnects, 0),
      errors: healths.reduce((sum, { health }) => sum + health.errors, 0),
      connections: healths.flatMap(({ name, health }) => health.connections.map((c) => ({ ...c, name: `${name}/${c.name}` }))),
      listenerErrors: healths.reduce((sum, { health }) => sum + health.listenerErrors, 0),
      malformed: healths.reduce((sum, { health }) => sum + health.malformed, 0),
    };
  }

  onStateChange(listener: (event: ConnectionStateEvent) => void): () => void {
    const removers = this.named().map(({ name, store }) => store.onStateChange((event) => listener({ ...event, connection: `${name}/${event.connection}` })));
    return () => {
      for (const remove of removers) remove();
    };
  }

  beginShutdown(): void {
    for (const { store } of this.named()) store.beginShutdown();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.named().map(({ store }) => store.close()));
  }

  // -------------------------------------------------------------------------------------------------

  private storeOf(key: ObjectKey): RedisStore {
    const store = this.stores[this.shardOf(key)];
    if (store === undefined) throw new StoreError('invalid-argument', `no shard for ${serviceEntryId(key)}`);
    return store;
  }

  /** Each shard's part of a batch in one script call there (the parts run concurrently); results in the batch's order. */
  private async writeManySharded(changes: readonly ServiceEntryChange[], fence: LeaseGrant): Promise<ServiceEntryChangeResult[]> {
    checkChanges(changes);
    const parts = new Map<RedisStore, { changes: ServiceEntryChange[]; positions: number[] }>();
    changes.forEach((change, position) => {
      const store = this.storeOf(change.key);
      let part = parts.get(store);
      if (part === undefined) parts.set(store, (part = { changes: [], positions: [] }));
      part.changes.push(change);
      part.positions.push(position);
    });
    const results: ServiceEntryChangeResult[] = new Array(changes.length);
    await Promise.all(
      [...parts].map(async ([store, part]) => {
        const partResults = await store.serviceEntries.writeMany(part.changes, fence);
        partResults.forEach((result, i) => {
          results[part.positions[i] as number] = result;
        });
      }),
    );
    return results;
  }

  private named(): { name: string; store: RedisStore }[] {
    if (this.shardCount === 1) return [{ name: 'shard-0', store: this.global }];
    return [{ name: 'lease', store: this.global }, ...this.stores.map((store, index) => ({ name: `shard-${index}`, store }))];
  }

  /** The lease under the store's tag, with a fence copy on every shard (see the top of this file). */
  private shardedLease(): Lease {
    const { global, stores } = this;
    if (this.shardCount === 1) return global.lease;
    const installAll = async (grant: LeaseGrant, ttlMs: number): Promise<boolean> =>
      (await Promise.all(stores.map((s) => s.fence.install(grant, ttlMs)))).every(Boolean);
    return {
      acquire: async (holder, ttlMs) => {
        const grant = await global.lease.acquire(holder, ttlMs);
        if (grant === null) return null;
        let installed = false;
        try {
          installed = await installAll(grant, ttlMs);
        } finally {
          // Not fenced on every shard (a shard unreachable, or holding a newer holder's copy): give the lease back.
          if (!installed) await global.lease.release(grant).catch(() => undefined);
        }
        return installed ? grant : null;
      },
      renew: async (grant, ttlMs) => (await global.lease.renew(grant, ttlMs)) && (await installAll(grant, ttlMs)),
      release: async (grant) => {
        const released = await global.lease.release(grant);
        await Promise.all(stores.map((s) => s.fence.release(grant)));
        return released;
      },
      current: () => global.lease.current(),
    };
  }

  /** One shard as a complete store: its own facets, the shared lease and fleet. Closing it closes the whole store. */
  private view(store: RedisStore): Store {
    return {
      serviceEntries: store.serviceEntries,
      sidecars: store.sidecars,
      gateways: store.gateways,
      changeLog: store.changeLog,
      resources: store.resources,
      invalidations: store.invalidations,
      lease: this.lease,
      fleet: this.fleet,
      epoch: () => store.epoch(),
      ping: () => store.ping(),
      health: () => store.health(),
      onStateChange: (listener) => store.onStateChange(listener),
      close: () => this.close(),
    };
  }
}
