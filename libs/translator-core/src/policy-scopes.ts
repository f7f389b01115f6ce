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
 * VirtualServices join the outcome the same way: which ones may claim a host depends on the proxy's
 * namespace (their own, those in their exportTo, and the `sourceNamespace` of their matches are named),
 * and which matches apply on its labels (`sourceLabels`, told apart like rule selectors, in every
 * namespace).
 *
 * Pure: the same ServiceEntry, rules and VirtualServices give the same table and scope names; without
 * VirtualServices, the same as from the rules alone.
 */
import { createHash } from 'node:crypto';
import type { NormalizedDestinationRule, NormalizedServiceEntry, NormalizedVirtualService } from '@skiff/model';
import { canonicalJson, MAX_SCOPE_SELECTORS, type PolicyScopes, type ScopeChoice } from '@skiff/store';
import {
  chooseDestinationRule,
  chooseVirtualServices,
  type AppliedVirtualService,
  DEFAULT_DESTINATION_RULE_LOOKUP_OPTIONS,
  DestinationRuleIndex,
  type AppliedDestinationRule,
  type DestinationRuleLookupOptions,
} from '@skiff/xds-translate';

/** The rules one scope applies: per host of the ServiceEntry, the rule its proxies get (hosts without one left out). */
export type ScopeRules = ReadonlyMap<string, AppliedDestinationRule>;

/** The VirtualServices one scope tries: per host of the ServiceEntry, the candidates its proxies get (hosts without any left out). */
export type ScopeRoutes = ReadonlyMap<string, readonly AppliedVirtualService[]>;

export interface PolicyScopeResult {
  /** Absent when no proxy gets any rule: the ServiceEntry builds exactly what it builds without rules. */
  readonly table: PolicyScopes | undefined;
  /** Every scope the table names, with its rules; `''` (the default scope) has none. */
  readonly scopes: ReadonlyMap<string, ScopeRules>;
  /** Per scope that has any, its VirtualServices; a scope missing here has none. */
  readonly routes: ReadonlyMap<string, ScopeRoutes>;
  /** Namespaces with more selectors than `MAX_SCOPE_SELECTORS` (the rest are not told apart). */
  readonly problems: readonly string[];
}

/** A namespace no rule can name: Kubernetes namespaces are non-empty. Stands for "any other namespace". */
const OTHER_NAMESPACE = '';

/** Every match of a VirtualService's HTTP routes. */
function matchesOf(virtualService: NormalizedVirtualService): Readonly<Record<string, unknown>>[] {
  return virtualService.http.flatMap((route) =>
    Array.isArray(route['match']) ? (route['match'] as unknown[]).filter((match): match is Readonly<Record<string, unknown>> => typeof match === 'object' && match !== null) : [],
  );
}

const DEFAULT_CHOICE: ScopeChoice = Object.freeze({ selectors: Object.freeze([]), scopes: Object.freeze(['']) });

const byKey = <T>([a]: readonly [string, T], [b]: readonly [string, T]): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The scope name of what a scope applies: `p` and 12 hex digits of its hash. The rules alone hash as
 * they did before VirtualServices were read, so their scopes keep their names.
 */
function scopeName(rules: ScopeRules, routes: ScopeRoutes): string {
  if (rules.size === 0 && routes.size === 0) return '';
  const ruleText = [...rules].sort(byKey).map(([host, applied]) => [host, applied.rule, applied.from]);
  const text = canonicalJson(routes.size === 0 ? ruleText : [ruleText, [...routes].sort(byKey)]);
  return `p${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
}

/** Computes the policy scopes of `serviceEntry` under `rules` (those stored beside it). */
export function policyScopesOf(
  serviceEntry: Pick<NormalizedServiceEntry, 'namespace' | 'hosts'>,
  rules: readonly NormalizedDestinationRule[],
  lookupOptions: Partial<DestinationRuleLookupOptions> = {},
  virtualServices: readonly NormalizedVirtualService[] = [],
): PolicyScopeResult {
  const scopes = new Map<string, ScopeRules>([['', new Map()]]);
  const routes = new Map<string, ScopeRoutes>();
  if (rules.length === 0 && virtualServices.length === 0) return { table: undefined, scopes, routes, problems: [] };
  const options = { ...DEFAULT_DESTINATION_RULE_LOOKUP_OPTIONS, ...lookupOptions };
  const virtualServiceOptions = { domainSuffix: options.domainSuffix, defaultVirtualServiceExportTo: [] };
  const sourceLabels = virtualServices.flatMap((virtualService) =>
    matchesOf(virtualService).flatMap((match) => {
      const labels = match['sourceLabels'];
      return typeof labels === 'object' && labels !== null && Object.keys(labels).length > 0 ? [labels as Readonly<Record<string, string>>] : [];
    }),
  );
  const index = new DestinationRuleIndex(rules, options);
  const problems: string[] = [];

  const choiceIn = (namespace: string): ScopeChoice => {
    const candidates = serviceEntry.hosts.map((host) => [host, index.candidates(namespace, { host, namespace: serviceEntry.namespace })] as const);
    // The selectors of this namespace's own rules among the candidates, deduplicated, in a stable order.
    const selectorTexts = new Map<string, Readonly<Record<string, string>>>();
    for (const [, list] of candidates) {
      for (const { rule } of list) if (rule.workloadSelector !== null && rule.namespace === namespace) selectorTexts.set(canonicalJson(rule.workloadSelector), rule.workloadSelector);
    }
    // A match's source labels tell proxies apart like a rule's selector, in any namespace.
    for (const labels of sourceLabels) selectorTexts.set(canonicalJson(labels), labels);
    const ordered = [...selectorTexts.keys()].sort();
    if (ordered.length > MAX_SCOPE_SELECTORS) {
      problems.push(`namespace ${namespace}: ${ordered.length} DestinationRule workload selectors for one ServiceEntry, more than ${MAX_SCOPE_SELECTORS}; proxies are told apart by the first ${MAX_SCOPE_SELECTORS} only`);
    }
    const considered = ordered.slice(0, MAX_SCOPE_SELECTORS);
    const bitOf = new Map(considered.map((text, bit) => [text, bit]));
    const classScopes: string[] = [];
    for (let selectorClass = 0; selectorClass < 2 ** considered.length; selectorClass += 1) {
      const outcome = new Map<string, AppliedDestinationRule>();
      const contains = (selector: Readonly<Record<string, string>>): boolean => {
        const bit = bitOf.get(canonicalJson(selector));
        return bit !== undefined && (selectorClass & (1 << bit)) !== 0;
      };
      // No source labels: every proxy has them (`labels.Instance(nil).SubsetOf`).
      const hasLabels = (labels: Readonly<Record<string, string>>): boolean => Object.keys(labels).length === 0 || contains(labels);
      for (const [host, list] of candidates) {
        const chosen = chooseDestinationRule(list, namespace, contains);
        if (chosen !== undefined) outcome.set(host, chosen);
      }
      const routeOutcome = new Map<string, readonly AppliedVirtualService[]>();
      if (virtualServices.length > 0) {
        for (const host of serviceEntry.hosts) {
          const chosen = chooseVirtualServices(virtualServices, host, { namespace, hasLabels }, virtualServiceOptions);
          if (chosen.length > 0) routeOutcome.set(host, chosen);
        }
      }
      const name = scopeName(outcome, routeOutcome);
      scopes.set(name, outcome);
      if (routeOutcome.size > 0) routes.set(name, routeOutcome);
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
  for (const virtualService of virtualServices) {
    named.add(virtualService.namespace);
    for (const entry of virtualService.exportTo) if (entry !== '.' && entry !== '*' && entry !== '~') named.add(entry);
    for (const match of matchesOf(virtualService)) if (typeof match['sourceNamespace'] === 'string' && match['sourceNamespace'] !== '') named.add(match['sourceNamespace']);
  }
  const otherNamespaces = choiceIn(OTHER_NAMESPACE);
  const otherText = canonicalJson(otherNamespaces);
  const namespaces: Record<string, ScopeChoice> = {};
  for (const namespace of [...named].sort()) {
    const choice = choiceIn(namespace);
    if (canonicalJson(choice) !== otherText) namespaces[namespace] = choice;
  }
  if (Object.keys(namespaces).length === 0 && canonicalJson(otherNamespaces) === canonicalJson(DEFAULT_CHOICE)) {
    return { table: undefined, scopes: new Map([['', new Map()]]), routes: new Map(), problems };
  }
  // Keep only the scopes the table names (a class's outcome may repeat another's).
  const used = new Set([...otherNamespaces.scopes, ...Object.values(namespaces).flatMap((choice) => choice.scopes)]);
  for (const name of [...scopes.keys()]) if (!used.has(name)) scopes.delete(name);
  for (const name of [...routes.keys()]) if (!used.has(name)) routes.delete(name);
  return { table: { namespaces, otherNamespaces }, scopes, routes, problems };
}
