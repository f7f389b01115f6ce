/**
 * Test input as a user writes it: Istio YAML through the real loader and the shared selection
 * rule, then translation of every ServiceEntry with its endpoints, merged into one result.
 */
import { formatFieldError, formatParseError, loadIstioConfig, selectsWorkload } from '@skiff/model';
import { translateServiceEntry, type TranslateOptions, type TranslateResult } from '../index.js';

/** Every ServiceEntry in `text` translated; fails if any object is rejected (a test input must be valid). */
export function loadCase(text: string, file: string, options: TranslateOptions): TranslateResult {
  const loaded = loadIstioConfig(text, file);
  const problems = [
    ...loaded.errors.map(formatParseError),
    ...loaded.rejected.flatMap((rejected) => rejected.errors.map(formatFieldError)),
  ];
  if (problems.length > 0) throw new Error(`${file} is not valid Istio config:\n${problems.join('\n')}`);
  if (loaded.serviceEntries.length === 0) throw new Error(`${file} has no ServiceEntry`);

  const merged: TranslateResult = { clusters: [], loadAssignments: [], listeners: [], routes: [], errors: [] };
  for (const { serviceEntry, inlineEndpoints } of loaded.serviceEntries) {
    const selected = loaded.workloadEntries.map(({ endpoint }) => endpoint).filter((endpoint) => selectsWorkload(serviceEntry, endpoint));
    const result = translateServiceEntry({ serviceEntry, endpoints: [...inlineEndpoints, ...selected] }, options);
    for (const item of result.clusters) merged.clusters.push(item);
    for (const item of result.loadAssignments) merged.loadAssignments.push(item);
    for (const item of result.listeners) merged.listeners.push(item);
    for (const item of result.routes) merged.routes.push(item);
    for (const item of result.errors) merged.errors.push(item);
  }
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  merged.clusters.sort((a, b) => byName(a.name, b.name));
  merged.loadAssignments.sort((a, b) => byName(a.clusterName, b.clusterName));
  merged.listeners.sort((a, b) => byName(a.name, b.name));
  merged.routes.sort((a, b) => byName(a.name, b.name));
  return merged;
}
