/** The in-memory store's invalidation bus: subscriptions receive what `MemoryState.publish` sends, asynchronously as pub/sub does. */
import type { InvalidationBus } from './contract.js';
import { SubscriptionState } from './invalidation-codec.js';
import type { MemoryState } from './memory-state.js';

export function memoryInvalidations(state: MemoryState): InvalidationBus {
  return {
    subscribe: async (listener, options) =>
      state.op(() => {
        const subscription = new SubscriptionState(listener, options?.afterSeq, state.counters, async (closing) => {
          state.subscriptions.delete(closing);
        });
        state.subscriptions.add(subscription);
        return subscription;
      }),
    currentSeq: async () => state.op(() => state.data.sequence),
  };
}
