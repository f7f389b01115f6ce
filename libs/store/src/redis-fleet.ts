/**
 * The Redis store's fleet registry: one expiring key per gateway replica's report, a key beside it
 * naming the report's revision, and an index of replicas pruned as reports expire.
 */
import { randomUUID } from 'node:crypto';
import { checkReplicaId, type FleetRegistry, type FleetReport } from './contract.js';
import { checkTtl } from './checks.js';
import type { RedisContext } from './redis-context.js';

export function redisFleet(ctx: RedisContext): FleetRegistry {
  const { keys } = ctx;
  /**
   * Live reports: the revisions first, then the text of the reports whose revision the caller does not
   * hold. A report stored without a revision is read every time. Replicas whose report expired are
   * pruned from the index on the way (a replica whose report is gone publishes it again in full, and
   * that adds it back).
   */
  const list = async (except: string | undefined, known: ReadonlyMap<string, string> | undefined): Promise<FleetReport[]> => {
    const replicas = (await ctx.client.smembers(keys.fleetIndex)).filter((replica) => replica !== except).sort();
    if (replicas.length === 0) return [];
    const revisions = await ctx.client.mget(replicas.map((replica) => keys.fleetRevision(replica)));
    const held = (i: number): boolean => revisions[i] !== null && revisions[i] !== undefined && known?.get(replicas[i] as string) === revisions[i];
    const unread = replicas.filter((_replica, i) => !held(i));
    const texts = unread.length === 0 ? [] : await ctx.client.mget(unread.map((replica) => keys.fleetReport(replica)));
    const textOf = new Map(unread.map((replica, i) => [replica, texts[i] ?? null]));
    const expired = unread.filter((replica) => textOf.get(replica) === null);
    if (expired.length > 0) await ctx.client.srem(keys.fleetIndex, expired);
    return replicas.flatMap((replica, i): FleetReport[] => {
      const revision = revisions[i] ?? null;
      if (held(i)) return [{ replica, revision, report: null }];
      const report = textOf.get(replica) ?? null;
      return report === null ? [] : [{ replica, revision, report }];
    });
  };
  return {
    publish: (replica, report, ttlMs) =>
      ctx.run('publish fleet report', async () => {
        checkReplicaId(replica);
        checkTtl(ttlMs);
        await ctx.client
          .multi()
          .set(keys.fleetReport(replica), report, 'PX', ttlMs)
          .set(keys.fleetRevision(replica), randomUUID(), 'PX', ttlMs)
          .sadd(keys.fleetIndex, replica)
          .exec();
      }),
    refresh: (replica, ttlMs) =>
      ctx.run('refresh fleet report', async () => {
        checkReplicaId(replica);
        checkTtl(ttlMs);
        const replies = await ctx.client.multi().pexpire(keys.fleetReport(replica), ttlMs).pexpire(keys.fleetRevision(replica), ttlMs).exec();
        // Both kept, or the caller publishes both again.
        return replies !== null && replies.every(([error, kept]) => error === null && kept === 1);
      }),
    list: (except, known) => ctx.run('list fleet reports', () => list(except, known)),
    remove: (replica) =>
      ctx.run('remove fleet report', async () => {
        checkReplicaId(replica);
        await ctx.client.multi().del(keys.fleetReport(replica), keys.fleetRevision(replica)).srem(keys.fleetIndex, replica).exec();
      }),
  };
}
