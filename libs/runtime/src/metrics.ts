/**
 * Metrics: an OpenTelemetry MeterProvider read by the Prometheus exporter, serialized on demand so
 * the monitoring server serves `/metrics` itself (the exporter's own HTTP server never starts).
 *
 * Exported names, as exporter-prometheus 0.223.0 writes them (checked by metrics.test.ts):
 * - a counter `pilot_xds_pushes` is exported as `pilot_xds_pushes_total` (the exporter appends
 *   `_total` to every monotonic sum), which is also what istiod's own OpenTelemetry exporter emits;
 * - an up-down counter or gauge keeps its name (`pilot_xds`);
 * - a histogram `pilot_xds_push_time` gives `pilot_xds_push_time_bucket{le=...}`, `_sum` and `_count`;
 *   its unit is written as a `# UNIT` comment only, no `_seconds` suffix is added, so Istio's names
 *   (which carry no suffix either) come out unchanged;
 * - dots in names become underscores.
 * Neither an `otel_scope_name` label nor a `target_info` series is written: istiod has neither, and
 * dashboards built for istiod should work on Skiff unchanged.
 */
import type { Meter } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/**
 * Buckets of `pilot_xds_push_time` in seconds: istiod's (.01 .1 .5 1 3 5 10 20 30, from
 * pilot/pkg/xds/monitoring.go) plus 1 ms and 5 ms, because a Skiff push of one changed resource
 * usually takes well under 10 ms and would otherwise land in a single bucket.
 */
export const PUSH_TIME_BUCKETS_SECONDS: readonly number[] = [0.001, 0.005, 0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30];

/**
 * Buckets of `pilot_proxy_convergence_time` in seconds: istiod's (.1 .5 1 3 5 10 20 30, from
 * pilot/pkg/xds/monitoring.go) plus 1, 5, 10, 20 and 50 ms. Skiff's convergence targets are p50 <= 20 ms
 * and p99 <= 100 ms with 1k proxies, which istiod's buckets cannot tell apart.
 * Every istiod boundary is kept, so queries written against istiod's `le` values still work.
 */
export const CONVERGENCE_TIME_BUCKETS_SECONDS: readonly number[] = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 3, 5, 10, 20, 30];

/** The Prometheus text exposition format version that `collectText` produces. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsOptions {
  /** `service.name` of the resource, and the meter's name. */
  readonly serviceName: string;
}

export interface Metrics {
  /** Create instruments here: `meter.createCounter('pilot_xds_pushes', { description })`. */
  readonly meter: Meter;
  readonly meterProvider: MeterProvider;
  /** The reader; its HTTP server is never started. */
  readonly exporter: PrometheusExporter;
  /** Every instrument in the Prometheus text format, as a scrape of `/metrics` returns it. */
  collectText(): Promise<string>;
  /** Stops the provider; later `collectText` calls fail. */
  shutdown(): Promise<void>;
}

/** Creates the process's meter provider and its Prometheus reader. */
export function createMetrics(options: MetricsOptions): Metrics {
  const exporter = new PrometheusExporter({
    preventServerStart: true,
    withoutScopeInfo: true,
    withoutTargetInfo: true,
  });
  const meterProvider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    readers: [exporter],
  });
  // The same settings as the exporter's own: no prefix, no timestamps, no scope label, no target_info.
  const serializer = new PrometheusSerializer('', false, undefined, true, true);
  const meter = meterProvider.getMeter(options.serviceName);
  observeProcessMemory(meter);
  return {
    meter,
    meterProvider,
    exporter,
    async collectText() {
      const { resourceMetrics, errors } = await exporter.collect();
      if (errors.length > 0) {
        throw new AggregateError(errors, `metrics collection failed: ${errors.map(String).join('; ')}`);
      }
      return serializer.serialize(resourceMetrics);
    },
    shutdown: () => meterProvider.shutdown(),
  };
}

/**
 * The process's memory, read at each scrape, under the names Prometheus's own clients use
 * (`process_resident_memory_bytes` as istiod's Go process collector exports it; the `nodejs_*` names
 * of prom-client's default metrics): resident memory, and how much of it is JavaScript heap in use,
 * heap reserved, and memory outside the heap (buffers). A resident size well above heap and external
 * memory is memory the allocator keeps after the garbage collector freed it, not live data.
 */
function observeProcessMemory(meter: Meter): void {
  const resident = meter.createObservableGauge('process_resident_memory_bytes', { description: 'Resident memory size in bytes', unit: 'By' });
  const heapUsed = meter.createObservableGauge('nodejs_heap_size_used_bytes', { description: 'JavaScript heap in use, in bytes', unit: 'By' });
  const heapTotal = meter.createObservableGauge('nodejs_heap_size_total_bytes', { description: 'JavaScript heap reserved, in bytes', unit: 'By' });
  const external = meter.createObservableGauge('nodejs_external_memory_bytes', { description: 'Memory of objects bound to JavaScript but outside its heap (buffers), in bytes', unit: 'By' });
  meter.addBatchObservableCallback(
    (observer) => {
      const usage = process.memoryUsage();
      observer.observe(resident, usage.rss);
      observer.observe(heapUsed, usage.heapUsed);
      observer.observe(heapTotal, usage.heapTotal);
      observer.observe(external, usage.external);
    },
    [resident, heapUsed, heapTotal, external],
  );
}
