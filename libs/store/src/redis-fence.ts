/**
 * A shard's copy of the writer lease (`redis-sharded.ts`): installed by the lease holder on every shard
 * when it gains the lease, refreshed when it renews, removed when it releases. The shard's write
 * scripts compare a write's lease with this copy, as a single-shard store's compare it with the lease.
 */
import { randomUUID } from 'node:crypto';
import { leaseValue, type LeaseGrant } from './contract.js';
import type { RedisContext } from './redis-context.js';
import { INSTALL_FENCE, RELEASE_LEASE } from './redis-scripts.js';

export interface FenceCopy {
  /**
   * Installs or refreshes `grant`'s copy for `ttlMs`; with the store's `replicaWaitMs`, on a replica too,
   * so a failover right after does not bring back a shard without the fence (its writes would then be
   * refused until the next renewal). False when a newer holder's copy is there.
   */
  install(grant: LeaseGrant, ttlMs: number): Promise<boolean>;
  /** Drops `grant`'s copy; false when the copy was not `grant`'s. */
  release(grant: LeaseGrant): Promise<boolean>;
}

export function redisFence(ctx: RedisContext): FenceCopy {
  const { keys } = ctx;
  return {
    install: (grant, ttlMs) =>
      ctx.run('install fence', async () => (await ctx.replicatedScript(INSTALL_FENCE, [keys.lease, keys.epoch], [leaseValue(grant), grant.token, ttlMs, randomUUID()])) === 1),
    release: (grant) => ctx.run('release fence', async () => (await ctx.script(ctx.client, RELEASE_LEASE, [keys.lease], [leaseValue(grant)])) === 1),
  };
}
