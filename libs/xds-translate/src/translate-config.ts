/**
 * A whole configuration (every ServiceEntry with the WorkloadEntries its selector picks) -> Envoy
 * resources, as `skiffctl translate` prints them. Selection goes through the selector index, the same
 * one the watcher keeps, so the output is what Skiff would serve.
 *
 * Without a proxy there is no visibility to apply, so a cluster name built by two ServiceEntries (the
 * same host and port) is kept once, from the ServiceEntry istiod would prefer: the oldest, then by
 * name and namespace (`SortServicesByCreationTime`, docs/istio-behaviour.md#visibility); the other is reported.
 * Entries of one namespace with one host are each other's siblings (`TranslateInput.siblings`): the
 * kept cluster carries the endpoints of all of them, as istiod's endpoint shard does.
 *
 * DestinationRules apply as they would for a proxy without labels in the entry's own namespace: the
 * DestinationRule lookup istiod does for such a proxy (`destination-rule-lookup.ts`: the proxy's
 * namespace first, then rules exported from the entry's namespace and the root namespace; wildcard
 * hosts; several rules of a namespace merged). A proxy elsewhere may get another rule, as
 * `/debug/config_dump` of a real proxy shows. VirtualServices give the gRPC routes what such a proxy
 * gets from them (`chooseVirtualServices`).
 *
 * Locality load balancing (docs/istio-behaviour.md#destinationrule-locality-load-balancing) rewrites
 * assignments (EDS ones, and the inline ones of DNS clusters) per proxy: with `proxy` given, they are
 * the ones that proxy gets; without, they are the stored ones, and `localityLbPolicies` lists what a
 * proxy's locality would change.
 */
import type { NormalizedDestinationRule, NormalizedEndpoint, NormalizedServiceEntry, NormalizedVirtualService } from '@skiff/model';
import { SelectorIndex } from '@skiff/selector-index';
import { DEFAULT_DESTINATION_RULE_LOOKUP_OPTIONS, DestinationRuleIndex, type DestinationRuleLookupOptions } from './destination-rule-lookup.js';
import type { AppliedDestinationRule } from './destination-rule.js';
import { applyLocalityLbPolicy, applyLocalityLbPolicyToCluster, type LocalityLbPolicy, type LocalityProxy } from './locality-lb.js';
import { translateServiceEntry, type SiblingInput, type TranslateOptions, type TranslateResult } from './translate.js';
import { chooseVirtualServices } from './virtual-service-lookup.js';
import type { AppliedVirtualService } from './virtual-service.js';

export interface ConfigToTranslate {
  readonly serviceEntries: readonly { readonly serviceEntry: NormalizedServiceEntry; readonly inlineEndpoints: readonly NormalizedEndpoint[] }[];
  readonly workloadEntries: readonly { readonly endpoint: NormalizedEndpoint }[];
  readonly destinationRules?: readonly NormalizedDestinationRule[];
  readonly virtualServices?: readonly NormalizedVirtualService[];
}

export interface DuplicateResource {
  readonly kind: 'cluster' | 'endpoint' | 'listener' | 'route';
  readonly name: string;
  /** `namespace/name` of the ServiceEntry whose resource is kept. */
  readonly keptFrom: string;
  readonly droppedFrom: string;
}

export interface ConfigTranslation extends TranslateResult {
  readonly duplicates: DuplicateResource[];
}

/** Code-unit order, as Go's string comparison: the same on every machine whatever its locale. */
const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const compareServiceEntries = (a: NormalizedServiceEntry, b: NormalizedServiceEntry): number =>
  a.creationTime - b.creationTime || compareStrings(a.name, b.name) || compareStrings(a.namespace, b.namespace);

/** The rule each host of the entry gets for a proxy without labels in the entry's namespace. */
function entryRules(serviceEntry: NormalizedServiceEntry, rules: DestinationRuleIndex): Map<string, AppliedDestinationRule> {
  const applied = new Map<string, AppliedDestinationRule>();
  const client = { namespace: serviceEntry.namespace, labels: {} };
  for (const host of new Set(serviceEntry.hosts)) {
    const rule = rules.lookup(client, { host, namespace: serviceEntry.namespace });
    if (rule !== undefined) applied.set(host, rule);
  }
  return applied;
}

/** The VirtualServices each host of the entry may be claimed by, for a proxy without labels in the entry's namespace. */
function entryRoutes(serviceEntry: NormalizedServiceEntry, virtualServices: readonly NormalizedVirtualService[], domainSuffix: string): Map<string, AppliedVirtualService[]> {
  const applied = new Map<string, AppliedVirtualService[]>();
  const client = { namespace: serviceEntry.namespace, hasLabels: (labels: Readonly<Record<string, string>>) => Object.keys(labels).length === 0 };
  for (const host of new Set(serviceEntry.hosts)) {
    const chosen = chooseVirtualServices(virtualServices, host, client, { domainSuffix, defaultVirtualServiceExportTo: [] });
    if (chosen.length > 0) applied.set(host, chosen);
  }
  return applied;
}

export function translateConfig(
  config: ConfigToTranslate,
  options: TranslateOptions,
  lookupOptions: Partial<DestinationRuleLookupOptions> = {},
  proxy?: LocalityProxy,
): ConfigTranslation {
  const rules = new DestinationRuleIndex(config.destinationRules ?? [], lookupOptions);
  const index = new SelectorIndex();
  for (const { endpoint } of config.workloadEntries) index.upsertWorkload(endpoint);
  for (const { serviceEntry } of config.serviceEntries) index.upsertServiceEntry(serviceEntry);

  const merged: ConfigTranslation = { clusters: [], loadAssignments: [], localityLbPolicies: [], listeners: [], routes: [], namespaceRoutes: [], errors: [], duplicates: [] };
  const owners = new Map<string, string>();
  const keep = <T>(kind: DuplicateResource['kind'], name: string, owner: string, resource: T, into: T[]): void => {
    const ownerKey = `${kind} ${name}`;
    const keptFrom = owners.get(ownerKey);
    if (keptFrom !== undefined) {
      merged.duplicates.push({ kind, name, keptFrom, droppedFrom: owner });
      return;
    }
    owners.set(ownerKey, owner);
    into.push(resource);
  };
  const ordered = [...config.serviceEntries].sort((a, b) => compareServiceEntries(a.serviceEntry, b.serviceEntry));
  const endpointsOf = new Map(ordered.map(({ serviceEntry, inlineEndpoints }) => [serviceEntry, [...inlineEndpoints, ...index.selectedWorkloads(serviceEntry)]]));
  // The entries of each host and namespace: each one's siblings, as the watcher stores them beside it.
  const byNamespaceHost = new Map<string, Set<NormalizedServiceEntry>>();
  for (const { serviceEntry } of ordered) {
    for (const host of serviceEntry.hosts) {
      const key = `${serviceEntry.namespace} ${host}`;
      byNamespaceHost.set(key, (byNamespaceHost.get(key) ?? new Set()).add(serviceEntry));
    }
  }
  const siblingsOf = (serviceEntry: NormalizedServiceEntry): SiblingInput[] => {
    const siblings = new Set<NormalizedServiceEntry>();
    for (const host of serviceEntry.hosts) for (const other of byNamespaceHost.get(`${serviceEntry.namespace} ${host}`) ?? []) if (other !== serviceEntry) siblings.add(other);
    return [...siblings].map((sibling) => ({ serviceEntry: sibling, endpoints: endpointsOf.get(sibling) ?? [] }));
  };
  for (const { serviceEntry } of ordered) {
    const owner = `${serviceEntry.namespace}/${serviceEntry.name}`;
    const endpoints = endpointsOf.get(serviceEntry) ?? [];
    const virtualServices = entryRoutes(serviceEntry, config.virtualServices ?? [], lookupOptions.domainSuffix ?? DEFAULT_DESTINATION_RULE_LOOKUP_OPTIONS.domainSuffix);
    const result = translateServiceEntry(
      { serviceEntry, endpoints, destinationRules: entryRules(serviceEntry, rules), siblings: siblingsOf(serviceEntry), virtualServices },
      options,
    );
    const policies = new Map(result.localityLbPolicies.map((entry) => [`${entry.inline === true ? 'cluster' : 'endpoint'} ${entry.clusterName}`, entry]));
    // A resource with a policy: the proxy's rewrite when a proxy is given, else as stored with the policy listed.
    const keepLocalized = <T>(kind: 'cluster' | 'endpoint', name: string, resource: T, into: T[], rewrite: (resource: T, policy: LocalityLbPolicy, proxy: LocalityProxy) => T): void => {
      const entry = policies.get(`${kind} ${name}`);
      if (entry === undefined || owners.has(`${kind} ${name}`)) return keep(kind, name, owner, resource, into);
      if (proxy !== undefined) return keep(kind, name, owner, rewrite(resource, entry.policy, proxy), into);
      keep(kind, name, owner, resource, into);
      merged.localityLbPolicies.push(entry);
    };
    for (const cluster of result.clusters) keepLocalized('cluster', cluster.name, cluster, merged.clusters, applyLocalityLbPolicyToCluster);
    for (const assignment of result.loadAssignments) keepLocalized('endpoint', assignment.clusterName, assignment, merged.loadAssignments, applyLocalityLbPolicy);
    for (const listener of result.listeners) keep('listener', listener.name, owner, listener, merged.listeners);
    for (const route of result.routes) keep('route', route.name, owner, route, merged.routes);
    // A namespace's route goes with the shared route of the same name: from the entry that kept it.
    for (const entry of result.namespaceRoutes) if (owners.get(`route ${entry.route.name}`) === owner) merged.namespaceRoutes.push(entry);
    for (const item of result.errors) merged.errors.push(item);
  }
  const byName = (a: { name: string }, b: { name: string }): number => compareStrings(a.name, b.name);
  merged.clusters.sort(byName);
  merged.listeners.sort(byName);
  merged.routes.sort(byName);
  merged.namespaceRoutes.sort((a, b) => compareStrings(a.route.name, b.route.name) || compareStrings(a.namespace, b.namespace));
  merged.loadAssignments.sort((a, b) => compareStrings(a.clusterName, b.clusterName));
  merged.localityLbPolicies.sort((a, b) => compareStrings(a.clusterName, b.clusterName));
  return merged;
}
