/**
 * The DestinationRule outcomes of one ServiceEntry over every proxy, grouped into policy scopes.
 *
 * Which rule a proxy gets for a host depends on its namespace and, for rules with a workloadSelector,
 * its labels (`pilot/pkg/model/push_context.go` `destinationRule`, `pilot/pkg/model/sidecar.go`
 * `SidecarScope.DestinationRule`). Only the namespaces the rules name can differ from each other: a
 * rule's own namespace, those in its exportTo, the ServiceEntry's namespace (whose exported rules every
 * proxy consults) and the root namespace; every other namespace sees the same as any namespace no rule
 * names. Within a namespace, the labels matter only through which of its rules' selectors they contain.
 * So the proxies fall into finitely many classes; classes with equal outcomes share a scope, the
 * resources are built once per scope, and the table of classes is stored in the ownership record for
 * the gateways (`policyScopeFor`).
 *
 * Pure: the same ServiceEntry and rules give the same table and scope names.
 */
import { createHash } from 'node:crypto';
import type { NormalizedDestinationRule, NormalizedServiceEntry } from '@skiff/model';
import { canonicalJson, MAX_SCOPE_SELECTORS, type PolicyScopes, type ScopeChoice } from '@skiff/store';
import {
  chooseDestinationRule,
  DEFAULT_DESTINATION_RULE_LOOKUP_OPTIONS,
  DestinationRuleIndex,
  type AppliedDestinationRule,
  type DestinationRuleLookupOptions,
} from '@skiff/xds-translate';

/** The rules one scope applies: per host of the ServiceEntry, the rule its proxies get (hosts without one left out). */
export type ScopeRules = ReadonlyMap<string, AppliedDestinationRule>;

export interface PolicyScopeResult {
  /** Absent when no proxy gets any rule: the ServiceEntry builds exactly what it builds without rules. */
  readonly table: PolicyScopes | undefined;
  /** Every scope the table names, with its rules; `''` (the default scope) has none. */
  readonly scopes: ReadonlyMap<string, ScopeRules>;
  /** Namespaces with more selectors than `MAX_SCOPE_SELECTORS` (the rest are not told apart). */
  readonly problems: readonly string[];
}

/** A namespace no rule can name: Kubernetes namespaces are non-empty. Stands for "any other namespace". */
const OTHER_NAMESPACE = '';

const DEFAULT_CHOICE: ScopeChoice = Object.freeze({ selectors: Object.freeze([]), scopes: Object.freeze(['']) });

/** The scope name of a set of rules: `p` and 12 hex digits of the hash of what it applies. */
function scopeName(rules: ScopeRules): string {
  if (rules.size === 0) return '';
  const text = canonicalJson([...rules].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([host, applied]) => [host, applied.rule, applied.from]));
  return `p${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
}

/** Computes the policy scopes of `serviceEntry` under `rules` (those stored beside it). */
export function policyScopesOf(
  serviceEntry: Pick<NormalizedServiceEntry, 'namespace' | 'hosts'>,
  rules: readonly NormalizedDestinationRule[],
  lookupOptions: Partial<DestinationRuleLookupOptions> = {},
): PolicyScopeResult {
  const scopes = new Map<string, ScopeRules>([['', new Map()]]);
  if (rules.length === 0) return { table: undefined, scopes, problems: [] };
  const options = { ...DEFAULT_DESTINATION_RULE_LOOKUP_OPTIONS, ...lookupOptions };
  const index = new DestinationRuleIndex(rules, options);
  const problems: string[] = [];

  const choiceIn = (namespace: string): ScopeChoice => {
    const candidates = serviceEntry.hosts.map((host) => [host, index.candidates(namespace, { host, namespace: serviceEntry.namespace })] as const);
    // The selectors of this namespace's own rules among the candidates, deduplicated, in a stable order.
    const selectorTexts = new Map<string, Readonly<Record<string, string>>>();
    for (const [, list] of candidates) {
      for (const { rule } of list) if (rule.workloadSelector !== null && rule.namespace === namespace) selectorTexts.set(canonicalJson(rule.workloadSelector), rule.workloadSelector);
    }
    const ordered = [...selectorTexts.keys()].sort();
    if (ordered.length > MAX_SCOPE_SELECTORS) {
      problems.push(`namespace ${namespace}: ${ordered.length} DestinationRule workload selectors for one ServiceEntry, more than ${MAX_SCOPE_SELECTORS}; proxies are told apart by the first ${MAX_SCOPE_SELECTORS} only`);
    }
    const considered = ordered.slice(0, MAX_SCOPE_SELECTORS);
    const bitOf = new Map(considered.map((text, bit) => [text, bit]));
    const classScopes: string[] = [];
    for (let selectorClass = 0; selectorClass < 2 ** considered.length; selectorClass += 1) {
      const outcome = new Map<string, AppliedDestinationRule>();
      for (const [host, list] of candidates) {
        const chosen = chooseDestinationRule(list, namespace, (selector) => {
          const bit = bitOf.get(canonicalJson(selector));
          return bit !== undefined && (selectorClass & (1 << bit)) !== 0;
        });
        if (chosen !== undefined) outcome.set(host, chosen);
      }
      const name = scopeName(outcome);
      scopes.set(name, outcome);
      classScopes.push(name);
    }
    // Selectors that change nothing are left out, so such a namespace reads like any other.
    if (classScopes.every((name) => name === classScopes[0])) return { selectors: [], scopes: [classScopes[0]!] };
    return { selectors: considered.map((text) => selectorTexts.get(text)!), scopes: classScopes };
  };

  const named = new Set<string>([serviceEntry.namespace, options.rootNamespace]);
  for (const rule of rules) {
    named.add(rule.namespace);
    for (const entry of rule.exportTo) if (entry !== '.' && entry !== '*' && entry !== '~') named.add(entry);
  }
  const otherNamespaces = choiceIn(OTHER_NAMESPACE);
  const otherText = canonicalJson(otherNamespaces);
  const namespaces: Record<string, ScopeChoice> = {};
  for (const namespace of [...named].sort()) {
    const choice = choiceIn(namespace);
    if (canonicalJson(choice) !== otherText) namespaces[namespace] = choice;
  }
  if (Object.keys(namespaces).length === 0 && canonicalJson(otherNamespaces) === canonicalJson(DEFAULT_CHOICE)) {
    return { table: undefined, scopes: new Map([['', new Map()]]), problems };
  }
  // Keep only the scopes the table names (a class's outcome may repeat another's).
  const used = new Set([...otherNamespaces.scopes, ...Object.values(namespaces).flatMap((choice) => choice.scopes)]);
  for (const name of [...scopes.keys()]) if (!used.has(name)) scopes.delete(name);
  return { table: { namespaces, otherNamespaces }, scopes, problems };
}
