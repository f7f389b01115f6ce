/**
 * What each facet of the Redis store (`redis-*.ts`) gets from the store that owns the connections:
 * the key layout, the command connection's client, the call wrapper (closed and outage handling,
 * latency metric, `StoreError`s) and script execution.
 */
import type { Redis } from 'ioredis';
import type { DeliveryCounters } from './invalidation-codec.js';
import type { KeyLayout } from './redis-keys.js';
import type { LuaScript } from './redis-scripts.js';

export interface RedisContext {
  readonly keys: KeyLayout;
  /** The `commands` connection's client (reconnects in place). */
  readonly client: Redis;
  /** Counters of deliveries the store reports in `health()`. */
  readonly counters: DeliveryCounters;
  /** Runs one store call named `what` (see `RedisStore.run`). */
  run<T>(what: string, body: () => Promise<T>): Promise<T>;
  /** EVALSHA, falling back to EVAL when the server does not have the script yet. */
  script(client: Redis, script: LuaScript, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown>;
}
