/** The in-memory store's ServiceEntry hashes: fenced writes that bump the revision and append to the change log. */
import type { ObjectKey } from '@skiff/model';
import {
  REVISION_FIELD,
  SERVICE_ENTRY_FIELD,
  StoreError,
  parseServiceEntryId,
  serviceEntryId,
  type DeleteResult,
  type LeaseGrant,
  type ServiceEntryChange,
  type ServiceEntryChangeResult,
  type ServiceEntryDiff,
  type ServiceEntryWriter,
  type StoredServiceEntry,
  type WriteResult,
} from './contract.js';
import { checkChanges, traceOf } from './checks.js';
import type { MemoryState } from './memory-state.js';
import { compareObjectKeys } from './ownership-records.js';
import { fieldRecord } from './fields.js';

export function memoryServiceEntries(state: MemoryState): ServiceEntryWriter {
  const read = (key: ObjectKey): StoredServiceEntry | null => {
    const hash = state.data.serviceEntries.get(serviceEntryId(key));
    if (hash === undefined) return null;
    const fields = fieldRecord();
    for (const [field, value] of hash) if (field !== REVISION_FIELD) fields[field] = value;
    return { key: { namespace: key.namespace, name: key.name }, revision: Number(hash.get(REVISION_FIELD)), fields };
  };

  const write = (key: ObjectKey, diff: ServiceEntryDiff, trace: string): WriteResult => {
    const id = serviceEntryId(key);
    const existing = state.data.serviceEntries.get(id);
    const sets = Object.entries(diff.set);
    const changedFields: string[] = [];
    for (const [field, value] of sets) if (existing?.get(field) !== value) changedFields.push(field);
    for (const field of diff.delete) if (existing?.has(field) === true) changedFields.push(field);
    if (changedFields.length === 0) {
      return { status: 'unchanged', revision: existing === undefined ? 0 : Number(existing.get(REVISION_FIELD)), epoch: state.data.epoch };
    }
    const hash = existing ?? new Map<string, string>();
    for (const [field, value] of sets) hash.set(field, value);
    for (const field of diff.delete) hash.delete(field);
    const revision = ++state.data.revisionCounter;
    hash.set(REVISION_FIELD, String(revision));
    state.data.serviceEntries.set(id, hash);
    const logId = state.appendLog({ serviceEntry: { namespace: key.namespace, name: key.name }, op: 'upsert', revision }, trace);
    return { status: 'written', revision, logId, changedFields, epoch: state.ensureEpoch() };
  };

  const remove = (key: ObjectKey, trace: string): DeleteResult => {
    if (!state.data.serviceEntries.delete(serviceEntryId(key))) return { status: 'absent', epoch: state.data.epoch };
    const revision = ++state.data.revisionCounter;
    const logId = state.appendLog({ serviceEntry: { namespace: key.namespace, name: key.name }, op: 'delete', revision }, trace);
    return { status: 'deleted', revision, logId, epoch: state.ensureEpoch() };
  };

  /** Every check first (arguments, fence, a new hash has `se`), then the changes in order: all or nothing, as the Redis script. */
  const writeMany = (changes: readonly ServiceEntryChange[], fence: LeaseGrant): ServiceEntryChangeResult[] => {
    checkChanges(changes);
    state.checkFence(fence);
    for (const change of changes) {
      if (!('diff' in change) || state.data.serviceEntries.has(serviceEntryId(change.key))) continue;
      if (Object.keys(change.diff.set).length > 0 && !Object.hasOwn(change.diff.set, SERVICE_ENTRY_FIELD)) {
        throw new StoreError('invalid-argument', `a new ServiceEntry hash needs the ${SERVICE_ENTRY_FIELD} field`);
      }
    }
    return changes.map((change) => ('diff' in change ? write(change.key, change.diff, change.trace ?? '') : remove(change.key, change.trace ?? '')));
  };

  return {
    read: async (key) => state.op(() => read(key)),
    list: async () => state.op(() => [...state.data.serviceEntries.keys()].map(parseServiceEntryId).sort(compareObjectKeys)),
    write: async (key, diff, fence, options) => state.op(() => writeMany([{ key, diff, trace: traceOf(options) }], fence)[0] as WriteResult),
    delete: async (key, fence, options) => state.op(() => writeMany([{ key, delete: true, trace: traceOf(options) }], fence)[0] as DeleteResult),
    writeMany: async (changes, fence) => state.op(() => writeMany(changes, fence)),
  };
}
