/** The in-memory store's Sidecars and Gateways: fenced writes that take the next revision and publish an invalidation. */
import type { ObjectKey } from '@skiff/model';
import { parseServiceEntryId, serviceEntryId, type ScopeKind, type SidecarWriter, type StoredSidecar } from './contract.js';
import { checkScopeObjectJson, traceOf } from './checks.js';
import type { MemoryState } from './memory-state.js';
import { compareObjectKeys } from './ownership-records.js';

/** The facet for one kind, over that kind's map (`sidecars` or `gateways` of `MemoryData`). */
export function memoryScopeObjects(state: MemoryState, kind: ScopeKind): SidecarWriter {
  const objects = () => (kind === 'Sidecar' ? state.data.sidecars : state.data.gateways);
  const stored = (id: string): StoredSidecar | null => {
    const entry = objects().get(id);
    return entry === undefined ? null : { key: parseServiceEntryId(id), revision: entry.revision, json: entry.json };
  };
  return {
    get: async (key: ObjectKey) => state.op(() => stored(serviceEntryId(key))),
    list: async () =>
      state.op(() =>
        [...objects().keys()]
          .map((id) => stored(id)!)
          .sort((a, b) => compareObjectKeys(a.key, b.key)),
      ),
    put: async (key, json, fence, options) =>
      state.op(() => {
        const id = serviceEntryId(key);
        checkScopeObjectJson(kind, json);
        state.checkFence(fence);
        const existing = objects().get(id);
        if (existing?.json === json) return { status: 'unchanged' as const, revision: existing.revision };
        const revision = ++state.data.revisionCounter;
        objects().set(id, { revision, json });
        const invalidation = state.publish(key, 'upsert', true, [], [], traceOf(options), kind);
        return { status: 'written' as const, revision, invalidation };
      }),
    delete: async (key, fence, options) =>
      state.op(() => {
        const id = serviceEntryId(key);
        state.checkFence(fence);
        if (!objects().delete(id)) return { status: 'absent' as const };
        return { status: 'deleted' as const, invalidation: state.publish(key, 'delete', true, [], [], traceOf(options), kind) };
      }),
  };
}
