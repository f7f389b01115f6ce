/**
 * Sources of Istio configuration. This entry holds the source contract and the file source only: the
 * Kubernetes sources load `@kubernetes/client-node`, a large module a directory source never needs,
 * so they live behind `@skiff/config-sources/kubernetes`, imported where a Kubernetes source is chosen.
 */
export type { ConfigSource, ObjectRef, Origin, SourceEvent, SourceHandler, SourceHealth } from './source.js';
export { DEFAULT_FILE_HOLD_MS, DEFAULT_RESCAN_INTERVAL_MS, FileSource, type FileParser, type FileSourceOptions, type ParsedFileObject } from './file-source.js';
export { istioFileParser } from './istio-file-parser.js';
