/**
 * What every Skiff service (skiff, skiff-watcher, skiff-translator, skiff-gateway) starts with: a
 * logger, Prometheus metrics, tracing (to OTEL_EXPORTER_OTLP_ENDPOINT when set; otherwise it costs
 * nothing), the monitoring server, and its replica id; and how it runs its own runners after those.
 */
import { getHeapStatistics } from 'node:v8';
import { heapLimitChosen, heapLimitWarning } from './heap-limit.js';
import { createLogger, type Logger } from './logging.js';
import { createMetrics, type Metrics } from './metrics.js';
import { MonitoringServer, type DebugAccessOptions } from './monitoring-server.js';
import { defaultReplicaId } from './replica-id.js';
import type { HostPort, LogLevel } from './parsers.js';
import { runServices, type Runner, type ServicesHandle } from './runner.js';
import { createTracing, type Tracing } from './tracing.js';

export interface ServiceBase {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracing: Tracing;
  readonly monitoring: MonitoringServer;
  /** The pod name (`POD_NAME`, set by the chart), else the host name and process id (`defaultReplicaId`). */
  readonly replicaId: string;
  /**
   * Starts tracing and the monitoring server, then `runners` in order; on SIGTERM closes them in
   * reverse order, so a service's own runners stop before monitoring and tracing do.
   */
  run(runners: readonly Runner[], options: { readonly monitoringAddress: string | HostPort; readonly shutdownTimeoutMs: number }): ServicesHandle;
}

export function createServiceBase(name: string, options: { readonly logLevel: LogLevel; readonly debugAccess?: DebugAccessOptions }): ServiceBase {
  const logger = createLogger({ level: options.logLevel, name });
  const heapWarning = heapLimitWarning(getHeapStatistics().heap_size_limit, process.constrainedMemory(), heapLimitChosen());
  if (heapWarning !== undefined) logger.warn(heapWarning);
  const metrics = createMetrics({ serviceName: name });
  const tracing = createTracing({ serviceName: name });
  const monitoring = new MonitoringServer({ logger: logger.child({ component: 'monitoring' }), metrics, ...(options.debugAccess === undefined ? {} : { debugAccess: options.debugAccess }) });
  return {
    logger,
    metrics,
    tracing,
    monitoring,
    replicaId: defaultReplicaId(),
    run: (runners, runOptions) =>
      runServices([{ name: 'tracing', start: async () => {}, close: () => tracing.shutdown() }, monitoring.toRunner(runOptions.monitoringAddress), ...runners], {
        logger,
        shutdownTimeoutMs: runOptions.shutdownTimeoutMs,
      }),
  };
}
