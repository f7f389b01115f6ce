/**
 * Which router proxies get istiod's sni-dnat clusters: those a Gateway with an AUTO_PASSTHROUGH
 * server selects. istiod merges the Gateways that select a router (`pilot/pkg/model/push_context.go`
 * `mergeGateways`) and builds the sni-dnat clusters when the merged gateway has such a server
 * (`pilot/pkg/model/gateway.go` `ContainsAutoPassthroughGateways`, read by
 * `pilot/pkg/networking/core/cluster.go` `buildClusters`). This index answers that question from the
 * stored Gateways; the resources themselves are built by the translator once, for every router.
 */
import type { NormalizedGateway, ObjectKey } from '@skiff/model';

/** The proxy a selection is decided for. */
export interface RouterTarget {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface AutoPassthroughOptions {
  /**
   * `PILOT_SCOPE_GATEWAY_TO_NAMESPACE` (default false): a router sees only the Gateways of its own
   * namespace (`initGateways` indexes them by namespace then).
   */
  readonly scopeToNamespace?: boolean;
}

/** istiod's `configCompareByCreationTime`: oldest first, then name, then namespace. */
function compareGateways(a: NormalizedGateway, b: NormalizedGateway): number {
  if (a.creationTime !== b.creationTime) return a.creationTime - b.creationTime;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/** `labels.Instance(selector).SubsetOf(proxyLabels)`; no selector applies to every router. */
function selects(gateway: NormalizedGateway, labels: Readonly<Record<string, string>>): boolean {
  if (gateway.selector === null) return true;
  return Object.entries(gateway.selector).every(([key, value]) => labels[key] === value);
}

const keyOf = (key: ObjectKey): string => `${key.namespace}/${key.name}`;

export class AutoPassthroughIndex {
  private readonly gateways = new Map<string, NormalizedGateway>();
  private sorted: NormalizedGateway[] | undefined;
  private readonly scopeToNamespace: boolean;

  constructor(options: AutoPassthroughOptions = {}) {
    this.scopeToNamespace = options.scopeToNamespace ?? false;
  }

  get size(): number {
    return this.gateways.size;
  }

  get(key: ObjectKey): NormalizedGateway | undefined {
    return this.gateways.get(keyOf(key));
  }

  all(): NormalizedGateway[] {
    this.sorted ??= [...this.gateways.values()].sort(compareGateways);
    return this.sorted;
  }

  /** Adds or replaces a Gateway; true when what the index holds changed. */
  set(gateway: NormalizedGateway): boolean {
    const previous = this.gateways.get(keyOf(gateway));
    if (previous !== undefined && JSON.stringify(previous) === JSON.stringify(gateway)) return false;
    this.gateways.set(keyOf(gateway), gateway);
    this.sorted = undefined;
    return true;
  }

  /** Removes a Gateway; true when it was held. */
  delete(key: ObjectKey): boolean {
    const removed = this.gateways.delete(keyOf(key));
    if (removed) this.sorted = undefined;
    return removed;
  }

  /** Replaces every Gateway; true when anything changed. */
  replaceAll(gateways: readonly NormalizedGateway[]): boolean {
    const wanted = new Map(gateways.map((gateway) => [keyOf(gateway), gateway]));
    let changed = false;
    for (const key of [...this.gateways.keys()]) {
      if (!wanted.has(key)) {
        this.gateways.delete(key);
        changed = true;
      }
    }
    for (const gateway of wanted.values()) if (this.set(gateway)) changed = true;
    if (changed) this.sorted = undefined;
    return changed;
  }

  /** Whether some Gateway has an AUTO_PASSTHROUGH server: the routers it selects get the sni-dnat clusters. */
  hasAutoPassthroughServer(): boolean {
    for (const gateway of this.gateways.values()) if (gateway.servers.some((server) => server.tlsMode === 'AUTO_PASSTHROUGH')) return true;
    return false;
  }

  /** The Gateways that select a router, in the order istiod merges them. */
  selecting(target: RouterTarget): NormalizedGateway[] {
    return this.all().filter((gateway) => (!this.scopeToNamespace || gateway.namespace === target.namespace) && selects(gateway, target.labels));
  }

  /**
   * `ContainsAutoPassthroughGateways` of the router's merged gateway. As `mergeGateways` does, a TLS
   * server whose hosts repeat hosts already taken on its port with the same bind is skipped
   * (`CheckDuplicates`), so it does not count. The port is the server's own: a router selected by
   * labels with no service instance of that port binds to it as written (`resolvePorts`).
   */
  autoPassthrough(target: RouterTarget): boolean {
    const tlsHostsByPort = new Map<number, Map<string, string>>();
    for (const gateway of this.selecting(target)) {
      for (const server of gateway.servers) {
        if (server.tlsMode === null) continue;
        let known = tlsHostsByPort.get(server.port);
        if (known === undefined) tlsHostsByPort.set(server.port, (known = new Map()));
        const taken = known;
        if (server.hosts.some((host) => taken.has(host) && taken.get(host) === server.bind)) continue;
        for (const host of server.hosts) taken.set(host, server.bind);
        if (server.tlsMode === 'AUTO_PASSTHROUGH') return true;
      }
    }
    return false;
  }
}
