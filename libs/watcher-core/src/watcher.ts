/**
 * The watcher service: a configuration source in, one store hash per ServiceEntry out.
 *
 * source events -> DesiredState (validate, normalize, selector index) -> HashWriter (fenced, atomic,
 * only changed fields, several ServiceEntries per store call) -> store. It converges the store to the desired state after the initial sync,
 * after winning the writer lease, and whenever the store's epoch changes (Redis restarted empty).
 */
import type { Meter, Tracer } from '@opentelemetry/api';
import type { ConfigSource, SourceEvent, SourceHealth } from '@skiff/config-sources';
import type { FieldError } from '@skiff/model';
import { formatFieldError } from '@skiff/model';
import { Backoff, type Logger, type Runner } from '@skiff/runtime';
import type { LeaseGrant, WatcherStore } from '@skiff/store';
import { DesiredState, type ObjectStatus } from './desired-state.js';
import { HashWriter, type ConvergeReport } from './hash-writer.js';
import { SidecarSync } from './sidecar-writer.js';
import { WriterLease, type LeaderElector } from './writer-lease.js';

export interface WatcherOptions {
  readonly source: ConfigSource;
  readonly store: WatcherStore;
  readonly logger: Logger;
  readonly meter?: Meter;
  /** Traces each ServiceEntry write; its context travels with the change to the translator. */
  readonly tracer?: Tracer;
  /** Unique id of this replica for the lease (pod name plus a random suffix). */
  readonly holder: string;
  readonly defaultNamespace?: string;
  readonly leaseTtlMs?: number;
  readonly elector?: LeaderElector;
  /** Store calls writing ServiceEntries in flight at once (default 4). */
  readonly concurrency?: number;
  /** Most ServiceEntries one store call writes (default 64). */
  readonly batchSize?: number;
  /** How often the store's epoch is checked for an empty restart (default 2 s). */
  readonly epochCheckMs?: number;
}

export interface WatcherStatus {
  readonly synced: boolean;
  /** Whether the source still follows its origin (a lost Kubernetes watch makes it unhealthy after a grace period). */
  readonly source: SourceHealth;
  readonly leader: boolean;
  readonly leaseToken: number | null;
  readonly converged: boolean;
  readonly lastConverge: ConvergeReport | null;
  readonly epoch: string | null;
  readonly backlog: number;
  readonly serviceEntries: number;
  readonly workloadEntries: number;
  readonly sidecars: number;
  readonly gateways: number;
  readonly rejected: number;
  /**
   * ServiceEntry hashes written and deleted in the store since start (what `skiff_watcher_store_writes_total`
   * counts); `lastConverge` counts only what the last full comparison with the store had to fix.
   */
  readonly writes: { readonly upsert: number; readonly delete: number };
}

export class Watcher implements Runner {
  readonly name = 'watcher';
  readonly state: DesiredState;
  private readonly options: WatcherOptions;
  private readonly logger: Logger;
  private readonly writer: HashWriter;
  private readonly sidecarSync: SidecarSync;
  private readonly gatewaySync: SidecarSync;
  private readonly lease: WriterLease;
  private readonly convergeBackoff = new Backoff({ initialMs: 200, maxMs: 10_000 });
  private synced = false;
  private converged = false;
  private convergeWanted = false;
  private converging: Promise<void> | null = null;
  private lastConverge: ConvergeReport | null = null;
  /** The store epoch this watcher converged against; another value means the store lost its data. */
  private epoch: string | null = null;
  private epochTimer: NodeJS.Timeout | undefined;
  private convergeTimer: NodeJS.Timeout | undefined;
  private removeStateListener: (() => void) | undefined;
  private closed = false;
  private readonly recordEvent: (kind: string, event: string) => void;
  private readonly writeCounts = { upsert: 0, delete: 0 };
  private readonly brokenFiles = new Map<string, { errors: string[]; keptPrevious: boolean }>();
  private readonly recordRejected: (kind: string) => void;

  constructor(options: WatcherOptions) {
    this.options = options;
    this.logger = options.logger;
    this.state = new DesiredState(options.defaultNamespace === undefined ? {} : { defaultNamespace: options.defaultNamespace });
    const meter = options.meter;
    // Counted here and observed at collection: the SDK hashes a counter's attributes on every add, which
    // cost about a microsecond per event, and an initial list is hundreds of thousands of events.
    const eventCounts = new Map<string, { readonly attributes: { readonly type: string; readonly event: string }; count: number }>();
    meter?.createObservableCounter('pilot_k8s_cfg_events', { description: 'Events from the configuration source, by kind and event type' }).addCallback((result) => {
      for (const { attributes, count } of eventCounts.values()) result.observe(count, attributes);
    });
    const rejected = meter?.createCounter('pilot_total_rejected_configs', { description: 'Objects rejected by validation (the last valid version stays in effect)' });
    const writes = meter?.createCounter('skiff_watcher_store_writes', { description: 'ServiceEntry hash writes and deletes that changed the store' });
    const writeErrors = meter?.createCounter('skiff_watcher_store_write_errors', { description: 'Failed ServiceEntry hash writes (retried)' });
    const lag = meter?.createHistogram('skiff_watcher_sync_lag_seconds', {
      description: 'Time from a source event to its ServiceEntry hash being written',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] },
    });
    this.recordEvent = (kind, event) => {
      const key = `${kind} ${event}`;
      const counted = eventCounts.get(key);
      if (counted === undefined) eventCounts.set(key, { attributes: { type: kind, event }, count: 1 });
      else counted.count += 1;
    };
    this.recordRejected = (kind) => rejected?.add(1, { type: kind });
    this.lease = new WriterLease({
      lease: options.store.lease,
      holder: options.holder,
      logger: this.logger,
      ...(options.leaseTtlMs === undefined ? {} : { ttlMs: options.leaseTtlMs }),
      ...(options.elector === undefined ? {} : { elector: options.elector }),
    });
    this.writer = new HashWriter({
      store: options.store.serviceEntries,
      state: this.state,
      logger: this.logger,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      ...(options.tracer === undefined ? {} : { tracer: options.tracer }),
      hooks: {
        onWrite: (op, lagMs) => {
          this.writeCounts[op] += 1;
          writes?.add(1, { op });
          lag?.record(lagMs / 1000);
        },
        onWriteError: () => writeErrors?.add(1),
        onFenced: () => this.lease.lost(),
      },
    });
    this.sidecarSync = new SidecarSync({
      kind: 'Sidecar',
      store: options.store.sidecars,
      desired: { json: (key) => this.state.sidecarJson(key), keys: () => this.state.sidecarKeys() },
      logger: this.logger,
      onFenced: () => this.lease.lost(),
    });
    this.gatewaySync = new SidecarSync({
      kind: 'Gateway',
      store: options.store.gateways,
      desired: { json: (key) => this.state.gatewayJson(key), keys: () => this.state.gatewayKeys() },
      logger: this.logger,
      onFenced: () => this.lease.lost(),
    });
    meter?.createObservableGauge('skiff_watcher_backlog', { description: 'ServiceEntries changed and not yet written' }).addCallback((r) => r.observe(this.writer.backlog));
    meter?.createObservableGauge('skiff_watcher_leader', { description: '1 while this replica holds the writer lease' }).addCallback((r) => r.observe(this.lease.current() ? 1 : 0));
  }

  async start(_signal?: AbortSignal): Promise<void> {
    this.lease.onChange((grant) => this.onLeaseChange(grant));
    this.removeStateListener = this.options.store.onStateChange((event) => {
      if (event.state === 'ready') this.checkEpoch();
    });
    this.lease.start();
    await this.options.source.start({
      event: (event) => this.onEvent(event),
      synced: () => this.onSynced(),
      problem: (message, cause) => this.logger.warn({ err: cause === undefined ? undefined : String(cause) }, message),
      info: (message) => this.logger.info(message),
      fileStatus: (file, errors, keptPrevious) => {
        if (errors !== null) {
          this.brokenFiles.set(file, { errors: [...errors], keptPrevious });
        } else if (this.brokenFiles.delete(file)) {
          this.logger.info({ file }, `${file} parses again; its objects apply`);
        }
      },
    });
    this.epochTimer = setInterval(() => this.checkEpoch(), this.options.epochCheckMs ?? 2_000);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.epochTimer) clearInterval(this.epochTimer);
    if (this.convergeTimer) clearTimeout(this.convergeTimer);
    this.removeStateListener?.();
    await this.options.source.close();
    await this.converging;
    await this.writer.drain();
    await this.sidecarSync.drain();
    await this.gatewaySync.drain();
    this.writer.close();
    this.sidecarSync.close();
    this.gatewaySync.close();
    await this.lease.close();
  }

  /**
   * Ready once the source delivered its initial state (a standby replica is ready too), and for as
   * long as the source still follows its origin: a replica whose Kubernetes watch has been lost past
   * the source's grace period holds a state that may be stale, and says so.
   */
  isReady(): boolean {
    return this.synced && this.sourceHealth().healthy;
  }

  /**
   * Whether the store holds the source's state as this process read it at start: this watcher
   * converged it, or, synced as a standby, it leaves the writing to the lease holder (whose converge
   * the store then reflects). The all-in-one serves proxies after it and its translators' catch-up.
   */
  initialStateWritten(): boolean {
    return this.converged || (this.synced && this.lease.answered && this.lease.current() === null);
  }

  status(): WatcherStatus {
    const grant = this.lease.current();
    return {
      synced: this.synced,
      source: this.sourceHealth(),
      leader: grant !== null,
      leaseToken: grant?.token ?? null,
      converged: this.converged,
      lastConverge: this.lastConverge,
      epoch: this.epoch,
      backlog: this.writer.backlog,
      serviceEntries: this.state.index.serviceEntryCount,
      workloadEntries: this.state.index.workloadCount,
      sidecars: this.state.sidecarKeys().length,
      gateways: this.state.gatewayKeys().length,
      rejected: this.state.rejectedCount(),
      writes: { ...this.writeCounts },
    };
  }

  private sourceHealth(): SourceHealth {
    return this.options.source.health?.() ?? { healthy: true };
  }

  /** Every object seen, valid and rejected, for `/debug/configz`. */
  objects(): ObjectStatus[] {
    return this.state.objects();
  }

  /** Files of a file source that do not parse, with why, for `/debug/configz`. */
  brokenFileStatus(): { file: string; errors: string[]; keptPrevious: boolean }[] {
    return [...this.brokenFiles].sort(([a], [b]) => (a < b ? -1 : 1)).map(([file, status]) => ({ file, ...status }));
  }

  /** Resolves when pending writes are done (tests, orderly shutdown). */
  async flush(): Promise<void> {
    await this.converging;
    await this.writer.drain();
    await this.sidecarSync.drain();
    await this.gatewaySync.drain();
  }

  private onEvent(event: SourceEvent): void {
    const outcome = this.state.apply(event);
    // istiod's pilot_k8s_cfg_events: `add` for an object first seen (the initial list included), `update`, `delete`.
    const eventType = event.type === 'delete' ? 'delete' : outcome.result === 'applied' && outcome.created ? 'add' : 'update';
    this.recordEvent(outcome.kind, outcome.result === 'rejected' ? 'rejected' : eventType);
    switch (outcome.result) {
      case 'rejected':
        this.recordRejected(outcome.kind);
        this.logger.warn({ origin: event.origin, errors: outcome.errors.map((e: FieldError) => formatFieldError(e)) }, `rejected ${outcome.kind}: the last valid version stays in effect`);
        return;
      case 'ignored':
        this.logger.debug({ origin: event.origin }, outcome.reason);
        return;
      default:
        // Until the source has synced nothing is written, and the converge that follows the sync
        // compares every ServiceEntry, Sidecar and Gateway with the store: marking each event of the
        // initial list (200,000 of them at the design's size) would only be undone by it.
        if (!this.synced) return;
        this.writer.markDirty(outcome.affected, outcome.workload);
        if (outcome.sidecars !== undefined) this.sidecarSync.markDirty(outcome.sidecars);
        if (outcome.gateways !== undefined) this.gatewaySync.markDirty(outcome.gateways);
    }
  }

  private onSynced(): void {
    this.synced = true;
    this.logger.info({ serviceEntries: this.state.index.serviceEntryCount, workloadEntries: this.state.index.workloadCount }, 'initial sync from the source complete');
    this.grantWriters(this.lease.current());
    this.requestConverge();
  }

  private onLeaseChange(grant: LeaseGrant | null): void {
    this.grantWriters(this.synced ? grant : null);
    this.converged = false;
    if (grant) this.requestConverge();
  }

  /**
   * The writers write under `grant`, or stop. They are given it only once the source has synced: the
   * first writes are then the converge's, and nothing written during the initial list is read back
   * whole by it (with the lease won before the list was in, as on the in-memory store, that was every
   * hash of a cold start).
   */
  private grantWriters(grant: LeaseGrant | null): void {
    this.writer.setGrant(grant);
    this.sidecarSync.setGrant(grant);
    this.gatewaySync.setGrant(grant);
  }

  /** Converges when both the initial sync is done and the lease is held; coalesces repeated requests. */
  private requestConverge(): void {
    this.convergeWanted = true;
    if (this.converging || this.closed) return;
    this.converging = this.runConverge().finally(() => {
      this.converging = null;
    });
  }

  private async runConverge(): Promise<void> {
    while (this.convergeWanted && !this.closed) {
      this.convergeWanted = false;
      if (!this.synced || !this.writer.leaseGrant) return;
      try {
        const epochBefore = await this.options.store.epoch();
        const report = await this.writer.converge();
        const sidecars = await this.sidecarSync.converge();
        const gateways = await this.gatewaySync.converge();
        this.lastConverge = report;
        // An empty store gets its epoch with the first write; read it after converging.
        this.epoch = (await this.options.store.epoch()) ?? epochBefore;
        this.converged = true;
        this.convergeBackoff.reset();
        this.logger.info({ ...report, sidecars, gateways, epoch: this.epoch }, 'store converged to the desired state');
      } catch (error) {
        const delay = this.convergeBackoff.next();
        this.logger.warn({ err: error instanceof Error ? error.message : String(error), retryInMs: Math.round(delay) }, 'converging the store failed');
        if (this.convergeTimer) clearTimeout(this.convergeTimer);
        this.convergeTimer = setTimeout(() => this.requestConverge(), delay);
        return;
      }
    }
  }

  /** A store that lost its data (restarted without persistence) shows a different or no epoch. */
  private checkEpoch(): void {
    if (!this.converged || this.converging || this.closed || !this.writer.leaseGrant) return;
    this.options.store.epoch().then(
      (epoch) => {
        if (epoch === this.epoch) return;
        this.logger.warn({ expected: this.epoch, found: epoch }, 'the store lost its data (epoch changed); rewriting the desired state');
        this.writer.forgetStoredState();
        this.requestConverge();
      },
      () => {
        // Unreachable: checked again on reconnect or at the next tick.
      },
    );
  }
}
