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
import { Redis, type RedisOptions } from 'ioredis';
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
import { redisFleet } from './redis-fleet.js';
import { RedisInvalidations } from './redis-invalidations.js';
import { keyLayout, type KeyLayout } from './redis-keys.js';
import { redisLease } from './redis-lease.js';
import { redisResources } from './redis-resources.js';
import type { LuaScript } from './redis-scripts.js';
import { redisServiceEntries } from './redis-service-entries.js';
import { redisScopeObjects } from './redis-scope-objects.js';
import { errorMessage, isReplyError, resolveRedisOptions, TrackedConnection, type RedisStoreOptions } from './redis-connection.js';

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
  readonly keys: KeyLayout;
  /** Where the store connects, for messages: `redis://host:port/db` (`rediss://` with TLS), never the password. */
  readonly target: string;

  private readonly clientOptions: RedisOptions;
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
    this.keys = keyLayout(options.keyPrefix);
    this.operationTime = options.meter?.createHistogram('skiff_store_operation_seconds', {
      description: 'Latency of store calls (one or a few Redis round trips each), by operation and outcome',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5] },
    });
    this.clientOptions = resolveRedisOptions(options);
    const host = this.clientOptions.host ?? '127.0.0.1';
    this.target = `${this.clientOptions.tls === undefined ? 'redis' : 'rediss'}://${host.includes(':') ? `[${host}]` : host}:${this.clientOptions.port ?? 6379}/${this.clientOptions.db ?? 0}`;
    const changeLogMaxLength = options.changeLogMaxLength ?? DEFAULT_CHANGE_LOG_MAX_LENGTH;
    if (!Number.isSafeInteger(changeLogMaxLength) || changeLogMaxLength < 1) throw new StoreError('invalid-argument', 'changeLogMaxLength must be a positive integer');
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
      run: (what, body) => this.run(what, body),
      script: (client, script, keys, args) => this.script(client, script, keys, args),
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
  }

  epoch(): Promise<string | null> {
    return this.run('read epoch', () => this.commands.client.get(this.keys.epoch));
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

  private blockingClient(): Redis {
    this.blocking ??= this.connect('blocking', {}, () => undefined);
    return this.blocking.client;
  }

  // -------------------------------------------------------------------------------------------------

  private connect(name: string, extra: Partial<RedisOptions>, onReady: (afterReconnect: boolean) => void): TrackedConnection {
    const options: RedisOptions = { ...this.clientOptions, ...extra };
    if (this.clientOptions.connectionName !== undefined) options.connectionName = `${this.clientOptions.connectionName}-${name}`;
    const client = new Redis({ ...options, replyMapping: 'legacy' });
    return new TrackedConnection(name, client, (event) => this.emitState(event), onReady);
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

  private async script(client: Redis, script: LuaScript, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    try {
      return await client.call('EVALSHA', [script.sha, keys.length, ...keys, ...args]);
    } catch (error) {
      if (!isReplyError(error) || !errorMessage(error).startsWith('NOSCRIPT')) throw error;
      return await client.call('EVAL', [script.source, keys.length, ...keys, ...args]);
    }
  }
}
