/** The Redis store's writer lease: one key holding `holder token`, taken, renewed and released by scripts; tokens fence writes. */
import { randomUUID } from 'node:crypto';
import { StoreError, leaseValue, parseLeaseValue, type Lease, type LeaseGrant, type LeaseState } from './contract.js';
import { checkHolder, checkTtl } from './checks.js';
import type { RedisContext } from './redis-context.js';
import { ACQUIRE_LEASE, CURRENT_LEASE, RELEASE_LEASE, RENEW_LEASE } from './redis-scripts.js';

export function redisLease(ctx: RedisContext): Lease {
  const { keys } = ctx;
  const acquire = async (holder: string, ttlMs: number): Promise<LeaseGrant | null> => {
    checkHolder(holder);
    checkTtl(ttlMs);
    const reply = (await ctx.script(ctx.client, ACQUIRE_LEASE, [keys.lease, keys.leaseTokenCounter, keys.epoch], [holder, ttlMs, randomUUID()])) as unknown[];
    if (reply[0] === 'held') return null;
    if (reply[0] !== 'acquired') throw new StoreError('corrupt', `unexpected reply from ${ACQUIRE_LEASE.name}: ${JSON.stringify(reply)}`);
    return { holder, token: Number(reply[1]) };
  };
  const current = async (): Promise<LeaseState | null> => {
    const reply = (await ctx.script(ctx.client, CURRENT_LEASE, [keys.lease], [])) as unknown[];
    if (reply.length < 2) return null;
    return { ...parseLeaseValue(String(reply[0])), remainingMs: Math.max(0, Number(reply[1])) };
  };
  return {
    acquire: (holder, ttlMs) => ctx.run('acquire lease', () => acquire(holder, ttlMs)),
    renew: (grant, ttlMs) =>
      ctx.run('renew lease', async () => {
        checkTtl(ttlMs);
        return (await ctx.script(ctx.client, RENEW_LEASE, [keys.lease], [leaseValue(grant), ttlMs])) === 1;
      }),
    release: (grant) => ctx.run('release lease', async () => (await ctx.script(ctx.client, RELEASE_LEASE, [keys.lease], [leaseValue(grant)])) === 1),
    current: () => ctx.run('read lease', current),
  };
}
