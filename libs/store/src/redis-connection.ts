/**
 * The Redis store's connections: its options resolved into ioredis's, and one connection's state,
 * counters and outage reason (`TrackedConnection`), so a lost server never crashes the process and
 * its cause is reported as the outage begins.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Meter } from '@opentelemetry/api';
import { backoffDelay, resolveBackoff } from '@skiff/runtime';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { ShardPosition } from './redis-keys.js';
import { StoreError, type ConnectionHealth, type ConnectionState, type ConnectionStateEvent, type StoreOptions } from './contract.js';

export interface RedisStoreOptions extends StoreOptions {
  /**
   * `redis://[[user]:password@]host[:port][/db]` or `rediss://...` (TLS). Default `redis://127.0.0.1:6379`.
   * `password`, `username` and `db` below override the URL's.
   */
  readonly url?: string;
  readonly username?: string;
  readonly password?: string;
  readonly db?: number;
  /** TLS settings (CA, client certificate) for `rediss://`; setting it also turns TLS on for `redis://`. */
  readonly tls?: ConnectionOptions;
  /** Reconnection backoff (`Backoff` of @skiff/runtime): doubles from `minDelayMs` up to `maxDelayMs`, spread by 20 %. Default 50 ms .. 2 s. */
  readonly retry?: { readonly minDelayMs?: number; readonly maxDelayMs?: number };
  /** Reconnection attempts a call waits through before failing with `unavailable`; default 10. */
  readonly commandRetries?: number;
  /** Milliseconds to establish a connection before it counts as failed; default 5000. */
  readonly connectTimeoutMs?: number;
  /** `CLIENT SETNAME` prefix, to find the store's connections in `CLIENT LIST`. */
  readonly connectionName?: string;
  /** Records `skiff_store_operation_seconds{operation, outcome}`: the latency of every store call. */
  readonly meter?: Meter;
  /**
   * Seed nodes (`host:port`) of a Redis Cluster: connect with a cluster client, which follows the slot
   * map (MOVED/ASK) and a master failover. The URL then gives only the credentials and TLS; its host,
   * port and database are not used (Redis Cluster has database 0 only).
   */
  readonly cluster?: readonly string[];
  /**
   * After each ServiceEntry or Sidecar write and each fence installation, wait up to this many
   * milliseconds for one replica to confirm it (`WAIT 1`); 0 (the default) does not wait. Set it on a
   * Redis Cluster whose masters have replicas: the watcher remembers what it wrote, so a write that a
   * failover lost would otherwise stay lost until its next full convergence.
   */
  readonly replicaWaitMs?: number;
  /** This store is one shard of a sharded store (`redis-sharded.ts`): its keys carry the shard's tag. */
  readonly shard?: ShardPosition;
}

/** A standalone or a cluster client: the store issues the same commands through either. */
export type RedisClient = Redis | Cluster;

/** `host:port` seeds of a Redis Cluster, checked; names the bad entry. */
export function parseClusterSeeds(seeds: readonly string[]): { host: string; port: number }[] {
  if (seeds.length === 0) throw new StoreError('invalid-argument', 'Redis Cluster seed list is empty: give at least one host:port');
  return seeds.map((seed) => {
    const match = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(seed.trim());
    const port = Number(match?.[2]);
    if (match === null || port < 1 || port > 65535) throw new StoreError('invalid-argument', `Redis Cluster seed ${JSON.stringify(seed)}: expected host:port`);
    return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
  });
}

const DEFAULT_URL = 'redis://127.0.0.1:6379';

/**
 * ioredis options from the store's. The URL is parsed here rather than by ioredis, whose merge lets
 * URL values win over explicit options; here explicit options win.
 */
export function resolveRedisOptions(options: RedisStoreOptions): RedisOptions {
  let url: URL;
  try {
    url = new URL(options.url ?? DEFAULT_URL);
  } catch (cause) {
    throw new StoreError('invalid-argument', `invalid Redis URL ${JSON.stringify(options.url)}`, { cause });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new StoreError('invalid-argument', `Redis URL must start with redis:// or rediss://, got ${url.protocol}//`);
  }
  const dbText = url.pathname.replace(/^\//, '');
  const urlDb = dbText === '' ? undefined : Number(dbText);
  if (urlDb !== undefined && (!Number.isSafeInteger(urlDb) || urlDb < 0)) throw new StoreError('invalid-argument', `Redis URL database must be a number, got ${JSON.stringify(dbText)}`);
  const db = options.db ?? urlDb ?? 0;
  const username = options.username ?? (url.username === '' ? undefined : decodeURIComponent(url.username));
  const password = options.password ?? (url.password === '' ? undefined : decodeURIComponent(url.password));
  // Reconnections never give up and never hammer a server that is down.
  const reconnect = resolveBackoff({ initialMs: options.retry?.minDelayMs ?? 50, maxMs: options.retry?.maxDelayMs ?? 2000, multiplier: 2 });
  const resolved: RedisOptions = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 6379 : Number(url.port),
    db,
    // RESP2 works with every server that has XAUTOCLAIM (6.2+), and replies have one shape.
    protocol: 2,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    maxRetriesPerRequest: options.commandRetries ?? 10,
    // ioredis numbers reconnection attempts from 1.
    retryStrategy: (attempt: number) => backoffDelay(reconnect, attempt - 1),
    enableReadyCheck: true,
  };
  if (username !== undefined) resolved.username = username;
  if (password !== undefined) resolved.password = password;
  if (url.protocol === 'rediss:' || options.tls !== undefined) resolved.tls = { ...options.tls };
  if (options.connectionName !== undefined) resolved.connectionName = options.connectionName;
  return resolved;
}

/** Tracks one ioredis connection's state and counters. */
export class TrackedConnection {
  state: ConnectionState = 'connecting';
  private readyCount = 0;
  private reconnects = 0;
  private reconnectAttempts = 0;
  private errors = 0;
  private lastError: string | undefined;
  /** The failure last reported in a state event during the current outage. */
  private reportedError: string | undefined;

  constructor(
    readonly name: string,
    readonly client: RedisClient,
    private readonly emit: (event: ConnectionStateEvent) => void,
    onReady: (afterReconnect: boolean) => void,
  ) {
    client.on('ready', () => {
      this.readyCount++;
      if (this.readyCount > 1) this.reconnects++;
      this.reportedError = undefined;
      this.set('ready');
      onReady(this.readyCount > 1);
    });
    client.on('error', (error: unknown) => {
      this.errors++;
      this.lastError = error instanceof Error ? error.message : String(error);
      if (this.state !== 'ready' && this.state !== 'closed' && this.lastError !== this.reportedError) {
        this.reportedError = this.lastError;
        this.emit({ connection: this.name, state: this.state, error: this.lastError });
      }
    });
    client.on('close', () => {
      if (this.state !== 'closed') this.set(this.readyCount > 0 ? 'reconnecting' : 'connecting');
    });
    client.on('reconnecting', () => {
      this.reconnectAttempts++;
    });
    client.on('end', () => this.set('closed'));
  }

  /**
   * Disconnects and waits for the socket to go. A client waiting to reconnect has no socket, and
   * ioredis then emits no 'end', so the wait is bounded.
   */
  async close(): Promise<void> {
    const client = this.client;
    if (client.status !== 'end') {
      const ended = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        client.once('end', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      client.disconnect();
      if (client.status !== 'reconnecting') await ended;
    }
    this.set('closed');
  }

  /** The last connection error while the connection is not ready. */
  get outageError(): string | undefined {
    return this.state === 'ready' ? undefined : this.lastError;
  }

  health(): ConnectionHealth {
    const base = { name: this.name, state: this.state, reconnects: this.reconnects, reconnectAttempts: this.reconnectAttempts, errors: this.errors };
    return this.lastError === undefined ? base : { ...base, lastError: this.lastError };
  }

  private set(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    this.emit({ connection: this.name, state });
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An error the server replied with (as opposed to a connection problem). */
export function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

export function isNoGroup(error: unknown): boolean {
  return isReplyError(error) && errorMessage(error).startsWith('NOGROUP');
}
