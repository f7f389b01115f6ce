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
  type ServiceEntryChange,
  type ServiceEntryChangeResult,
  type ServiceEntryWriter,
  type StoredServiceEntry,
  type WriteResult,
} from './contract.js';
import { checkChanges, traceOf } from './checks.js';
import { compareObjectKeys } from './ownership-records.js';
import type { RedisContext } from './redis-context.js';
import { WRITE_SERVICE_ENTRIES } from './redis-scripts.js';
import { fieldRecord } from './fields.js';

export function redisServiceEntries(ctx: RedisContext, changeLogMaxLength: number): ServiceEntryWriter {
  const { keys } = ctx;

  const read = async (key: ObjectKey): Promise<StoredServiceEntry | null> => {
    const hash = await ctx.client.hgetall(keys.serviceEntry(serviceEntryId(key)));
    const revision = hash[REVISION_FIELD];
    if (revision === undefined) return null;
    const fields = fieldRecord();
    for (const [field, value] of Object.entries(hash)) if (field !== REVISION_FIELD) fields[field] = value;
    return { key: { namespace: key.namespace, name: key.name }, revision: Number(revision), fields };
  };

  const writeMany = async (changes: readonly ServiceEntryChange[], fence: LeaseGrant): Promise<ServiceEntryChangeResult[]> => {
    checkChanges(changes);
    if (changes.length === 0) return [];
    const scriptKeys = [keys.lease, keys.epoch, keys.revisionCounter, keys.changeLog, keys.serviceEntryIndex];
    const args: (string | number)[] = [leaseValue(fence), randomUUID(), changeLogMaxLength, changes.length];
    for (const change of changes) {
      const id = serviceEntryId(change.key);
      scriptKeys.push(keys.serviceEntry(id));
      if ('diff' in change) {
        const fields = Object.keys(change.diff.set);
        args.push(id, 'upsert', change.trace ?? '', fields.length, change.diff.delete.length);
        for (const field of fields) args.push(field, change.diff.set[field] as string);
        for (const field of change.diff.delete) args.push(field);
      } else {
        args.push(id, 'delete', change.trace ?? '', 0, 0);
      }
    }
    const reply = (await ctx.replicatedScript(WRITE_SERVICE_ENTRIES, scriptKeys, args)) as unknown[];
    const unexpected = (): StoreError => new StoreError('corrupt', `unexpected reply from ${WRITE_SERVICE_ENTRIES.name}: ${JSON.stringify(reply)}`);
    switch (reply[0]) {
      case 'fenced':
        throw new FencedError(fence, reply[1] === '' ? null : parseLeaseValue(String(reply[1])));
      case 'invalid':
        throw new StoreError('invalid-argument', String(reply[1]));
      case 'done':
        break;
      default:
        throw unexpected();
    }
    const epoch = reply[1] === '' ? null : String(reply[1]);
    const results = reply[2] as unknown[][];
    if (!Array.isArray(results) || results.length !== changes.length) throw unexpected();
    return results.map((result): ServiceEntryChangeResult => {
      switch (result[0]) {
        case 'written':
          return { status: 'written', revision: Number(result[1]), logId: String(result[2]), epoch: String(epoch), changedFields: (result[3] as unknown[]).map(String) };
        case 'unchanged':
          return { status: 'unchanged', revision: Number(result[1]), epoch };
        case 'deleted':
          return { status: 'deleted', revision: Number(result[1]), logId: String(result[2]), epoch: String(epoch) };
        case 'absent':
          return { status: 'absent', epoch };
        default:
          throw unexpected();
      }
    });
  };

  return {
    read: (key) => ctx.run('read ServiceEntry', () => read(key)),
    list: () => ctx.run('list ServiceEntries', async () => (await ctx.client.smembers(keys.serviceEntryIndex)).map(parseServiceEntryId).sort(compareObjectKeys)),
    write: (key, diff, fence, options) => ctx.run('write ServiceEntry', async () => (await writeMany([{ key, diff, trace: traceOf(options) }], fence))[0] as WriteResult),
    delete: (key, fence, options) => ctx.run('delete ServiceEntry', async () => (await writeMany([{ key, delete: true, trace: traceOf(options) }], fence))[0] as DeleteResult),
    writeMany: (changes, fence) => ctx.run('write ServiceEntries', () => writeMany(changes, fence)),
  };
}
