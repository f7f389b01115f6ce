import { describeStoreContract } from './contract.suite.js';
import { createMemoryStore, ManualClock } from './memory.js';

describeStoreContract('memory', async (options) => {
  const clock = new ManualClock();
  const store = createMemoryStore({ ...options, clock });
  return {
    store,
    open: async () => store,
    advance: async (ms) => clock.advance(ms),
    wipe: async () => store.wipe(),
    close: () => store.close(),
  };
});
