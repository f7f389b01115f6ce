export { Backoff, backoffDelay, resolveBackoff, type BackoffOptions, type BackoffPolicy } from './backoff.js';
export {
  DEBUG_ACCESS_OPTIONS,
  debugAccessFromCommandLine,
  defineCommand,
  envVarForFlag,
  interpretCommandLine,
  parseCommandLine,
  LOG_LEVEL_OPTION,
  MONITORING_ADDRESS_OPTION,
  SHUTDOWN_TIMEOUT_OPTION,
  USAGE_EXIT_CODE,
  versionLine,
  type CommandLineIO,
  type CommandLineOutcome,
  type CommandLineValues,
  type CommandSpec,
  type OptionSpec,
  type OptionValue,
  type SwitchOptionSpec,
  type ValueOptionSpec,
} from './cli.js';
export { KeyedQueue, type KeyedQueueOptions, type KeyedTask } from './keyed-queue.js';
export { createLogger, formatPrettyLine, PrettyLineStream, silentLogger, type Logger, type LoggerOptions } from './logging.js';
export {
  createMetrics,
  CONVERGENCE_TIME_BUCKETS_SECONDS,
  PROMETHEUS_CONTENT_TYPE,
  PUSH_TIME_BUCKETS_SECONDS,
  type Metrics,
  type MetricsOptions,
} from './metrics.js';
export {
  HttpError,
  isLoopbackAddress,
  MonitoringServer,
  type DebugAccessOptions,
  type DebugHandler,
  type DebugResponse,
  type MonitoringServerOptions,
  type ReadinessCheck,
  type RenderedDebug,
} from './monitoring-server.js';
export {
  commaListOf,
  ConfigValueError,
  formatDuration,
  formatHostPort,
  LOG_LEVELS,
  messageOf,
  oneOf,
  parseBoolean,
  parseCommaList,
  parseDuration,
  parseHostPort,
  parseLogLevel,
  parsePositiveInteger,
  urlWithSchemes,
  type HostPort,
  type LogLevel,
  type ValueParser,
} from './parsers.js';
export { runServices, type Runner, type RunServicesOptions, type ServicesHandle, type ServicesState } from './runner.js';
export { contextFromTraceparent, createTracing, inSpan, traceparentOf, type Tracing, type TracingOptions } from './tracing.js';
export { defaultReplicaId } from './replica-id.js';
export { SKIFF_VERSION } from './version.js';
export { findListenError, ListenError, listenFailureReason } from './listen-error.js';
export { createServiceBase, type ServiceBase } from './service.js';
