import { expect, it } from 'vitest';
import { createMetrics } from '@skiff/runtime';
import type { StoreHealth } from './contract.js';
import { createMemoryStore } from './memory.js';
import { observeStoreHealth } from './metrics.js';

it('exports the health of every store connection on /metrics, and stops when unregistered', async () => {
  const metrics = createMetrics({ serviceName: 'store-test' });
  let health: StoreHealth = {
    state: 'reconnecting',
    reconnects: 2,
    errors: 5,
    connections: [
      { name: 'commands', state: 'reconnecting', reconnects: 2, reconnectAttempts: 7, errors: 5, lastError: 'ECONNREFUSED' },
      { name: 'subscriber', state: 'ready', reconnects: 0, reconnectAttempts: 0, errors: 0 },
    ],
    listenerErrors: 1,
    malformed: 3,
  };
  let reads = 0;
  const stop = observeStoreHealth(metrics.meter, { health: () => (reads++, health) }, { store: 'redis' });
  try {
    const text = await metrics.collectText();
    expect(text).toContain('skiff_store_connection_up{store="redis",connection="commands"} 0');
    expect(text).toContain('skiff_store_connection_up{store="redis",connection="subscriber"} 1');
    expect(text).toContain('skiff_store_reconnects_total{store="redis",connection="commands"} 2');
    expect(text).toContain('skiff_store_reconnect_attempts_total{store="redis",connection="commands"} 7');
    expect(text).toContain('skiff_store_connection_errors_total{store="redis",connection="commands"} 5');
    expect(text).toContain('skiff_store_listener_errors_total{store="redis"} 1');
    expect(text).toContain('skiff_store_malformed_total{store="redis"} 3');

    health = { ...health, state: 'ready', connections: [{ ...health.connections[0]!, state: 'ready', reconnects: 3 }] };
    const later = await metrics.collectText();
    expect(later).toContain('skiff_store_connection_up{store="redis",connection="commands"} 1');
    expect(later).toContain('skiff_store_reconnects_total{store="redis",connection="commands"} 3');

    stop();
    const readsBefore = reads;
    const memory = createMemoryStore();
    observeStoreHealth(metrics.meter, memory);
    expect(await metrics.collectText()).toContain('skiff_store_connection_up{connection="memory"} 1');
    expect(reads).toBe(readsBefore);
    await memory.close();
    expect(await metrics.collectText()).toContain('skiff_store_connection_up{connection="memory"} 0');
  } finally {
    await metrics.shutdown();
  }
});
