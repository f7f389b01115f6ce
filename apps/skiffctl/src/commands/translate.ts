/**
 * `skiffctl translate -f <file|dir|->...`: the Envoy resources Skiff builds for every ServiceEntry in
 * the input with the WorkloadEntries it selects, as Envoy proto-JSON (`{"clusters": [...],
 * "endpoints": [...]}`, plus `listeners` and `routes` for the grpc flavour). Invalid objects are
 * reported on stderr and left out, as the watcher would leave them out. DestinationRules apply as for
 * a proxy in each entry's namespace (`translateConfig`).
 */
import { stringify } from 'yaml';
import { loadConfigInputs } from '@skiff/config-files';
import { formatFieldError, formatParseError, normalizeDestinationRule } from '@skiff/model';
import { meshSettingsFromEnvironment, translateConfig, translateResultToJson } from '@skiff/xds-translate';
import { ExitCode, writeLine, type CommandIO } from '../io.js';

export interface TranslateCommandOptions {
  readonly files: readonly string[];
  readonly flavor: 'envoy' | 'grpc';
  readonly naming: 'sidecar' | 'sni-dnat';
  readonly namespace: string;
  readonly output: 'json' | 'yaml';
}

export async function runTranslate(options: TranslateCommandOptions, io: CommandIO): Promise<ExitCode> {
  const load = await loadConfigInputs(options.files, { stdin: io.stdin, defaultNamespace: options.namespace });
  for (const error of load.inputErrors) writeLine(io.stderr, `error: ${error.file}: ${error.message}`);
  if (load.inputErrors.length > 0) return ExitCode.Usage;
  for (const error of load.errors) writeLine(io.stderr, `error: ${formatParseError(error)}`);
  for (const rejected of load.rejected) for (const error of rejected.errors) writeLine(io.stderr, `invalid: ${formatFieldError(error)}`);

  let mesh;
  try {
    // istiod's output-changing feature flags, by their environment variables (docs/istio-compatibility.md).
    mesh = meshSettingsFromEnvironment(process.env);
  } catch (error) {
    writeLine(io.stderr, `error: ${error instanceof Error ? error.message : String(error)}`);
    return ExitCode.Usage;
  }
  const destinationRules = load.accepted.flatMap((accepted) => (accepted.object.kind === 'DestinationRule' ? [normalizeDestinationRule(accepted.object)] : []));
  const translation = translateConfig({ ...load, destinationRules }, { flavor: options.flavor, naming: options.naming, mesh });
  for (const error of translation.errors) writeLine(io.stderr, `warning: ${error.message}`);
  for (const duplicate of translation.duplicates) {
    writeLine(io.stderr, `warning: ${duplicate.kind} ${duplicate.name} is built by ${duplicate.keptFrom} and ${duplicate.droppedFrom}; keeping ${duplicate.keptFrom} (the older)`);
  }
  const { errors: _errors, ...json } = translateResultToJson(translation);
  io.stdout.write(options.output === 'yaml' ? stringify(json) : `${JSON.stringify(json, null, 2)}\n`);
  return load.rejected.length > 0 || load.errors.length > 0 ? ExitCode.Findings : ExitCode.Ok;
}
