/** The in-memory store's Sidecars: fenced writes that take the next revision and publish an invalidation. */
import type { ObjectKey } from '@skiff/model';
import { parseServiceEntryId, serviceEntryId, type SidecarWriter, type StoredSidecar } from './contract.js';
import { checkSidecarJson, traceOf } from './checks.js';
import type { MemoryState } from './memory-state.js';
import { compareObjectKeys } from './ownership-records.js';

export function memorySidecars(state: MemoryState): SidecarWriter {
  const stored = (id: string): StoredSidecar | null => {
    const entry = state.data.sidecars.get(id);
    return entry === undefined ? null : { key: parseServiceEntryId(id), revision: entry.revision, json: entry.json };
  };
  return {
    get: async (key: ObjectKey) => state.op(() => stored(serviceEntryId(key))),
    list: async () =>
      state.op(() =>
        [...state.data.sidecars.keys()]
          .map((id) => stored(id)!)
          .sort((a, b) => compareObjectKeys(a.key, b.key)),
      ),
    put: async (key, json, fence, options) =>
      state.op(() => {
        const id = serviceEntryId(key);
        checkSidecarJson(json);
        state.checkFence(fence);
        const existing = state.data.sidecars.get(id);
        if (existing?.json === json) return { status: 'unchanged' as const, revision: existing.revision };
        const revision = ++state.data.revisionCounter;
        state.data.sidecars.set(id, { revision, json });
        const invalidation = state.publish(key, 'upsert', true, [], [], traceOf(options), 'Sidecar');
        return { status: 'written' as const, revision, invalidation };
      }),
    delete: async (key, fence, options) =>
      state.op(() => {
        const id = serviceEntryId(key);
        state.checkFence(fence);
        if (!state.data.sidecars.delete(id)) return { status: 'absent' as const };
        return { status: 'deleted' as const, invalidation: state.publish(key, 'delete', true, [], [], traceOf(options), 'Sidecar') };
      }),
  };
}
