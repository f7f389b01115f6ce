/**
 * The gateway's resource cache: every built resource in memory, filled from the store at start and
 * kept fresh by invalidations, serving the ADS server through `ResourceProvider`.
 *
 * - Start: subscribe to invalidations first, then load everything and rebase the subscription on the
 *   snapshot's sequence number, so nothing published in between is missed (Envoy Gateway's
 *   `HandleSubscription` replays state the same way). The cache is ready only after that load.
 * - An invalidation names one owner's changed and removed resources with their versions; the cache
 *   reads only that owner's record and the resources whose versions it does not hold, so each gateway
 *   reads each changed resource once, whatever the number of proxies.
 * - A sequence gap, a sequence reset, a resubscription after a lost connection, an unreadable message,
 *   or a periodic check (default 30 s) that finds the store's sequence number or epoch ahead of what
 *   was applied, makes the cache reconcile: load everything, diff against memory, and report only what
 *   differs.
 * - While the store cannot be read, nothing is dropped or changed: reads are retried with backoff and
 *   proxies, connected or new, are served what the cache holds. When the store comes back having lost
 *   its data (a Redis restarted without persistence: the epoch or the sequence went back), owners it no
 *   longer has are kept for `resetGraceMs` while the watcher and translators rebuild them, so proxies
 *   are never pushed an empty or partial state because of an outage.
 * - One worker applies everything in order (owner syncs and reconciles never interleave), and change
 *   listeners are called after the views reflect the change.
 */
import type { Meter } from '@opentelemetry/api';
import type { ProxyNode, ProxyProfile, ProxyResourceView, ResourceChange, ResourceProvider } from '@skiff/ads-server';
import { checkNormalizedGateway, checkNormalizedSidecar, type NormalizedGateway, type NormalizedSidecar, type ObjectKey } from '@skiff/model';
import { Backoff, type BackoffOptions, type Logger, type Runner } from '@skiff/runtime';
import {
  baseVariant,
  resourceKey,
  StoreError,
  type GapEvent,
  type GatewayStore,
  type Invalidation,
  type OwnedResources,
  type OwnershipRecord,
  type ResourceRef,
  type ScopeKind,
  type Store,
  type StoredSidecar,
  type Subscription,
} from '@skiff/store';
import { TypeUrl } from '@skiff/protos';
import { decodeLocalityLbPolicy, INLINE_LOCALITY_LB_POLICY_TYPE_URL, LOCALITY_LB_POLICY_TYPE_URL, type LocalityLbPolicy } from '@skiff/xds-translate';
import { CachedResource } from './cached-resource.js';
import { AutoPassthroughIndex } from './auto-passthrough.js';
import { LocalityView } from './locality-variants.js';
import { proxyProfileOf, SNI_DNAT_VARIANT, variantOf, type GatewayProxyProfile } from './profile.js';
import { ResourceTable, type ChangedName } from './resource-table.js';
import { DEFAULT_ROOT_NAMESPACE, SidecarViews } from './sidecar-scope.js';

/**
 * What the cache reads of the gateway's store facet; `epoch` (both store implementations have it)
 * tells a restart that lost the data apart from a quiet store.
 */
export type CacheStore = Pick<GatewayStore, 'resources' | 'invalidations'> & Partial<Pick<Store, 'epoch'>> & Partial<Pick<GatewayStore, 'sidecars' | 'gateways'>>;

export interface GatewayCacheOptions {
  readonly store: CacheStore;
  /**
   * A sharded store's shards (`ShardedRedisStore.shards`): each has its own invalidation sequence and
   * channel, so each is followed on its own (subscription, snapshot, gaps, reconciles) and their
   * owners are merged into one table. Default: `store` alone.
   */
  readonly shards?: readonly CacheStore[];
  readonly logger: Logger;
  readonly meter?: Meter;
  /** How often the store's sequence number and epoch are compared with what the cache applied. Default 30 s. */
  readonly checkIntervalMs?: number;
  /** Backoff between failed store reads. Default 200 ms growing to 10 s. */
  readonly retry?: BackoffOptions;
  /** The mesh's `defaultServiceExportTo`, for ServiceEntries without `exportTo`. Default `['*']`. */
  readonly defaultExportTo?: readonly string[];
  /** After the store lost its data, how long owners it no longer has are still served. Default 60 s. */
  readonly resetGraceMs?: number;
  /** The mesh's `rootNamespace`, whose selector-less Sidecar applies to namespaces without one. Default `istio-system`. */
  readonly rootNamespace?: string;
  /** istiod's `PILOT_SCOPE_GATEWAY_TO_NAMESPACE`: a router sees only its own namespace's Gateways. Default false. */
  readonly scopeGatewayToNamespace?: boolean;
  /**
   * Variants the translator builds only once asked for (`TranslatorOptions.buildOnRequest`): the first
   * proxy that needs one of them asks through `request`, and it and every other proxy needing the
   * variant are served once the request resolved and the cache applied what the store published by
   * then. Default: every variant is built from the start.
   */
  readonly variantsOnRequest?: VariantsOnRequest;
}

/** Variants built only once a proxy needs them, and how to ask for one (`GatewayCacheOptions.variantsOnRequest`). */
export interface VariantsOnRequest {
  readonly variants: readonly string[];
  /** Resolves once the variant is built for every ServiceEntry and its invalidations are published. */
  readonly request: (variant: string) => Promise<void>;
}

/** Why the cache reloaded everything. */
export type ReconcileReason =
  | 'start'
  /** Invalidations were skipped. */
  | 'sequence'
  /** The store's sequence went back, or its epoch changed: it restarted and lost its data. */
  | 'reset'
  /** The subscription was re-established; messages in between are lost. */
  | 'reconnect'
  /** An invalidation could not be read. */
  | 'malformed'
  /** The periodic check found the store ahead of the cache. */
  | 'periodic'
  /** The grace period after a reset ended: owners still missing go now. */
  | 'reset-grace'
  /** Asked for (debug endpoint, tests). */
  | 'requested';

export interface ReconcileReport {
  readonly reason: ReconcileReason;
  /** ISO time it finished. */
  readonly at: string;
  readonly seq: number;
  readonly owners: number;
  /** Names whose winner or version changed. */
  readonly changed: number;
  /** Owners the store no longer has but kept within the grace period after a reset. */
  readonly retained: number;
  readonly durationMs: number;
  /** The shard reconciled, when the cache follows several. */
  readonly shard?: number;
}

export interface GatewayCacheStatus {
  readonly ready: boolean;
  /** Serving is held until the initial build is applied (`holdServingUntil`). */
  readonly servingHeld: boolean;
  /** Variants built on request (`variantsOnRequest`), by state: asked for and not yet applied, or served. */
  readonly variantsOnRequest: Readonly<Record<string, 'not requested' | 'building' | 'served'>>;
  readonly owners: number;
  readonly resources: number;
  readonly views: number;
  /** Sidecars held, and the views they scope (per variant, namespace and Sidecar). */
  readonly sidecars: number;
  readonly sidecarViews: number;
  /** Gateways held (they decide which routers get the sni-dnat clusters). */
  readonly gateways: number;
  /** The sequence number of the last snapshot, or of the last invalidation seen since (summed over the shards). */
  readonly seq: number;
  /** The store's epoch (the shards' epochs joined by commas; null while one is unknown). */
  readonly epoch: string | null;
  /** Per shard, when the cache follows several. */
  readonly shards?: readonly { readonly seq: number; readonly epoch: string | null; readonly reconcilePending: ReconcileReason | null }[];
  readonly pendingOwnerSyncs: number;
  readonly reconcilePending: ReconcileReason | null;
  readonly storeErrors: number;
  readonly lastStoreError: string | null;
  /** Owners served after a reset although the store no longer has them (until `retainedUntil`). */
  readonly retainedOwners: number;
  readonly retainedUntil: string | null;
  readonly reconciles: Readonly<Partial<Record<ReconcileReason, number>>>;
  readonly lastReconcile: ReconcileReport | null;
}

/**
 * One followed invalidation sequence (the whole store, or one shard of a sharded store): its
 * subscription, what of it was applied, and the Sidecars and Gateways its last snapshot held.
 */
interface ShardState {
  readonly index: number;
  readonly store: CacheStore;
  subscription: Subscription | undefined;
  reconcileReason: ReconcileReason | undefined;
  /** Whether its first snapshot was applied. */
  loaded: boolean;
  /** Sequence number of the last snapshot applied. */
  snapshotSeq: number;
  /** Highest sequence number delivered since the last snapshot. */
  seenSeq: number;
  /** The shard's epoch at the last snapshot (undefined: the store does not tell). */
  epoch: string | null | undefined;
  /** The Sidecars of the last snapshot, kept up to date by the shard's Sidecar invalidations. */
  sidecars: Map<string, NormalizedSidecar>;
  /** The Gateways of the last snapshot, kept up to date by the shard's Gateway invalidations. */
  gateways: Map<string, NormalizedGateway>;
}

/** Invalidations of one owner waiting to be applied. */
interface OwnerSync {
  readonly shard: ShardState;
  readonly owner: ObjectKey;
  /** False while only deletions were seen: the owner is removed without a read. */
  upsert: boolean;
  /** Resources the messages named as changed, by key, with their versions. */
  readonly changed: Map<string, ResourceRef>;
  /** performance.now() of the first message. */
  readonly since: number;
  trace: string | undefined;
}

const GAP_REASONS: Record<GapEvent['reason'], ReconcileReason> = { sequence: 'sequence', reset: 'reset', reconnect: 'reconnect', malformed: 'malformed' };

/** Where a resource's locality load balancing policy is stored, by the resource's type (the name is the same). */
const LOCALITY_POLICY_TYPES: ReadonlyMap<string, string> = new Map([
  [TypeUrl.ClusterLoadAssignment, LOCALITY_LB_POLICY_TYPE_URL],
  [TypeUrl.Cluster, INLINE_LOCALITY_LB_POLICY_TYPE_URL],
]);

/** How often a held cache checks whether it has applied what it waits for. */
const HELD_SERVING_POLL_MS = 10;

/**
 * The variants only some proxies see, with who: proxyless gRPC clients, and the Envoy routers an
 * AUTO_PASSTHROUGH Gateway may select. A change to one of these alone is not announced to the others.
 */
const NARROW_AUDIENCES: ReadonlyMap<string, (profile: ProxyProfile) => boolean> = new Map([
  ['grpc', (profile: ProxyProfile) => variantOf(profile) === 'grpc'],
  [SNI_DNAT_VARIANT, (profile: ProxyProfile) => profile.flavor === 'envoy' && (profile as Partial<GatewayProxyProfile>).router === true],
]);

/** The highest sequence number of a shard the cache reflects. */
function applied(shard: ShardState): number {
  return Math.max(shard.snapshotSeq, shard.seenSeq);
}

function idOf(key: ObjectKey): string {
  return `${key.namespace}/${key.name}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Same revision, visibility and resource versions: applying `next` would change nothing. */
function sameRecord(current: OwnershipRecord, next: OwnershipRecord): boolean {
  if (current.revision !== next.revision || current.resources.length !== next.resources.length) return false;
  if (JSON.stringify([current.exportTo, current.creationTime, current.hosts]) !== JSON.stringify([next.exportTo, next.creationTime, next.hosts])) return false;
  return current.resources.every((ref, i) => {
    const other = next.resources[i];
    return other !== undefined && resourceKey(ref) === resourceKey(other) && ref.version === other.version;
  });
}

export class GatewayCache implements ResourceProvider, Runner {
  readonly name = 'xds-cache';
  private readonly logger: Logger;
  private readonly checkIntervalMs: number;
  private readonly resetGraceMs: number;
  private readonly table: ResourceTable;
  private readonly backoff: Backoff;
  private readonly retryOptions: BackoffOptions;
  private readonly listeners = new Set<(changes: readonly ResourceChange[]) => void>();
  private readonly pendingOwners = new Map<string, OwnerSync>();
  /** Sidecars and Gateways named by invalidations, to re-read (with when the first message came), by `kind id`. */
  private readonly pendingScopes = new Map<string, { readonly shard: ShardState; readonly kind: ScopeKind; readonly key: ObjectKey; readonly since: number }>();
  private readonly autoPassthrough: AutoPassthroughIndex;
  private readonly sidecarViews: SidecarViews;
  private readonly stopper = new AbortController();
  private readonly shards: readonly ShardState[];
  /** The shard each held owner came from, by owner id (a reconcile of one shard removes only its own owners). */
  private readonly ownerShard = new Map<string, number>();
  private working: Promise<void> | undefined;
  private ready = false;
  /** `holdServingUntil` has not released serving yet. */
  private servingHeld = false;
  private readonly variantsOnRequest: VariantsOnRequest | undefined;
  /** Each variant of `variantsOnRequest`: not asked for (absent), asked for and not yet applied, or served. */
  private readonly variantStates = new Map<string, 'building' | 'served'>();
  private loaded: { promise: Promise<void>; resolve: () => void };
  private retainedUntil = 0;
  private retained = new Set<string>();
  private storeErrors = 0;
  private lastStoreError: string | null = null;
  private readonly reconciles: Partial<Record<ReconcileReason, number>> = {};
  private lastReconcile: ReconcileReport | null = null;
  private checkTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private readonly instruments: ReturnType<typeof createInstruments>;

  constructor(options: GatewayCacheOptions) {
    const followed = options.shards ?? [options.store];
    if (followed.length === 0) throw new Error('GatewayCache: shards must name at least one store');
    this.shards = followed.map((store, index) => ({
      index,
      store,
      subscription: undefined,
      reconcileReason: undefined,
      loaded: false,
      snapshotSeq: 0,
      seenSeq: 0,
      epoch: undefined,
      sidecars: new Map(),
      gateways: new Map(),
    }));
    this.logger = options.logger;
    this.checkIntervalMs = options.checkIntervalMs ?? 30_000;
    this.resetGraceMs = options.resetGraceMs ?? 60_000;
    this.table = new ResourceTable(options.defaultExportTo ?? ['*']);
    this.sidecarViews = new SidecarViews(this.table, options.rootNamespace ?? DEFAULT_ROOT_NAMESPACE);
    this.autoPassthrough = new AutoPassthroughIndex({ scopeToNamespace: options.scopeGatewayToNamespace ?? false });
    this.retryOptions = options.retry ?? { initialMs: 200, maxMs: 10_000 };
    this.backoff = new Backoff(this.retryOptions);
    this.variantsOnRequest = options.variantsOnRequest;
    let resolve: () => void = () => undefined;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.loaded = { promise, resolve };
    this.instruments = createInstruments(options.meter, () => ({ owners: this.table.ownerCount, resources: this.table.size, retained: this.retained.size }));
  }

  // Runner -------------------------------------------------------------------------------------------

  /**
   * Subscribes, then loads the store's state; resolves once the cache holds it (retrying with backoff
   * while the store is unreachable). Rejects if `signal` aborts first.
   */
  async start(signal?: AbortSignal): Promise<void> {
    signal?.addEventListener('abort', () => this.stopper.abort(), { once: true });
    const backoff = new Backoff(this.retryOptions);
    // A stop ends the start at once, even while a call to an unreachable store is still retrying.
    const stopped = new Promise<never>((_resolve, reject) => this.stopper.signal.addEventListener('abort', () => reject(new Error('the cache was stopped before its first load')), { once: true }));
    stopped.catch(() => {});
    for (const shard of this.shards) {
      while (shard.subscription === undefined) {
        this.throwIfStopped();
        const subscribing = shard.store.invalidations.subscribe({
          onInvalidation: (message) => this.onInvalidation(shard, message),
          onGap: (event) => this.onGap(shard, event),
        });
        try {
          shard.subscription = await Promise.race([subscribing, stopped]);
        } catch (error) {
          if (this.stopping) {
            // The subscription may still arrive; nobody will close it later.
            subscribing.then((late) => late.close(), () => {}).catch(() => {});
            throw error;
          }
          this.noteStoreError(`subscribe to invalidations${this.shardLabel(shard)}`, error);
          await this.sleep(backoff.next());
        }
      }
    }
    this.requestReconcile('start');
    await Promise.race([this.loaded.promise, stopped]);
    this.checkTimer = setInterval(() => this.periodicCheck(), this.checkIntervalMs);
  }

  async close(): Promise<void> {
    this.stopper.abort();
    if (this.checkTimer !== undefined) clearInterval(this.checkTimer);
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    await this.working;
    await this.checking;
    for (const shard of this.shards) {
      try {
        await shard.subscription?.close();
      } catch (error) {
        this.logger.debug({ err: messageOf(error), shard: shard.index }, 'closing the invalidation subscription failed');
      }
    }
    this.instruments.unregister();
  }

  // ResourceProvider ---------------------------------------------------------------------------------

  profileOf(node: ProxyNode): ProxyProfile {
    return proxyProfileOf(node);
  }

  /**
   * The view for a profile: cached per (variant, namespace), per Sidecar for a proxy a Sidecar applies
   * to, and by the DestinationRule selectors the proxy's labels contain when some ServiceEntry's rules
   * have selectors there; its maps are live and follow later changes. The Sidecar and the selectors are
   * chosen at every call, so a change of either reaches the next push.
   */
  viewFor(profile: ProxyProfile): ProxyResourceView {
    const scope = this.scopeOf(profile);
    let view = this.sidecarViews.view({ variant: variantOf(profile), ...scope });
    // istiod builds a selected router's usual clusters and adds the sni-dnat ones
    // (`pilot/pkg/networking/core/cluster.go` `buildClusters`, gateway case): the two name sets
    // (`outbound|...` and `outbound_....`) never overlap.
    if (this.getsSniDnatClusters(profile)) view = unionView(view, this.sidecarViews.view({ variant: SNI_DNAT_VARIANT, ...scope }));
    // Assignments with a locality policy are served per proxy locality and labels.
    const proxy = (profile as Partial<GatewayProxyProfile>).localityProxy;
    return proxy === undefined ? view : new LocalityView(view, proxy);
  }

  /**
   * Whether a proxy gets istiod's sni-dnat clusters: an Envoy router that a Gateway with an
   * AUTO_PASSTHROUGH server selects (`MergedGateway.ContainsAutoPassthroughGateways`).
   */
  getsSniDnatClusters(profile: ProxyProfile): boolean {
    const scope = this.scopeOf(profile);
    return scope.router && profile.flavor === 'envoy' && this.autoPassthrough.autoPassthrough(scope);
  }

  /** The Gateways that select a proxy, oldest first (for `/debug/gatewayz`); none for a proxy that is not a router. */
  gatewaysFor(profile: ProxyProfile): NormalizedGateway[] {
    const scope = this.scopeOf(profile);
    return scope.router ? this.autoPassthrough.selecting(scope) : [];
  }

  /** The Sidecar that applies to a proxy (for `/debug/sidecarz`), if any. */
  sidecarFor(profile: ProxyProfile): NormalizedSidecar | undefined {
    return this.sidecarViews.sidecarFor(this.scopeOf(profile));
  }

  private scopeOf(profile: ProxyProfile): { namespace: string; labels: Readonly<Record<string, string>>; router: boolean } {
    return { namespace: profile.namespace, labels: profile.labels ?? {}, router: (profile as Partial<GatewayProxyProfile>).router === true };
  }

  onChange(listener: (changes: readonly ResourceChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Whether proxies are served; with a profile, whether that proxy is: a proxy that needs a variant
   * built on request waits until it is built and applied, and the first such check asks for it.
   */
  isReady(profile?: ProxyProfile): boolean {
    if (!this.ready || this.servingHeld) return false;
    if (profile === undefined || this.variantsOnRequest === undefined) return true;
    // Both checks run, so a router needing both variants asks for both at once.
    const usual = this.variantServed(variantOf(profile));
    return (!this.getsSniDnatClusters(profile) || this.variantServed(SNI_DNAT_VARIANT)) && usual;
  }

  /**
   * Asks for the sni-dnat variant, when it is built on request, as soon as a Gateway has an
   * AUTO_PASSTHROUGH server: the routers it selects need it whether they are connected yet or not, and
   * a connected router is pushed its sni-dnat clusters as they are applied.
   */
  private requestSniDnatForGateways(): void {
    if (this.variantsOnRequest !== undefined && this.autoPassthrough.hasAutoPassthroughServer()) this.variantServed(SNI_DNAT_VARIANT);
  }

  /** Whether `variant` is served; asks for it if it is built on request and nobody asked yet. */
  private variantServed(variant: string): boolean {
    const onRequest = this.variantsOnRequest;
    if (onRequest === undefined || !onRequest.variants.includes(variant)) return true;
    const state = this.variantStates.get(variant);
    if (state !== undefined) return state === 'served';
    this.variantStates.set(variant, 'building');
    const started = performance.now();
    this.logger.info({ variant }, 'a proxy needs a variant not built yet: asking the translator for it');
    const serve = (): void => {
      if (this.stopping) return;
      // The ADS server retries the proxies waiting for it on its next readiness poll.
      this.variantStates.set(variant, 'served');
    };
    void onRequest
      .request(variant)
      .then(() => this.waitUntilApplied())
      .then(
        () => {
          serve();
          this.logger.info({ variant, ms: Math.round(performance.now() - started) }, 'variant built and applied: serving the proxies that need it');
        },
        (error: unknown) => {
          // A failed request must not keep proxies away for good: they get what the store holds.
          serve();
          if (!this.stopping) this.logger.warn({ variant, err: messageOf(error) }, 'serving a variant without waiting for its build');
        },
      );
    return false;
  }

  /**
   * Holds serving back (`isReady` false: proxies' first requests wait, readiness probes fail) until
   * `until` resolves and the cache has applied everything the store published by then. istiod serves
   * no proxy before its first full push context either (`pilot/pkg/xds/ads.go`, `IsServerReady`); the
   * all-in-one holds its gateway until its translators built what its watcher first wrote, so a proxy
   * that connects during a cold start gets the whole mesh, not the part built so far. Once released it
   * is never held again.
   */
  holdServingUntil(until: Promise<void>): void {
    this.servingHeld = true;
    void until
      .then(() => this.waitUntilApplied())
      .then(
        () => {
          if (this.stopping) return;
          this.servingHeld = false;
          const { seq, owners } = this.status();
          this.logger.info({ seq, owners }, 'serving: everything built before the start is applied');
        },
        (error: unknown) => {
          if (this.stopping) return;
          // A failed condition must not keep proxies away for good.
          this.servingHeld = false;
          this.logger.warn({ err: messageOf(error) }, 'serving without waiting for the initial build');
        },
      );
  }

  /** Resolves once every shard's invalidations published so far are applied and no owner waits for a read. */
  private async waitUntilApplied(): Promise<void> {
    let targets: number[] | undefined;
    while (!this.stopping) {
      try {
        targets ??= await Promise.all(this.shards.map((shard) => shard.store.invalidations.currentSeq()));
      } catch (error) {
        this.noteStoreError('read the invalidation sequence', error);
      }
      const reached = targets !== undefined && this.shards.every((shard, i) => applied(shard) >= targets![i]!);
      if (reached && this.ready && this.working === undefined && this.pendingOwners.size + this.pendingScopes.size === 0) return;
      await new Promise((resolve) => setTimeout(resolve, HELD_SERVING_POLL_MS));
    }
  }

  // Inspection ---------------------------------------------------------------------------------------

  status(): GatewayCacheStatus {
    return {
      ready: this.isReady(),
      servingHeld: this.servingHeld,
      variantsOnRequest: Object.fromEntries((this.variantsOnRequest?.variants ?? []).map((variant) => [variant, this.variantStates.get(variant) ?? 'not requested'])),
      owners: this.table.ownerCount,
      resources: this.table.size,
      views: this.table.viewCount,
      sidecars: this.sidecarViews.index.size,
      sidecarViews: this.sidecarViews.viewCount,
      gateways: this.autoPassthrough.size,
      seq: this.shards.reduce((sum, shard) => sum + applied(shard), 0),
      epoch: this.shards.length === 1 ? (this.shards[0]!.epoch ?? null) : this.shards.some((shard) => shard.epoch === undefined || shard.epoch === null) ? null : this.shards.map((shard) => shard.epoch).join(','),
      ...(this.shards.length === 1 ? {} : { shards: this.shards.map((shard) => ({ seq: applied(shard), epoch: shard.epoch ?? null, reconcilePending: shard.reconcileReason ?? null })) }),
      pendingOwnerSyncs: this.pendingOwners.size + this.pendingScopes.size,
      reconcilePending: this.shards.find((shard) => shard.reconcileReason !== undefined)?.reconcileReason ?? null,
      storeErrors: this.storeErrors,
      lastStoreError: this.lastStoreError,
      retainedOwners: this.retained.size,
      retainedUntil: this.retained.size > 0 ? new Date(this.retainedUntil).toISOString() : null,
      reconciles: { ...this.reconciles },
      lastReconcile: this.lastReconcile,
    };
  }

  /** Every owner's record, sorted by namespace and name (for debug endpoints). */
  records(): OwnershipRecord[] {
    return [...this.table.ownerIds()].sort().map((id) => this.table.owner(id)!.record);
  }

  /** Reloads everything from the store; resolves when the worker is idle again. */
  async reconcileNow(): Promise<void> {
    this.requestReconcile('requested');
    await this.settled();
  }

  /** Resolves once nothing is waiting to be applied (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.working !== undefined) await this.working;
  }

  // Invalidations ------------------------------------------------------------------------------------

  private onInvalidation(shard: ShardState, message: Invalidation): void {
    if (message.seq > shard.seenSeq) shard.seenSeq = message.seq;
    this.instruments.invalidation(message.op);
    const id = idOf(message.owner);
    if (message.kind !== undefined) {
      const key = `${message.kind} ${id}`;
      if (!this.pendingScopes.has(key)) this.pendingScopes.set(key, { shard, kind: message.kind, key: message.owner, since: performance.now() });
      this.kick();
      return;
    }
    let sync = this.pendingOwners.get(id);
    if (sync === undefined) {
      sync = { shard, owner: message.owner, upsert: false, changed: new Map(), since: performance.now(), trace: undefined };
      this.pendingOwners.set(id, sync);
    }
    if (message.op === 'upsert') {
      sync.upsert = true;
      for (const ref of message.changed) sync.changed.set(resourceKey(ref), ref);
    }
    if (message.trace !== undefined) sync.trace = message.trace;
    this.kick();
  }

  private onGap(shard: ShardState, event: GapEvent): void {
    this.logger.info({ gap: event, ...(this.shards.length === 1 ? {} : { shard: shard.index }) }, 'invalidations may have been missed; reconciling from the store');
    this.requestReconcile(GAP_REASONS[event.reason], shard);
  }

  /** Asks for a reconcile of one shard, or of every shard. */
  private requestReconcile(reason: ReconcileReason, only?: ShardState): void {
    for (const shard of only === undefined ? this.shards : [only]) {
      // A reset outranks other reasons: it decides whether missing owners are kept.
      if (shard.reconcileReason === undefined || reason === 'reset') shard.reconcileReason = reason;
    }
    this.kick();
  }

  /** ` of shard i` when the cache follows several shards, for messages. */
  private shardLabel(shard: ShardState): string {
    return this.shards.length === 1 ? '' : ` of shard ${shard.index}`;
  }

  // The worker ---------------------------------------------------------------------------------------

  private kick(): void {
    if (this.working !== undefined || this.stopping) return;
    this.working = this.work().finally(() => {
      this.working = undefined;
    });
  }

  private get stopping(): boolean {
    return this.stopper.signal.aborted;
  }

  private async work(): Promise<void> {
    while (!this.stopping) {
      const shard = this.shards.find((candidate) => candidate.reconcileReason !== undefined);
      const reason = shard?.reconcileReason;
      if (shard !== undefined && reason !== undefined) {
        shard.reconcileReason = undefined;
        try {
          await this.reconcile(shard, reason);
          this.backoff.reset();
        } catch (error) {
          if (this.stopping) return;
          if (shard.reconcileReason === undefined || reason === 'reset') shard.reconcileReason = reason;
          this.noteStoreError(`reconcile (${reason})${this.shardLabel(shard)}`, error);
          await this.sleep(this.backoff.next());
        }
        continue;
      }
      const scoped = this.pendingScopes.entries().next();
      if (scoped.done !== true) {
        const [id, pending] = scoped.value;
        this.pendingScopes.delete(id);
        try {
          if (pending.kind === 'Sidecar') await this.syncSidecar(pending.shard, pending.key, pending.since);
          else await this.syncGateway(pending.shard, pending.key, pending.since);
          this.backoff.reset();
        } catch (error) {
          if (this.stopping) return;
          if (!this.pendingScopes.has(id)) this.pendingScopes.set(id, pending);
          this.noteStoreError(`read the ${id}`, error);
          await this.sleep(this.backoff.next());
        }
        continue;
      }
      const next = this.pendingOwners.entries().next();
      if (next.done === true) return;
      const [id, sync] = next.value;
      this.pendingOwners.delete(id);
      try {
        await this.syncOwner(id, sync);
        this.backoff.reset();
      } catch (error) {
        if (this.stopping) return;
        this.requeue(id, sync);
        this.noteStoreError(`read the resources of ${id}`, error);
        await this.sleep(this.backoff.next());
      }
    }
  }

  private requeue(id: string, sync: OwnerSync): void {
    const newer = this.pendingOwners.get(id);
    if (newer === undefined) {
      this.pendingOwners.set(id, sync);
      return;
    }
    // Keep the older message's start time and what it asked for; the newer one's trace.
    const merged: OwnerSync = { shard: sync.shard, owner: sync.owner, upsert: sync.upsert || newer.upsert, changed: new Map([...sync.changed, ...newer.changed]), since: sync.since, trace: newer.trace ?? sync.trace };
    this.pendingOwners.delete(id);
    this.pendingOwners.set(id, merged);
  }

  /** Brings one owner to what the store holds now, reading only the resources the cache lacks. */
  private async syncOwner(id: string, sync: OwnerSync): Promise<void> {
    if (!sync.upsert) {
      this.emit(this.removeOwner(id), sync.since, sync.trace);
      return;
    }
    const held = this.table.owner(id);
    const wanted = [...sync.changed.values()].filter((ref) => held?.resources.get(resourceKey(ref))?.version !== ref.version);
    const { store } = sync.shard;
    let owned = await store.resources.readOwner(sync.owner, wanted.map(({ typeUrl, name, variant }) => ({ typeUrl, name, variant })));
    if (owned === null) {
      this.emit(this.removeOwner(id), sync.since, sync.trace);
      return;
    }
    let resources = this.resourcesFor(owned);
    if (resources === undefined) {
      // The record moved on past the message (a later write): read the whole owner, atomically.
      owned = await store.resources.readOwner(sync.owner);
      if (owned === null) {
        this.emit(this.removeOwner(id), sync.since, sync.trace);
        return;
      }
      resources = this.resourcesFor(owned);
      if (resources === undefined) throw new StoreError('corrupt', `owner ${id} lists resources the store did not return`);
    }
    this.retained.delete(id);
    this.ownerShard.set(id, sync.shard.index);
    this.emit(this.table.setOwner(owned.record, resources), sync.since, sync.trace);
  }

  private removeOwner(id: string): ChangedName[] {
    this.ownerShard.delete(id);
    return this.table.removeOwner(id);
  }

  /** Brings one Sidecar to what the store holds now and re-scopes the proxies it may apply to. */
  private async syncSidecar(shard: ShardState, key: ObjectKey, since: number): Promise<void> {
    const stored = await shard.store.sidecars?.get(key);
    const sidecar = stored === undefined || stored === null ? undefined : this.decodeSidecar(stored);
    if (sidecar === undefined) shard.sidecars.delete(idOf(key));
    else shard.sidecars.set(idOf(key), sidecar);
    this.announce(sidecar === undefined ? this.sidecarViews.delete(key) : this.sidecarViews.set(sidecar), since);
  }

  /**
   * Brings one Gateway to what the store holds now. Which routers get the sni-dnat clusters may change,
   * so every sni-dnat name is announced: routers re-read their views (nothing is read from the store
   * but the Gateway), and sidecars, which never see those names, are not pushed.
   */
  private async syncGateway(shard: ShardState, key: ObjectKey, since: number): Promise<void> {
    const stored = await shard.store.gateways?.get(key);
    const gateway = stored === undefined || stored === null ? undefined : this.decodeStored(stored, 'Gateway', checkNormalizedGateway);
    if (gateway === undefined) shard.gateways.delete(idOf(key));
    else shard.gateways.set(idOf(key), gateway);
    const changed = gateway === undefined ? this.autoPassthrough.delete(key) : this.autoPassthrough.set(gateway);
    if (!changed) return;
    this.requestSniDnatForGateways();
    this.announce(this.table.variantNames(SNI_DNAT_VARIANT), since);
  }

  /** A stored Sidecar, checked against its schema; an unreadable one is logged and left out (as if deleted). */
  private decodeSidecar(stored: StoredSidecar): NormalizedSidecar | undefined {
    return this.decodeStored(stored, 'Sidecar', checkNormalizedSidecar);
  }

  /** A stored Sidecar or Gateway, checked against its schema; an unreadable one is logged and left out (as if deleted). */
  private decodeStored<T>(stored: StoredSidecar, kind: ScopeKind, check: (value: unknown) => { valid: true; value: T } | { valid: false; errors: string[] }): T | undefined {
    let value: unknown;
    try {
      value = JSON.parse(stored.json);
    } catch (error) {
      this.logger.error({ [kind.toLowerCase()]: idOf(stored.key), err: messageOf(error) }, `stored ${kind} is not JSON; ignoring it`);
      return undefined;
    }
    const result = check(value);
    if (result.valid) return result.value;
    this.logger.error({ [kind.toLowerCase()]: idOf(stored.key), errors: result.errors }, `stored ${kind} does not match its schema; ignoring it`);
    return undefined;
  }

  /**
   * The owner's resources for its record: held objects where the version is the same (so every push of
   * a version shares its bytes), new ones from what was read; undefined if the read lacks some.
   */
  private resourcesFor(owned: OwnedResources): Map<string, CachedResource> | undefined {
    const held = this.table.owner(idOf(owned.record));
    const read = new Map(owned.resources.map((resource) => [resourceKey(resource), resource]));
    const resources = new Map<string, CachedResource>();
    for (const ref of owned.record.resources) {
      const key = resourceKey(ref);
      const current = held?.resources.get(key);
      if (current !== undefined && current.version === ref.version) {
        resources.set(key, current);
        continue;
      }
      const fresh = read.get(key);
      if (fresh === undefined || fresh.version !== ref.version) return undefined;
      resources.set(key, new CachedResource(fresh));
      this.instruments.resourceRead();
    }
    this.linkLocalityPolicies(resources);
    return resources;
  }

  /**
   * Gives every assignment, and every DNS cluster, the locality load balancing policy stored beside it
   * under the same variant and name (or none), so proxies get their own variant (`locality-variants.ts`).
   * A resource whose policy changed is a new object, which the table reports as changed. A policy that
   * cannot be read is logged and the resource served as stored. The policy is one of the owner's
   * resources, so it lives in the owner's shard and is linked whichever shard the owner came from.
   */
  private linkLocalityPolicies(resources: Map<string, CachedResource>): void {
    for (const [key, resource] of resources) {
      const policyType = LOCALITY_POLICY_TYPES.get(resource.typeUrl);
      if (policyType === undefined) continue;
      const stored = resources.get(resourceKey({ variant: resource.variant, typeUrl: policyType, name: resource.name }));
      if (resource.locality?.policyVersion === stored?.version) continue;
      let locality: { policy: LocalityLbPolicy; version: string } | undefined;
      if (stored !== undefined) {
        try {
          locality = { policy: decodeLocalityLbPolicy(stored.bytes), version: stored.version };
        } catch (error) {
          this.logger.error({ resource: resource.name, variant: resource.variant, err: messageOf(error) }, 'stored locality load balancing policy cannot be read; serving the assignment as stored');
        }
      }
      if (resource.locality === undefined && locality === undefined) continue;
      resources.set(key, resource.withLocality(locality));
    }
  }

  /** Loads everything of one shard (the whole store when not sharded) and applies the difference. */
  private async reconcile(shard: ShardState, reason: ReconcileReason): Promise<void> {
    const started = performance.now();
    const { store } = shard;
    // Every message of the shard received so far is reflected in the snapshot read next.
    for (const [id, sync] of [...this.pendingOwners]) if (sync.shard === shard) this.pendingOwners.delete(id);
    for (const [id, pending] of [...this.pendingScopes]) if (pending.shard === shard) this.pendingScopes.delete(id);
    const epoch = store.epoch === undefined ? undefined : await store.epoch();
    const snapshot = await store.resources.loadAll();
    // Read after the snapshot's sequence number: every Sidecar and Gateway write up to it is in the lists.
    const storedSidecars = (await store.sidecars?.list()) ?? [];
    const storedGateways = (await store.gateways?.list()) ?? [];
    shard.subscription?.rebase(snapshot.seq);
    const lostData =
      shard.loaded && (reason === 'reset' || snapshot.seq < applied(shard) || (epoch !== undefined && shard.epoch !== undefined && shard.epoch !== null && epoch !== shard.epoch));
    if (lostData) {
      this.retainedUntil = Date.now() + this.resetGraceMs;
      this.logger.warn(
        { seq: snapshot.seq, previousSeq: applied(shard), epoch, previousEpoch: shard.epoch, graceMs: this.resetGraceMs, ...(this.shards.length === 1 ? {} : { shard: shard.index }) },
        'the store lost its data; serving what the cache holds until it is rebuilt',
      );
    }
    const changed: ChangedName[] = [];
    const present = new Set<string>();
    for (const owned of snapshot.owners) {
      const id = idOf(owned.record);
      present.add(id);
      this.retained.delete(id);
      this.ownerShard.set(id, shard.index);
      const held = this.table.owner(id);
      if (held !== undefined && sameRecord(held.record, owned.record)) continue;
      const resources = this.resourcesFor(owned);
      if (resources === undefined) throw new StoreError('corrupt', `owner ${id} lists resources the snapshot did not return`);
      for (const item of this.table.setOwner(owned.record, resources)) changed.push(item);
    }
    const keepMissing = Date.now() < this.retainedUntil;
    for (const id of [...this.table.ownerIds()]) {
      // Owners of other shards are theirs to reconcile.
      if (present.has(id) || (this.ownerShard.get(id) ?? shard.index) !== shard.index) continue;
      if (keepMissing) {
        this.retained.add(id);
        continue;
      }
      this.retained.delete(id);
      for (const item of this.removeOwner(id)) changed.push(item);
    }
    this.sidecarViews.refresh(changed);
    const sidecars = new Map<string, NormalizedSidecar>();
    for (const stored of storedSidecars) {
      const sidecar = this.decodeSidecar(stored);
      if (sidecar !== undefined) sidecars.set(idOf(stored.key), sidecar);
    }
    // While the store rebuilds after losing its data, Sidecars it no longer has are kept like owners.
    const keepSidecars = keepMissing && sidecars.size < shard.sidecars.size;
    if (!keepSidecars) shard.sidecars = sidecars;
    const rescoped = keepSidecars ? [] : this.sidecarViews.replaceAll(this.shards.flatMap((each) => [...each.sidecars.values()]));
    const gateways = new Map<string, NormalizedGateway>();
    for (const stored of storedGateways) {
      const gateway = this.decodeStored(stored, 'Gateway', checkNormalizedGateway);
      if (gateway !== undefined) gateways.set(idOf(stored.key), gateway);
    }
    // Gateways the store no longer has are kept like Sidecars while it rebuilds; the other shards' Gateways stay.
    if (!(keepMissing && gateways.size < shard.gateways.size)) {
      shard.gateways = gateways;
      if (this.autoPassthrough.replaceAll(this.shards.flatMap((each) => [...each.gateways.values()]))) {
        this.requestSniDnatForGateways();
        for (const name of this.table.variantNames(SNI_DNAT_VARIANT)) rescoped.push(name);
      }
    }
    shard.snapshotSeq = snapshot.seq;
    shard.seenSeq = snapshot.seq;
    shard.epoch = epoch;
    shard.loaded = true;
    if (this.retained.size > 0) this.scheduleGraceEnd();
    const report: ReconcileReport = {
      reason,
      at: new Date().toISOString(),
      seq: snapshot.seq,
      owners: snapshot.owners.length,
      changed: changed.length,
      retained: this.retained.size,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      ...(this.shards.length === 1 ? {} : { shard: shard.index }),
    };
    this.lastReconcile = report;
    this.reconciles[reason] = (this.reconciles[reason] ?? 0) + 1;
    this.instruments.reconciled(reason);
    this.logger.info(report, reason === 'start' ? 'cache loaded from the store' : 'cache reconciled with the store');
    if (!this.ready) {
      // Nobody is served before every shard's first load, so there is no change to announce.
      if (this.shards.every((each) => each.loaded)) {
        this.ready = true;
        this.loaded.resolve();
      }
      return;
    }
    this.announce([...changed, ...rescoped], started);
  }

  private scheduleGraceEnd(): void {
    if (this.graceTimer !== undefined) return;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.retained.size > 0) this.requestReconcile('reset-grace');
    }, Math.max(this.retainedUntil - Date.now(), 0) + 1);
  }

  /**
   * The periodic check: the store's sequence number and epoch against what the cache applied. A
   * number ahead of the cache is given a moment (the message may be on its way) before reconciling.
   */
  private periodicCheck(): void {
    if (this.checking !== undefined || this.stopping || !this.ready) return;
    this.checking = (async () => {
      for (const shard of this.shards) {
        try {
          await this.checkShard(shard);
        } catch (error) {
          if (!this.stopping) this.noteStoreError(`check the store sequence${this.shardLabel(shard)}`, error);
        }
      }
    })().finally(() => {
      this.checking = undefined;
    });
  }

  private async checkShard(shard: ShardState): Promise<void> {
    const { store } = shard;
    const epoch = store.epoch === undefined ? undefined : await store.epoch();
    if (epoch !== undefined && shard.epoch !== undefined && shard.epoch !== null && epoch !== shard.epoch) {
      this.requestReconcile('reset', shard);
      return;
    }
    // An empty store got its first write since the last snapshot: that is the epoch to compare with.
    if (epoch !== undefined && shard.epoch === null) shard.epoch = epoch;
    let current = await store.invalidations.currentSeq();
    if (current < applied(shard)) {
      this.requestReconcile('reset', shard);
      return;
    }
    if (current > applied(shard)) {
      await this.sleep(Math.min(1000, this.checkIntervalMs));
      current = await store.invalidations.currentSeq();
      if (current > applied(shard)) this.requestReconcile('periodic', shard);
    }
  }

  // Helpers ------------------------------------------------------------------------------------------

  /** Resource changes: the Sidecar-scoped views re-decide the names, then listeners hear of them. */
  private emit(changed: readonly ChangedName[], since: number, trace: string | undefined): void {
    this.sidecarViews.refresh(changed);
    this.announce(changed, since, trace);
  }

  /**
   * Tells listeners which names may have changed (views already reflect it). Names of one type that
   * changed only in a variant some proxies alone see (`NARROW_AUDIENCES`) concern those proxies only.
   */
  private announce(changed: readonly ChangedName[], since: number, trace?: string): void {
    if (changed.length === 0) return;
    const byType = new Map<string, { readonly names: string[]; readonly variants: Set<string> }>();
    for (const { typeUrl, name, variant } of changed) {
      let entry = byType.get(typeUrl);
      if (entry === undefined) {
        entry = { names: [], variants: new Set() };
        byType.set(typeUrl, entry);
      }
      entry.names.push(name);
      entry.variants.add(baseVariant(variant));
    }
    const changes: ResourceChange[] = [...byType].map(([typeUrl, { names, variants }]) => {
      const concerns = variants.size === 1 ? NARROW_AUDIENCES.get(variants.values().next().value!) : undefined;
      return {
        typeUrl,
        names: [...new Set(names)],
        since,
        ...(trace === undefined ? {} : { trace }),
        ...(concerns === undefined ? {} : { concerns }),
      };
    });
    for (const listener of this.listeners) {
      try {
        listener(changes);
      } catch (error) {
        this.logger.error({ err: error }, 'a resource change listener threw');
      }
    }
  }

  private noteStoreError(what: string, error: unknown): void {
    this.storeErrors++;
    this.lastStoreError = messageOf(error);
    this.instruments.storeError();
    this.logger.warn({ err: messageOf(error) }, `cannot ${what}; serving what the cache holds and retrying`);
  }

  private throwIfStopped(): void {
    if (this.stopping) throw new Error('the cache was stopped before its first load');
  }

  private async sleep(ms: number): Promise<void> {
    if (this.stopping) return;
    await new Promise<void>((resolve) => {
      const signal = this.stopper.signal;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** Two views as one: every name of either (they hold disjoint names). */
function unionView(first: ProxyResourceView, second: ProxyResourceView): ProxyResourceView {
  return {
    all: (typeUrl) => {
      const a = first.all(typeUrl);
      const b = second.all(typeUrl);
      if (b.size === 0) return a;
      if (a.size === 0) return b;
      const merged = new Map(a);
      for (const [name, resource] of b) merged.set(name, resource);
      return merged;
    },
    get: (typeUrl, name) => first.get(typeUrl, name) ?? second.get(typeUrl, name),
  };
}

/** The cache's metrics (`skiff_gateway_cache_*`; Istio keeps no such cache). Counters get a `_total` suffix. */
function createInstruments(meter: Meter | undefined, gauges: () => { owners: number; resources: number; retained: number }) {
  const invalidations = meter?.createCounter('skiff_gateway_cache_invalidations', { description: 'Invalidations received, by op' });
  const reconciles = meter?.createCounter('skiff_gateway_cache_reconciles', { description: 'Full reloads from the store, by reason' });
  const reads = meter?.createCounter('skiff_gateway_cache_resource_reads', { description: 'Resource versions read from the store and encoded (once per version)' });
  const storeErrors = meter?.createCounter('skiff_gateway_cache_store_errors', { description: 'Failed store reads (retried; the cache keeps serving what it holds)' });
  const owners = meter?.createObservableGauge('skiff_gateway_cache_owners', { description: 'ServiceEntries whose resources the cache holds' });
  const resources = meter?.createObservableGauge('skiff_gateway_cache_resources', { description: 'Resources held, every variant counted' });
  const retained = meter?.createObservableGauge('skiff_gateway_cache_retained_owners', { description: 'Owners kept after the store lost its data, until they are rebuilt or the grace period ends' });
  const observe = (result: { observe(value: number): void }, pick: (values: ReturnType<typeof gauges>) => number) => result.observe(pick(gauges()));
  const observeOwners = (result: { observe(value: number): void }) => observe(result, (v) => v.owners);
  const observeResources = (result: { observe(value: number): void }) => observe(result, (v) => v.resources);
  const observeRetained = (result: { observe(value: number): void }) => observe(result, (v) => v.retained);
  owners?.addCallback(observeOwners);
  resources?.addCallback(observeResources);
  retained?.addCallback(observeRetained);
  return {
    invalidation(op: string): void {
      invalidations?.add(1, { op });
    },
    reconciled(reason: ReconcileReason): void {
      reconciles?.add(1, { reason });
    },
    resourceRead(): void {
      reads?.add(1);
    },
    storeError(): void {
      storeErrors?.add(1);
    },
    unregister(): void {
      owners?.removeCallback(observeOwners);
      resources?.removeCallback(observeResources);
      retained?.removeCallback(observeRetained);
    },
  };
}
