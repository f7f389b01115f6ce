/**
 * What the translator shows on the monitoring server: `/debug/translatorz` (recent builds, backlog,
 * totals) and a readiness check that passes once the store has answered.
 */
import type { MonitoringServer } from '@skiff/runtime';
import type { Translator } from './translator.js';

export function registerTranslatorDebug(monitoring: MonitoringServer, translator: Translator | readonly Translator[]): void {
  // A sharded store has one translator per shard: ready when all are, their states listed by shard.
  const translators: readonly Translator[] = Array.isArray(translator) ? translator : [translator];
  monitoring.addReadinessCheck('store', () => translators.every((each) => each.isReady()));
  monitoring.addDebugHandler('/debug/translatorz', 'Translator state: recent builds with their outcomes, queue, change-log backlog', () => ({
    status: 200,
    body: translators.length === 1 ? translators[0]!.status() : { shards: translators.map((each) => each.status()) },
  }));
}
