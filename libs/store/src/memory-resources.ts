/** The in-memory store's built resources: per owner its record and bytes, or a tombstone for a while after a deletion; each change publishes an invalidation. */
import type { ObjectKey } from '@skiff/model';
import {
  parseServiceEntryId,
  resourceKey,
  serviceEntryId,
  type BuiltResource,
  type OwnedResources,
  type OwnershipRecord,
  type ReplaceOutcome,
  type ReplaceResources,
  type ResourceId,
  type ResourceRef,
  type ResourceSnapshot,
  type ResourceWriter,
} from './contract.js';
import { checkRevision, traceOf } from './checks.js';
import type { MemoryState, OwnerState, Tombstone } from './memory-state.js';
import { compareObjectKeys, prepareReplace } from './ownership-records.js';

function ownedResources(state: OwnerState, ids: readonly ResourceId[] | undefined): OwnedResources {
  const wanted = ids === undefined ? null : new Set(ids.map(resourceKey));
  const resources: BuiltResource[] = [];
  for (const ref of state.record.resources) {
    const key = resourceKey(ref);
    if (wanted !== null && !wanted.has(key)) continue;
    // The array the writer handed over: built bytes are never modified (`BuiltResource`), so every
    // reader shares them, and an all-in-one process holds each resource once, not once in the store
    // and again in the gateway's cache.
    const bytes = state.bytes.get(key);
    if (bytes !== undefined) resources.push({ ...ref, bytes });
  }
  return { record: JSON.parse(state.recordJson) as OwnershipRecord, resources };
}

export function memoryResources(state: MemoryState, tombstoneTtlMs: number): ResourceWriter {
  const ownerState = (id: string): OwnerState | Tombstone | undefined => {
    const owner = state.data.owners.get(id);
    if (owner?.kind === 'tombstone' && owner.expiresAt <= state.now()) {
      state.data.owners.delete(id);
      return undefined;
    }
    return owner;
  };

  const liveOwners = (): [string, OwnerState][] => {
    const owners: [string, OwnerState][] = [];
    for (const [id, owner] of state.data.owners) if (owner.kind === 'owner') owners.push([id, owner]);
    return owners.sort(([, a], [, b]) => compareObjectKeys(a.record, b.record));
  };

  const loadAll = (): ResourceSnapshot => ({ seq: state.data.sequence, owners: liveOwners().map(([, owner]) => ownedResources(owner, undefined)) });

  const readOwner = (owner: ObjectKey, ids: readonly ResourceId[] | undefined): OwnedResources | null => {
    const found = ownerState(serviceEntryId(owner));
    return found?.kind === 'owner' ? ownedResources(found, ids) : null;
  };

  const replace = (input: ReplaceResources): ReplaceOutcome => {
    const prepared = prepareReplace(input);
    const id = serviceEntryId(prepared.owner);
    const previous = ownerState(id);
    if (previous !== undefined && previous.revision > input.revision) return { status: 'stale', storedRevision: previous.revision };
    const old = previous?.kind === 'owner' ? previous : undefined;
    const oldVersions = new Map(old?.record.resources.map((ref) => [resourceKey(ref), ref.version]));
    const kept = new Set<string>();
    const changed: ResourceRef[] = [];
    const bytes = new Map<string, Uint8Array>();
    for (const resource of prepared.resources) {
      kept.add(resource.key);
      const stored = old?.bytes.get(resource.key);
      if (oldVersions.get(resource.key) !== resource.ref.version || stored === undefined) {
        changed.push(resource.ref);
        bytes.set(resource.key, resource.bytes);
      } else {
        bytes.set(resource.key, stored);
      }
    }
    const removed = (old?.record.resources ?? []).filter((ref) => !kept.has(resourceKey(ref)));
    const ownerChanged = old?.visibilityJson !== prepared.visibilityJson;
    state.data.owners.set(id, { kind: 'owner', revision: input.revision, visibilityJson: prepared.visibilityJson, record: prepared.record, recordJson: prepared.recordJson, bytes });
    if (!ownerChanged && changed.length === 0 && removed.length === 0) return { status: 'unchanged' };
    return { status: 'applied', invalidation: state.publish(prepared.owner, 'upsert', ownerChanged, changed, removed, input.trace ?? '') };
  };

  const deleteOwner = (owner: ObjectKey, revision: number, trace: string): ReplaceOutcome => {
    const id = serviceEntryId(owner);
    checkRevision(revision);
    const previous = ownerState(id);
    if (previous !== undefined && previous.revision > revision) return { status: 'stale', storedRevision: previous.revision };
    state.data.owners.set(id, { kind: 'tombstone', revision, expiresAt: state.now() + tombstoneTtlMs });
    if (previous?.kind !== 'owner') return { status: 'unchanged' };
    return { status: 'applied', invalidation: state.publish(owner, 'delete', true, [], previous.record.resources, trace) };
  };

  return {
    loadAll: async () => state.op(loadAll),
    readOwner: async (owner, ids) => state.op(() => readOwner(owner, ids)),
    listOwners: async () => state.op(() => liveOwners().map(([id]) => parseServiceEntryId(id))),
    replace: async (input) => state.op(() => replace(input)),
    deleteOwner: async (owner, options) => state.op(() => deleteOwner(owner, options.revision, traceOf(options))),
  };
}
