/**
 * The cache's data: every owner (ServiceEntry) with its visibility record and resources, an index from
 * (variant, type, name) to the owners that claim it, and per-(variant, namespace) views that hold the
 * winner of every name, built on first use and then kept up to date name by name.
 *
 * Who wins a name claimed by several ServiceEntries follows istiod (docs/istio-behaviour.md#visibility;
 * `pilot/pkg/model/push_context.go` `initServiceRegistry`, `servicesExportedToNamespace`,
 * `SortServicesByCreationTime`; `pilot/pkg/model/sidecar.go` `appendSidecarServices`,
 * `selectServices`, `canMergeServices`): a proxy in namespace N is offered the services exported to N
 * (its own private ones and those of other namespaces that list N, together, oldest first), then the
 * public ones, oldest first. Its egress listener imports each host from one namespace: N when N has
 * the host, else the namespace of the first service offered. The first of that namespace's services
 * is the host's service; a later one with the same resolution, labels, selector and exportTo lends it
 * the ports it lacks; any other is ignored, whatever ports it has. So the owner of a name (one host
 * and port) is chosen among every owner of the host, not only those that built the name: when the
 * host's service built nothing for the port (a DNS entry without endpoints), the proxy gets nothing,
 * as from istiod. Proxyless gRPC routes are the exception istiod makes (`BuildSidecarOutboundVirtualHosts`
 * keys the imported services of a port by hostname, a later one replacing an earlier one): the last
 * owner of that namespace with the port builds it. Owners whose records predate ports and merge keys
 * are chosen per name, as before they existed.
 *
 * DestinationRules: an owner whose record has policy scopes stores its resources once per scope, under
 * `<variant>.<scope>`; a view takes from each owner the scope for its namespace and for the rule
 * selectors its proxies' labels contain (`policyScopeWhere`), and only that scope's resources compete
 * for a name (a subset cluster that exists in one scope is claimed only there). Views are per
 * (variant, namespace) as long as no owner has a selector for the namespace, then per set of selectors
 * the labels contain.
 *
 * A route an owner also stores for one namespace (`namespacedVariant`: a gRPC route whose host is in
 * that namespace's DNS zone) is what that namespace's views take in place of the shared one.
 */
import type { ProxyResourceView } from '@skiff/ads-server';
import { TypeUrl } from '@skiff/protos';
import { baseVariant, canonicalJson, namespacedVariant, policyScopeWhere, resourceKey, scopedVariant, type OwnershipRecord } from '@skiff/store';
import { isVisibleTo, parseSubsetKey, serviceVisibility, type ServiceVisibility } from '@skiff/xds-translate';
import type { CachedResource } from './cached-resource.js';

/** One ServiceEntry's resources as held by the cache. */
export interface CachedOwner {
  /** `namespace/name`. */
  readonly id: string;
  readonly record: OwnershipRecord;
  readonly visibility: ServiceVisibility;
  /** By `resourceKey`. */
  readonly resources: ReadonlyMap<string, CachedResource>;
}

/** A (variant, type URL, name) whose winner or version may have changed. */
export interface ChangedName {
  readonly variant: string;
  readonly typeUrl: string;
  readonly name: string;
}

/**
 * Lower is preferred: exported to the proxy's namespace (its own private services and those listing it
 * by name, one list in istiod's `exportedToNamespace`), then public.
 */
type ExportTier = 0 | 1;

/** Where an owner stands for a proxy in `namespace`, or undefined when the proxy may not see it. */
export function exportTier(owner: Pick<CachedOwner, 'record' | 'visibility'>, namespace: string): ExportTier | undefined {
  if (!isVisibleTo(owner.visibility, namespace)) return undefined;
  return owner.visibility.kind === 'public' ? 1 : 0;
}

/** `host` and `port` of a resource name: a cluster key (either spelling) or a gRPC `host:port`. */
export function hostPortOfName(name: string): { readonly host: string; readonly port: number } | undefined {
  const key = parseSubsetKey(name);
  if (key !== undefined) return { host: key.hostname, port: key.port };
  const colon = name.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const port = Number(name.slice(colon + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const host = name.slice(0, colon);
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port };
}

/** Chosen per resource name (`selectWinner`): no owner lists the name's host, or one has a record without ports or merge key. */
export const PER_NAME = Symbol('per-name');

/** Whether istiod merges `later`'s ports into `first`, the host's service (`canMergeServices`; the hostname is the same). */
function canMerge(first: CachedOwner, later: CachedOwner): boolean {
  const a = first.record;
  const b = later.record;
  return a.namespace === b.namespace && a.resolution === b.resolution && a.mergeKey === b.mergeKey && exportToSet(a.exportTo) === exportToSet(b.exportTo);
}

/** exportTo as the set istiod compares (`maps.Equal` of `Attributes.ExportTo`). */
function exportToSet(exportTo: readonly string[]): string {
  return [...new Set(exportTo)].sort().join(',');
}

/** An owner as a proxy's egress listener imports it: with all its ports, or only the listener's. */
export interface ImportedService {
  readonly owner: CachedOwner;
  readonly ports: readonly number[];
}

/** The port numbers of an owner's ServiceEntry (records written with them). */
export function portsOf(owner: CachedOwner): number[] {
  return owner.record.ports?.map((port) => port.number) ?? [];
}

/** Whether `owner`'s record tells what the per-host choice needs (ports, resolution, merge key). */
export function choosableByHost(owner: CachedOwner): boolean {
  return owner.record.ports !== undefined && owner.record.resolution !== undefined && owner.record.mergeKey !== undefined;
}

/**
 * istiod's order among the owners of one host a proxy in `namespace` may see, narrowed to one
 * namespace (`selectServices`: the proxy's own when it has one, else the first one's).
 */
export function importedInOrder(visible: readonly CachedOwner[], namespace: string): CachedOwner[] {
  const chosen = selectWinner(visible, namespace)?.record.namespace;
  return visible.filter((owner) => owner.record.namespace === chosen).sort((a, b) => (exportTier(a, namespace) ?? 0) - (exportTier(b, namespace) ?? 0) || compareOwners(a, b));
}

/**
 * The owner that serves `port` of a host whose imported services come in `sequence` order
 * (`appendSidecarServices`): the first is the host's service; a later one it can merge with lends the
 * ports it lacks, the earliest first; any other is ignored. Each entry's clusters are built from the
 * endpoint shard of its host and namespace (every entry of the host there, as istiod's EDS has them),
 * so the provider's are the ones istiod builds: when it built nothing for the port, istiod has nothing
 * either.
 */
export function providersOf(sequence: readonly ImportedService[], port: number): CachedOwner[] {
  const first = sequence[0];
  if (first === undefined) return [];
  const ports = new Set(first.ports);
  let provider = ports.has(port) ? first.owner : undefined;
  for (const later of sequence.slice(1)) {
    if (provider !== undefined) break;
    if (!canMerge(first.owner, later.owner)) continue;
    for (const number of later.ports) {
      if (ports.has(number)) continue;
      ports.add(number);
      if (number === port) provider ??= later.owner;
    }
  }
  return provider === undefined ? [] : [provider];
}

/**
 * istiod's per-host choice for a proxy: the owners to try for (`host`, `port`) among `owners`, every
 * owner of the host; `PER_NAME` when some owner's record cannot tell. `lastWithPort`: a proxyless gRPC
 * route, which istiod builds from the last imported service with the port.
 */
export type HostChoice = (owners: readonly CachedOwner[], host: string, port: number, namespace: string, lastWithPort: boolean) => CachedOwner[] | typeof PER_NAME;

/** The per-host choice without a Sidecar: one egress listener importing every host of every namespace. */
const defaultHostChoice: HostChoice = (owners, _host, port, namespace, lastWithPort) => {
  if (!owners.every(choosableByHost)) return PER_NAME;
  const imported = importedInOrder(
    owners.filter((owner) => exportTier(owner, namespace) !== undefined),
    namespace,
  ).map((owner) => ({ owner, ports: portsOf(owner) }));
  if (lastWithPort) {
    const last = imported.findLast((service) => service.ports.includes(port));
    return last === undefined ? [] : [last.owner];
  }
  return providersOf(imported, port);
};

/**
 * istiod's order within a tier: oldest first, then by hostname (equal for every claimant of one
 * resource name) and namespace; the ServiceEntry name breaks what is left so the choice never depends
 * on arrival order.
 */
function compareOwners(a: CachedOwner, b: CachedOwner): number {
  const ra = a.record;
  const rb = b.record;
  if (ra.creationTime !== rb.creationTime) return ra.creationTime - rb.creationTime;
  if (ra.namespace !== rb.namespace) return ra.namespace < rb.namespace ? -1 : 1;
  if (ra.name !== rb.name) return ra.name < rb.name ? -1 : 1;
  return 0;
}

/**
 * The first owner in istiod's order for a proxy in `namespace`: one of the proxy's own namespace if any
 * (an egress listener imports a hostname from one namespace only, the proxy's when it has the host:
 * `selectServices` in `pilot/pkg/model/sidecar.go`), then by export tier, then oldest first.
 */
export function selectWinner(claimants: Iterable<CachedOwner>, namespace: string): CachedOwner | undefined {
  let best: CachedOwner | undefined;
  let bestRank = 0;
  for (const owner of claimants) {
    const tier = exportTier(owner, namespace);
    if (tier === undefined) continue;
    const rank = (owner.record.namespace === namespace ? 0 : 2) + tier;
    if (best === undefined || rank < bestRank || (rank === bestRank && compareOwners(owner, best) < 0)) {
      best = owner;
      bestRank = rank;
    }
  }
  return best;
}

/**
 * How a view chooses the owner whose resource `name` a proxy in `namespace` gets: per host where the
 * records tell (`host`), else among the claimants of the name (`name`). A proxy's Sidecar narrows both
 * (`sidecar-scope.ts`); without one they are `DEFAULT_SCOPE`.
 */
export interface WinnerSelector {
  readonly host: HostChoice;
  readonly name: (claimants: Iterable<CachedOwner>, namespace: string, name: string) => CachedOwner | undefined;
}

export const DEFAULT_SCOPE: WinnerSelector = { host: defaultHostChoice, name: (claimants, namespace) => selectWinner(claimants, namespace) };

function claimKey(variant: string, typeUrl: string): string {
  return `${variant} ${typeUrl}`;
}

/** What decides who sees an owner's resources, and which owner of a host a proxy gets. */
function visibilityKey(record: OwnershipRecord): string {
  const ports = record.ports?.map((port) => port.number) ?? null;
  return JSON.stringify([record.namespace, record.name, record.exportTo, record.creationTime, record.hosts, record.policyScopes ?? null, ports, record.resolution ?? null, record.mergeKey ?? null]);
}

/** Who a view serves: proxies of one namespace whose labels contain exactly these rule selectors (canonical JSON). */
export interface ViewAudience {
  readonly namespace: string;
  readonly selectors: ReadonlySet<string>;
}

/**
 * The resources one (variant, audience) sees, chosen by `select`. Maps are live: they follow later
 * changes. A type asked for whole (`all`: a wildcard subscription) is held whole; a type asked for by
 * name (EDS: every sidecar of the audience asks for the same few thousand assignments) keeps the
 * winners it has decided, so each is decided once per view rather than once per proxy. Both follow
 * changes through `refresh`, which the table calls for every name whose winner may have changed.
 */
export class WinnersView implements ProxyResourceView {
  /** Winners per type URL, for the types asked for whole so far. */
  private readonly byType = new Map<string, Map<string, CachedResource>>();
  /** Winners decided one name at a time, per type URL not held whole; a name without one is not kept. */
  private readonly byName = new Map<string, Map<string, CachedResource>>();

  constructor(
    private readonly table: ResourceTable,
    readonly variant: string,
    readonly audience: ViewAudience,
    private readonly select: WinnerSelector = DEFAULT_SCOPE,
  ) {}

  get namespace(): string {
    return this.audience.namespace;
  }

  all(typeUrl: string): ReadonlyMap<string, CachedResource> {
    let winners = this.byType.get(typeUrl);
    if (winners === undefined) {
      winners = this.table.buildWinners(this.variant, typeUrl, this.audience, this.select);
      this.byType.set(typeUrl, winners);
      this.byName.delete(typeUrl);
    }
    return winners;
  }

  get(typeUrl: string, name: string): CachedResource | undefined {
    const winners = this.byType.get(typeUrl);
    if (winners !== undefined) return winners.get(name);
    const decided = this.byName.get(typeUrl)?.get(name);
    if (decided !== undefined) return decided;
    const resource = this.table.winnerResource(this.variant, typeUrl, name, this.audience, this.select);
    if (resource !== undefined) {
      let named = this.byName.get(typeUrl);
      if (named === undefined) this.byName.set(typeUrl, (named = new Map()));
      named.set(name, resource);
    }
    return resource;
  }

  /** Re-decides one name, if this view holds it. */
  refresh(typeUrl: string, name: string): void {
    const winners = this.byType.get(typeUrl);
    if (winners === undefined) {
      // A name decided alone is decided again on its next `get`.
      this.byName.get(typeUrl)?.delete(name);
      return;
    }
    const resource = this.table.winnerResource(this.variant, typeUrl, name, this.audience, this.select);
    if (resource === undefined) winners.delete(name);
    else winners.set(name, resource);
  }
}

/** Key of the rule selectors of `namespace`'s choices in `selectorsByNamespace` for the choice every other namespace gets. */
const OTHER_NAMESPACES = '';

export class ResourceTable {
  private readonly owners = new Map<string, CachedOwner>();
  /** Host -> the owners whose ServiceEntry lists it. */
  private readonly hostOwners = new Map<string, Set<CachedOwner>>();
  /** `variant type` -> name -> owners claiming it (in any of their policy scopes; `variant` unscoped). */
  private readonly claims = new Map<string, Map<string, Set<CachedOwner>>>();
  /** `variant` -> audience key -> view. */
  private readonly views = new Map<string, Map<string, WinnersView>>();
  /** Namespace (or `OTHER_NAMESPACES`) -> the rule selectors owners' scope choices test there, by canonical JSON, with how many owners use each. */
  private readonly selectorsByNamespace = new Map<string, Map<string, { readonly selector: Readonly<Record<string, string>>; count: number }>>();
  private resourceCount = 0;

  constructor(private readonly defaultExportTo: readonly string[]) {}

  get ownerCount(): number {
    return this.owners.size;
  }

  /** Resources held, every owner and variant counted. */
  get size(): number {
    return this.resourceCount;
  }

  get viewCount(): number {
    let count = 0;
    for (const byNamespace of this.views.values()) count += byNamespace.size;
    return count;
  }

  /** Every name any owner claims in `variant`, of every type (what a change of who sees the variant may touch). */
  variantNames(variant: string): ChangedName[] {
    const names: ChangedName[] = [];
    const prefix = `${variant} `;
    for (const [key, byName] of this.claims) {
      if (!key.startsWith(prefix)) continue;
      const typeUrl = key.slice(prefix.length);
      for (const name of byName.keys()) names.push({ variant, typeUrl, name });
    }
    return names;
  }

  owner(id: string): CachedOwner | undefined {
    return this.owners.get(id);
  }

  ownerIds(): IterableIterator<string> {
    return this.owners.keys();
  }

  /**
   * The view of a variant for proxies in a namespace with these labels; created on first use and kept.
   * Proxies of a namespace share a view unless some owner's policy scopes tell their labels apart.
   */
  view(variant: string, namespace: string, labels: Readonly<Record<string, string>> = {}): ProxyResourceView {
    let byAudience = this.views.get(variant);
    if (byAudience === undefined) {
      byAudience = new Map();
      this.views.set(variant, byAudience);
    }
    const { key, audience } = this.audienceOf(namespace, labels);
    let view = byAudience.get(key);
    if (view === undefined) {
      view = new WinnersView(this, variant, audience);
      byAudience.set(key, view);
    }
    return view;
  }

  /**
   * Who a proxy in `namespace` with `labels` is, as far as policy scopes tell proxies apart, and a key
   * for it: the namespace alone while no owner has a rule selector there.
   */
  audienceOf(namespace: string, labels: Readonly<Record<string, string>>): { readonly key: string; readonly audience: ViewAudience } {
    const selectors = this.selectorsContained(namespace, labels);
    return { key: selectors.length === 0 ? namespace : `${namespace}\n${selectors.join('\n')}`, audience: { namespace, selectors: new Set(selectors) } };
  }

  /** The rule selectors tested in `namespace` that `labels` contain, as sorted canonical JSON. */
  private selectorsContained(namespace: string, labels: Readonly<Record<string, string>>): string[] {
    const contained: string[] = [];
    for (const key of namespace === OTHER_NAMESPACES ? [OTHER_NAMESPACES] : [namespace, OTHER_NAMESPACES]) {
      for (const [text, { selector }] of this.selectorsByNamespace.get(key) ?? []) {
        if (Object.keys(selector).every((label) => labels[label] === selector[label])) contained.push(text);
      }
    }
    return [...new Set(contained)].sort();
  }

  /** Counts (`delta` 1) or uncounts (-1) the selectors of an owner's scope choices. */
  private countSelectors(record: OwnershipRecord, delta: 1 | -1): void {
    const scopes = record.policyScopes;
    if (scopes === undefined) return;
    const choices: [string, readonly Readonly<Record<string, string>>[]][] = [
      [OTHER_NAMESPACES, scopes.otherNamespaces.selectors],
      ...Object.entries(scopes.namespaces).map(([namespace, choice]): [string, readonly Readonly<Record<string, string>>[]] => [namespace, choice.selectors]),
    ];
    for (const [namespace, selectors] of choices) {
      let counted = this.selectorsByNamespace.get(namespace);
      for (const selector of selectors) {
        const text = canonicalJson(selector);
        if (counted === undefined) {
          counted = new Map();
          this.selectorsByNamespace.set(namespace, counted);
        }
        const entry = counted.get(text) ?? { selector, count: 0 };
        entry.count += delta;
        if (entry.count > 0) counted.set(text, entry);
        else counted.delete(text);
      }
      if (counted?.size === 0) this.selectorsByNamespace.delete(namespace);
    }
  }

  /**
   * Sets an owner's record and resources (the complete set: what is not in `resources` is gone) and
   * updates every view; returns the names whose winner or version may have changed.
   */
  setOwner(record: OwnershipRecord, resources: ReadonlyMap<string, CachedResource>): ChangedName[] {
    const id = `${record.namespace}/${record.name}`;
    const previous = this.owners.get(id);
    const owner: CachedOwner = {
      id,
      record,
      visibility: serviceVisibility({ namespace: record.namespace, exportTo: [...record.exportTo] }, { defaultServiceExportTo: this.defaultExportTo }),
      resources,
    };
    const visibilityChanged = previous === undefined || visibilityKey(previous.record) !== visibilityKey(record);
    const changed: ChangedName[] = [];
    if (previous !== undefined) this.countSelectors(previous.record, -1);
    this.countSelectors(record, 1);
    if (previous !== undefined) {
      for (const [key, old] of previous.resources) {
        this.unclaim(previous, old);
        const current = resources.get(key);
        // The same version with another locality policy serves proxies other bytes (gateway-cache.ts `linkLocalityPolicies`).
        if (visibilityChanged || current === undefined || current.version !== old.version || current.locality?.policyVersion !== old.locality?.policyVersion) changed.push(old);
      }
      this.resourceCount -= previous.resources.size;
    }
    if (previous !== undefined) this.indexHosts(previous, -1);
    this.indexHosts(owner, 1);
    this.owners.set(id, owner);
    if (visibilityChanged) for (const name of this.namesOfHostsShared(owner, previous)) changed.push(name);
    for (const [key, resource] of resources) {
      this.claim(owner, resource);
      if (previous === undefined || !previous.resources.has(key)) changed.push(resource);
    }
    this.resourceCount += resources.size;
    return this.refresh(changed);
  }

  /** Removes an owner and everything it claimed; returns the names whose winner may have changed. */
  removeOwner(id: string): ChangedName[] {
    const previous = this.owners.get(id);
    if (previous === undefined) return [];
    this.owners.delete(id);
    this.indexHosts(previous, -1);
    this.countSelectors(previous.record, -1);
    const changed: ChangedName[] = [];
    for (const resource of previous.resources.values()) {
      this.unclaim(previous, resource);
      changed.push(resource);
    }
    this.resourceCount -= previous.resources.size;
    for (const name of this.namesOfHostsShared(previous, undefined)) changed.push(name);
    return this.refresh(changed);
  }

  private indexHosts(owner: CachedOwner, delta: 1 | -1): void {
    for (const host of new Set(owner.record.hosts)) {
      let owners = this.hostOwners.get(host);
      if (delta === 1) {
        if (owners === undefined) this.hostOwners.set(host, (owners = new Set()));
        owners.add(owner);
      } else if (owners !== undefined) {
        owners.delete(owner);
        if (owners.size === 0) this.hostOwners.delete(host);
      }
    }
  }

  /**
   * The names of the other owners of `owner`'s hosts (and `previous`'s): who serves them is chosen per
   * host, so an owner that comes, goes or changes its visibility, ports or merge key may change it.
   */
  private namesOfHostsShared(owner: CachedOwner, previous: CachedOwner | undefined): ChangedName[] {
    const hosts = new Set([...owner.record.hosts, ...(previous?.record.hosts ?? [])]);
    const others = new Set<CachedOwner>();
    for (const host of hosts) for (const other of this.hostOwners.get(host) ?? []) if (other.id !== owner.id) others.add(other);
    const names: ChangedName[] = [];
    for (const other of others) {
      for (const resource of other.resources.values()) {
        const target = hostPortOfName(resource.name);
        if (target !== undefined && hosts.has(target.host)) names.push(resource);
      }
    }
    return names;
  }

  /** Winners of every name of one (variant, type) for an audience (a view's first use of the type). */
  buildWinners(variant: string, typeUrl: string, audience: ViewAudience, select: WinnerSelector = DEFAULT_SCOPE): Map<string, CachedResource> {
    const winners = new Map<string, CachedResource>();
    const byName = this.claims.get(claimKey(variant, typeUrl));
    if (byName === undefined) return winners;
    for (const [name, claimants] of byName) {
      const resource = this.pick(claimants, variant, typeUrl, name, audience, select);
      if (resource !== undefined) winners.set(name, resource);
    }
    return winners;
  }

  winnerResource(variant: string, typeUrl: string, name: string, audience: ViewAudience, select: WinnerSelector = DEFAULT_SCOPE): CachedResource | undefined {
    const claimants = this.claims.get(claimKey(variant, typeUrl))?.get(name);
    if (claimants === undefined) return undefined;
    return this.pick(claimants, variant, typeUrl, name, audience, select);
  }

  /**
   * The resource, in the audience's policy scope, of the owner `select` chooses: per host where the
   * records tell, else among the claimants that have the name.
   */
  private pick(claimants: Iterable<CachedOwner>, variant: string, typeUrl: string, name: string, audience: ViewAudience, select: WinnerSelector): CachedResource | undefined {
    const resourceOf = (owner: CachedOwner): CachedResource | undefined => {
      const scope = policyScopeWhere(owner.record.policyScopes, audience.namespace, (selector) => audience.selectors.has(canonicalJson(selector)));
      const tag = scopedVariant(variant, scope);
      // A route built for the audience's namespace replaces the one every namespace gets.
      const own = typeUrl === TypeUrl.RouteConfiguration ? owner.resources.get(resourceKey({ variant: namespacedVariant(tag, audience.namespace), typeUrl, name })) : undefined;
      return own ?? owner.resources.get(resourceKey({ variant: tag, typeUrl, name }));
    };
    const target = hostPortOfName(name);
    const owners = target === undefined ? undefined : this.hostOwners.get(target.host);
    const providers = target === undefined || owners === undefined ? PER_NAME : select.host([...owners], target.host, target.port, audience.namespace, typeUrl === TypeUrl.RouteConfiguration);
    if (providers !== PER_NAME) {
      for (const provider of providers) {
        const resource = resourceOf(provider);
        if (resource !== undefined) return resource;
      }
      return undefined;
    }
    const winner = select.name([...claimants].filter((owner) => resourceOf(owner) !== undefined), audience.namespace, name);
    return winner === undefined ? undefined : resourceOf(winner);
  }

  private claim(owner: CachedOwner, resource: CachedResource): void {
    const key = claimKey(baseVariant(resource.variant), resource.typeUrl);
    let byName = this.claims.get(key);
    if (byName === undefined) {
      byName = new Map();
      this.claims.set(key, byName);
    }
    let claimants = byName.get(resource.name);
    if (claimants === undefined) {
      claimants = new Set();
      byName.set(resource.name, claimants);
    }
    claimants.add(owner);
  }

  /** Drops the owner's claim of the resource's name (an owner is dropped with all its resources, every scope at once). */
  private unclaim(owner: CachedOwner, resource: CachedResource): void {
    const key = claimKey(baseVariant(resource.variant), resource.typeUrl);
    const byName = this.claims.get(key);
    const claimants = byName?.get(resource.name);
    if (byName === undefined || claimants === undefined) return;
    claimants.delete(owner);
    if (claimants.size === 0) byName.delete(resource.name);
    if (byName.size === 0) this.claims.delete(key);
  }

  /** Re-decides each changed name in every view of its variant; returns the names, deduplicated. */
  private refresh(changed: readonly ChangedName[]): ChangedName[] {
    const unique = new Map<string, ChangedName>();
    for (const item of changed) {
      const variant = baseVariant(item.variant);
      unique.set(`${variant} ${item.typeUrl} ${item.name}`, { variant, typeUrl: item.typeUrl, name: item.name });
    }
    for (const item of unique.values()) {
      const byAudience = this.views.get(item.variant);
      if (byAudience === undefined) continue;
      for (const view of byAudience.values()) view.refresh(item.typeUrl, item.name);
    }
    return [...unique.values()];
  }
}
