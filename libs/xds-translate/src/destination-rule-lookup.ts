/**
 * Which DestinationRule a proxy gets for a host, as istiod chooses it:
 *
 * - the index: `pilot/pkg/model/push_context.go` `setDestinationRules` (rules sorted by
 *   `sortConfigBySelectorAndCreationTime`, short hosts made FQDNs, each rule filed under its namespace's
 *   local rules, its namespace's exported rules, and the root namespace's private rules by its exportTo),
 *   merging rules of one namespace for one host with `pilot/pkg/model/destination_rule.go`
 *   `mergeDestinationRule` (`ENABLE_ENHANCED_DESTINATIONRULE_MERGE`, on by default);
 * - the lookup: `push_context.go` `destinationRule` (the proxy namespace's rules, then the service
 *   namespace's rules exported to the proxy, then the root namespace's), each by
 *   `pilot/pkg/model/config.go` `MostSpecificHostMatch`;
 * - the choice among the candidates by the proxy's labels: `pilot/pkg/model/sidecar.go`
 *   `SidecarScope.DestinationRule` (outbound).
 *
 * Pure: the same rules and proxy give the same answer, whatever the order of the rules.
 */
import {
  isMoreSpecificHost,
  isWildcardHost,
  labelsMatch,
  resolveShortnameToFqdn,
  type NormalizedDestinationRule,
  type NormalizedSubset,
  type ObjectKey,
} from '@skiff/model';
import type { AppliedDestinationRule } from './destination-rule.js';

export interface DestinationRuleLookupOptions {
  /** The mesh's `rootNamespace`: its exported rules apply to every namespace. Default `istio-system`. */
  readonly rootNamespace: string;
  /** The mesh's `defaultDestinationRuleExportTo`; only `.` changes anything (`setDestinationRules`). Default empty (public). */
  readonly defaultDestinationRuleExportTo: readonly string[];
  /**
   * Completes a short `spec.host` (`ResolveShortnameToFQDN`): istiod's Kubernetes config carries the
   * cluster's domain suffix; config from files carries none (`''`). Default `cluster.local`.
   */
  readonly domainSuffix: string;
}

export const DEFAULT_DESTINATION_RULE_LOOKUP_OPTIONS: DestinationRuleLookupOptions = Object.freeze({
  rootNamespace: 'istio-system',
  defaultDestinationRuleExportTo: Object.freeze([]),
  domainSuffix: 'cluster.local',
});

/** The proxy asking: its config namespace and its labels (node metadata `LABELS`). */
export interface DestinationRuleClient {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The service whose rule is wanted: one host of a ServiceEntry, and the ServiceEntry's namespace. */
export interface DestinationRuleTarget {
  readonly host: string;
  readonly namespace: string;
}

/** istiod's `ConsolidatedDestRule` while the index is built (the merged rule is replaced, never mutated). */
interface Consolidated {
  rule: NormalizedDestinationRule;
  from: ObjectKey[];
  /** The exportTo set of the first rule (`exportTo` field of `ConsolidatedDestRule`). */
  readonly exportTo: ReadonlySet<string>;
}

/** istiod's `consolidatedDestRules`: merged rules by resolved host, specific and wildcard apart. */
interface ConsolidatedRules {
  readonly specific: Map<string, Consolidated[]>;
  readonly wildcard: Map<string, Consolidated[]>;
}

const newConsolidatedRules = (): ConsolidatedRules => ({ specific: new Map(), wildcard: new Map() });

/** `sortConfigBySelectorAndCreationTime`: rules with a selector first, then oldest, then by name, then namespace. */
function compareRules(a: NormalizedDestinationRule, b: NormalizedDestinationRule): number {
  const aSelector = a.workloadSelector !== null;
  const bSelector = b.workloadSelector !== null;
  if (aSelector !== bSelector) return aSelector ? -1 : 1;
  if (a.creationTime !== b.creationTime) return a.creationTime - b.creationTime;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return 0;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const value of a) if (!b.has(value)) return false;
  return true;
}

function isSuperset(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const value of b) if (!a.has(value)) return false;
  return true;
}

/** `labels.Instance.Equals` over matchLabels. */
function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  return aKeys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}

/**
 * `mergeDestinationRule`: files `rule` under its resolved host, merging it into the rules already there
 * whose exportTo and selector allow it. A merge keeps the first rule's policy and metadata, appends the
 * subsets whose names are new (a repeated name keeps the first), and takes the incoming top-level
 * traffic policy only when the first rule had none.
 */
function mergeDestinationRule(into: ConsolidatedRules, rule: NormalizedDestinationRule, exportTo: ReadonlySet<string>): void {
  const byHost = isWildcardHost(rule.host) ? into.wildcard : into.specific;
  const existing = byHost.get(rule.host);
  const key: ObjectKey = { namespace: rule.namespace, name: rule.name };
  const fresh = (): Consolidated => ({ rule, from: [key], exportTo });
  if (existing === undefined) {
    byHost.set(rule.host, [fresh()]);
    return;
  }
  let appendSeparately = true;
  for (const merged of existing) {
    // Enhanced merge: only rules with the same exportTo merge; a wider exportTo merges and is also kept alone.
    if (sameSet(exportTo, merged.exportTo)) {
      appendSeparately = false;
    } else if (merged.exportTo.size > 0 && isSuperset(exportTo, merged.exportTo)) {
      appendSeparately = true;
    } else {
      appendSeparately = true;
      continue;
    }
    const incomingSelector = rule.workloadSelector;
    const existingSelector = merged.rule.workloadSelector;
    const bothWithSelector = incomingSelector !== null && existingSelector !== null;
    const bothWithoutSelector = incomingSelector === null && existingSelector === null;
    const selectorsMatch = sameLabels(existingSelector ?? {}, incomingSelector ?? {});
    if (bothWithSelector && !selectorsMatch) {
      appendSeparately = true;
      continue;
    }
    if (bothWithoutSelector || (bothWithSelector && selectorsMatch)) appendSeparately = false;

    const names = new Set(merged.rule.subsets.map((subset) => subset.name));
    const added: NormalizedSubset[] = rule.subsets.filter((subset) => !names.has(subset.name));
    merged.rule = {
      ...merged.rule,
      subsets: [...merged.rule.subsets, ...added],
      trafficPolicy: merged.rule.trafficPolicy ?? rule.trafficPolicy,
    };
    merged.from = [...merged.from, key];
  }
  if (appendSeparately) existing.push(fresh());
}

/** `MostSpecificHostMatch`: the exact host, else the most specific wildcard covering it. */
function mostSpecificHostMatch(needle: string, rules: ConsolidatedRules): readonly Consolidated[] | undefined {
  if (isWildcardHost(needle)) {
    const exact = rules.wildcard.get(needle);
    if (exact !== undefined) return exact;
    return mostSpecificWildcardMatch(needle.slice(1), rules.wildcard);
  }
  const exact = rules.specific.get(needle);
  if (exact !== undefined) return exact;
  return mostSpecificWildcardMatch(needle, rules.wildcard);
}

/** `mostSpecificHostWildcardMatch`: a wildcard `*x` covers every needle ending in `x`. */
function mostSpecificWildcardMatch(needle: string, wildcard: ReadonlyMap<string, readonly Consolidated[]>): readonly Consolidated[] | undefined {
  let best: string | undefined;
  for (const host of wildcard.keys()) {
    if (!needle.endsWith(host.slice(1))) continue;
    if (best === undefined || isMoreSpecificHost(host, best)) best = host;
  }
  return best === undefined ? undefined : wildcard.get(best);
}

const applied = (merged: Consolidated): AppliedDestinationRule => ({ rule: merged.rule, from: merged.from });

/**
 * The DestinationRules of a mesh, indexed as istiod's `destinationRuleIndex`. Build it once for a set of
 * rules and ask it for any number of (proxy, host) pairs.
 */
export class DestinationRuleIndex {
  private readonly options: DestinationRuleLookupOptions;
  private readonly namespaceLocal = new Map<string, ConsolidatedRules>();
  private readonly exportedByNamespace = new Map<string, ConsolidatedRules>();
  private readonly rootNamespaceLocal = newConsolidatedRules();

  constructor(rules: readonly NormalizedDestinationRule[], options: Partial<DestinationRuleLookupOptions> = {}) {
    this.options = { ...DEFAULT_DESTINATION_RULE_LOOKUP_OPTIONS, ...options };
    const { rootNamespace, defaultDestinationRuleExportTo, domainSuffix } = this.options;
    const sorted = rules
      .map((rule) => ({ ...rule, host: resolveShortnameToFqdn(rule.host, rule.namespace, domainSuffix) }))
      .sort(compareRules);
    for (const rule of sorted) {
      // A rule with a workloadSelector is never exported: validation allows only its own namespace.
      const exportTo: ReadonlySet<string> = rule.workloadSelector === null ? new Set(rule.exportTo) : new Set(['.']);
      const ns = rule.namespace;
      if (exportTo.size === 0 || exportTo.has('*') || exportTo.has('.') || exportTo.has(ns)) {
        mergeDestinationRule(this.rulesOf(this.namespaceLocal, ns), rule, exportTo);
      }
      const privateOnly =
        (exportTo.size === 0 && defaultDestinationRuleExportTo.includes('.')) || (exportTo.size === 1 && (exportTo.has('.') || exportTo.has(ns)));
      if (!privateOnly) mergeDestinationRule(this.rulesOf(this.exportedByNamespace, ns), rule, exportTo);
      else if (ns === rootNamespace) mergeDestinationRule(this.rootNamespaceLocal, rule, exportTo);
    }
  }

  private rulesOf(map: Map<string, ConsolidatedRules>, namespace: string): ConsolidatedRules {
    let rules = map.get(namespace);
    if (rules === undefined) {
      rules = newConsolidatedRules();
      map.set(namespace, rules);
    }
    return rules;
  }

  /**
   * `PushContext.destinationRule`: the merged rules a proxy in `proxyNamespace` may use for `target`,
   * before its labels choose among them (several only when some have a workloadSelector or exportTo
   * kept them apart).
   */
  candidates(proxyNamespace: string, target: DestinationRuleTarget): readonly AppliedDestinationRule[] {
    return this.consolidatedCandidates(proxyNamespace, target).map(applied);
  }

  private consolidatedCandidates(proxyNamespace: string, target: DestinationRuleTarget): readonly Consolidated[] {
    const { rootNamespace } = this.options;
    // 1. The proxy namespace's own rules (for a proxy in the root namespace, only its private ones:
    //    its exported ones are found in step 3 like everyone else's).
    const local = proxyNamespace !== rootNamespace ? this.namespaceLocal.get(proxyNamespace) : this.rootNamespaceLocal;
    const own = local === undefined ? undefined : mostSpecificHostMatch(target.host, local);
    if (own !== undefined) return own;
    // 2. Rules of the service's namespace exported to the proxy's namespace.
    const fromService = this.exportedFrom(target.namespace, target.host, proxyNamespace);
    if (fromService.length > 0) return fromService;
    // 3. Rules of the root namespace exported to the proxy's namespace.
    return this.exportedFrom(rootNamespace, target.host, proxyNamespace);
  }

  /** `getExportedDestinationRuleFromNamespace`. */
  private exportedFrom(owningNamespace: string, host: string, clientNamespace: string): readonly Consolidated[] {
    const rules = this.exportedByNamespace.get(owningNamespace);
    const matched = rules === undefined ? undefined : mostSpecificHostMatch(host, rules);
    if (matched === undefined) return [];
    return matched.filter((merged) => merged.exportTo.size === 0 || merged.exportTo.has('*') || merged.exportTo.has(clientNamespace));
  }

  /**
   * The rule `client` gets for `target` (`SidecarScope.DestinationRule`, outbound): the first candidate
   * of the proxy's own namespace whose workloadSelector its labels satisfy, else the last candidate
   * without a selector, else none.
   */
  lookup(client: DestinationRuleClient, target: DestinationRuleTarget): AppliedDestinationRule | undefined {
    return chooseForLabels(this.candidates(client.namespace, target), client);
  }
}

/** `SidecarScope.DestinationRule` over the candidates `PushContext.destinationRule` returned. */
export function chooseForLabels(
  candidates: readonly AppliedDestinationRule[],
  client: DestinationRuleClient,
): AppliedDestinationRule | undefined {
  return chooseDestinationRule(candidates, client.namespace, (selector) => labelsMatch(selector, client.labels));
}

/**
 * `SidecarScope.DestinationRule` with the label test given: the first candidate of the proxy's own
 * namespace with a workloadSelector `selects` accepts, else the last candidate without a selector.
 * (The translator asks it for classes of proxies, by which selectors their labels contain.)
 */
export function chooseDestinationRule(
  candidates: readonly AppliedDestinationRule[],
  proxyNamespace: string,
  selects: (selector: Readonly<Record<string, string>>) => boolean,
): AppliedDestinationRule | undefined {
  let catchAll: AppliedDestinationRule | undefined;
  for (const candidate of candidates) {
    const selector = candidate.rule.workloadSelector;
    if (selector === null) catchAll = candidate;
    else if (candidate.rule.namespace === proxyNamespace && selects(selector)) return candidate;
  }
  return catchAll;
}

/** One lookup over a set of rules (builds the index each time: for many lookups, keep a `DestinationRuleIndex`). */
export function lookupDestinationRule(
  rules: readonly NormalizedDestinationRule[],
  client: DestinationRuleClient,
  target: DestinationRuleTarget,
  options: Partial<DestinationRuleLookupOptions> = {},
): AppliedDestinationRule | undefined {
  return new DestinationRuleIndex(rules, options).lookup(client, target);
}
