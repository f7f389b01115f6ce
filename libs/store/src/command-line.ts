/**
 * The command-line face of the Redis store, shared by every service (`skiff-watcher`,
 * `skiff-translator`, `skiff-gateway`, `skiff`): the same flags, environment variables and password
 * handling everywhere, so one installation's services always agree on where the data is.
 */
import type { Meter } from '@opentelemetry/api';
import { Backoff, commaListOf, parseDuration, urlWithSchemes, type Logger, type Runner } from '@skiff/runtime';
import { StoreError, type Store } from './contract.js';
import { parseClusterSeeds } from './redis-connection.js';
import { checkShards, keyLayout, MAX_SHARDS } from './redis-keys.js';
import { createShardedRedisStore, type ShardedRedisStore } from './redis-sharded.js';
import { createRedisStore, type RedisStore } from './redis.js';

/** A parser that returns the value once `check` accepts it, and fails with `message` otherwise. */
function acceptedBy(check: (value: string) => unknown, message: string): (value: string) => string {
  return (value) => {
    try {
      check(value);
    } catch {
      throw new Error(message);
    }
    return value;
  };
}

/** A key prefix the store accepts: it becomes the hash tag of every key. */
export const parseKeyPrefix = acceptedBy((value) => keyLayout(value), 'expected a non-empty prefix without braces, spaces or glob characters');

/** One `host:port` seed of a Redis Cluster. */
export const parseClusterSeed = acceptedBy((value) => parseClusterSeeds([value]), 'expected host:port');

/** `--redis-url` (`SKIFF_REDIS_URL`); add `required: true` where a service cannot run without Redis. */
export const REDIS_URL_OPTION = {
  flag: 'redis-url',
  description: 'Redis holding the entries, the change log and the built resources: redis:// or rediss:// (password from the URL or REDIS_PASSWORD)',
  parse: urlWithSchemes(['redis:', 'rediss:']),
  valueName: 'url',
} as const;

/** `--redis-cluster` (`SKIFF_REDIS_CLUSTER`): seeds of a Redis Cluster; empty for a standalone server. */
export const REDIS_CLUSTER_OPTION = {
  flag: 'redis-cluster',
  description: 'Redis Cluster seed nodes (host:port,...): connect with a cluster client; --redis-url then gives only the password, user and TLS',
  parse: commaListOf(parseClusterSeed),
  default: '',
  valueName: 'host:port,...',
} as const;

/** `--key-prefix` (`SKIFF_KEY_PREFIX`). */
export const KEY_PREFIX_OPTION = {
  flag: 'key-prefix',
  description: 'prefix (hash tag) of every Redis key; the same for every service of one installation, another to share one Redis',
  parse: parseKeyPrefix,
  default: 'skiff',
  valueName: 'prefix',
} as const;

/** A shard count the store accepts (1..`MAX_SHARDS`). */
export const parseShardCount = acceptedBy((value) => {
  if (!/^\d+$/.test(value.trim())) throw new Error('not a number');
  checkShards(Number(value.trim()));
}, `expected an integer from 1 to ${MAX_SHARDS}`);

/** `--redis-shards` (`SKIFF_REDIS_SHARDS`): how many shards the store's data is spread over. */
export const REDIS_SHARDS_OPTION = {
  flag: 'redis-shards',
  description: 'number of shards the store is spread over (each with its own change log and invalidations; on a Redis Cluster they spread over the masters); the same for every service of one installation, recorded in the store by the first service',
  parse: (value: string): number => Number(parseShardCount(value).trim()),
  default: '1',
  valueName: 'n',
} as const;

/**
 * `--redis-replica-wait` (`SKIFF_REDIS_REPLICA_WAIT`): the watcher's writes wait this long for a
 * replica (`WAIT 1`), so a master failover cannot drop a write the watcher was told succeeded.
 */
export const REDIS_REPLICA_WAIT_OPTION = {
  flag: 'redis-replica-wait',
  description: 'how long each write waits for a Redis replica to confirm it (WAIT 1); a write no replica confirmed in time is retried. 0: do not wait. Set it when Redis has replicas that take over on failure',
  parse: parseDuration,
  default: '0',
  valueName: 'duration',
} as const;

export interface RedisCommandLine {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  /** Seeds of a Redis Cluster (`--redis-cluster`); absent or empty for a standalone server. */
  readonly redisCluster?: readonly string[];
  /** `--redis-shards`; absent means 1. */
  readonly redisShards?: number;
  /** `--redis-replica-wait` in ms; absent or 0: writes do not wait for a replica. */
  readonly redisReplicaWait?: number;
}

/** The store of a command line, whole and per shard. */
export interface CommandLineStores {
  /** The whole store: the watcher's writer, health, connections and shutdown. */
  readonly store: RedisStore | ShardedRedisStore;
  /** One complete store per shard: a translator and a gateway follow each (the store itself when not sharded). */
  readonly shards: readonly Store[];
  /** Refuses to start when the store records another shard count; closes the store on stop. */
  readonly runner: Runner;
}

/**
 * The store a command line names, with `--redis-shards` shards. The runner records the shard count in
 * the store on start (the first service of an installation does) and fails the start, naming the flag,
 * when the store was laid out with another count: ServiceEntries would be looked for on the wrong shard.
 */
export function redisStoresFromCommandLine(
  config: RedisCommandLine,
  options: { readonly connectionName: string; readonly logger: Logger; readonly meter?: Meter; readonly env?: Readonly<Record<string, string | undefined>> },
): CommandLineStores {
  const count = config.redisShards ?? 1;
  let store: RedisStore | ShardedRedisStore;
  let shards: readonly Store[];
  if (count === 1) {
    const single = redisStoreFromCommandLine(config, options);
    store = single;
    shards = [single];
  } else {
    const password = (options.env ?? process.env)['REDIS_PASSWORD'];
    const sharded = createShardedRedisStore({
      url: config.redisUrl,
      keyPrefix: config.keyPrefix,
      shards: count,
      ...(config.redisReplicaWait ? { replicaWaitMs: Math.round(config.redisReplicaWait) } : {}),
      ...(config.redisCluster !== undefined && config.redisCluster.length > 0 ? { cluster: config.redisCluster } : {}),
      connectionName: options.connectionName,
      ...(password ? { password } : {}),
      ...(options.meter === undefined ? {} : { meter: options.meter }),
    });
    logStoreConnections(sharded, options.logger.child({ component: 'store' }));
    store = sharded;
    shards = sharded.shards;
  }
  const closing = storeRunner(store);
  const logger = options.logger.child({ component: 'store' });
  return {
    store,
    shards,
    runner: {
      name: 'store',
      start: async (signal) => {
        await closing.start(signal);
        await checkShardCount(store, count, signal, logger);
      },
      close: () => closing.close(),
    },
  };
}

/** Records or compares the shard count, retrying while the store is unreachable. */
async function checkShardCount(store: Pick<RedisStore, 'recordShardCount' | 'target'>, count: number, signal: AbortSignal, logger: Logger): Promise<void> {
  const backoff = new Backoff({ initialMs: 200, maxMs: 5000 });
  for (;;) {
    let recorded: number;
    try {
      recorded = await store.recordShardCount(count);
    } catch (error) {
      if (signal.aborted) throw error;
      if (!(error instanceof StoreError) || error.code !== 'unavailable') throw error;
      logger.warn({ err: error.message }, 'cannot read the store\'s shard count yet; retrying');
      await new Promise((resolve) => setTimeout(resolve, backoff.next()));
      continue;
    }
    if (recorded !== count) {
      throw new StoreError(
        'invalid-argument',
        `--redis-shards (SKIFF_REDIS_SHARDS) is ${count} but the store at ${store.target} is laid out in ${recorded} shard${recorded === 1 ? '' : 's'}: give every service --redis-shards ${recorded}, or empty the store to change its layout`,
      );
    }
    return;
  }
}

/**
 * The Redis store a command line names; the password comes from the URL or, to keep it out of process
 * listings and manifests, from `REDIS_PASSWORD` (the chart sets it from a Secret).
 */
export function redisStoreFromCommandLine(
  config: RedisCommandLine,
  options: { readonly connectionName: string; readonly logger: Logger; readonly meter?: Meter; readonly env?: Readonly<Record<string, string | undefined>> },
): RedisStore {
  const password = (options.env ?? process.env)['REDIS_PASSWORD'];
  const store = createRedisStore({
    url: config.redisUrl,
    keyPrefix: config.keyPrefix,
    ...(config.redisCluster !== undefined && config.redisCluster.length > 0 ? { cluster: config.redisCluster } : {}),
    ...(config.redisReplicaWait ? { replicaWaitMs: Math.round(config.redisReplicaWait) } : {}),
    connectionName: options.connectionName,
    ...(password ? { password } : {}),
    ...(options.meter === undefined ? {} : { meter: options.meter }),
  });
  logStoreConnections(store, options.logger.child({ component: 'store' }));
  return store;
}

/**
 * Logs the store's connections as they change: the reason of each outage as soon as it starts (the
 * address and `connect ECONNREFUSED ...`), and when a connection is ready again.
 */
export function logStoreConnections(store: Pick<RedisStore, 'onStateChange' | 'target'>, logger: Logger): () => void {
  const down = new Set<string>();
  return store.onStateChange((event) => {
    if (event.error !== undefined) {
      down.add(event.connection);
      logger.warn({ redis: store.target, connection: event.connection, err: event.error }, `cannot reach Redis at ${store.target}: ${event.error}; retrying`);
    } else if (event.state === 'ready') {
      logger.info({ redis: store.target, connection: event.connection }, down.delete(event.connection) ? 'Redis reachable again' : 'connected to Redis');
    } else if (event.state === 'reconnecting' && !down.has(event.connection)) {
      logger.warn({ redis: store.target, connection: event.connection }, 'lost the Redis connection; reconnecting');
    }
  });
}

/**
 * The store as a service's runner. It starts first and closes last, after everything that uses it; when
 * the shutdown begins, a Redis store stops waiting for an unreachable server (`beginShutdown`), so the
 * runners before it can close without sitting out each call's retries.
 */
export function storeRunner(store: { close(): Promise<void>; beginShutdown?(): void }): Runner {
  return {
    name: 'store',
    start: async (signal) => {
      signal.addEventListener('abort', () => store.beginShutdown?.(), { once: true });
    },
    close: () => store.close(),
  };
}
