/**
 * The file source's parser: Istio YAML or JSON through the model's parser, so a watched directory reads
 * exactly what `skiffctl validate -f` reads.
 */
import { formatParseError, formatSourceRef, parseIstioObjects, type ParseOptions } from '@skiff/model';
import type { FileParser } from './file-source.js';

/** Errors the model reports for text that is not YAML at all (as opposed to a document it skips). */
const isSyntaxError = (message: string): boolean => message.startsWith('invalid YAML');

export function istioFileParser(options: ParseOptions = {}): FileParser {
  return (text, file) => {
    const parsed = parseIstioObjects(text, file, options);
    const fatal: string[] = [];
    const problems: string[] = [];
    for (const error of parsed.errors) (isSyntaxError(error.message) ? fatal : problems).push(formatParseError(error));
    const objects = parsed.objects.map((object) => ({
      ref: { kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name },
      object: { apiVersion: object.apiVersion, kind: object.kind, metadata: object.metadata, spec: object.spec, status: object.status },
      origin: formatSourceRef(object.source),
    }));
    return { objects, fatal, problems };
  };
}
