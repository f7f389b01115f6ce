/** The in-memory store's fleet registry: expiring reports by replica, each publish a new revision. */
import { randomUUID } from 'node:crypto';
import { checkReplicaId, type FleetRegistry } from './contract.js';
import { checkTtl } from './checks.js';
import type { MemoryState } from './memory-state.js';

export function memoryFleet(state: MemoryState): FleetRegistry {
  return {
    publish: async (replica, report, ttlMs) =>
      state.op(() => {
        checkReplicaId(replica);
        checkTtl(ttlMs);
        state.data.fleet.set(replica, { report, revision: randomUUID(), expiresAt: state.now() + ttlMs });
      }),
    refresh: async (replica, ttlMs) =>
      state.op(() => {
        checkReplicaId(replica);
        checkTtl(ttlMs);
        const entry = state.data.fleet.get(replica);
        if (entry === undefined || entry.expiresAt <= state.now()) return false;
        entry.expiresAt = state.now() + ttlMs;
        return true;
      }),
    list: async (except, known) =>
      state.op(() => {
        const now = state.now();
        for (const [replica, entry] of state.data.fleet) if (entry.expiresAt <= now) state.data.fleet.delete(replica);
        return [...state.data.fleet]
          .filter(([replica]) => replica !== except)
          .map(([replica, { report, revision }]) => ({ replica, revision, report: known?.get(replica) === revision ? null : report }))
          .sort((a, b) => (a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : 0));
      }),
    remove: async (replica) =>
      state.op(() => {
        state.data.fleet.delete(replica);
      }),
  };
}
