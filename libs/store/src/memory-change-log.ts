/** The in-memory store's change log: the stream and the one consumer group, as XREADGROUP, XACK, XAUTOCLAIM and XPENDING treat them. */
import type { ChangeLog, ChangeLogEntry, CoalescedChange, PendingSummary, ReadOptions } from './contract.js';
import { coalesce, compareStreamIds } from './change-log-entries.js';
import type { MemoryState } from './memory-state.js';

export function memoryChangeLog(state: MemoryState): ChangeLog {
  /** Index of the first log entry with an id after `id` (the log is in id order). */
  const indexAfter = (id: string): number => {
    const log = state.data.log;
    let low = 0;
    let high = log.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareStreamIds(log[middle]!.id, id) <= 0) low = middle + 1;
      else high = middle;
    }
    return low;
  };

  const takeNew = (consumer: string, count: number): CoalescedChange[] => {
    const data = state.data;
    const now = state.now();
    const start = indexAfter(data.lastDeliveredId);
    const taken: ChangeLogEntry[] = [];
    for (const item of data.log.slice(start, start + count)) {
      taken.push({ id: item.id, ...item.entry });
      data.pending.set(item.id, { consumer, deliveredAt: now });
      data.lastDeliveredId = item.id;
    }
    return coalesce(taken);
  };

  const read = async (consumer: string, options: ReadOptions): Promise<CoalescedChange[]> => {
    const deadline = Date.now() + options.blockMs;
    for (;;) {
      const taken = state.op(() => takeNew(consumer, options.count));
      const remaining = deadline - Date.now();
      if (taken.length > 0 || remaining <= 0) return taken;
      // Wait for the next append (another reader may take it first, then wait again) or the deadline.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          state.logWaiters.delete(wake);
          resolve();
        }, remaining);
        const wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
        state.logWaiters.add(wake);
      });
    }
  };

  const claimStale = (consumer: string, minIdleMs: number, count: number): CoalescedChange[] => {
    const data = state.data;
    const now = state.now();
    const claimed: ChangeLogEntry[] = [];
    for (const id of [...data.pending.keys()].sort(compareStreamIds)) {
      if (claimed.length >= count) break;
      const pending = data.pending.get(id);
      if (pending === undefined || now - pending.deliveredAt < minIdleMs) continue;
      const item = data.log[indexAfter(id) - 1];
      if (item?.id !== id) {
        // Trimmed while pending: Redis 7 XAUTOCLAIM drops such ids from the pending list.
        data.pending.delete(id);
        continue;
      }
      pending.consumer = consumer;
      pending.deliveredAt = now;
      claimed.push({ id, ...item.entry });
    }
    return coalesce(claimed);
  };

  const pendingSummary = (): PendingSummary => {
    const perConsumer: Record<string, number> = {};
    for (const { consumer } of state.data.pending.values()) perConsumer[consumer] = (perConsumer[consumer] ?? 0) + 1;
    return { count: state.data.pending.size, perConsumer };
  };

  return {
    read,
    ack: async (ids) => state.op(() => ids.filter((id) => state.data.pending.delete(id)).length),
    claimStale: async (consumer, minIdleMs, count) => state.op(() => claimStale(consumer, minIdleMs, count ?? 100)),
    pending: async () => state.op(pendingSummary),
    hasUndelivered: async () => state.op(() => indexAfter(state.data.lastDeliveredId) < state.data.log.length),
    length: async () => state.op(() => state.data.log.length),
  };
}
