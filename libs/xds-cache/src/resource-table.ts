/**
 * The cache's data: every owner (ServiceEntry) with its visibility record and resources, an index from
 * (variant, type, name) to the owners that claim it, and per-(variant, namespace) views that hold the
 * winner of every name, built on first use and then kept up to date name by name.
 *
 * Who wins a name claimed by several ServiceEntries follows istiod (docs/istio-behaviour.md#visibility;
 * `pilot/pkg/model/push_context.go` `initServiceRegistry`, `servicesExportedToNamespace`,
 * `SortServicesByCreationTime`; `pilot/pkg/model/sidecar.go` `appendSidecarServices`): a proxy in
 * namespace N is offered the services private to N first, then those from other namespaces that list
 * N in exportTo, then the public ones, each tier oldest first, and the first service seen for a host
 * wins. Here that choice is made per resource name (one name belongs to one host and port), so a
 * port only a later ServiceEntry declares is still served, as istiod does when it merges same-host
 * ServiceEntries of one namespace.
 */
import type { ProxyResourceView } from '@skiff/ads-server';
import { resourceKey, type OwnershipRecord } from '@skiff/store';
import { isVisibleTo, serviceVisibility, type ServiceVisibility } from '@skiff/xds-translate';
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

/** Lower is preferred: private to the proxy's namespace, exported to it by name, public. */
type ExportTier = 0 | 1 | 2;

/** Where an owner stands for a proxy in `namespace`, or undefined when the proxy may not see it. */
export function exportTier(owner: Pick<CachedOwner, 'record' | 'visibility'>, namespace: string): ExportTier | undefined {
  if (!isVisibleTo(owner.visibility, namespace)) return undefined;
  if (owner.visibility.kind === 'public') return 2;
  return owner.record.namespace === namespace ? 0 : 1;
}

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

/** The owner whose resource a proxy in `namespace` gets, among those claiming one name. */
export function selectWinner(claimants: Iterable<CachedOwner>, namespace: string): CachedOwner | undefined {
  let best: CachedOwner | undefined;
  let bestTier: ExportTier | undefined;
  for (const owner of claimants) {
    const tier = exportTier(owner, namespace);
    if (tier === undefined) continue;
    if (best === undefined || bestTier === undefined || tier < bestTier || (tier === bestTier && compareOwners(owner, best) < 0)) {
      best = owner;
      bestTier = tier;
    }
  }
  return best;
}

/**
 * Chooses the owner whose resource `name` a proxy in `namespace` gets; `selectWinner` unless a
 * proxy's Sidecar narrows the choice (`sidecar-scope.ts`).
 */
export type WinnerSelector = (claimants: Iterable<CachedOwner>, namespace: string, name: string) => CachedOwner | undefined;

function claimKey(variant: string, typeUrl: string): string {
  return `${variant} ${typeUrl}`;
}

function visibilityKey(record: OwnershipRecord): string {
  return JSON.stringify([record.namespace, record.name, record.exportTo, record.creationTime, record.hosts]);
}

/** The resources one (variant, namespace) sees. Maps are live: they follow later changes. */
class NamespaceView implements ProxyResourceView {
  /** Winners per type URL, for the types asked for so far. */
  readonly byType = new Map<string, Map<string, CachedResource>>();

  constructor(
    private readonly table: ResourceTable,
    readonly variant: string,
    readonly namespace: string,
  ) {}

  all(typeUrl: string): ReadonlyMap<string, CachedResource> {
    let winners = this.byType.get(typeUrl);
    if (winners === undefined) {
      winners = this.table.buildWinners(this.variant, typeUrl, this.namespace);
      this.byType.set(typeUrl, winners);
    }
    return winners;
  }

  get(typeUrl: string, name: string): CachedResource | undefined {
    const winners = this.byType.get(typeUrl);
    if (winners !== undefined) return winners.get(name);
    return this.table.winnerResource(this.variant, typeUrl, name, this.namespace);
  }

  /** Re-decides one name, if this view holds its type. */
  refresh(typeUrl: string, name: string): void {
    const winners = this.byType.get(typeUrl);
    if (winners === undefined) return;
    const resource = this.table.winnerResource(this.variant, typeUrl, name, this.namespace);
    if (resource === undefined) winners.delete(name);
    else winners.set(name, resource);
  }
}

export class ResourceTable {
  private readonly owners = new Map<string, CachedOwner>();
  /** `variant type` -> name -> owners claiming it. */
  private readonly claims = new Map<string, Map<string, Set<CachedOwner>>>();
  /** `variant` -> namespace -> view. */
  private readonly views = new Map<string, Map<string, NamespaceView>>();
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

  owner(id: string): CachedOwner | undefined {
    return this.owners.get(id);
  }

  ownerIds(): IterableIterator<string> {
    return this.owners.keys();
  }

  /** The view of a variant for proxies in a namespace; created on first use and kept. */
  view(variant: string, namespace: string): ProxyResourceView {
    let byNamespace = this.views.get(variant);
    if (byNamespace === undefined) {
      byNamespace = new Map();
      this.views.set(variant, byNamespace);
    }
    let view = byNamespace.get(namespace);
    if (view === undefined) {
      view = new NamespaceView(this, variant, namespace);
      byNamespace.set(namespace, view);
    }
    return view;
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
    if (previous !== undefined) {
      for (const [key, old] of previous.resources) {
        this.unclaim(previous, old);
        const current = resources.get(key);
        if (visibilityChanged || current === undefined || current.version !== old.version) changed.push(old);
      }
      this.resourceCount -= previous.resources.size;
    }
    this.owners.set(id, owner);
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
    const changed: ChangedName[] = [];
    for (const resource of previous.resources.values()) {
      this.unclaim(previous, resource);
      changed.push(resource);
    }
    this.resourceCount -= previous.resources.size;
    return this.refresh(changed);
  }

  /** Winners of every name of one (variant, type) for a namespace (a view's first use of the type). */
  buildWinners(variant: string, typeUrl: string, namespace: string, select: WinnerSelector = selectWinner): Map<string, CachedResource> {
    const winners = new Map<string, CachedResource>();
    const byName = this.claims.get(claimKey(variant, typeUrl));
    if (byName === undefined) return winners;
    for (const [name, claimants] of byName) {
      const resource = this.resourceOf(select(claimants, namespace, name), variant, typeUrl, name);
      if (resource !== undefined) winners.set(name, resource);
    }
    return winners;
  }

  winnerResource(variant: string, typeUrl: string, name: string, namespace: string, select: WinnerSelector = selectWinner): CachedResource | undefined {
    const claimants = this.claims.get(claimKey(variant, typeUrl))?.get(name);
    if (claimants === undefined) return undefined;
    return this.resourceOf(select(claimants, namespace, name), variant, typeUrl, name);
  }

  private resourceOf(owner: CachedOwner | undefined, variant: string, typeUrl: string, name: string): CachedResource | undefined {
    return owner?.resources.get(resourceKey({ variant, typeUrl, name }));
  }

  private claim(owner: CachedOwner, resource: CachedResource): void {
    const key = claimKey(resource.variant, resource.typeUrl);
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

  private unclaim(owner: CachedOwner, resource: CachedResource): void {
    const key = claimKey(resource.variant, resource.typeUrl);
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
    for (const item of changed) unique.set(`${item.variant} ${item.typeUrl} ${item.name}`, { variant: item.variant, typeUrl: item.typeUrl, name: item.name });
    for (const item of unique.values()) {
      const byNamespace = this.views.get(item.variant);
      if (byNamespace === undefined) continue;
      for (const view of byNamespace.values()) view.refresh(item.typeUrl, item.name);
    }
    return [...unique.values()];
  }
}
