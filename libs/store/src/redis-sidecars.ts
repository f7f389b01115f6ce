/** The Redis store's Sidecars: one hash of every Sidecar, written by a fenced script that publishes the invalidation. */
import { randomUUID } from 'node:crypto';
import type { ObjectKey } from '@skiff/model';
import {
  FencedError,
  StoreError,
  leaseValue,
  parseLeaseValue,
  parseServiceEntryId,
  serviceEntryId,
  type LeaseGrant,
  type SidecarDeleteResult,
  type SidecarWriteResult,
  type SidecarWriter,
  type StoredSidecar,
  type WriteOptions,
} from './contract.js';
import { checkSidecarJson, traceOf } from './checks.js';
import { decodeInvalidation } from './invalidation-codec.js';
import { compareObjectKeys } from './ownership-records.js';
import type { RedisContext } from './redis-context.js';
import { WRITE_SIDECAR } from './redis-scripts.js';

/** `<revision> <json>` as the script stores it. */
function parseStored(id: string, value: string): StoredSidecar {
  const space = value.indexOf(' ');
  const revision = Number(value.slice(0, space));
  if (space <= 0 || !Number.isSafeInteger(revision)) throw new StoreError('corrupt', `Sidecar ${id} is not stored as "<revision> <json>"`);
  return { key: parseServiceEntryId(id), revision, json: value.slice(space + 1) };
}

export function redisSidecars(ctx: RedisContext): SidecarWriter {
  const { keys } = ctx;

  const run = async (key: ObjectKey, json: string, fence: LeaseGrant, options: WriteOptions | undefined): Promise<unknown[]> => {
    const id = serviceEntryId(key);
    const scriptKeys = [keys.sidecars, keys.revisionCounter, keys.lease, keys.sequence, keys.epoch];
    const args = [leaseValue(fence), id, json, ctx.publishTarget, traceOf(options), randomUUID()];
    const reply = (await ctx.replicatedScript(WRITE_SIDECAR, scriptKeys, args)) as unknown[];
    if (reply[0] === 'fenced') throw new FencedError(fence, reply[1] === '' ? null : parseLeaseValue(String(reply[1])));
    return reply;
  };

  const put = async (key: ObjectKey, json: string, fence: LeaseGrant, options: WriteOptions | undefined): Promise<SidecarWriteResult> => {
    checkSidecarJson(json);
    const reply = await run(key, json, fence, options);
    if (reply[0] === 'unchanged') return { status: 'unchanged', revision: Number(reply[1]) };
    if (reply[0] === 'written') return { status: 'written', revision: Number(reply[1]), invalidation: decodeInvalidation(String(reply[2])) };
    throw new StoreError('corrupt', `unexpected reply from ${WRITE_SIDECAR.name}: ${JSON.stringify(reply)}`);
  };

  const remove = async (key: ObjectKey, fence: LeaseGrant, options: WriteOptions | undefined): Promise<SidecarDeleteResult> => {
    const reply = await run(key, '', fence, options);
    if (reply[0] === 'absent') return { status: 'absent' };
    if (reply[0] === 'written') return { status: 'deleted', invalidation: decodeInvalidation(String(reply[2])) };
    throw new StoreError('corrupt', `unexpected reply from ${WRITE_SIDECAR.name}: ${JSON.stringify(reply)}`);
  };

  return {
    get: (key) =>
      ctx.run('read Sidecar', async () => {
        const id = serviceEntryId(key);
        const value = await ctx.client.hget(keys.sidecars, id);
        return value === null ? null : parseStored(id, value);
      }),
    list: () =>
      ctx.run('list Sidecars', async () =>
        Object.entries(await ctx.client.hgetall(keys.sidecars))
          .map(([id, value]) => parseStored(id, value))
          .sort((a, b) => compareObjectKeys(a.key, b.key)),
      ),
    put: (key, json, fence, options) => ctx.run('write Sidecar', () => put(key, json, fence, options)),
    delete: (key, fence, options) => ctx.run('delete Sidecar', () => remove(key, fence, options)),
  };
}
