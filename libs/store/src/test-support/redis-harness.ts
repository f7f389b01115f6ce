/** The contract suite's harness for a Redis-backed store: every client it opens is closed, and its keys deleted, by `close`. */
import type { Store } from '../contract.js';
import type { StoreHarness } from '../contract.suite.js';

/**
 * A harness over `open` (a new client on the same data each call) and `deleteAll` (drops every key
 * of the store under test: a wipe, and the cleanup at close). Time passes for real.
 */
export function redisHarness(open: () => Store, deleteAll: () => Promise<unknown>): StoreHarness {
  const stores: Store[] = [];
  const opened = (): Store => {
    const store = open();
    stores.push(store);
    return store;
  };
  return {
    store: opened(),
    open: async () => opened(),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    wipe: async () => {
      await deleteAll();
    },
    close: async () => {
      await Promise.all(stores.map((s) => s.close()));
      await deleteAll();
    },
  };
}
