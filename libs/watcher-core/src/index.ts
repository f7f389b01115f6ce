export { DesiredState, type ApplyOutcome, type DesiredStateOptions, type ObjectStatus } from './desired-state.js';
export { HashWriter, type ConvergeReport, type HashWriterHooks, type HashWriterOptions } from './hash-writer.js';
export { Watcher, type WatcherOptions, type WatcherStatus } from './watcher.js';
export { WriterLease, type LeaderElector, type WriterLeaseOptions } from './writer-lease.js';
export { CONFIG_HOLD_OPTION, CONFIG_RESCAN_OPTION, createConfigSource, createKubernetesElector, registerWatcherDebug, SERVICE_ACCOUNT_TOKEN_PATH, type KubernetesElectionConfig, type SourceConfig } from './service.js';
