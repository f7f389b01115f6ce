/** The Redis store's fleet registry: one expiring key per gateway replica's report, and an index of replicas pruned as reports expire. */
import { checkReplicaId, type FleetRegistry, type FleetReport } from './contract.js';
import { checkTtl } from './checks.js';
import type { RedisContext } from './redis-context.js';

export function redisFleet(ctx: RedisContext): FleetRegistry {
  const { keys } = ctx;
  /** Live reports; replicas whose report expired are pruned from the index on the way. */
  const list = async (except: string | undefined): Promise<FleetReport[]> => {
    const replicas = (await ctx.client.smembers(keys.fleetIndex)).filter((replica) => replica !== except).sort();
    if (replicas.length === 0) return [];
    const reports = await ctx.client.mget(replicas.map((replica) => keys.fleetReport(replica)));
    const expired = replicas.filter((_replica, i) => reports[i] === null);
    if (expired.length > 0) await ctx.client.srem(keys.fleetIndex, expired);
    return replicas.flatMap((replica, i) => {
      const report = reports[i];
      return report === null || report === undefined ? [] : [{ replica, report }];
    });
  };
  return {
    publish: (replica, report, ttlMs) =>
      ctx.run('publish fleet report', async () => {
        checkReplicaId(replica);
        checkTtl(ttlMs);
        await ctx.client.multi().set(keys.fleetReport(replica), report, 'PX', ttlMs).sadd(keys.fleetIndex, replica).exec();
      }),
    refresh: (replica, ttlMs) =>
      ctx.run('refresh fleet report', async () => {
        checkReplicaId(replica);
        checkTtl(ttlMs);
        return (await ctx.client.pexpire(keys.fleetReport(replica), ttlMs)) === 1;
      }),
    list: (except) => ctx.run('list fleet reports', () => list(except)),
    remove: (replica) =>
      ctx.run('remove fleet report', async () => {
        checkReplicaId(replica);
        await ctx.client.multi().del(keys.fleetReport(replica)).srem(keys.fleetIndex, replica).exec();
      }),
  };
}
