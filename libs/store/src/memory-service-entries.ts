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
  type ServiceEntryDiff,
  type ServiceEntryWriter,
  type StoredServiceEntry,
  type WriteOptions,
  type WriteResult,
} from './contract.js';
import { checkDiff, traceOf } from './checks.js';
import type { MemoryState } from './memory-state.js';
import { compareObjectKeys } from './ownership-records.js';

export function memoryServiceEntries(state: MemoryState): ServiceEntryWriter {
  const read = (key: ObjectKey): StoredServiceEntry | null => {
    const hash = state.data.serviceEntries.get(serviceEntryId(key));
    if (hash === undefined) return null;
    const fields: Record<string, string> = {};
    for (const [field, value] of hash) if (field !== REVISION_FIELD) fields[field] = value;
    return { key: { namespace: key.namespace, name: key.name }, revision: Number(hash.get(REVISION_FIELD)), fields };
  };

  const write = (key: ObjectKey, diff: ServiceEntryDiff, fence: LeaseGrant, options: WriteOptions | undefined): WriteResult => {
    const id = serviceEntryId(key);
    checkDiff(diff);
    state.checkFence(fence);
    const existing = state.data.serviceEntries.get(id);
    const sets = Object.entries(diff.set);
    if (existing === undefined && sets.length > 0 && !Object.hasOwn(diff.set, SERVICE_ENTRY_FIELD)) {
      throw new StoreError('invalid-argument', `a new ServiceEntry hash needs the ${SERVICE_ENTRY_FIELD} field`);
    }
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
    const logId = state.appendLog({ serviceEntry: { namespace: key.namespace, name: key.name }, op: 'upsert', revision }, traceOf(options));
    return { status: 'written', revision, logId, changedFields, epoch: state.ensureEpoch() };
  };

  const remove = (key: ObjectKey, fence: LeaseGrant, options: WriteOptions | undefined): DeleteResult => {
    const id = serviceEntryId(key);
    state.checkFence(fence);
    if (!state.data.serviceEntries.delete(id)) return { status: 'absent', epoch: state.data.epoch };
    const revision = ++state.data.revisionCounter;
    const logId = state.appendLog({ serviceEntry: { namespace: key.namespace, name: key.name }, op: 'delete', revision }, traceOf(options));
    return { status: 'deleted', revision, logId, epoch: state.ensureEpoch() };
  };

  return {
    read: async (key) => state.op(() => read(key)),
    list: async () => state.op(() => [...state.data.serviceEntries.keys()].map(parseServiceEntryId).sort(compareObjectKeys)),
    write: async (key, diff, fence, options) => state.op(() => write(key, diff, fence, options)),
    delete: async (key, fence, options) => state.op(() => remove(key, fence, options)),
  };
}
