/**
 * The Redis store (ioredis). Writes that must be atomic are Lua scripts (`redis-scripts.ts`); the
 * change log is a stream read through a consumer group; invalidations are published by the same script
 * that writes the resources.
 *
 * Connections: `commands` for everything that returns at once, `blocking` (created on first use) for
 * `XREADGROUP ... BLOCK`, which holds its connection, and `subscriber` (created on first use) for the
 * invalidation channel. Each one reconnects forever with capped exponential backoff and jitter, counts
 * its errors and reconnects for metrics, and has an `error` listener, so a lost server never crashes
 * the process (ioredis reports unhandled `error` events otherwise). A call made while the server is
 * unreachable fails with `StoreError('unavailable')` after `commandRetries` reconnection attempts.
 *
 * Pub/sub loses what is published while a subscriber is disconnected. The subscriber connection
 * therefore does not resubscribe on its own (`autoResubscribe: false`): on every reconnect the store
 * subscribes again and only then tells each subscription `reconnect`, so a reconcile started from that
 * signal cannot miss a message published before the subscription was back.
 */
import { randomUUID } from 'node:crypto';
import type { Histogram } from '@opentelemetry/api';
import { Redis, type RedisOptions } from 'ioredis';
import type { ObjectKey } from '@skiff/model';
import {
  CHANGE_LOG_GROUP,
  DEFAULT_CHANGE_LOG_MAX_LENGTH,
  DEFAULT_TOMBSTONE_TTL_MS,
  checkReplicaId,
  FencedError,
  REVISION_FIELD,
  StoreError,
  checkObjectKey,
  leaseValue,
  parseLeaseValue,
  parseServiceEntryId,
  resourceKey,
  serviceEntryId,
  type BuiltResource,
  type ChangeLog,
  type ChangeLogEntry,
  type CoalescedChange,
  type ConnectionStateEvent,
  type FleetRegistry,
  type FleetReport,
  type DeleteResult,
  type InvalidationBus,
  type InvalidationListener,
  type Lease,
  type LeaseGrant,
  type LeaseState,
  type OwnedResources,
  type PendingSummary,
  type ReadOptions,
  type ReplaceOutcome,
  type ReplaceResources,
  type ResourceId,
  type ResourceSnapshot,
  type ResourceWriter,
  type ServiceEntryDiff,
  type ServiceEntryWriter,
  type Store,
  type StoreHealth,
  type StoredServiceEntry,
  type Subscription,
  type WriteOptions,
  type WriteResult,
} from './contract.js';
import { keyLayout, type KeyLayout } from './redis-keys.js';
import {
  ACQUIRE_LEASE,
  CURRENT_LEASE,
  DELETE_OWNER,
  DELETE_SERVICE_ENTRY,
  RELEASE_LEASE,
  RENEW_LEASE,
  REPLACE_RESOURCES,
  WRITE_SERVICE_ENTRY,
  type LuaScript,
} from './redis-scripts.js';
import { coalesce, parseChangeLogEntry } from './change-log-entries.js';
import { checkDiff, checkHolder, checkRevision, checkTtl, traceOf } from './checks.js';
import { decodeInvalidation, SubscriptionState, type DeliveryCounters } from './invalidation-codec.js';
import { compareObjectKeys, parseOwnershipRecord, prepareReplace } from './ownership-records.js';
import { errorMessage, isNoGroup, isReplyError, resolveRedisOptions, TrackedConnection, type RedisStoreOptions } from './redis-connection.js';

export { resolveRedisOptions, type RedisStoreOptions } from './redis-connection.js';

type StreamItem = [id: string, fields: string[] | null];

function asStreamItems(value: unknown): StreamItem[] {
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is StreamItem => Array.isArray(item) && typeof item[0] === 'string' && (item[1] === null || Array.isArray(item[1])));
}

function fieldsOf(flat: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
  return fields;
}

export function createRedisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}

export class RedisStore implements Store {
  readonly serviceEntries: ServiceEntryWriter;
  readonly changeLog: ChangeLog;
  readonly resources: ResourceWriter;
  readonly invalidations: InvalidationBus;
  readonly lease: Lease;
  readonly fleet: FleetRegistry;
  readonly keys: KeyLayout;
  /** Where the store connects, for messages: `redis://host:port/db` (`rediss://` with TLS), never the password. */
  readonly target: string;

  private readonly clientOptions: RedisOptions;
  private readonly maxLength: number;
  private readonly tombstoneTtlMs: number;
  private readonly commands: TrackedConnection;
  private blocking: TrackedConnection | null = null;
  private subscriber: TrackedConnection | null = null;
  private channelSubscribed: Promise<void> | null = null;
  private readonly subscriptions = new Set<SubscriptionState>();
  private readonly stateListeners = new Set<(event: ConnectionStateEvent) => void>();
  private readonly counters: DeliveryCounters = { listenerErrors: 0, malformed: 0 };
  private groupReady = false;
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
    this.maxLength = options.changeLogMaxLength ?? DEFAULT_CHANGE_LOG_MAX_LENGTH;
    this.tombstoneTtlMs = options.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS;
    if (!Number.isSafeInteger(this.maxLength) || this.maxLength < 1) throw new StoreError('invalid-argument', 'changeLogMaxLength must be a positive integer');
    this.commands = this.connect('commands', {}, (afterReconnect) => {
      // A server that came back may have lost the consumer group; recreate it before the next read.
      if (afterReconnect) this.groupReady = false;
    });
    this.onStateChange((event) => {
      if (this.stopping && event.connection === 'commands' && event.state !== 'ready') this.endInFlightForOutage();
    });

    this.serviceEntries = {
      read: (key) => this.run('read ServiceEntry', () => this.readServiceEntry(key)),
      list: () => this.run('list ServiceEntries', async () => (await this.commands.client.smembers(this.keys.serviceEntryIndex)).map(parseServiceEntryId).sort(compareObjectKeys)),
      write: (key, diff, fence, writeOptions) => this.run('write ServiceEntry', () => this.writeServiceEntry(key, diff, fence, writeOptions)),
      delete: (key, fence, writeOptions) => this.run('delete ServiceEntry', () => this.deleteServiceEntry(key, fence, writeOptions)),
    };
    this.changeLog = {
      read: (consumer, readOptions) => this.run('read change log', () => this.readLog(consumer, readOptions)),
      ack: (ids) => this.run('ack change log', () => this.ack(ids)),
      claimStale: (consumer, minIdleMs, count) => this.run('claim change log', () => this.claimStale(consumer, minIdleMs, count ?? 100)),
      pending: () => this.run('pending change log', () => this.pendingSummary()),
      length: () => this.run('change log length', () => this.commands.client.xlen(this.keys.changeLog)),
    };
    this.resources = {
      loadAll: () => this.run('load resources', () => this.loadAll()),
      readOwner: (owner, ids) => this.run('read resources', () => this.readOwner(owner, ids)),
      listOwners: () => this.run('list owners', async () => (await this.commands.client.smembers(this.keys.resourceIndex)).map(parseServiceEntryId).sort(compareObjectKeys)),
      replace: (input) => this.run('replace resources', () => this.replace(input)),
      deleteOwner: (owner, deleteOptions) => this.run('delete resources', () => this.deleteOwner(owner, deleteOptions.revision, traceOf(deleteOptions))),
    };
    this.invalidations = {
      subscribe: (listener, subscribeOptions) => this.run('subscribe', () => this.subscribe(listener, subscribeOptions?.afterSeq)),
      currentSeq: () => this.run('read sequence', async () => Number((await this.commands.client.get(this.keys.sequence)) ?? 0)),
    };
    this.lease = {
      acquire: (holder, ttlMs) => this.run('acquire lease', () => this.acquireLease(holder, ttlMs)),
      renew: (grant, ttlMs) =>
        this.run('renew lease', async () => {
          checkTtl(ttlMs);
          return (await this.script(this.commands.client, RENEW_LEASE, [this.keys.lease], [leaseValue(grant), ttlMs])) === 1;
        }),
      release: (grant) => this.run('release lease', async () => (await this.script(this.commands.client, RELEASE_LEASE, [this.keys.lease], [leaseValue(grant)])) === 1),
      current: () => this.run('read lease', () => this.currentLease()),
    };
    this.fleet = {
      publish: (replica, report, ttlMs) =>
        this.run('publish fleet report', async () => {
          checkReplicaId(replica);
          checkTtl(ttlMs);
          await this.commands.client.multi().set(this.keys.fleetReport(replica), report, 'PX', ttlMs).sadd(this.keys.fleetIndex, replica).exec();
        }),
      list: () => this.run('list fleet reports', () => this.listFleet()),
      remove: (replica) =>
        this.run('remove fleet report', async () => {
          checkReplicaId(replica);
          await this.commands.client.multi().del(this.keys.fleetReport(replica)).srem(this.keys.fleetIndex, replica).exec();
        }),
    };
  }

  epoch(): Promise<string | null> {
    return this.run('read epoch', () => this.commands.client.get(this.keys.epoch));
  }

  async ping(): Promise<void> {
    await this.run('ping', () => this.commands.client.ping());
  }

  health(): StoreHealth {
    const connections = [this.commands, this.blocking, this.subscriber].filter((c): c is TrackedConnection => c !== null).map((c) => c.health());
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
    await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
    const connections = [this.commands, this.blocking, this.subscriber].filter((c): c is TrackedConnection => c !== null);
    await Promise.all(connections.map((connection) => connection.close()));
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

  // ServiceEntry hashes ------------------------------------------------------------------------------

  private async readServiceEntry(key: ObjectKey): Promise<StoredServiceEntry | null> {
    const hash = await this.commands.client.hgetall(this.keys.serviceEntry(serviceEntryId(key)));
    const revision = hash[REVISION_FIELD];
    if (revision === undefined) return null;
    const fields: Record<string, string> = {};
    for (const [field, value] of Object.entries(hash)) if (field !== REVISION_FIELD) fields[field] = value;
    return { key: { namespace: key.namespace, name: key.name }, revision: Number(revision), fields };
  }

  private serviceEntryKeys(id: string): string[] {
    const k = this.keys;
    return [k.serviceEntry(id), k.serviceEntryIndex, k.revisionCounter, k.changeLog, k.lease, k.epoch];
  }

  private async writeServiceEntry(key: ObjectKey, diff: ServiceEntryDiff, fence: LeaseGrant, options: WriteOptions | undefined): Promise<WriteResult> {
    const id = serviceEntryId(key);
    checkDiff(diff);
    const sets = Object.entries(diff.set);
    const args: (string | number)[] = [leaseValue(fence), id, randomUUID(), this.maxLength, traceOf(options), sets.length];
    for (const [field, value] of sets) args.push(field, value);
    for (const field of diff.delete) args.push(field);
    const reply = (await this.script(this.commands.client, WRITE_SERVICE_ENTRY, this.serviceEntryKeys(id), args)) as unknown[];
    switch (reply[0]) {
      case 'fenced':
        throw new FencedError(fence, reply[1] === '' ? null : parseLeaseValue(String(reply[1])));
      case 'invalid':
        throw new StoreError('invalid-argument', String(reply[1]));
      case 'unchanged':
        return { status: 'unchanged', revision: Number(reply[1]), epoch: reply[2] === '' ? null : String(reply[2]) };
      case 'written':
        return { status: 'written', revision: Number(reply[1]), logId: String(reply[2]), epoch: String(reply[3]), changedFields: (reply[4] as unknown[]).map(String) };
      default:
        throw new StoreError('corrupt', `unexpected reply from ${WRITE_SERVICE_ENTRY.name}: ${JSON.stringify(reply)}`);
    }
  }

  private async deleteServiceEntry(key: ObjectKey, fence: LeaseGrant, options: WriteOptions | undefined): Promise<DeleteResult> {
    const id = serviceEntryId(key);
    const args = [leaseValue(fence), id, randomUUID(), this.maxLength, traceOf(options)];
    const reply = (await this.script(this.commands.client, DELETE_SERVICE_ENTRY, this.serviceEntryKeys(id), args)) as unknown[];
    switch (reply[0]) {
      case 'fenced':
        throw new FencedError(fence, reply[1] === '' ? null : parseLeaseValue(String(reply[1])));
      case 'absent':
        return { status: 'absent', epoch: reply[1] === '' ? null : String(reply[1]) };
      case 'deleted':
        return { status: 'deleted', revision: Number(reply[1]), logId: String(reply[2]), epoch: String(reply[3]) };
      default:
        throw new StoreError('corrupt', `unexpected reply from ${DELETE_SERVICE_ENTRY.name}: ${JSON.stringify(reply)}`);
    }
  }

  // Change log ---------------------------------------------------------------------------------------

  /** Runs `body` with the consumer group in place; a server that restarted empty gets it recreated once. */
  private async withGroup<T>(body: () => Promise<T>): Promise<T> {
    if (!this.groupReady) await this.createGroup();
    try {
      return await body();
    } catch (error) {
      if (!isNoGroup(error)) throw error;
      this.groupReady = false;
      await this.createGroup();
      return await body();
    }
  }

  /** The group starts at the beginning of the log, so it sees every entry still retained. */
  private async createGroup(): Promise<void> {
    try {
      await this.commands.client.call('XGROUP', ['CREATE', this.keys.changeLog, CHANGE_LOG_GROUP, '0', 'MKSTREAM']);
    } catch (error) {
      if (!isReplyError(error) || !errorMessage(error).startsWith('BUSYGROUP')) throw error;
    }
    this.groupReady = true;
  }

  private blockingClient(): Redis {
    this.blocking ??= this.connect('blocking', {}, () => undefined);
    return this.blocking.client;
  }

  private async readLog(consumer: string, options: ReadOptions): Promise<CoalescedChange[]> {
    const block = options.blockMs > 0 ? ['BLOCK', options.blockMs] : [];
    const client = options.blockMs > 0 ? this.blockingClient() : this.commands.client;
    const reply = await this.withGroup(() =>
      client.call('XREADGROUP', ['GROUP', CHANGE_LOG_GROUP, consumer, 'COUNT', options.count, ...block, 'STREAMS', this.keys.changeLog, '>']),
    );
    if (!Array.isArray(reply) || reply.length === 0) return [];
    const stream = reply[0] as unknown[];
    return coalesce(await this.parseEntries(asStreamItems(stream[1])));
  }

  /** Parses stream items; entries that are not change-log entries are acked and counted, never retried forever. */
  private async parseEntries(items: readonly StreamItem[]): Promise<ChangeLogEntry[]> {
    const entries: ChangeLogEntry[] = [];
    const malformed: string[] = [];
    for (const [id, flat] of items) {
      if (flat === null) continue;
      const entry = parseChangeLogEntry(id, fieldsOf(flat));
      if (entry === null) malformed.push(id);
      else entries.push(entry);
    }
    if (malformed.length > 0) {
      this.counters.malformed += malformed.length;
      await this.commands.client.call('XACK', [this.keys.changeLog, CHANGE_LOG_GROUP, ...malformed]);
    }
    return entries;
  }

  private async ack(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return Number(await this.withGroup(() => this.commands.client.call('XACK', [this.keys.changeLog, CHANGE_LOG_GROUP, ...ids])));
  }

  private async claimStale(consumer: string, minIdleMs: number, count: number): Promise<CoalescedChange[]> {
    const claimed: StreamItem[] = [];
    let cursor = '0-0';
    do {
      const reply = (await this.withGroup(() =>
        this.commands.client.call('XAUTOCLAIM', [this.keys.changeLog, CHANGE_LOG_GROUP, consumer, minIdleMs, cursor, 'COUNT', count - claimed.length]),
      )) as unknown[];
      cursor = String(reply[0]);
      // Redis 7 drops trimmed entries from the pending list and reports them apart (reply[2]); 6.2 returns them with null fields.
      claimed.push(...asStreamItems(reply[1]).filter(([, fields]) => fields !== null));
    } while (cursor !== '0-0' && claimed.length < count);
    return coalesce(await this.parseEntries(claimed));
  }

  private async pendingSummary(): Promise<PendingSummary> {
    const reply = (await this.withGroup(() => this.commands.client.call('XPENDING', [this.keys.changeLog, CHANGE_LOG_GROUP]))) as unknown[];
    const perConsumer: Record<string, number> = {};
    if (Array.isArray(reply[3])) for (const [consumer, count] of reply[3] as [string, string][]) perConsumer[consumer] = Number(count);
    return { count: Number(reply[0]), perConsumer };
  }

  // Resources ----------------------------------------------------------------------------------------

  private resourceScriptKeys(id: string): string[] {
    return [this.keys.resources(id), this.keys.resourceIndex, this.keys.sequence, this.keys.epoch];
  }

  private async replace(input: ReplaceResources): Promise<ReplaceOutcome> {
    const prepared = prepareReplace(input);
    const id = serviceEntryId(prepared.owner);
    const args: (string | number | Buffer)[] = [
      id,
      prepared.visibilityJson,
      prepared.recordJson,
      input.revision,
      this.keys.invalidationChannel,
      input.trace ?? '',
      randomUUID(),
      prepared.resources.length,
    ];
    for (const resource of prepared.resources) {
      args.push(resource.key, resource.ref.version, resource.refJson, Buffer.from(resource.bytes.buffer, resource.bytes.byteOffset, resource.bytes.byteLength));
    }
    return this.resourceOutcome(REPLACE_RESOURCES, await this.script(this.commands.client, REPLACE_RESOURCES, this.resourceScriptKeys(id), args));
  }

  private async deleteOwner(owner: ObjectKey, revision: number, trace: string): Promise<ReplaceOutcome> {
    const id = serviceEntryId(owner);
    checkRevision(revision);
    const args = [id, revision, this.keys.invalidationChannel, trace, randomUUID(), this.tombstoneTtlMs];
    return this.resourceOutcome(DELETE_OWNER, await this.script(this.commands.client, DELETE_OWNER, this.resourceScriptKeys(id), args));
  }

  private resourceOutcome(script: LuaScript, value: unknown): ReplaceOutcome {
    const reply = value as unknown[];
    switch (reply[0]) {
      case 'stale':
        return { status: 'stale', storedRevision: Number(reply[1]) };
      case 'unchanged':
        return { status: 'unchanged' };
      case 'applied':
        return { status: 'applied', invalidation: decodeInvalidation(String(reply[1])) };
      default:
        throw new StoreError('corrupt', `unexpected reply from ${script.name}: ${JSON.stringify(reply)}`);
    }
  }

  private async loadAll(): Promise<ResourceSnapshot> {
    const read = await this.commands.client.multi().get(this.keys.sequence).smembers(this.keys.resourceIndex).exec();
    if (read === null) throw new StoreError('unavailable', 'load resources: transaction aborted');
    const [[seqError, seq], [membersError, members]] = read as [[Error | null, unknown], [Error | null, unknown]];
    if (seqError !== null) throw seqError;
    if (membersError !== null) throw membersError;
    const ids = (members as string[]).sort();
    const owners: OwnedResources[] = [];
    const chunk = 256;
    for (let start = 0; start < ids.length; start += chunk) {
      const pipeline = this.commands.client.pipeline();
      const slice = ids.slice(start, start + chunk);
      for (const id of slice) pipeline.hgetallBuffer(this.keys.resources(id));
      const replies = (await pipeline.exec()) ?? [];
      for (const [error, hash] of replies) {
        if (error !== null) throw error;
        const owned = ownedFromHash(hash as Record<string, Buffer>, undefined);
        if (owned !== null) owners.push(owned);
      }
    }
    owners.sort((a, b) => compareObjectKeys(a.record, b.record));
    return { seq: Number(seq ?? 0), owners };
  }

  private async readOwner(owner: ObjectKey, ids: readonly ResourceId[] | undefined): Promise<OwnedResources | null> {
    const key = this.keys.resources(serviceEntryId(owner));
    if (ids === undefined) return ownedFromHash(await this.commands.client.hgetallBuffer(key), undefined);
    const keys = ids.map(resourceKey);
    const [record, ...bytes] = await this.commands.client.hmgetBuffer(key, 'record', ...keys.map((k) => `b:${k}`));
    if (record === null || record === undefined) return null;
    const hash: Record<string, Buffer> = { record };
    keys.forEach((k, i) => {
      const value = bytes[i];
      if (value !== null && value !== undefined) hash[`b:${k}`] = value;
    });
    return ownedFromHash(hash, new Set(keys));
  }

  // Invalidations ------------------------------------------------------------------------------------

  private async subscribe(listener: InvalidationListener, afterSeq: number | undefined): Promise<Subscription> {
    const state = new SubscriptionState(listener, afterSeq, this.counters, async (closing) => this.unsubscribe(closing));
    this.subscriptions.add(state);
    try {
      await this.ensureChannel();
    } catch (error) {
      this.subscriptions.delete(state);
      throw error;
    }
    return state;
  }

  private subscriberConnection(): TrackedConnection {
    if (this.subscriber !== null) return this.subscriber;
    const connection = this.connect('subscriber', { autoResubscribe: false }, (afterReconnect) => {
      if (afterReconnect) this.resubscribe(connection);
    });
    connection.client.on('message', (channel: string, text: string) => {
      if (channel === this.keys.invalidationChannel) this.dispatch(text);
    });
    this.subscriber = connection;
    return connection;
  }

  private ensureChannel(): Promise<void> {
    if (this.channelSubscribed !== null) return this.channelSubscribed;
    const client = this.subscriberConnection().client;
    const subscribed = client.subscribe(this.keys.invalidationChannel).then(() => undefined);
    this.channelSubscribed = subscribed;
    subscribed.catch(() => {
      if (this.channelSubscribed === subscribed) this.channelSubscribed = null;
    });
    return subscribed;
  }

  /** After a reconnect: subscribe again, then tell every subscription it may have missed messages. */
  private resubscribe(connection: TrackedConnection): void {
    if (this.subscriptions.size === 0 || this.closed) return;
    const subscribed = connection.client.subscribe(this.keys.invalidationChannel).then(() => undefined);
    this.channelSubscribed = subscribed;
    subscribed.then(
      () => {
        for (const subscription of this.subscriptions) subscription.reconnected();
      },
      () => {
        // The connection dropped again before the subscription was confirmed; the next 'ready' retries.
        if (this.channelSubscribed === subscribed) this.channelSubscribed = null;
      },
    );
  }

  private dispatch(text: string): void {
    let message;
    try {
      message = decodeInvalidation(text);
    } catch (error) {
      this.counters.malformed++;
      for (const subscription of this.subscriptions) subscription.malformed(errorMessage(error));
      return;
    }
    for (const subscription of this.subscriptions) subscription.receive(message);
  }

  private async unsubscribe(state: SubscriptionState): Promise<void> {
    this.subscriptions.delete(state);
    if (this.subscriptions.size > 0 || this.subscriber === null || this.closed) return;
    this.channelSubscribed = null;
    try {
      await this.subscriber.client.unsubscribe(this.keys.invalidationChannel);
    } catch {
      // Not subscribed any more either way: a reconnect does not resubscribe without subscriptions.
    }
  }

  // Lease --------------------------------------------------------------------------------------------

  private async acquireLease(holder: string, ttlMs: number): Promise<LeaseGrant | null> {
    checkHolder(holder);
    checkTtl(ttlMs);
    const reply = (await this.script(this.commands.client, ACQUIRE_LEASE, [this.keys.lease, this.keys.leaseTokenCounter, this.keys.epoch], [holder, ttlMs, randomUUID()])) as unknown[];
    if (reply[0] === 'held') return null;
    if (reply[0] !== 'acquired') throw new StoreError('corrupt', `unexpected reply from ${ACQUIRE_LEASE.name}: ${JSON.stringify(reply)}`);
    return { holder, token: Number(reply[1]) };
  }

  /** Live reports; replicas whose report expired are pruned from the index on the way. */
  private async listFleet(): Promise<FleetReport[]> {
    const client = this.commands.client;
    const replicas = (await client.smembers(this.keys.fleetIndex)).sort();
    if (replicas.length === 0) return [];
    const reports = await client.mget(replicas.map((replica) => this.keys.fleetReport(replica)));
    const expired = replicas.filter((_replica, i) => reports[i] === null);
    if (expired.length > 0) await client.srem(this.keys.fleetIndex, ...expired);
    return replicas.flatMap((replica, i) => {
      const report = reports[i];
      return report === null || report === undefined ? [] : [{ replica, report }];
    });
  }

  private async currentLease(): Promise<LeaseState | null> {
    const reply = (await this.script(this.commands.client, CURRENT_LEASE, [this.keys.lease], [])) as unknown[];
    if (reply.length < 2) return null;
    return { ...parseLeaseValue(String(reply[0])), remainingMs: Math.max(0, Number(reply[1])) };
  }
}

/** An owner's record and resources from its hash (all of them, or those in `only`); null for a tombstone or nothing. */
function ownedFromHash(hash: Readonly<Record<string, Buffer>>, only: ReadonlySet<string> | undefined): OwnedResources | null {
  const recordBytes = hash['record'];
  if (recordBytes === undefined) return null;
  const record = parseOwnershipRecord(recordBytes.toString('utf8'));
  checkObjectKey(record);
  const resources: BuiltResource[] = [];
  for (const ref of record.resources) {
    const key = resourceKey(ref);
    if (only !== undefined && !only.has(key)) continue;
    const bytes = hash[`b:${key}`];
    if (bytes === undefined) throw new StoreError('corrupt', `owner ${record.namespace}/${record.name} lists ${key} without its bytes`);
    resources.push({ typeUrl: ref.typeUrl, name: ref.name, variant: ref.variant, version: ref.version, bytes: new Uint8Array(bytes) });
  }
  return { record, resources };
}
