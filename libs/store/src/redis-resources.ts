/**
 * The Redis store's built resources: one hash per owner (its ownership record and each resource's
 * bytes), replaced or removed by scripts that take the next invalidation sequence number and publish
 * the invalidation in the same step.
 */
import { randomUUID } from 'node:crypto';
import type { ObjectKey } from '@skiff/model';
import {
  StoreError,
  checkObjectKey,
  parseServiceEntryId,
  resourceKey,
  serviceEntryId,
  type BuiltResource,
  type OwnedResources,
  type ReplaceOutcome,
  type ReplaceResources,
  type ResourceId,
  type ResourceSnapshot,
  type ResourceWriter,
} from './contract.js';
import { checkRevision, traceOf } from './checks.js';
import { decodeInvalidation } from './invalidation-codec.js';
import { compareObjectKeys, parseOwnershipRecord, prepareReplace } from './ownership-records.js';
import type { RedisContext } from './redis-context.js';
import { DELETE_OWNER, REPLACE_RESOURCES, type LuaScript } from './redis-scripts.js';

/** An owner's record and resources from its hash (all of them, or those in `only`); null for a tombstone or nothing. */
function ownedFromHash(hash: Readonly<Record<string, Buffer>>, only: ReadonlySet<string> | undefined): OwnedResources | null {
  const recordBytes = hash['record'];
  if (recordBytes === undefined) return null;
  const record = parseOwnershipRecord(recordBytes.toString('utf8'));
  checkObjectKey(record);
  const resources: BuiltResource[] = [];
  for (const ref of record.resources) {
    const key = resourceKey(ref);
    if (only !== undefined && !only.has(key)) continue;
    const bytes = hash[`b:${key}`];
    if (bytes === undefined) throw new StoreError('corrupt', `owner ${record.namespace}/${record.name} lists ${key} without its bytes`);
    resources.push({ typeUrl: ref.typeUrl, name: ref.name, variant: ref.variant, version: ref.version, bytes: new Uint8Array(bytes) });
  }
  return { record, resources };
}

function resourceOutcome(script: LuaScript, value: unknown): ReplaceOutcome {
  const reply = value as unknown[];
  switch (reply[0]) {
    case 'stale':
      return { status: 'stale', storedRevision: Number(reply[1]) };
    case 'unchanged':
      return { status: 'unchanged' };
    case 'applied':
      return { status: 'applied', invalidation: decodeInvalidation(String(reply[1])) };
    default:
      throw new StoreError('corrupt', `unexpected reply from ${script.name}: ${JSON.stringify(reply)}`);
  }
}

export function redisResources(ctx: RedisContext, tombstoneTtlMs: number): ResourceWriter {
  const { keys } = ctx;
  const scriptKeys = (id: string): string[] => [keys.resources(id), keys.resourceIndex, keys.sequence, keys.epoch];

  const replace = async (input: ReplaceResources): Promise<ReplaceOutcome> => {
    const prepared = prepareReplace(input);
    const id = serviceEntryId(prepared.owner);
    const args: (string | number | Buffer)[] = [id, prepared.visibilityJson, prepared.recordJson, input.revision, ctx.publishTarget, input.trace ?? '', randomUUID(), prepared.resources.length];
    for (const resource of prepared.resources) {
      args.push(resource.key, resource.ref.version, JSON.stringify(resource.ref), Buffer.from(resource.bytes.buffer, resource.bytes.byteOffset, resource.bytes.byteLength));
    }
    return resourceOutcome(REPLACE_RESOURCES, await ctx.script(ctx.client, REPLACE_RESOURCES, scriptKeys(id), args));
  };

  const deleteOwner = async (owner: ObjectKey, revision: number, trace: string): Promise<ReplaceOutcome> => {
    const id = serviceEntryId(owner);
    checkRevision(revision);
    const args = [id, revision, ctx.publishTarget, trace, randomUUID(), tombstoneTtlMs];
    return resourceOutcome(DELETE_OWNER, await ctx.script(ctx.client, DELETE_OWNER, scriptKeys(id), args));
  };

  const loadAll = async (): Promise<ResourceSnapshot> => {
    const read = await ctx.client.multi().get(keys.sequence).smembers(keys.resourceIndex).exec();
    if (read === null) throw new StoreError('unavailable', 'load resources: transaction aborted');
    const [[seqError, seq], [membersError, members]] = read as [[Error | null, unknown], [Error | null, unknown]];
    if (seqError !== null) throw seqError;
    if (membersError !== null) throw membersError;
    const ids = (members as string[]).sort();
    const owners: OwnedResources[] = [];
    const chunk = 256;
    for (let start = 0; start < ids.length; start += chunk) {
      const pipeline = ctx.client.pipeline();
      for (const id of ids.slice(start, start + chunk)) pipeline.hgetallBuffer(keys.resources(id));
      const replies = (await pipeline.exec()) ?? [];
      for (const [error, hash] of replies) {
        if (error !== null) throw error;
        const owned = ownedFromHash(hash as Record<string, Buffer>, undefined);
        if (owned !== null) owners.push(owned);
      }
    }
    owners.sort((a, b) => compareObjectKeys(a.record, b.record));
    return { seq: Number(seq ?? 0), owners };
  };

  const readOwner = async (owner: ObjectKey, ids: readonly ResourceId[] | undefined): Promise<OwnedResources | null> => {
    const key = keys.resources(serviceEntryId(owner));
    if (ids === undefined) return ownedFromHash(await ctx.client.hgetallBuffer(key), undefined);
    const resourceKeys = ids.map(resourceKey);
    // HMGET with the fields as one array: spread as arguments, an owner's many resources would overflow the call stack.
    const [record, ...bytes] = (await ctx.client.callBuffer('HMGET', [key, 'record', ...resourceKeys.map((k) => `b:${k}`)])) as (Buffer | null)[];
    if (record === null || record === undefined) return null;
    const hash: Record<string, Buffer> = { record };
    resourceKeys.forEach((k, i) => {
      const value = bytes[i];
      if (value !== null && value !== undefined) hash[`b:${k}`] = value;
    });
    return ownedFromHash(hash, new Set(resourceKeys));
  };

  return {
    loadAll: () => ctx.run('load resources', loadAll),
    readOwner: (owner, ids) => ctx.run('read resources', () => readOwner(owner, ids)),
    listOwners: () => ctx.run('list owners', async () => (await ctx.client.smembers(keys.resourceIndex)).map(parseServiceEntryId).sort(compareObjectKeys)),
    replace: (input) => ctx.run('replace resources', () => replace(input)),
    deleteOwner: (owner, options) => ctx.run('delete resources', () => deleteOwner(owner, options.revision, traceOf(options))),
  };
}
