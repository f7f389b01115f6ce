/**
 * Test input as a user writes it: Istio YAML through the real loader and the shared selection
 * rule, then translation of every ServiceEntry with its endpoints, merged into one result.
 *
 * DestinationRules in the YAML apply the simplest way that shows istiod's output for a rule: each
 * host of an entry gets the rule whose `spec.host` is that host exactly (the oldest, then by
 * namespace and name, when several are), as if the proxy saw only that rule. Choosing and merging
 * rules for a proxy the way istiod does is the DestinationRule lookup's job, not the translator's.
 */
import {
  formatFieldError,
  formatParseError,
  loadIstioConfig,
  normalizeDestinationRule,
  selectsWorkload,
  type LoadResult,
  type NormalizedDestinationRule,
  type NormalizedServiceEntry,
} from '@skiff/model';
import { translateServiceEntry, type AppliedDestinationRule, type TranslateOptions, type TranslateResult } from '../index.js';

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The rules of the YAML, normalized, oldest first (then by namespace and name). */
export function destinationRulesOf(loaded: LoadResult): NormalizedDestinationRule[] {
  return loaded.accepted
    .flatMap((accepted) => (accepted.object.kind === 'DestinationRule' ? [normalizeDestinationRule(accepted.object)] : []))
    .sort((a, b) => a.creationTime - b.creationTime || compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name));
}

/** Each host of the entry mapped to the first rule whose host is exactly that host. */
export function exactHostRules(serviceEntry: NormalizedServiceEntry, rules: readonly NormalizedDestinationRule[]): Map<string, AppliedDestinationRule> {
  const applied = new Map<string, AppliedDestinationRule>();
  for (const host of serviceEntry.hosts) {
    const rule = rules.find((candidate) => candidate.host === host);
    if (rule !== undefined) applied.set(host, { rule, from: [{ namespace: rule.namespace, name: rule.name }] });
  }
  return applied;
}

/** Every ServiceEntry in `text` translated; fails if any object is rejected (a test input must be valid). */
export function loadCase(text: string, file: string, options: TranslateOptions): TranslateResult {
  const loaded = loadIstioConfig(text, file);
  const problems = [
    ...loaded.errors.map(formatParseError),
    ...loaded.rejected.flatMap((rejected) => rejected.errors.map(formatFieldError)),
  ];
  if (problems.length > 0) throw new Error(`${file} is not valid Istio config:\n${problems.join('\n')}`);
  if (loaded.serviceEntries.length === 0) throw new Error(`${file} has no ServiceEntry`);

  const rules = destinationRulesOf(loaded);
  const merged: TranslateResult = { clusters: [], loadAssignments: [], localityLbPolicies: [], listeners: [], routes: [], namespaceRoutes: [], errors: [] };
  for (const { serviceEntry, inlineEndpoints } of loaded.serviceEntries) {
    const selected = loaded.workloadEntries.map(({ endpoint }) => endpoint).filter((endpoint) => selectsWorkload(serviceEntry, endpoint));
    const destinationRules = exactHostRules(serviceEntry, rules);
    const result = translateServiceEntry({ serviceEntry, endpoints: [...inlineEndpoints, ...selected], destinationRules }, options);
    for (const item of result.clusters) merged.clusters.push(item);
    for (const item of result.loadAssignments) merged.loadAssignments.push(item);
    for (const item of result.localityLbPolicies) merged.localityLbPolicies.push(item);
    for (const item of result.listeners) merged.listeners.push(item);
    for (const item of result.routes) merged.routes.push(item);
    for (const item of result.namespaceRoutes) merged.namespaceRoutes.push(item);
    for (const item of result.errors) merged.errors.push(item);
  }
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  merged.clusters.sort((a, b) => byName(a.name, b.name));
  merged.loadAssignments.sort((a, b) => byName(a.clusterName, b.clusterName));
  merged.localityLbPolicies.sort((a, b) => byName(a.clusterName, b.clusterName));
  merged.listeners.sort((a, b) => byName(a.name, b.name));
  merged.routes.sort((a, b) => byName(a.name, b.name));
  merged.namespaceRoutes.sort((a, b) => byName(a.route.name, b.route.name));
  return merged;
}
