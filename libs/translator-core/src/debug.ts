/**
 * What the translator shows on the monitoring server: `/debug/translatorz` (recent builds, backlog,
 * totals) and a readiness check that passes once the store has answered.
 */
import type { MonitoringServer } from '@skiff/runtime';
import type { Translator } from './translator.js';

export function registerTranslatorDebug(monitoring: MonitoringServer, translator: Translator): void {
  monitoring.addReadinessCheck('store', () => translator.isReady());
  monitoring.addDebugHandler('/debug/translatorz', 'Translator state: recent builds with their outcomes, queue, change-log backlog', () => ({
    status: 200,
    body: translator.status(),
  }));
}
