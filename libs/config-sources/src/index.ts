export type { ConfigSource, ObjectRef, Origin, SourceEvent, SourceHandler } from './source.js';
export { FileSource, type FileParser, type FileSourceOptions, type ParsedFileObject } from './file-source.js';
export { istioFileParser } from './istio-file-parser.js';
