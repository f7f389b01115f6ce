/** The in-memory store's writer lease, with the Redis scripts' token rules. */
import { leaseValue, parseLeaseValue, type Lease, type LeaseGrant, type LeaseState } from './contract.js';
import { checkHolder, checkTtl } from './checks.js';
import type { MemoryState } from './memory-state.js';

export function memoryLease(state: MemoryState): Lease {
  const acquire = (holder: string, ttlMs: number): LeaseGrant | null => {
    checkHolder(holder);
    checkTtl(ttlMs);
    if (state.liveLease() !== null) return null;
    // A fresh counter starts at the clock in milliseconds, like the Redis script, so tokens keep growing across an empty restart.
    const token = state.data.leaseTokenCounter === null ? state.now() : state.data.leaseTokenCounter + 1;
    state.data.leaseTokenCounter = token;
    const grant = { holder, token };
    state.data.lease = { value: leaseValue(grant), expiresAt: state.now() + ttlMs };
    state.ensureEpoch();
    return grant;
  };
  const renew = (grant: LeaseGrant, ttlMs: number): boolean => {
    checkTtl(ttlMs);
    const lease = state.liveLease();
    if (lease === null || lease.value !== leaseValue(grant)) return false;
    lease.expiresAt = state.now() + ttlMs;
    return true;
  };
  const release = (grant: LeaseGrant): boolean => {
    const lease = state.liveLease();
    if (lease === null || lease.value !== leaseValue(grant)) return false;
    state.data.lease = null;
    return true;
  };
  const current = (): LeaseState | null => {
    const lease = state.liveLease();
    return lease === null ? null : { ...parseLeaseValue(lease.value), remainingMs: lease.expiresAt - state.now() };
  };
  return {
    acquire: async (holder, ttlMs) => state.op(() => acquire(holder, ttlMs)),
    renew: async (grant, ttlMs) => state.op(() => renew(grant, ttlMs)),
    release: async (grant) => state.op(() => release(grant)),
    current: async () => state.op(current),
  };
}
