/**
 * The Redis store (ioredis): the connections, and one module per facet of the contract
 * (`redis-service-entries.ts`, `redis-scope-objects.ts`, `redis-change-log.ts`, `redis-resources.ts`, `redis-invalidations.ts`,
 * `redis-lease.ts`, `redis-fleet.ts`), each given a `RedisContext`. Writes that must be atomic are Lua
 * scripts (`redis-scripts.ts`); the change log is a stream read through a consumer group;
 * invalidations are published by the same script that writes the resources.
 *
 * Connections: `commands` for everything that returns at once, `blocking` (created on first use) for
 * `XREADGROUP ... BLOCK`, which holds its connection, and `subscriber` (created on first use) for the
 * invalidation channel. Each one reconnects forever with capped exponential backoff and jitter, counts
 * its errors and reconnects for metrics, and has an `error` listener, so a lost server never crashes
 * the process (ioredis reports unhandled `error` events otherwise). A call made while the server is
 * unreachable fails with `StoreError('unavailable')` after `commandRetries` reconnection attempts.
 *
 * Pub/sub loses what is published while a subscriber is disconnected: `redis-invalidations.ts` says
 * how a reconnect is made safe.
 */
import type { Histogram } from '@opentelemetry/api';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import {
  DEFAULT_CHANGE_LOG_MAX_LENGTH,
  DEFAULT_TOMBSTONE_TTL_MS,
  StoreError,
  type ConnectionStateEvent,
  type ChangeLog,
  type FleetRegistry,
  type InvalidationBus,
  type Lease,
  type ResourceWriter,
  type ServiceEntryWriter,
  type GatewayWriter,
  type SidecarWriter,
  type Store,
  type StoreHealth,
} from './contract.js';
import type { DeliveryCounters } from './invalidation-codec.js';
import { RedisChangeLog } from './redis-change-log.js';
import type { RedisContext } from './redis-context.js';
import { redisFence, type FenceCopy } from './redis-fence.js';
import { redisFleet } from './redis-fleet.js';
import { RedisInvalidations } from './redis-invalidations.js';
import { checkShards, keyLayout, type KeyLayout } from './redis-keys.js';
import { redisLease } from './redis-lease.js';
import { redisResources } from './redis-resources.js';
import type { LuaScript } from './redis-scripts.js';
import { redisServiceEntries } from './redis-service-entries.js';
import { redisScopeObjects } from './redis-scope-objects.js';
import { errorMessage, isReplyError, parseClusterSeeds, resolveRedisOptions, TrackedConnection, type RedisClient, type RedisStoreOptions } from './redis-connection.js';

export { resolveRedisOptions, type RedisStoreOptions } from './redis-connection.js';

export function createRedisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}

export class RedisStore implements Store {
  readonly serviceEntries: ServiceEntryWriter;
  readonly sidecars: SidecarWriter;
  readonly gateways: GatewayWriter;
  readonly changeLog: ChangeLog;
  readonly resources: ResourceWriter;
  readonly invalidations: InvalidationBus;
  readonly lease: Lease;
  readonly fleet: FleetRegistry;
  /** This store's copy of the writer lease when it is a shard of a sharded store (`redis-sharded.ts`). */
  readonly fence: FenceCopy;
  readonly keys: KeyLayout;
  /** Where the store connects, for messages: `redis://host:port/db` (`rediss://` with TLS), never the password. */
  readonly target: string;

  private readonly clientOptions: RedisOptions;
  private readonly replicaWaitMs: number;
  /** Seed nodes when the store talks to a Redis Cluster. */
  private readonly clusterSeeds: readonly { host: string; port: number }[] | undefined;
  private readonly log: RedisChangeLog;
  private readonly bus: RedisInvalidations;
  private readonly commands: TrackedConnection;
  private blocking: TrackedConnection | null = null;
  private readonly stateListeners = new Set<(event: ConnectionStateEvent) => void>();
  private readonly counters: DeliveryCounters = { listenerErrors: 0, malformed: 0 };
  private readonly operationTime: Histogram | undefined;
  private closed = false;
  /** Set by `beginShutdown`: calls no longer wait for Redis to come back. */
  private stopping = false;
  /**
   * How to end each call in flight when the store closes. Calls register here rather than race one
   * long-lived "closed" promise: every race leaves a reaction on that promise until it settles, and
   * each reaction holds its call's result, so every result ever read stayed in memory until close.
   */
  private readonly inFlight = new Set<(error: StoreError) => void>();

  constructor(options: RedisStoreOptions = {}) {
    this.keys = keyLayout(options.keyPrefix, options.shard);
    this.operationTime = options.meter?.createHistogram('skiff_store_operation_seconds', {
      description: 'Latency of store calls (one or a few Redis round trips each), by operation and outcome',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5] },
    });
    this.clientOptions = resolveRedisOptions(options);
    const scheme = this.clientOptions.tls === undefined ? 'redis' : 'rediss';
    const address = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;
    if (options.cluster === undefined) {
      this.clusterSeeds = undefined;
      this.target = `${scheme}://${address(this.clientOptions.host ?? '127.0.0.1', this.clientOptions.port ?? 6379)}/${this.clientOptions.db ?? 0}`;
    } else {
      this.clusterSeeds = parseClusterSeeds(options.cluster);
      if ((this.clientOptions.db ?? 0) !== 0) throw new StoreError('invalid-argument', `Redis Cluster has database 0 only, the options name database ${this.clientOptions.db}`);
      this.target = `${scheme} cluster ${this.clusterSeeds.map((seed) => address(seed.host, seed.port)).join(',')}`;
    }
    const changeLogMaxLength = options.changeLogMaxLength ?? DEFAULT_CHANGE_LOG_MAX_LENGTH;
    if (!Number.isSafeInteger(changeLogMaxLength) || changeLogMaxLength < 1) throw new StoreError('invalid-argument', 'changeLogMaxLength must be a positive integer');
    this.replicaWaitMs = options.replicaWaitMs ?? 0;
    if (!Number.isSafeInteger(this.replicaWaitMs) || this.replicaWaitMs < 0) throw new StoreError('invalid-argument', `replicaWaitMs must be a non-negative integer, got ${options.replicaWaitMs}`);
    this.commands = this.connect('commands', {}, (afterReconnect) => {
      // A server that came back may have lost the consumer group; recreate it before the next read.
      if (afterReconnect) this.log.groupLost();
    });
    this.onStateChange((event) => {
      if (this.stopping && event.connection === 'commands' && event.state !== 'ready') this.endInFlightForOutage();
    });

    const context: RedisContext = {
      keys: this.keys,
      client: this.commands.client,
      counters: this.counters,
      publishTarget: `${this.clusterSeeds === undefined ? 'PUBLISH' : 'SPUBLISH'} ${this.keys.invalidationChannel}`,
      shardedPubSub: this.clusterSeeds !== undefined,
      run: (what, body) => this.run(what, body),
      script: (client, script, keys, args) => this.script(client, script, keys, args),
      replicatedScript: (script, keys, args) => this.replicatedScript(script, keys, args),
    };
    this.serviceEntries = redisServiceEntries(context, changeLogMaxLength);
    this.sidecars = redisScopeObjects(context, 'Sidecar');
    this.gateways = redisScopeObjects(context, 'Gateway');
    this.log = new RedisChangeLog(context, () => this.blockingClient());
    this.changeLog = this.log.facet();
    this.resources = redisResources(context, options.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS);
    this.bus = new RedisInvalidations(context, (name, extra, onReady) => this.connect(name, extra, onReady));
    this.invalidations = this.bus.facet();
    this.lease = redisLease(context);
    this.fleet = redisFleet(context);
    this.fence = redisFence(context);
  }

  epoch(): Promise<string | null> {
    return this.run('read epoch', () => this.commands.client.get(this.keys.epoch));
  }

  /**
   * Records `count` as the store's number of shards unless one is recorded (SET NX), and returns the
   * recorded number: every service of an installation must agree on it, as it decides where each
   * ServiceEntry lives.
   */
  async recordShardCount(count: number): Promise<number> {
    checkShards(count);
    return this.run('record the shard count', async () => {
      const client = this.commands.client;
      await client.set(this.keys.shardCount, String(count), 'NX');
      const recorded = await client.get(this.keys.shardCount);
      const value = Number(recorded);
      if (recorded === null || !Number.isSafeInteger(value) || value < 1) throw new StoreError('corrupt', `${this.keys.shardCount} holds ${JSON.stringify(recorded)}, not a shard count`);
      return value;
    });
  }

  async ping(): Promise<void> {
    await this.run('ping', () => this.commands.client.ping());
  }

  health(): StoreHealth {
    const connections = this.connections().map((c) => c.health());
    return {
      state: this.commands.state,
      reconnects: connections.reduce((sum, c) => sum + c.reconnects, 0),
      errors: connections.reduce((sum, c) => sum + c.errors, 0),
      connections,
      listenerErrors: this.counters.listenerErrors,
      malformed: this.counters.malformed,
    };
  }

  onStateChange(listener: (event: ConnectionStateEvent) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /**
   * The service is shutting down: from now on, while Redis is unreachable, calls fail at once (and
   * those waiting for a reconnection end now) instead of retrying, so SIGTERM during an outage does not
   * wait out every call's retries. While Redis answers, calls run as before and a graceful shutdown
   * still finishes its writes.
   */
  beginShutdown(): void {
    this.stopping = true;
    if (this.commands.state !== 'ready') this.endInFlightForOutage();
  }

  private endInFlightForOutage(): void {
    const error = new StoreError('unavailable', `${this.unreachable()}; not waiting for it while stopping`);
    for (const end of this.inFlight) end(error);
    this.inFlight.clear();
  }

  private unreachable(): string {
    const outage = this.commands.outageError;
    return `cannot reach Redis at ${this.target}${outage === undefined ? '' : `: ${outage}`}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const end of this.inFlight) end(new StoreError('closed', 'the store was closed'));
    this.inFlight.clear();
    await this.bus.close();
    await Promise.all(this.connections().map((connection) => connection.close()));
  }

  private connections(): TrackedConnection[] {
    return [this.commands, this.blocking, this.bus.connection].filter((c): c is TrackedConnection => c !== null);
  }

  private blockingClient(): RedisClient {
    this.blocking ??= this.connect('blocking', {}, () => undefined);
    return this.blocking.client;
  }

  // -------------------------------------------------------------------------------------------------

  private connect(name: string, extra: Partial<RedisOptions>, onReady: (afterReconnect: boolean) => void): TrackedConnection {
    const options: RedisOptions = { ...this.clientOptions, ...extra };
    if (this.clientOptions.connectionName !== undefined) options.connectionName = `${this.clientOptions.connectionName}-${name}`;
    const client = this.clusterSeeds === undefined ? new Redis({ ...options, replyMapping: 'legacy' }) : this.clusterClient(this.clusterSeeds, options, name === 'subscriber');
    return new TrackedConnection(name, client, (event) => this.emitState(event), onReady);
  }

  /**
   * A cluster client with the standalone client's settings per node. A command sent while its slot has
   * no master (a failover in progress: the cluster is down for that slot until a replica is promoted) is
   * retried every `retryDelayOnClusterDown` up to `maxRedirections` times, about ten seconds, which
   * covers a failover after Redis's `cluster-node-timeout`; a longer outage fails the call `unavailable`.
   */
  private clusterClient(seeds: readonly { host: string; port: number }[], options: RedisOptions, subscriber: boolean): Cluster {
    // The cluster client finds each node's address from the slot map and retries with its own strategy.
    const perNode: RedisOptions = { ...options };
    delete perNode.host;
    delete perNode.port;
    delete perNode.db;
    delete perNode.retryStrategy;
    return new Cluster(
      seeds.map((seed) => ({ ...seed })),
      {
        redisOptions: { ...perNode, replyMapping: 'legacy' },
        clusterRetryStrategy: options.retryStrategy ?? null,
        enableReadyCheck: true,
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 200,
        maxRedirections: 50,
        slotsRefreshTimeout: 2000,
        // The invalidation channel is sharded (SSUBSCRIBE): ioredis keeps one subscriber per master and moves it on failover.
        shardedSubscribers: subscriber,
      },
    );
  }

  private emitState(event: ConnectionStateEvent): void {
    for (const listener of this.stateListeners) {
      try {
        listener(event);
      } catch {
        this.counters.listenerErrors++;
      }
    }
  }

  /**
   * Runs one store call: refuses after close, ends with `closed` when the store is closed meanwhile
   * (ioredis never settles a command queued while reconnecting once the client is disconnected), and
   * turns every failure into a `StoreError`.
   */
  private async run<T>(what: string, body: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('closed', `${what}: the store is closed`);
    if (this.stopping && this.commands.state !== 'ready') throw new StoreError('unavailable', `${what}: ${this.unreachable()}; not waiting for it while stopping`);
    const started = performance.now();
    let outcome = 'ok';
    try {
      return await this.untilClosed(body());
    } catch (error) {
      outcome = 'error';
      if (error instanceof StoreError) throw error;
      if (this.closed) throw new StoreError('closed', `${what}: the store was closed`, { cause: error });
      if (isReplyError(error)) throw new StoreError('command', `${what}: ${errorMessage(error)}`, { cause: error });
      // ioredis gives up with "Reached the max retries per request limit"; the connection's own error says why.
      throw new StoreError('unavailable', `${what}: ${this.commands.outageError === undefined ? errorMessage(error) : this.unreachable()}`, { cause: error });
    } finally {
      this.operationTime?.record((performance.now() - started) / 1000, { operation: what, outcome });
    }
  }

  /** `call`'s outcome, or a `closed` StoreError as soon as the store closes, whichever comes first. */
  private untilClosed<T>(call: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.inFlight.add(reject);
      call.then(
        (value) => {
          this.inFlight.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.inFlight.delete(reject);
          reject(error);
        },
      );
    });
  }

  private async script(client: RedisClient, script: LuaScript, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    try {
      return await client.call('EVALSHA', [script.sha, keys.length, ...keys, ...args]);
    } catch (error) {
      if (!isReplyError(error) || !errorMessage(error).startsWith('NOSCRIPT')) throw error;
      return await client.call('EVAL', [script.source, keys.length, ...keys, ...args]);
    }
  }

  /**
   * The script, then `WAIT 1` when the master that ran it has a replica (`ROLE`, in the same pipeline,
   * so both reach that master on a cluster too). A master without a replica (the replica promoted by a
   * failover, until the old master rejoins under it) acknowledges alone: there is nothing to wait for.
   */
  private async replicatedScript(script: LuaScript, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    const client = this.commands.client;
    if (this.replicaWaitMs === 0) return this.script(client, script, keys, args);
    const run = async (command: 'EVALSHA' | 'EVAL'): Promise<[Error | null, unknown][]> =>
      ((await client
        .pipeline()
        .call('ROLE')
        .call(command, [command === 'EVALSHA' ? script.sha : script.source, keys.length, ...keys, ...args])
        .exec()) ?? []) as [Error | null, unknown][];
    let replies = await run('EVALSHA');
    if (replies[1]?.[0] && errorMessage(replies[1][0]).startsWith('NOSCRIPT')) replies = await run('EVAL');
    const [[roleError, role] = [null, null], [scriptError, reply] = [new Error(`${script.name}: no reply`), null]] = replies;
    if (scriptError) throw scriptError;
    if (roleError) throw roleError;
    const replicas = Array.isArray(role) && role[0] === 'master' && Array.isArray(role[2]) ? role[2].length : 0;
    if (replicas === 0) return reply;
    // EXISTS names the script's first key, so the keyless WAIT goes to the same master.
    const [, [waitError, acked] = [null, 0]] = ((await client.pipeline().exists(keys[0] ?? '').call('WAIT', 1, this.replicaWaitMs).exec()) ?? []) as [Error | null, unknown][];
    if (waitError) throw waitError;
    if (Number(acked) < 1) {
      throw new StoreError('unavailable', `${script.name}: no replica confirmed the write within ${this.replicaWaitMs} ms (it is on the master; repeating it is harmless)`);
    }
    return reply;
  }
}
