/** The Redis store's Sidecars and Gateways: one hash per kind, written by a fenced script that publishes the invalidation. */
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
  type ScopeKind,
  type SidecarDeleteResult,
  type SidecarWriteResult,
  type SidecarWriter,
  type StoredSidecar,
  type WriteOptions,
} from './contract.js';
import { checkScopeObjectJson, traceOf } from './checks.js';
import { decodeInvalidation } from './invalidation-codec.js';
import { compareObjectKeys } from './ownership-records.js';
import type { RedisContext } from './redis-context.js';
import { WRITE_SCOPE_OBJECT } from './redis-scripts.js';

/** `<revision> <json>` as the script stores it. */
function parseStored(kind: ScopeKind, id: string, value: string): StoredSidecar {
  const space = value.indexOf(' ');
  const revision = Number(value.slice(0, space));
  if (space <= 0 || !Number.isSafeInteger(revision)) throw new StoreError('corrupt', `${kind} ${id} is not stored as "<revision> <json>"`);
  return { key: parseServiceEntryId(id), revision, json: value.slice(space + 1) };
}

/** The facet for one kind, over that kind's hash (`sidecars` or `gateways` of the key layout). */
export function redisScopeObjects(ctx: RedisContext, kind: ScopeKind): SidecarWriter {
  const { keys } = ctx;
  const hash = kind === 'Sidecar' ? keys.sidecars : keys.gateways;

  const run = async (key: ObjectKey, json: string, fence: LeaseGrant, options: WriteOptions | undefined): Promise<unknown[]> => {
    const id = serviceEntryId(key);
    const scriptKeys = [hash, keys.revisionCounter, keys.lease, keys.sequence, keys.epoch];
    const args = [leaseValue(fence), id, json, ctx.publishTarget, traceOf(options), randomUUID(), kind];
    const reply = (await ctx.replicatedScript(WRITE_SCOPE_OBJECT, scriptKeys, args)) as unknown[];
    if (reply[0] === 'fenced') throw new FencedError(fence, reply[1] === '' ? null : parseLeaseValue(String(reply[1])));
    return reply;
  };

  const put = async (key: ObjectKey, json: string, fence: LeaseGrant, options: WriteOptions | undefined): Promise<SidecarWriteResult> => {
    checkScopeObjectJson(kind, json);
    const reply = await run(key, json, fence, options);
    if (reply[0] === 'unchanged') return { status: 'unchanged', revision: Number(reply[1]) };
    if (reply[0] === 'written') return { status: 'written', revision: Number(reply[1]), invalidation: decodeInvalidation(String(reply[2])) };
    throw new StoreError('corrupt', `unexpected reply from ${WRITE_SCOPE_OBJECT.name}: ${JSON.stringify(reply)}`);
  };

  const remove = async (key: ObjectKey, fence: LeaseGrant, options: WriteOptions | undefined): Promise<SidecarDeleteResult> => {
    const reply = await run(key, '', fence, options);
    if (reply[0] === 'absent') return { status: 'absent' };
    if (reply[0] === 'written') return { status: 'deleted', invalidation: decodeInvalidation(String(reply[2])) };
    throw new StoreError('corrupt', `unexpected reply from ${WRITE_SCOPE_OBJECT.name}: ${JSON.stringify(reply)}`);
  };

  return {
    get: (key) =>
      ctx.run(`read ${kind}`, async () => {
        const id = serviceEntryId(key);
        const value = await ctx.client.hget(hash, id);
        return value === null ? null : parseStored(kind, id, value);
      }),
    list: () =>
      ctx.run(`list ${kind}s`, async () =>
        Object.entries(await ctx.client.hgetall(hash))
          .map(([id, value]) => parseStored(kind, id, value))
          .sort((a, b) => compareObjectKeys(a.key, b.key)),
      ),
    put: (key, json, fence, options) => ctx.run(`write ${kind}`, () => put(key, json, fence, options)),
    delete: (key, fence, options) => ctx.run(`delete ${kind}`, () => remove(key, fence, options)),
  };
}
