/**
 * The translator service: the change log in, built resources and invalidations out.
 *
 * It reads the change log as one consumer of the `translators` group, so any number of replicas share
 * the work, and it takes over entries another replica read and never acknowledged (it died) once they
 * have been idle for `claimMinIdleMs`. Per ServiceEntry, changes are coalesced: everything waiting for
 * one ServiceEntry is one build, and builds of one ServiceEntry never overlap (a KeyedQueue keyed by
 * ServiceEntry, bounded concurrency across them). A build re-reads the hash (the log carries keys, not
 * content), translates it for every served variant, and replaces the ServiceEntry's resources in one
 * atomic store call that also publishes the invalidation; only then are the log entries acknowledged.
 * So a translator that dies at any point loses nothing: its entries stay pending and are built again.
 *
 * Failure policy (Envoy Gateway's, `internal/xds/runner/runner.go` in envoyproxy/gateway):
 * - the store is unreachable or refuses a command: nothing is acknowledged, the build is retried with
 *   backoff, and the read loop backs off too;
 * - a hash that does not decode (corrupt, or a schema version this build does not know) cannot be
 *   built however often it is retried: it is logged, counted and acknowledged, the stored resources of
 *   the previous revision stay in place, and the watcher's next write of that ServiceEntry rebuilds it;
 * - entry-level translation problems (TranslateError) are logged and counted, and everything valid is
 *   still stored;
 * - the store holds a newer build (`stale`): the entries are acknowledged, the newer build stands.
 */
import type { Meter, Tracer } from '@opentelemetry/api';
import type { ObjectKey } from '@skiff/model';
import { Backoff, inSpan, KeyedQueue, PUSH_TIME_BUCKETS_SECONDS, traceparentOf, type BackoffOptions, type Logger, type Runner } from '@skiff/runtime';
import { baseVariant, DecodedFieldCache, decodeServiceEntry, StoreError, type BuiltResource, type CoalescedChange, type ChangeOp, type PendingSummary, type ReplaceOutcome, type TranslatorStore } from '@skiff/store';
import { DEFAULT_MESH_SETTINGS, EndpointBytesCache, type DestinationRuleLookupOptions, type MeshSettings } from '@skiff/xds-translate';
import { buildServiceEntry, SERVED_VARIANTS, type TranslationVariant } from './build.js';

/** How long builds may hold the event loop before the next one waits a turn (`yieldIfBusy`). */
const EVENT_LOOP_SLICE_MS = 20;

export interface TranslatorOptions {
  readonly store: TranslatorStore;
  /** This replica's consumer name in the group; unique per process (pod name plus a random suffix). */
  readonly consumer: string;
  readonly logger: Logger;
  readonly meter?: Meter;
  /**
   * Traces builds: each build is a span continuing the traces of the changes it serves (the first as
   * parent, the others linked), and its context goes with the invalidation to the gateways.
   */
  readonly tracer?: Tracer;
  /** ServiceEntries built at once. Default 4. */
  readonly concurrency?: number;
  /** Most change-log entries taken per read or claim. Default 256. */
  readonly readCount?: number;
  /** How long one read waits for new entries; also bounds how long `close` waits for the read loop. Default 1000 ms. */
  readonly blockMs?: number;
  /** How often entries abandoned by a dead replica are looked for. Default 5 s. */
  readonly claimIntervalMs?: number;
  /** How long an entry must have been pending before another replica takes it over. Default 30 s. */
  readonly claimMinIdleMs?: number;
  readonly mesh?: MeshSettings;
  /**
   * How DestinationRules are looked up (root namespace, `defaultDestinationRuleExportTo`, the domain
   * suffix completing short hosts: `cluster.local` as for Kubernetes config, `''` as istiod reads config
   * from files). Default `DEFAULT_DESTINATION_RULE_LOOKUP_OPTIONS`.
   */
  readonly destinationRuleLookup?: Partial<DestinationRuleLookupOptions>;
  readonly variants?: readonly TranslationVariant[];
  /**
   * Names of `variants` built only once `requestVariant` asks for them; every other variant is built
   * from the start. istiod builds a proxy's configuration when the proxy connects, so a mesh of
   * sidecars never costs it the gRPC or sni-dnat resources; the all-in-one, whose gateway asks for a
   * variant when the first proxy needing it connects, does the same. The stored resources must have
   * been built by this translator: a store already holding other builds (Redis, other replicas) would
   * keep serving their variants while these are off. Default: none.
   */
  readonly buildOnRequest?: readonly string[];
  /** Backoff while the store is unreachable. Default 200 ms growing to 10 s. */
  readonly retry?: BackoffOptions;
  /** Builds kept for `/debug/translatorz`. Default 64. */
  readonly recentBuildCount?: number;
}

/** What became of one build. */
export type BuildOutcomeKind =
  /** Resources (or the visibility record) changed; an invalidation was published. */
  | 'applied'
  /** The build equals what is stored; nothing was published. */
  | 'unchanged'
  /** The store holds a build of a newer revision; it stands. */
  | 'stale'
  /** The hash is gone: the ServiceEntry's resources were removed and the removal published. */
  | 'deleted'
  /** The hash does not decode; the previous resources stay. */
  | 'corrupt'
  /** The build failed for another reason that retrying cannot fix (a defect); logged with its error. */
  | 'failed';

/** One finished build, as `/debug/translatorz` lists it. */
export interface BuildRecord {
  readonly serviceEntry: string;
  /** The ServiceEntry revision built (the hash's, or for a deletion the latest log entry's). */
  readonly revision: number;
  readonly op: ChangeOp;
  readonly outcome: BuildOutcomeKind;
  /** Change-log entries this build acknowledged (more than one: coalesced). */
  readonly entries: number;
  readonly resources: number;
  readonly changed: number;
  readonly removed: number;
  /** Sequence number of the invalidation published, if any. */
  readonly seq?: number;
  readonly durationMs: number;
  /** ISO time the build finished. */
  readonly finishedAt: string;
  /** TranslateError or failure messages. */
  readonly errors: readonly string[];
}

export interface TranslatorStatus {
  readonly consumer: string;
  /** The variants every build makes now. */
  readonly variants: readonly string[];
  /** Variants built only once asked for (`buildOnRequest`), not asked for yet. */
  readonly notRequested: readonly string[];
  /** ServiceEntries being built now. */
  readonly building: number;
  /** ServiceEntries with changes waiting for their build. */
  readonly waiting: number;
  /** ServiceEntries waiting to retry after a store error. */
  readonly retrying: number;
  /** The change log's pending entries at the last check (every consumer's), or null before the first. */
  readonly backlog: PendingSummary | null;
  readonly storeReachable: boolean;
  /**
   * What the caches for later builds hold: decoded hash fields, service instances with their encoded
   * endpoints, and EDS clusters with their encodings.
   */
  readonly kept: { readonly decodedFields: number; readonly endpointInstances: number; readonly edsClusters: number };
  readonly totals: Readonly<Record<BuildOutcomeKind, number>>;
  readonly recentBuilds: readonly BuildRecord[];
}

/** Changes of one ServiceEntry waiting for a build. */
interface PendingWork {
  readonly key: ObjectKey;
  readonly ids: Set<string>;
  op: ChangeOp;
  revision: number;
  /** Trace contexts of the changes, oldest first. */
  readonly traces: string[];
  /** Backoff of a build retried after store errors (created on the first failure). */
  retry: Backoff | undefined;
  /**
   * Set while the work is only the rebuild for variants asked for (`requestVariant`): those variants are
   * built and the stored resources of the others kept, if the store holds a build of the hash's revision.
   * A change of the ServiceEntry (undefined) builds every variant.
   */
  onlyVariants: Set<string> | undefined;
}

type BuildResult =
  | { readonly kind: 'done'; readonly record: Omit<BuildRecord, 'entries' | 'durationMs' | 'finishedAt' | 'op'> }
  | { readonly kind: 'retry'; readonly error: unknown };

const ZERO_TOTALS: Record<BuildOutcomeKind, number> = { applied: 0, unchanged: 0, stale: 0, deleted: 0, corrupt: 0, failed: 0 };

function idOf(key: ObjectKey): string {
  return `${key.namespace}/${key.name}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Store errors that go away by themselves: the server is unreachable, or refused a command (OOM, failover, loading). */
function isTransient(error: unknown): boolean {
  return error instanceof StoreError && (error.code === 'unavailable' || error.code === 'command');
}

function isClosed(error: unknown): boolean {
  return error instanceof StoreError && error.code === 'closed';
}

export class Translator implements Runner {
  readonly name = 'translator';
  private readonly store: TranslatorStore;
  private readonly consumer: string;
  private readonly logger: Logger;
  private readonly tracer: Tracer | undefined;
  private readonly readCount: number;
  private readonly blockMs: number;
  private readonly claimIntervalMs: number;
  private readonly claimMinIdleMs: number;
  private readonly mesh: MeshSettings;
  private readonly destinationRuleLookup: Partial<DestinationRuleLookupOptions>;
  private readonly variants: readonly TranslationVariant[];
  /** The variants builds make: `variants` less those of `buildOnRequest` not asked for yet, in `variants`' order. */
  private builtVariants: readonly TranslationVariant[];
  /** Each variant asked for by `requestVariant`, with the rebuild of every ServiceEntry it started. */
  private readonly variantRequests = new Map<string, Promise<void>>();
  /** Rebuilds of every ServiceEntry for a variant asked for: the ids not built since, and what to call once none is left. */
  private readonly variantRebuilds = new Set<{ readonly pending: Set<string>; readonly settle: (error?: Error) => void }>();
  private readonly retryOptions: BackoffOptions;
  private readonly recentBuildCount: number;
  /**
   * The encoded endpoints of each ServiceEntry's latest build: a rebuild writes only the endpoints
   * that changed and splices the others (at most the live endpoints of the ServiceEntries built).
   * A first build keeps them from `FIRST_BUILD_KEEPS_FROM` endpoints on.
   */
  private readonly endpointBytes = new EndpointBytesCache();
  /**
   * The entries each ServiceEntry hash decoded to at its latest build (from its second on: it keeps
   * every field's text, which a cold start need not hold for hashes that never change): an unchanged
   * field is not parsed again and is the same object, by which `endpointBytes` finds the service
   * instances it kept. A hash's second build therefore makes its instances again, and finds their
   * bytes by comparing what they are written from.
   */
  private readonly decodedFields = new DecodedFieldCache({ keepFromSecondDecoding: true });
  private readonly queue: KeyedQueue<string>;
  /** When builds last let the event loop turn (`yieldIfBusy`). */
  private lastYieldAt = performance.now();
  /** Changes not yet taken by a build, per ServiceEntry id. */
  private readonly waiting = new Map<string, PendingWork>();
  /**
   * Change-log entries this translator holds (read or taken over, not yet acknowledged): waiting,
   * building or waiting to retry. A build that outlasts `claimMinIdleMs` leaves its entries idle in the
   * group as long, and claiming finds them too; they are this translator's own, not abandoned ones.
   */
  private readonly held = new Set<string>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly recent: BuildRecord[] = [];
  private readonly totals: Record<BuildOutcomeKind, number> = { ...ZERO_TOTALS };
  /** Signature of the last logged translation errors per ServiceEntry, so a rebuild does not repeat them. */
  private readonly loggedErrors = new Map<string, string>();
  private readonly stopper = new AbortController();
  private capacityWaiters: (() => void)[] = [];
  private readLoopDone: Promise<void> | undefined;
  private claimTimer: NodeJS.Timeout | undefined;
  private claiming: Promise<void> | undefined;
  private backlog: PendingSummary | null = null;
  private lastStoreCallOk = false;
  private readonly instruments: ReturnType<typeof createInstruments>;

  constructor(options: TranslatorOptions) {
    this.store = options.store;
    this.consumer = options.consumer;
    this.logger = options.logger;
    this.tracer = options.tracer;
    this.readCount = options.readCount ?? 256;
    this.blockMs = options.blockMs ?? 1000;
    this.claimIntervalMs = options.claimIntervalMs ?? 5000;
    this.claimMinIdleMs = options.claimMinIdleMs ?? 30_000;
    this.mesh = options.mesh ?? DEFAULT_MESH_SETTINGS;
    this.destinationRuleLookup = options.destinationRuleLookup ?? {};
    this.variants = options.variants ?? SERVED_VARIANTS;
    this.retryOptions = options.retry ?? { initialMs: 200, maxMs: 10_000 };
    this.recentBuildCount = options.recentBuildCount ?? 64;
    if (this.consumer === '') throw new Error('the translator needs a non-empty consumer name');
    if (new Set(this.variants.map((v) => v.name)).size !== this.variants.length) throw new Error('variant names must be unique');
    const onRequest = new Set(options.buildOnRequest ?? []);
    for (const name of onRequest) if (!this.variants.some((v) => v.name === name)) throw new Error(`buildOnRequest names ${name}, which is not one of the variants`);
    this.builtVariants = this.variants.filter((v) => !onRequest.has(v.name));
    this.queue = new KeyedQueue<string>({
      concurrency: options.concurrency ?? 4,
      // runBuild catches everything; reaching this is a defect worth seeing in the log.
      onError: (error, id) => this.logger.error({ err: error, serviceEntry: id }, 'build task failed unexpectedly'),
    });
    this.instruments = createInstruments(options.meter, () => ({ backlog: this.backlog?.count, waiting: this.waiting.size + this.queue.running }));
  }

  /** Starts the read loop and the claim timer; resolves at once (the loops back off while the store is down). */
  async start(signal?: AbortSignal): Promise<void> {
    signal?.addEventListener('abort', () => this.stopper.abort(), { once: true });
    this.readLoopDone = this.readLoop();
    this.claimTimer = setInterval(() => this.claimTick(), this.claimIntervalMs);
    this.claimTick();
  }

  /**
   * Stops reading, cancels retries, and waits for builds in progress. Entries read but not built stay
   * pending in the group, for this consumer's next start or another replica's claim.
   */
  async close(): Promise<void> {
    this.stopper.abort();
    if (this.claimTimer !== undefined) clearInterval(this.claimTimer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    this.wakeCapacityWaiters();
    await this.readLoopDone;
    await this.claiming;
    // Changes not started are dropped from memory (they stay pending in the store); running builds finish.
    this.waiting.clear();
    for (const rebuild of this.variantRebuilds) rebuild.settle(new Error('the translator stopped before the variant was built'));
    this.variantRebuilds.clear();
    await this.queue.drain();
    this.held.clear();
    this.instruments.unregister();
  }

  /** True once the store has answered and while its command connection is up. */
  isReady(): boolean {
    return this.lastStoreCallOk && this.store.health().state === 'ready';
  }

  /** Resolves when nothing is waiting, building or retrying (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.waiting.size > 0 || !this.queue.idle || this.retryTimers.size > 0) {
      await this.queue.drain();
      if (this.retryTimers.size > 0 || this.waiting.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /**
   * Whether everything in the change log so far is built and acknowledged: nothing undelivered in the
   * store, nothing pending for this consumer, nothing waiting, building or retrying here. Entries a
   * dead replica left pending do not count: they are taken over after `claimMinIdleMs`, and until then
   * the store holds their previous build.
   */
  async caughtUp(): Promise<boolean> {
    if (!this.locallyIdle()) return false;
    const [undelivered, pending] = await Promise.all([this.store.changeLog.hasUndelivered(), this.store.changeLog.pending()]);
    return !undelivered && (pending.perConsumer[this.consumer] ?? 0) === 0 && this.locallyIdle();
  }

  private locallyIdle(): boolean {
    return this.waiting.size === 0 && this.queue.idle && this.retryTimers.size === 0;
  }

  /** The state `/debug/translatorz` shows. */
  status(): TranslatorStatus {
    return {
      consumer: this.consumer,
      variants: this.builtVariants.map((v) => v.name),
      notRequested: this.variants.filter((v) => !this.builtVariants.includes(v)).map((v) => v.name),
      building: this.queue.running,
      waiting: this.waiting.size,
      retrying: this.retryTimers.size,
      backlog: this.backlog,
      storeReachable: this.isReady(),
      kept: { decodedFields: this.decodedFields.size, endpointInstances: this.endpointBytes.instanceCount, edsClusters: this.endpointBytes.clusterCount },
      totals: { ...this.totals },
      recentBuilds: [...this.recent].reverse(),
    };
  }

  /**
   * Builds `name` (one of `buildOnRequest`) from now on: every ServiceEntry the store holds is built
   * again with it, and every later build includes it. Resolves once each of those ServiceEntries has
   * been built since the call (store errors are retried; a ServiceEntry deleted meanwhile counts as
   * built), so its resources are stored and their invalidations published. Asking again returns the
   * same promise; a variant built from the start resolves at once. Rejects for a name that is not a
   * variant, and when the translator stops first.
   */
  requestVariant(name: string): Promise<void> {
    const requested = this.variantRequests.get(name);
    if (requested !== undefined) return requested;
    const variant = this.variants.find((v) => v.name === name);
    if (variant === undefined) return Promise.reject(new Error(`the translator builds no variant named ${name}`));
    if (this.builtVariants.includes(variant)) return Promise.resolve();
    const request = this.rebuildWith(variant);
    this.variantRequests.set(name, request);
    return request;
  }

  private async rebuildWith(variant: TranslationVariant): Promise<void> {
    const started = performance.now();
    // From here on every build makes the variant; a build already past this point is listed below and built again.
    this.builtVariants = this.variants.filter((v) => v === variant || this.builtVariants.includes(v));
    const backoff = new Backoff(this.retryOptions);
    let keys: ObjectKey[] | undefined;
    while (keys === undefined) {
      if (this.stopping) throw new Error('the translator stopped before the variant was built');
      try {
        keys = await this.store.serviceEntries.list();
        this.lastStoreCallOk = true;
      } catch (error) {
        if (isClosed(error)) throw error;
        this.storeProblem('list the ServiceEntries', error);
        await this.sleep(backoff.next());
      }
    }
    if (keys.length > 0) {
      await new Promise<void>((resolve, reject) => {
        this.variantRebuilds.add({ pending: new Set(keys.map(idOf)), settle: (error) => (error === undefined ? resolve() : reject(error)) });
        for (const key of keys) this.schedule({ key, ids: new Set(), op: 'upsert', revision: 0, traces: [], retry: undefined, onlyVariants: new Set([variant.name]) });
      });
    }
    this.logger.info({ variant: variant.name, serviceEntries: keys.length, ms: Math.round(performance.now() - started) }, 'variant asked for: built for every ServiceEntry');
  }

  /** A build of `id` finished (stored, or nothing to store): it counts for every variant rebuild waiting for it. */
  private builtForRebuilds(id: string): void {
    for (const rebuild of this.variantRebuilds) {
      if (!rebuild.pending.delete(id) || rebuild.pending.size > 0) continue;
      this.variantRebuilds.delete(rebuild);
      rebuild.settle();
    }
  }

  // Reading ------------------------------------------------------------------------------------------

  private get stopping(): boolean {
    return this.stopper.signal.aborted;
  }

  private async readLoop(): Promise<void> {
    const backoff = new Backoff(this.retryOptions);
    while (!this.stopping) {
      await this.waitForCapacity();
      if (this.stopping) return;
      try {
        const changes = await this.store.changeLog.read(this.consumer, { count: this.readCount, blockMs: this.blockMs });
        this.lastStoreCallOk = true;
        backoff.reset();
        for (const change of changes) this.schedule(change);
      } catch (error) {
        if (this.stopping || isClosed(error)) return;
        this.storeProblem('read the change log', error);
        await this.sleep(backoff.next());
      }
    }
  }

  /** Keeps at most `readCount` ServiceEntries outstanding, so a long backlog stays in the store, not in memory. */
  private async waitForCapacity(): Promise<void> {
    while (!this.stopping && this.waiting.size + this.queue.running >= this.readCount) {
      await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
    }
  }

  private wakeCapacityWaiters(): void {
    const waiters = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const wake of waiters) wake();
  }

  private claimTick(): void {
    if (this.claiming !== undefined || this.stopping) return;
    this.claiming = this.claimAbandoned().finally(() => {
      this.claiming = undefined;
    });
  }

  /** Takes over entries idle past `claimMinIdleMs` (their reader died) and refreshes the backlog figure. */
  private async claimAbandoned(): Promise<void> {
    try {
      // Entries held when the claim is sent are this translator's own, even if acknowledged while the
      // claim is in flight: the claim may take them before the acknowledgement lands, and its reply
      // then arrives after they were let go. Only those held neither then nor now were abandoned.
      const heldWhenSent = new Set(this.held);
      const stale = await this.store.changeLog.claimStale(this.consumer, this.claimMinIdleMs, this.readCount);
      this.lastStoreCallOk = true;
      const claimed: CoalescedChange[] = [];
      for (const change of stale) {
        const ids = change.ids.filter((entryId) => !this.held.has(entryId) && !heldWhenSent.has(entryId));
        if (ids.length > 0) claimed.push(ids.length === change.ids.length ? change : { ...change, ids });
      }
      if (claimed.length > 0) {
        const entries = claimed.reduce((sum, change) => sum + change.ids.length, 0);
        this.logger.info({ entries, serviceEntries: claimed.length }, 'took over change-log entries left unacknowledged by another translator');
        this.instruments.claimed(entries);
      }
      for (const change of claimed) this.schedule(change);
      this.backlog = await this.store.changeLog.pending();
    } catch (error) {
      if (this.stopping || isClosed(error)) return;
      this.storeProblem('claim abandoned change-log entries', error);
    }
  }

  // Scheduling ---------------------------------------------------------------------------------------

  /** Adds a change to its ServiceEntry's waiting work, queueing a build unless one is already waiting. */
  private schedule(change: CoalescedChange | PendingWork): void {
    if (this.stopping) return;
    for (const entryId of change.ids) this.held.add(entryId);
    const id = idOf('serviceEntry' in change ? change.serviceEntry : change.key);
    const existing = this.waiting.get(id);
    if (existing !== undefined) {
      merge(existing, change);
      return;
    }
    const work: PendingWork =
      'serviceEntry' in change
        ? { key: change.serviceEntry, ids: new Set(change.ids), op: change.op, revision: change.revision, traces: [...new Set(change.traces)], retry: undefined, onlyVariants: undefined }
        : change;
    this.waiting.set(id, work);
    this.queue.enqueue(id, () => this.runBuild(id));
  }

  private async runBuild(id: string): Promise<void> {
    const work = this.waiting.get(id);
    if (work === undefined) return;
    this.waiting.delete(id);
    const started = performance.now();
    const result = await this.build(work);
    const durationMs = performance.now() - started;
    if (result.kind === 'retry') {
      if (!this.stopping && !isClosed(result.error)) this.retryLater(id, work, result.error);
      this.wakeCapacityWaiters();
      return;
    }
    try {
      if (work.ids.size > 0) await this.store.changeLog.ack([...work.ids]);
      for (const entryId of work.ids) this.held.delete(entryId);
    } catch (error) {
      // The build is stored; only the acknowledgement is missing. A retry rebuilds (unchanged) and acks.
      if (!this.stopping && !isClosed(error)) this.retryLater(id, work, error);
      this.wakeCapacityWaiters();
      return;
    }
    const record: BuildRecord = {
      ...result.record,
      op: work.op,
      entries: work.ids.size,
      durationMs: Math.round(durationMs * 1000) / 1000,
      finishedAt: new Date().toISOString(),
    };
    this.finish(record, durationMs);
    if (this.variantRebuilds.size > 0) this.builtForRebuilds(id);
    this.wakeCapacityWaiters();
  }

  private retryLater(id: string, work: PendingWork, error: unknown): void {
    this.storeProblem(`build ${id}`, error);
    work.retry ??= new Backoff(this.retryOptions);
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.schedule(work);
    }, work.retry.next());
    this.retryTimers.add(timer);
  }

  private finish(record: BuildRecord, durationMs: number): void {
    this.totals[record.outcome]++;
    this.recent.push(record);
    if (this.recent.length > this.recentBuildCount) this.recent.splice(0, this.recent.length - this.recentBuildCount);
    this.instruments.built(record, durationMs);
    const fields = { serviceEntry: record.serviceEntry, revision: record.revision, outcome: record.outcome, entries: record.entries, changed: record.changed, removed: record.removed, seq: record.seq };
    if (record.outcome === 'applied' || record.outcome === 'deleted') this.logger.debug(fields, 'built');
  }

  // Building -----------------------------------------------------------------------------------------

  /** Builds in a span when tracing; the trace handed to the store is the build's, else the latest change's. */
  private build(work: PendingWork): Promise<BuildResult> {
    const id = idOf(work.key);
    const latest = work.traces.at(-1);
    if (this.tracer === undefined) return this.buildTraced(work, id, latest);
    return inSpan(this.tracer, 'translator.build', work.traces, { 'skiff.service_entry': id, 'skiff.change_log_entries': work.ids.size }, (span) =>
      this.buildTraced(work, id, traceparentOf(span) ?? latest),
    );
  }

  private async buildTraced(work: PendingWork, id: string, traceparent: string | undefined): Promise<BuildResult> {
    const trace = traceparent === undefined ? {} : { trace: traceparent };
    try {
      const stored = await this.store.serviceEntries.read(work.key);
      if (stored === null) {
        // Deleted (maybe after the change we hold): remove what it owned. A newer build of a re-created
        // ServiceEntry has a larger revision, so this deletion cannot undo it (the store refuses it as stale).
        this.endpointBytes.forget(id);
        this.decodedFields.forget(id);
        const outcome = await this.store.resources.deleteOwner(work.key, { revision: work.revision, ...trace });
        this.lastStoreCallOk = true;
        return { kind: 'done', record: recordOf(id, work.revision, outcome, 0, outcome.status === 'applied' ? 'deleted' : undefined, []) };
      }
      await this.yieldIfBusy();
      // A rebuild for variants asked for builds those alone onto the stored build of this revision. It
      // is not a change: it neither reads nor fills the caches a ServiceEntry's later builds keep.
      const only = work.onlyVariants === undefined ? undefined : await this.storedBuildOtherThan(work.key, stored.revision, work.onlyVariants);
      let decoded;
      try {
        decoded = decodeServiceEntry(stored, only === undefined ? this.decodedFields : undefined);
      } catch (error) {
        if (!(error instanceof StoreError) || error.code !== 'corrupt') throw error;
        this.instruments.error('corrupt');
        this.logger.error({ serviceEntry: id, revision: stored.revision, err: error }, 'cannot build a ServiceEntry hash that does not decode; its previous resources stay until the watcher rewrites it');
        return { kind: 'done', record: { serviceEntry: id, revision: stored.revision, outcome: 'corrupt', resources: 0, changed: 0, removed: 0, errors: [messageOf(error)] } };
      }
      let built;
      if (only !== undefined) {
        built = buildServiceEntry(decoded, this.builtVariants.filter((variant) => only.variants.has(variant.name)), this.mesh, this.destinationRuleLookup);
      } else {
        const endpointBytes = this.endpointBytes.scope(id, decoded.endpoints.length);
        try {
          built = buildServiceEntry(decoded, this.builtVariants, this.mesh, this.destinationRuleLookup, endpointBytes);
        } finally {
          endpointBytes.close();
        }
      }
      const errorMessages = built.errors.map(({ variant, error }) => `${variant}: ${error.message}`);
      this.reportTranslateErrors(id, stored.revision, built.errors.map(({ variant, error }) => ({ variant, code: error.code, message: error.message })), only?.variants);
      for (const problem of built.scopeProblems) this.logger.warn({ serviceEntry: id, revision: stored.revision }, problem);
      const resources = only === undefined ? built.resources : [...only.kept, ...built.resources];
      const outcome = await this.store.resources.replace({ visibility: built.visibility, revision: stored.revision, resources, ...trace });
      this.lastStoreCallOk = true;
      return { kind: 'done', record: recordOf(id, stored.revision, outcome, resources.length, undefined, errorMessages) };
    } catch (error) {
      if (isTransient(error) || isClosed(error)) return { kind: 'retry', error };
      // Translation is pure and the input is the same on every retry: retrying a defect only repeats it.
      this.instruments.error('failed');
      this.logger.error({ serviceEntry: id, err: error }, 'build failed; the change is acknowledged and the previous resources stay');
      return { kind: 'done', record: { serviceEntry: id, revision: work.revision, outcome: 'failed', resources: 0, changed: 0, removed: 0, errors: [messageOf(error)] } };
    }
  }

  /**
   * The stored resources of `owner` other than those of `variants`, when the store holds a build of
   * `revision` (a build of another revision, or none, needs every variant built).
   */
  private async storedBuildOtherThan(owner: ObjectKey, revision: number, variants: ReadonlySet<string>): Promise<{ readonly variants: ReadonlySet<string>; readonly kept: BuiltResource[] } | undefined> {
    const owned = await this.store.resources.readOwner(owner);
    if (owned === null || owned.record.revision !== revision) return undefined;
    return { variants, kept: owned.resources.filter((resource) => !variants.has(baseVariant(resource.variant))) };
  }

  /**
   * A build is synchronous CPU work, and an in-memory store answers without I/O, so builds chained
   * through promises would hold the event loop for a whole backlog: in the all-in-one, a cold start of
   * 4,000 ServiceEntries kept the ADS port closed and /healthz unanswered for 2.5 s. After
   * `EVENT_LOOP_SLICE_MS` of builds, the next one waits a turn of the event loop, so the process's I/O
   * gets through; a turn per build made the cold start of 10,000 ServiceEntries slower.
   */
  private async yieldIfBusy(): Promise<void> {
    const now = performance.now();
    if (now - this.lastYieldAt < EVENT_LOOP_SLICE_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.lastYieldAt = performance.now();
  }

  /** Counts and logs a build's translation problems; `onlyVariants`: the build made those alone, the others' problems stand. */
  private reportTranslateErrors(id: string, revision: number, errors: readonly { variant: string; code: string; message: string }[], onlyVariants?: ReadonlySet<string>): void {
    for (const { variant, code } of errors) this.instruments.translateError(variant, code);
    const others = onlyVariants === undefined ? [] : (this.loggedErrors.get(id) ?? '').split('\n').filter((line) => line !== '' && !onlyVariants.has(line.slice(0, line.indexOf(' '))));
    const signature = [...others, ...errors.map((e) => `${e.variant} ${e.message}`)].join('\n');
    if (signature === (this.loggedErrors.get(id) ?? '')) return;
    if (signature === '') {
      this.loggedErrors.delete(id);
      this.logger.info({ serviceEntry: id, revision }, 'translation problems resolved');
      return;
    }
    this.loggedErrors.set(id, signature);
    this.logger.warn({ serviceEntry: id, revision, problems: errors.map((e) => `${e.variant}: ${e.message}`) }, 'translation left parts of the ServiceEntry out; the rest is served');
  }

  private storeProblem(what: string, error: unknown): void {
    this.lastStoreCallOk = false;
    this.instruments.error('store');
    this.logger.warn({ err: messageOf(error) }, `cannot ${what}: the store is unavailable, retrying with backoff`);
  }

  private async sleep(ms: number): Promise<void> {
    if (this.stopping) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.stopper.signal.addEventListener('abort', done, { once: true });
    });
  }
}

function merge(into: PendingWork, change: CoalescedChange | PendingWork): void {
  for (const id of change.ids) into.ids.add(id);
  const onlyVariants = 'onlyVariants' in change ? change.onlyVariants : undefined;
  if (onlyVariants === undefined) into.onlyVariants = undefined;
  else if (into.onlyVariants !== undefined) for (const name of onlyVariants) into.onlyVariants.add(name);
  if (change.revision >= into.revision) {
    into.revision = change.revision;
    into.op = change.op;
  }
  for (const trace of change.traces) if (!into.traces.includes(trace)) into.traces.push(trace);
}

function recordOf(
  serviceEntry: string,
  revision: number,
  outcome: ReplaceOutcome,
  resources: number,
  appliedAs: 'deleted' | undefined,
  errors: readonly string[],
): Omit<BuildRecord, 'entries' | 'durationMs' | 'finishedAt' | 'op'> {
  switch (outcome.status) {
    case 'applied': {
      const { invalidation } = outcome;
      return { serviceEntry, revision, outcome: appliedAs ?? 'applied', resources, changed: invalidation.changed.length, removed: invalidation.removed.length, seq: invalidation.seq, errors };
    }
    case 'unchanged':
      return { serviceEntry, revision, outcome: 'unchanged', resources, changed: 0, removed: 0, errors };
    case 'stale':
      return { serviceEntry, revision, outcome: 'stale', resources, changed: 0, removed: 0, errors };
  }
}

/**
 * The translator's metrics. Istio has no translator, so the names are Skiff's own (`skiff_translator_*`);
 * counters are exported with a `_total` suffix.
 */
function createInstruments(meter: Meter | undefined, gauges: () => { backlog: number | undefined; waiting: number }) {
  const builds = meter?.createCounter('skiff_translator_builds', { description: 'ServiceEntry builds by outcome (applied, unchanged, stale, deleted, corrupt, failed)' });
  const buildTime = meter?.createHistogram('skiff_translator_build_time', {
    description: 'Time to read, translate, encode and store one ServiceEntry and acknowledge its changes',
    unit: 's',
    advice: { explicitBucketBoundaries: [...PUSH_TIME_BUCKETS_SECONDS] },
  });
  const written = meter?.createCounter('skiff_translator_resources_written', { description: 'Resources changed or removed in the store by builds, by change' });
  const entries = meter?.createCounter('skiff_translator_change_log_entries', { description: 'Change-log entries acknowledged; more entries than builds means changes were coalesced' });
  const claimed = meter?.createCounter('skiff_translator_claimed_entries', { description: 'Change-log entries taken over from a translator that stopped before acknowledging them' });
  const errors = meter?.createCounter('skiff_translator_errors', { description: 'Errors by reason: store (unreachable, retried), corrupt (hash does not decode), failed (defect)' });
  const translateErrors = meter?.createCounter('skiff_translator_translate_errors', { description: 'Entry-level translation problems by variant and code; the rest of the ServiceEntry is stored' });
  const backlog = meter?.createObservableGauge('skiff_translator_backlog', { description: "Change-log entries delivered to the group and not yet acknowledged, every consumer's, at the last check" });
  const waiting = meter?.createObservableGauge('skiff_translator_queued', { description: 'ServiceEntries of this replica waiting for or in a build' });
  const observeBacklog = (result: { observe(value: number): void }) => {
    const value = gauges().backlog;
    if (value !== undefined) result.observe(value);
  };
  const observeWaiting = (result: { observe(value: number): void }) => result.observe(gauges().waiting);
  backlog?.addCallback(observeBacklog);
  waiting?.addCallback(observeWaiting);
  return {
    built(record: BuildRecord, durationMs: number): void {
      builds?.add(1, { outcome: record.outcome });
      buildTime?.record(durationMs / 1000, { outcome: record.outcome });
      if (record.changed > 0) written?.add(record.changed, { change: 'changed' });
      if (record.removed > 0) written?.add(record.removed, { change: 'removed' });
      entries?.add(record.entries);
    },
    claimed(count: number): void {
      claimed?.add(count);
    },
    error(reason: 'store' | 'corrupt' | 'failed'): void {
      errors?.add(1, { reason });
    },
    translateError(variant: string, code: string): void {
      translateErrors?.add(1, { variant, code });
    },
    unregister(): void {
      backlog?.removeCallback(observeBacklog);
      waiting?.removeCallback(observeWaiting);
    },
  };
}

/**
 * One translator per shard of a sharded store, each consuming its shard's change log (its own
 * consumer group) with the same consumer name; one translator for a store that is not sharded.
 */
export function shardTranslators(shards: readonly TranslatorStore[], options: Omit<TranslatorOptions, 'store'>): Translator[] {
  return shards.map(
    (shard, index) =>
      new Translator({
        ...options,
        store: shard,
        ...(shards.length === 1 ? {} : { logger: options.logger.child({ shard: index }) }),
      }),
  );
}

/**
 * Resolves once `written()` holds (the watcher wrote its first full view of the source: its first
 * converge) and then every translator has built and acknowledged all its change log holds. The
 * all-in-one's gateway serves after it (`GatewayOptions.servesAfter`). Store errors are retried.
 */
export async function initialBuildDone(options: { readonly written: () => boolean; readonly translators: readonly Translator[]; readonly pollMs?: number }): Promise<void> {
  const pollMs = options.pollMs ?? 20;
  // Unreferenced: a process shutting down before the build is done does not wait for it.
  const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, pollMs).unref());
  for (;;) {
    if (options.written()) {
      try {
        const states = await Promise.all(options.translators.map((translator) => translator.caughtUp()));
        if (states.every(Boolean)) return;
      } catch {
        // The store is unreachable: the translators back off and so does this.
      }
    }
    await pause();
  }
}
