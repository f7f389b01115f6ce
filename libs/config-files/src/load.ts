/**
 * Reads every input and loads it as Istio configuration: one `LoadResult` for files, directories and
 * stdin together, plus the inputs that could not be read. The same object defined twice (in two files,
 * or twice in one) is an error of the later definition, as `kubectl apply` of both would silently keep
 * only one of them.
 */
import { loadIstioConfig, objectLabel, type LoadOptions, type LoadResult, type SourceRef } from '@skiff/model';
import { readConfigInputs, type InputError } from './read.js';

export interface ConfigLoad extends LoadResult {
  /** The files read, in the order they were read (inputs in order, directories sorted). */
  readonly files: string[];
  readonly inputErrors: InputError[];
}

/** Where an object is defined; unique per object within a set of files. */
const positionOf = (source: SourceRef): string => `${source.file}:${source.line}${source.item === undefined ? '' : `#${source.item}`}`;

/** Merges per-file results, rejecting later duplicates of an object (same kind, namespace and name). */
export function mergeLoadResults(results: readonly LoadResult[]): LoadResult {
  const merged: LoadResult = { serviceEntries: [], workloadEntries: [], sidecars: [], gateways: [], accepted: [], rejected: [], ignored: [], errors: [] };
  const firstDefinition = new Map<string, string>();
  const duplicatePositions = new Set<string>();
  for (const result of results) {
    for (const accepted of result.accepted) {
      const id = `${accepted.kind}/${accepted.namespace}/${accepted.name}`;
      const position = positionOf(accepted.source);
      const first = firstDefinition.get(id);
      if (first === undefined) {
        firstDefinition.set(id, position);
        merged.accepted.push(accepted);
        continue;
      }
      duplicatePositions.add(position);
      merged.rejected.push({
        kind: accepted.kind,
        namespace: accepted.namespace,
        name: accepted.name,
        source: accepted.source,
        errors: [{ object: objectLabel(accepted.kind, accepted.namespace, accepted.name), field: 'metadata.name', reason: `duplicate object: already defined at ${first}` }],
      });
    }
    for (const entry of result.serviceEntries) if (!duplicatePositions.has(positionOf(entry.source))) merged.serviceEntries.push(entry);
    for (const entry of result.workloadEntries) if (!duplicatePositions.has(positionOf(entry.source))) merged.workloadEntries.push(entry);
    for (const entry of result.sidecars) if (!duplicatePositions.has(positionOf(entry.source))) merged.sidecars.push(entry);
    for (const entry of result.gateways) if (!duplicatePositions.has(positionOf(entry.source))) merged.gateways.push(entry);
    for (const item of result.rejected) merged.rejected.push(item);
    for (const item of result.ignored) merged.ignored.push(item);
    for (const item of result.errors) merged.errors.push(item);
  }
  return merged;
}

/** Reads `inputs` (files, directories, `-`) and loads them as one configuration. */
export async function loadConfigInputs(inputs: readonly string[], options: LoadOptions & { stdin?: NodeJS.ReadableStream } = {}): Promise<ConfigLoad> {
  const { stdin, ...loadOptions } = options;
  const { texts, errors } = await readConfigInputs(inputs, stdin);
  const merged = mergeLoadResults(texts.map(({ file, text }) => loadIstioConfig(text, file, loadOptions)));
  return { ...merged, files: texts.map((t) => t.file), inputErrors: errors };
}
