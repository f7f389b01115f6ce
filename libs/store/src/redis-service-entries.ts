/** The Redis store's ServiceEntry hashes: one hash per ServiceEntry, written by fenced scripts that also append to the change log. */
import { randomUUID } from 'node:crypto';
import type { ObjectKey } from '@skiff/model';
import {
  FencedError,
  REVISION_FIELD,
  StoreError,
  leaseValue,
  parseLeaseValue,
  parseServiceEntryId,
  serviceEntryId,
  type DeleteResult,
  type LeaseGrant,
  type ServiceEntryDiff,
  type ServiceEntryWriter,
  type StoredServiceEntry,
  type WriteOptions,
  type WriteResult,
} from './contract.js';
import { checkDiff, traceOf } from './checks.js';
import { compareObjectKeys } from './ownership-records.js';
import type { RedisContext } from './redis-context.js';
import { DELETE_SERVICE_ENTRY, WRITE_SERVICE_ENTRY } from './redis-scripts.js';

export function redisServiceEntries(ctx: RedisContext, changeLogMaxLength: number): ServiceEntryWriter {
  const { keys } = ctx;
  const scriptKeys = (id: string): string[] => [keys.serviceEntry(id), keys.serviceEntryIndex, keys.revisionCounter, keys.changeLog, keys.lease, keys.epoch];

  const read = async (key: ObjectKey): Promise<StoredServiceEntry | null> => {
    const hash = await ctx.client.hgetall(keys.serviceEntry(serviceEntryId(key)));
    const revision = hash[REVISION_FIELD];
    if (revision === undefined) return null;
    const fields: Record<string, string> = {};
    for (const [field, value] of Object.entries(hash)) if (field !== REVISION_FIELD) fields[field] = value;
    return { key: { namespace: key.namespace, name: key.name }, revision: Number(revision), fields };
  };

  const write = async (key: ObjectKey, diff: ServiceEntryDiff, fence: LeaseGrant, options: WriteOptions | undefined): Promise<WriteResult> => {
    const id = serviceEntryId(key);
    checkDiff(diff);
    const sets = Object.entries(diff.set);
    const args: (string | number)[] = [leaseValue(fence), id, randomUUID(), changeLogMaxLength, traceOf(options), sets.length];
    for (const [field, value] of sets) args.push(field, value);
    for (const field of diff.delete) args.push(field);
    const reply = (await ctx.replicatedScript(WRITE_SERVICE_ENTRY, scriptKeys(id), args)) as unknown[];
    switch (reply[0]) {
      case 'fenced':
        throw new FencedError(fence, reply[1] === '' ? null : parseLeaseValue(String(reply[1])));
      case 'invalid':
        throw new StoreError('invalid-argument', String(reply[1]));
      case 'unchanged':
        return { status: 'unchanged', revision: Number(reply[1]), epoch: reply[2] === '' ? null : String(reply[2]) };
      case 'written':
        return { status: 'written', revision: Number(reply[1]), logId: String(reply[2]), epoch: String(reply[3]), changedFields: (reply[4] as unknown[]).map(String) };
      default:
        throw new StoreError('corrupt', `unexpected reply from ${WRITE_SERVICE_ENTRY.name}: ${JSON.stringify(reply)}`);
    }
  };

  const remove = async (key: ObjectKey, fence: LeaseGrant, options: WriteOptions | undefined): Promise<DeleteResult> => {
    const id = serviceEntryId(key);
    const args = [leaseValue(fence), id, randomUUID(), changeLogMaxLength, traceOf(options)];
    const reply = (await ctx.replicatedScript(DELETE_SERVICE_ENTRY, scriptKeys(id), args)) as unknown[];
    switch (reply[0]) {
      case 'fenced':
        throw new FencedError(fence, reply[1] === '' ? null : parseLeaseValue(String(reply[1])));
      case 'absent':
        return { status: 'absent', epoch: reply[1] === '' ? null : String(reply[1]) };
      case 'deleted':
        return { status: 'deleted', revision: Number(reply[1]), logId: String(reply[2]), epoch: String(reply[3]) };
      default:
        throw new StoreError('corrupt', `unexpected reply from ${DELETE_SERVICE_ENTRY.name}: ${JSON.stringify(reply)}`);
    }
  };

  return {
    read: (key) => ctx.run('read ServiceEntry', () => read(key)),
    list: () => ctx.run('list ServiceEntries', async () => (await ctx.client.smembers(keys.serviceEntryIndex)).map(parseServiceEntryId).sort(compareObjectKeys)),
    write: (key, diff, fence, options) => ctx.run('write ServiceEntry', () => write(key, diff, fence, options)),
    delete: (key, fence, options) => ctx.run('delete ServiceEntry', () => remove(key, fence, options)),
  };
}
