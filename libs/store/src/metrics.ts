/**
 * Store health as OpenTelemetry metrics, so a lost Redis shows on `/metrics` and not only in logs.
 * Istio has no store, so these names are Skiff's own (`skiff_store_*`). Counters are exported by the
 * Prometheus exporter with a `_total` suffix.
 */
import type { Attributes, BatchObservableCallback, Meter, Observable } from '@opentelemetry/api';
import type { StoreHealth } from './contract.js';

/**
 * Registers observable instruments that read `store.health()` at every collection; returns the
 * function that unregisters them. Per connection (`connection` attribute): `skiff_store_connection_up`
 * (1 ready, 0 not), `skiff_store_reconnects`, `skiff_store_reconnect_attempts`,
 * `skiff_store_connection_errors`. Per store: `skiff_store_listener_errors`, `skiff_store_malformed`.
 */
export function observeStoreHealth(meter: Meter, store: { health(): StoreHealth }, attributes: Attributes = {}): () => void {
  const up = meter.createObservableGauge('skiff_store_connection_up', { description: 'Whether a store connection is ready (1) or not (0)' });
  const reconnects = meter.createObservableCounter('skiff_store_reconnects', { description: 'Times a store connection became ready again after a loss' });
  const attempts = meter.createObservableCounter('skiff_store_reconnect_attempts', { description: 'Store connection attempts that were retries' });
  const errors = meter.createObservableCounter('skiff_store_connection_errors', { description: 'Errors reported by store connections' });
  const listenerErrors = meter.createObservableCounter('skiff_store_listener_errors', { description: 'Invalidation or state listeners that threw' });
  const malformed = meter.createObservableCounter('skiff_store_malformed', { description: 'Change-log entries and invalidations dropped as unreadable' });
  const observables: Observable[] = [up, reconnects, attempts, errors, listenerErrors, malformed];
  const callback: BatchObservableCallback = (result) => {
    const health = store.health();
    for (const connection of health.connections) {
      const labels = { ...attributes, connection: connection.name };
      result.observe(up, connection.state === 'ready' ? 1 : 0, labels);
      result.observe(reconnects, connection.reconnects, labels);
      result.observe(attempts, connection.reconnectAttempts, labels);
      result.observe(errors, connection.errors, labels);
    }
    result.observe(listenerErrors, health.listenerErrors, attributes);
    result.observe(malformed, health.malformed, attributes);
  };
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}
