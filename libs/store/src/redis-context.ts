/**
 * What each facet of the Redis store (`redis-*.ts`) gets from the store that owns the connections:
 * the key layout, the command connection's client, the call wrapper (closed and outage handling,
 * latency metric, `StoreError`s) and script execution.
 */
import type { RedisClient } from './redis-connection.js';
import type { DeliveryCounters } from './invalidation-codec.js';
import type { KeyLayout } from './redis-keys.js';
import type { LuaScript } from './redis-scripts.js';

export interface RedisContext {
  readonly keys: KeyLayout;
  /** The `commands` connection's client (reconnects in place). */
  readonly client: RedisClient;
  /**
   * How scripts publish invalidations: `PUBLISH <channel>` on a standalone server; `SPUBLISH <channel>`
   * (sharded pub/sub, Redis 7) on Redis Cluster, where the channel belongs to the store's slot, so the
   * message goes out from the master that ran the script, in script order, to subscribers connected to
   * that master; a plain PUBLISH on a cluster is relayed over the cluster bus to other nodes and may
   * reach a subscriber after a message its own node published later.
   */
  readonly publishTarget: string;
  /** Whether the subscriber uses sharded pub/sub (`SSUBSCRIBE`, event `smessage`). */
  readonly shardedPubSub: boolean;
  /** Counters of deliveries the store reports in `health()`. */
  readonly counters: DeliveryCounters;
  /** Runs one store call named `what` (see `RedisStore.run`). */
  run<T>(what: string, body: () => Promise<T>): Promise<T>;
  /**
   * `script` on the command connection, then, when the store waits for replicas (`replicaWaitMs` > 0)
   * and the master has one, `WAIT 1` on that master: a write the caller is told succeeded is on a
   * replica too, and survives a failover. Fails `unavailable` when no replica confirmed in time (the
   * write is on the master; repeating it is harmless).
   */
  replicatedScript(script: LuaScript, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown>;
  /** EVALSHA, falling back to EVAL when the server does not have the script yet. */
  script(client: RedisClient, script: LuaScript, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown>;
}
