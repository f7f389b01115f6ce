/**
 * The command-line face of the Redis store, shared by every service (`skiff-watcher`,
 * `skiff-translator`, `skiff-gateway`, `skiff`): the same flags, environment variables and password
 * handling everywhere, so one installation's services always agree on where the data is.
 */
import type { Meter } from '@opentelemetry/api';
import { commaListOf, urlWithSchemes, type Logger, type Runner } from '@skiff/runtime';
import { parseClusterSeeds } from './redis-connection.js';
import { keyLayout } from './redis-keys.js';
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

export interface RedisCommandLine {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  /** Seeds of a Redis Cluster (`--redis-cluster`); absent or empty for a standalone server. */
  readonly redisCluster?: readonly string[];
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
