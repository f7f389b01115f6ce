/**
 * Sidecar scoping: which Sidecar applies to a proxy, and the view of resources it leaves the proxy.
 *
 * The choice follows istiod 1.30 (`pilot/pkg/model/push_context.go` `initSidecarScopes`,
 * `getSidecarScope`): in the proxy's namespace, the oldest Sidecar whose `workloadSelector` labels
 * are a subset of the proxy's labels, else the oldest Sidecar without a selector; else the root
 * namespace's (`istio-system`) Sidecar without a selector, read with the proxy's namespace as its
 * own (so `./host` means the proxy's namespace); else none: the proxy sees everything exported to its
 * namespace. Gateways (`router` nodes) always get the default scope.
 *
 * What a Sidecar leaves follows `pilot/pkg/model/sidecar.go` (`convertIstioListenerToWrapper`,
 * `selectServices`, `hostClassification.Matches`/`Excluded`, `serviceMatchingListenerPort`,
 * `collectImportedServices`, `appendSidecarServices`): per egress listener, a service is imported when
 * no `~ns/host` of its namespace or of `~*` excludes it and an import of its namespace or of namespace
 * `*` matches its hostname (`*` and `*.suffix` wildcards, `host.Name.SubsetOf`); a listener with a
 * port (other than HTTP_PROXY) imports only that port of the service. For a hostname imported from
 * several namespaces, the first in istiod's visibility order wins (exported to the proxy's namespace,
 * its own private ones and those listing it by name together, then public; oldest first), and the
 * first listener that imports a hostname decides its namespace. exportTo still applies: only services visible to the proxy's namespace are candidates.
 *
 * It is a filter over the resources the cache holds, decided per resource name (`host:port` of a
 * cluster, listener or route name) from every owner of the name's host, so a Sidecar change
 * recomputes the views of the affected namespaces without rebuilding any resource. Owners whose
 * records predate ports and merge keys are chosen among the owners of each name instead.
 */
import type { ProxyResourceView } from '@skiff/ads-server';
import { labelsMatch, type NormalizedSidecar, type ObjectKey } from '@skiff/model';
import { baseVariant } from '@skiff/store';
import {
  choosableByHost,
  exportTier,
  hostPortOfName,
  importedInOrder,
  PER_NAME,
  portsOf,
  providersOf,
  selectWinner,
  WinnersView,
  type CachedOwner,
  type ChangedName,
  type HostChoice,
  type ImportedService,
  type ResourceTable,
  type ViewAudience,
  type WinnerSelector,
} from './resource-table.js';

/** istiod's default `meshConfig.rootNamespace`. */
export const DEFAULT_ROOT_NAMESPACE = 'istio-system';

/** istiod `host.Name.SubsetOf`: whether every name `host` matches is also matched by `of`. */
export function hostSubsetOf(host: string, of: string): boolean {
  const hostWildcard = host.startsWith('*');
  const ofWildcard = of.startsWith('*');
  if (hostWildcard) return ofWildcard && host.length >= of.length && host.slice(1).endsWith(of.slice(1));
  if (ofWildcard) return host.endsWith(of.slice(1));
  return host === of;
}

/** The hosts one egress listener imports from, or excludes in, one namespace (`hostClassification`). */
interface HostClassification {
  readonly exact: Set<string>;
  readonly all: string[];
  readonly excluded: string[];
}

function matches(hosts: HostClassification, host: string): boolean {
  if (hosts.exact.has(host)) return true;
  const hostWildcard = host.startsWith('*');
  for (const imported of hosts.all) {
    if (!hostWildcard && !imported.startsWith('*')) continue;
    if (hostSubsetOf(host, imported)) return true;
  }
  return false;
}

function excluded(hosts: HostClassification | undefined, host: string): boolean {
  return hosts !== undefined && hosts.excluded.some((pattern) => hostSubsetOf(host, pattern));
}

interface CompiledListener {
  /** The only service port the listener imports; undefined imports every port. */
  readonly port: number | undefined;
  readonly byNamespace: ReadonlyMap<string, HostClassification>;
}

/** istiod `convertIstioListenerToWrapper`: egress hosts grouped by namespace, `.` as `configNamespace`. */
function compileListener(listener: NormalizedSidecar['egress'][number], configNamespace: string): CompiledListener {
  const byNamespace = new Map<string, HostClassification>();
  for (const entry of listener.hosts) {
    const parts = entry.split('/');
    // Validation refuses other shapes; istiod skips them the same way.
    if (parts.length !== 2) continue;
    const host = parts[1] ?? '';
    let namespace = parts[0] ?? '';
    const exclusion = namespace.startsWith('~');
    if (exclusion) namespace = namespace.slice(1) || '*';
    if (namespace === '.') namespace = configNamespace;
    let hosts = byNamespace.get(namespace);
    if (hosts === undefined) byNamespace.set(namespace, (hosts = { exact: new Set(), all: [], excluded: [] }));
    if (exclusion) {
      hosts.excluded.push(host);
      continue;
    }
    if (!host.startsWith('*')) hosts.exact.add(host);
    hosts.all.push(host);
  }
  // `needsPortMatch`: a port imports only that service port, unless the listener is an HTTP proxy.
  const port = listener.port !== undefined && listener.port.number !== 0 && listener.port.protocol !== 'HTTP_PROXY' ? listener.port.number : undefined;
  return { port, byNamespace };
}

/** istiod `selectServices` for one service: excluded, else imported by its namespace's hosts or by `*`. */
function imports(listener: CompiledListener, namespace: string, host: string): boolean {
  const own = listener.byNamespace.get(namespace);
  const wildcard = listener.byNamespace.get('*');
  if (excluded(own, host) || excluded(wildcard, host)) return false;
  return (own !== undefined && matches(own, host)) || (wildcard !== undefined && matches(wildcard, host));
}

/** A Sidecar read for one namespace of proxies: what its egress listeners import. */
export class SidecarScope {
  readonly listeners: readonly CompiledListener[];

  constructor(
    readonly sidecar: NormalizedSidecar,
    readonly configNamespace: string,
  ) {
    // No egress listener imports everything (`initSidecarScopeInternalIndexes`).
    const egress = sidecar.egress.length > 0 ? sidecar.egress : [{ bind: '', hosts: ['*/*'] }];
    this.listeners = egress.map((listener) => compileListener(listener, configNamespace));
  }

  /** Whether any listener imports `host` of `namespace` on `port`. */
  importsService(namespace: string, host: string, port: number): boolean {
    return this.listeners.some((listener) => (listener.port === undefined || listener.port === port) && imports(listener, namespace, host));
  }

  /**
   * istiod's per-host choice under this Sidecar (`collectImportedServices`): each listener in order
   * imports the host from one namespace (`selectServices`), only its own port of each service when it
   * has one (`serviceMatchingListenerPort`); the services are then appended as without a Sidecar
   * (`providersOf`). A proxyless gRPC route comes from the last service with the port of the listener
   * istiod picks for it (`GetEgressListenerForRDS`: the first with that port or without one).
   */
  private readonly hostChoice: HostChoice = (owners, host, port, namespace, lastWithPort) => {
    if (!owners.every(choosableByHost)) return PER_NAME;
    const visible = owners.filter((owner) => exportTier(owner, namespace) !== undefined);
    const importedBy = (listener: CompiledListener): ImportedService[] =>
      importedInOrder(
        visible.filter((owner) => imports(listener, owner.record.namespace, host)),
        namespace,
      ).flatMap((owner) => {
        const ports = portsOf(owner);
        if (listener.port === undefined) return [{ owner, ports }];
        return ports.includes(listener.port) ? [{ owner, ports: [listener.port] }] : [];
      });
    if (lastWithPort) {
      const listener = this.listeners.find((candidate) => candidate.port === undefined || candidate.port === port);
      const last = listener === undefined ? undefined : importedBy(listener).findLast((service) => service.ports.includes(port));
      if (last !== undefined) return [last.owner];
      // That listener does not import the host: istiod answers the route with no virtual host for it,
      // which is the route of the host's service when its port is not HTTP; Skiff serves that route.
    }
    return providersOf(this.listeners.flatMap(importedBy), port);
  };

  /** The `WinnerSelector` of this scope. */
  readonly select: WinnerSelector = { host: this.hostChoice, name: (claimants, namespace, name) => this.selectByName(claimants, namespace, name) };

  /** istiod's choice among the owners the listeners import, per name (records without ports or merge keys). */
  private selectByName(claimants: Iterable<CachedOwner>, namespace: string, name: string): CachedOwner | undefined {
    const target = hostPortOfName(name);
    if (target === undefined) return selectWinner(claimants, namespace);
    const owners = [...claimants];
    let chosenNamespace: string | undefined;
    for (const listener of this.listeners) {
      const imported = owners.filter(
        (owner) => (chosenNamespace === undefined || owner.record.namespace === chosenNamespace) && imports(listener, owner.record.namespace, target.host),
      );
      const winner = selectWinner(imported, namespace);
      if (winner === undefined) continue;
      if (listener.port === undefined || listener.port === target.port) return winner;
      // The listener imports the hostname for another port: that fixes the namespace it comes from.
      chosenNamespace ??= winner.record.namespace;
    }
    return undefined;
  }
}

/** Sidecars by namespace in istiod's order of preference: selector ones, then the rest, each oldest first. */
export class SidecarIndex {
  private readonly byNamespace = new Map<string, NormalizedSidecar[]>();

  constructor(readonly rootNamespace: string = DEFAULT_ROOT_NAMESPACE) {}

  get size(): number {
    let count = 0;
    for (const list of this.byNamespace.values()) count += list.length;
    return count;
  }

  set(sidecar: NormalizedSidecar): void {
    const list = (this.byNamespace.get(sidecar.namespace) ?? []).filter((other) => other.name !== sidecar.name);
    list.push(sidecar);
    // `sortConfigByCreationTime`: creation time, then name; selector Sidecars before the rest.
    list.sort(
      (a, b) =>
        Number(a.workloadSelector === null) - Number(b.workloadSelector === null) ||
        a.creationTime - b.creationTime ||
        (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
    this.byNamespace.set(sidecar.namespace, list);
  }

  delete(key: ObjectKey): NormalizedSidecar | undefined {
    const list = this.byNamespace.get(key.namespace);
    const found = list?.find((sidecar) => sidecar.name === key.name);
    if (list === undefined || found === undefined) return undefined;
    const rest = list.filter((sidecar) => sidecar !== found);
    if (rest.length === 0) this.byNamespace.delete(key.namespace);
    else this.byNamespace.set(key.namespace, rest);
    return found;
  }

  get(key: ObjectKey): NormalizedSidecar | undefined {
    return this.byNamespace.get(key.namespace)?.find((sidecar) => sidecar.name === key.name);
  }

  all(): NormalizedSidecar[] {
    return [...this.byNamespace.values()].flat();
  }

  /** istiod `getSidecarScope` for a sidecar proxy in `namespace` with `labels`. */
  choose(namespace: string, labels: Readonly<Record<string, string>>): NormalizedSidecar | undefined {
    for (const sidecar of this.byNamespace.get(namespace) ?? []) {
      if (sidecar.workloadSelector === null || labelsMatch(sidecar.workloadSelector, labels)) return sidecar;
    }
    return this.byNamespace.get(this.rootNamespace)?.find((sidecar) => sidecar.workloadSelector === null);
  }
}

/**
 * The resources one (variant, namespace, Sidecar) sees, for proxies with one set of DestinationRule
 * selectors (`ViewAudience`). Maps are live: `SidecarViews.refresh` keeps them current.
 */
class ScopedView extends WinnersView {
  constructor(
    table: ResourceTable,
    variant: string,
    audience: ViewAudience,
    readonly scope: SidecarScope,
  ) {
    super(table, variant, audience, scope.select);
  }
}

/** What a proxy's view is chosen from. */
export interface ScopeTarget {
  readonly variant: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Gateways always get the default scope. */
  readonly router: boolean;
}

/**
 * The Sidecars the gateway holds and the views they give proxies, over the cache's `ResourceTable`.
 * Views are cached per (variant, namespace, Sidecar); a Sidecar change drops the views of the
 * namespaces it may apply to and reports the names those namespaces see, so connected proxies
 * re-read them from their new view (names whose version did not change are not pushed).
 */
export class SidecarViews {
  readonly index: SidecarIndex;
  private readonly scoped = new Map<string, ScopedView>();
  /** Types each (variant, namespace) was asked for, to know which names a Sidecar change touches. */
  private readonly used = new Map<string, Map<string, Set<string>>>();

  constructor(
    private readonly table: ResourceTable,
    rootNamespace: string = DEFAULT_ROOT_NAMESPACE,
  ) {
    this.index = new SidecarIndex(rootNamespace);
  }

  get viewCount(): number {
    return this.scoped.size;
  }

  /** The Sidecar that applies to a proxy, if any. */
  sidecarFor(target: Omit<ScopeTarget, 'variant'>): NormalizedSidecar | undefined {
    return target.router ? undefined : this.index.choose(target.namespace, target.labels);
  }

  view(target: ScopeTarget): ProxyResourceView {
    const sidecar = this.sidecarFor(target);
    const base = this.table.view(target.variant, target.namespace, target.labels);
    const view = sidecar === undefined ? base : this.scopedView(target.variant, target.namespace, target.labels, sidecar);
    return this.tracking(target.variant, target.namespace, view);
  }

  /** Resources changed: re-decides those names in every scoped view. */
  refresh(changed: readonly ChangedName[]): void {
    if (this.scoped.size === 0) return;
    for (const view of this.scoped.values()) {
      // A change names the variant it was stored under, policy scope included (`envoy-sidecar.<scope>`).
      for (const item of changed) if (baseVariant(item.variant) === view.variant) view.refresh(item.typeUrl, item.name);
    }
  }

  /** Adds or replaces a Sidecar; returns the names whose view may change. */
  set(sidecar: NormalizedSidecar): ChangedName[] {
    const previous = this.index.get(sidecar);
    if (previous !== undefined && JSON.stringify(previous) === JSON.stringify(sidecar)) return [];
    const touched = this.touchedNames(sidecar.namespace);
    this.index.set(sidecar);
    return touched;
  }

  /** Removes a Sidecar; returns the names whose view may change. */
  delete(key: ObjectKey): ChangedName[] {
    if (this.index.get(key) === undefined) return [];
    const touched = this.touchedNames(key.namespace);
    this.index.delete(key);
    return touched;
  }

  /** Replaces every Sidecar (a reload from the store); returns the names whose view may change. */
  replaceAll(sidecars: readonly NormalizedSidecar[]): ChangedName[] {
    const wanted = new Map(sidecars.map((sidecar) => [`${sidecar.namespace}/${sidecar.name}`, sidecar]));
    const changed: ChangedName[] = [];
    for (const held of this.index.all()) if (!wanted.has(`${held.namespace}/${held.name}`)) for (const name of this.delete(held)) changed.push(name);
    for (const sidecar of wanted.values()) for (const name of this.set(sidecar)) changed.push(name);
    return changed;
  }

  private scopedView(variant: string, namespace: string, labels: Readonly<Record<string, string>>, sidecar: NormalizedSidecar): ScopedView {
    const audience = this.table.audienceOf(namespace, labels);
    const key = `${variant} ${audience.key} ${sidecar.namespace}/${sidecar.name}`;
    let view = this.scoped.get(key);
    if (view === undefined || view.scope.sidecar !== sidecar) {
      view = new ScopedView(this.table, variant, audience.audience, new SidecarScope(sidecar, namespace));
      this.scoped.set(key, view);
    }
    return view;
  }

  /** Records which types a (variant, namespace) reads, as a Sidecar change must report their names. */
  private tracking(variant: string, namespace: string, view: ProxyResourceView): ProxyResourceView {
    let byNamespace = this.used.get(variant);
    if (byNamespace === undefined) this.used.set(variant, (byNamespace = new Map()));
    let types = byNamespace.get(namespace);
    if (types === undefined) byNamespace.set(namespace, (types = new Set()));
    const seen = types;
    return {
      all: (typeUrl) => {
        seen.add(typeUrl);
        return view.all(typeUrl);
      },
      get: (typeUrl, name) => {
        seen.add(typeUrl);
        return view.get(typeUrl, name);
      },
    };
  }

  /**
   * Drops the scoped views of the namespaces a Sidecar of `namespace` applies to (every namespace for
   * the root namespace's) and returns every name those namespaces may see: a scope only narrows what
   * exportTo lets a namespace see, so that set covers the names of both the old and the new view.
   */
  private touchedNames(namespace: string): ChangedName[] {
    const everywhere = namespace === this.index.rootNamespace;
    for (const [key, view] of this.scoped) if (everywhere || view.namespace === namespace) this.scoped.delete(key);
    const changed: ChangedName[] = [];
    for (const [variant, byNamespace] of this.used) {
      for (const [viewNamespace, types] of byNamespace) {
        if (!everywhere && viewNamespace !== namespace) continue;
        const base = this.table.view(variant, viewNamespace);
        for (const typeUrl of types) for (const name of base.all(typeUrl).keys()) changed.push({ variant, typeUrl, name });
      }
    }
    return changed;
  }
}
