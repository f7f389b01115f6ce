import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

/** The value of an unlabelled sample in Prometheus text. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('process memory metrics', () => {
  it('reports resident memory, heap and external memory under the Prometheus clients\' names', async () => {
    const metrics = createMetrics({ serviceName: 'skiff-test' });
    try {
      const text = await metrics.collectText();
      const resident = sample(text, 'process_resident_memory_bytes');
      const heapUsed = sample(text, 'nodejs_heap_size_used_bytes');
      const heapTotal = sample(text, 'nodejs_heap_size_total_bytes');
      const external = sample(text, 'nodejs_external_memory_bytes');
      expect(resident).toBeGreaterThan(10 * 1024 * 1024);
      expect(heapUsed).toBeGreaterThan(0);
      expect(heapTotal).toBeGreaterThanOrEqual(heapUsed!);
      expect(resident).toBeGreaterThan(heapUsed!);
      expect(external).toBeGreaterThanOrEqual(0);
      // Read at each scrape: a megabyte buffer kept alive shows in the next one.
      const kept = Buffer.alloc(1024 * 1024, 1);
      expect(sample(await metrics.collectText(), 'nodejs_external_memory_bytes')).toBeGreaterThanOrEqual(kept.length);
    } finally {
      await metrics.shutdown();
    }
  });
});
