/**
 * `skiffctl translate -f <file|dir|->...`: the Envoy resources Skiff builds for every ServiceEntry in
 * the input with the WorkloadEntries it selects, as Envoy proto-JSON (`{"clusters": [...],
 * "endpoints": [...]}`, plus `listeners` and `routes` for the grpc flavour). Invalid objects are
 * reported on stderr and left out, as the watcher would leave them out. DestinationRules (and, for the
 * grpc flavour's routes, VirtualServices) apply as for a proxy in each entry's namespace (`translateConfig`). Locality load balancing depends on the proxy:
 * with `--proxy-locality` (and `--proxy-labels` for `failoverPriority`) the endpoints are what a proxy
 * there gets; without, they are the shared ones and stderr names the assignments a locality changes.
 */
import { stringify } from 'yaml';
import { loadConfigInputs } from '@skiff/config-files';
import { formatFieldError, formatParseError, normalizeDestinationRule, normalizeVirtualService } from '@skiff/model';
import { readFile } from 'node:fs/promises';
import {
  localityProxyOf,
  meshSettingsFromEnvironment,
  meshSettingsFromMeshConfigYaml,
  splitLocalityLabel,
  translateConfig,
  translateResultToJson,
  type LocalityProxy,
  type MeshConfigResult,
} from '@skiff/xds-translate';
import { ExitCode, writeLine, type CommandIO } from '../io.js';

export interface TranslateCommandOptions {
  readonly files: readonly string[];
  readonly flavor: 'envoy' | 'grpc';
  readonly naming: 'sidecar' | 'sni-dnat';
  readonly namespace: string;
  readonly output: 'json' | 'yaml';
  /** `region/zone/subzone` of the proxy the endpoints are built for (locality load balancing). */
  readonly proxyLocality?: string;
  /** `key=value` labels of that proxy (`failoverPriority`). */
  readonly proxyLabels?: readonly string[];
  /** istiod's MeshConfig YAML file (`--mesh-config`). */
  readonly meshConfig?: string;
}

/** The proxy `--proxy-locality` / `--proxy-labels` describe, with istiod's topology labels; an error message for bad labels. */
function proxyOf(options: TranslateCommandOptions, clusterId: string): LocalityProxy | string | undefined {
  if (options.proxyLocality === undefined && (options.proxyLabels ?? []).length === 0) return undefined;
  const labels: Record<string, string> = {};
  for (const entry of options.proxyLabels ?? []) {
    const equals = entry.indexOf('=');
    if (equals <= 0) return `--proxy-labels: "${entry}" is not key=value`;
    labels[entry.slice(0, equals)] = entry.slice(equals + 1);
  }
  return localityProxyOf({ labels, nodeLocality: splitLocalityLabel(options.proxyLocality ?? ''), clusterId, nodeName: '', network: '' });
}

/** The `--mesh-config` file's text; an error naming the file when it cannot be read. */
async function readMeshConfig(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`--mesh-config ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

export async function runTranslate(options: TranslateCommandOptions, io: CommandIO): Promise<ExitCode> {
  const load = await loadConfigInputs(options.files, { stdin: io.stdin, defaultNamespace: options.namespace });
  for (const error of load.inputErrors) writeLine(io.stderr, `error: ${error.file}: ${error.message}`);
  if (load.inputErrors.length > 0) return ExitCode.Usage;
  for (const error of load.errors) writeLine(io.stderr, `error: ${formatParseError(error)}`);
  for (const rejected of load.rejected) for (const error of rejected.errors) writeLine(io.stderr, `invalid: ${formatFieldError(error)}`);

  let mesh;
  try {
    // istiod's MeshConfig, then its output-changing feature flags by their environment variables (docs/istio-compatibility.md).
    const fromFile: MeshConfigResult | undefined = options.meshConfig === undefined ? undefined : meshSettingsFromMeshConfigYaml(await readMeshConfig(options.meshConfig));
    for (const field of fromFile?.ignored ?? []) writeLine(io.stderr, `note: ${options.meshConfig ?? ''}: ${field} is not read by Skiff`);
    mesh = meshSettingsFromEnvironment(process.env, fromFile?.mesh);
  } catch (error) {
    writeLine(io.stderr, `error: ${error instanceof Error ? error.message : String(error)}`);
    return ExitCode.Usage;
  }
  const destinationRules = load.accepted.flatMap((accepted) => (accepted.object.kind === 'DestinationRule' ? [normalizeDestinationRule(accepted.object)] : []));
  const proxy = proxyOf(options, mesh.clusterId);
  if (typeof proxy === 'string') {
    writeLine(io.stderr, `error: ${proxy}`);
    return ExitCode.Usage;
  }
  const virtualServices = load.accepted.flatMap((accepted) => (accepted.object.kind === 'VirtualService' ? [normalizeVirtualService(accepted.object)] : []));
  const translation = translateConfig({ ...load, destinationRules, virtualServices }, { flavor: options.flavor, naming: options.naming, mesh }, {}, proxy);
  for (const { clusterName, inline } of translation.localityLbPolicies) {
    const what = inline === true ? 'inline endpoints of the DNS cluster' : 'endpoints of';
    writeLine(io.stderr, `note: the ${what} ${clusterName} depend on the proxy's locality (localityLbSetting); --proxy-locality shows one proxy's`);
  }
  for (const error of translation.errors) writeLine(io.stderr, `warning: ${error.message}`);
  for (const duplicate of translation.duplicates) {
    writeLine(io.stderr, `warning: ${duplicate.kind} ${duplicate.name} is built by ${duplicate.keptFrom} and ${duplicate.droppedFrom}; keeping ${duplicate.keptFrom} (the older)`);
  }
  const { errors: _errors, ...json } = translateResultToJson(translation);
  io.stdout.write(options.output === 'yaml' ? stringify(json) : `${JSON.stringify(json, null, 2)}\n`);
  return load.rejected.length > 0 || load.errors.length > 0 ? ExitCode.Findings : ExitCode.Ok;
}
