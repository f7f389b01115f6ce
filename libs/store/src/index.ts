/**
 * `@skiff/store`: the store contract (ServiceEntry hashes, change log, resource store, invalidations,
 * writer lease) and its two implementations, Redis and in-memory. See `redis-keys.ts` for the key layout.
 */
export * from './contract.js';
export * from './redis-keys.js';
export { canonicalJson, decodeServiceEntry, DecodedFieldCache, diffFields, fieldRecord, FRESH_FIELD_ENCODING, isEmptyDiff, serviceEntryFields, type DecodedServiceEntry, type FieldEncoding, type SiblingEntry } from './fields.js';
export { createMemoryStore, ManualClock, MemoryStore, systemClock, type Clock, type MemoryStoreOptions } from './memory.js';
export { createRedisStore, RedisStore, resolveRedisOptions, type RedisStoreOptions } from './redis.js';
export { createShardedRedisStore, ShardedRedisStore, type ShardedRedisStoreOptions } from './redis-sharded.js';
export { parseClusterSeeds } from './redis-connection.js';
export { observeStoreHealth } from './metrics.js';
export { coalesce } from './change-log-entries.js';
export {
  KEY_PREFIX_OPTION,
  logStoreConnections,
  parseKeyPrefix,
  parseShardCount,
  REDIS_CLUSTER_OPTION,
  REDIS_REPLICA_WAIT_OPTION,
  REDIS_SHARDS_OPTION,
  REDIS_URL_OPTION,
  redisStoreFromCommandLine,
  redisStoresFromCommandLine,
  storeRunner,
  type CommandLineStores,
  type RedisCommandLine,
} from './command-line.js';
