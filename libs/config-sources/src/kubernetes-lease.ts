/**
 * Leader election on a coordination.k8s.io/v1 Lease, for running several watcher replicas of which
 * exactly one writes. @kubernetes/client-node has no leader election, so this follows client-go's
 * (k8s.io/client-go/tools/leaderelection/leaderelection.go and resourcelock/leaselock.go), the one
 * istiod uses for its own singleton controllers (pilot/pkg/leaderelection/leaderelection.go):
 *
 * - a candidate reads the Lease; if another identity holds it and the candidate has seen the record
 *   change within the last `spec.leaseDurationSeconds` the holder wrote (measured on the candidate's
 *   own monotonic clock, never by comparing the holder's timestamps with local time, so clock skew does
 *   not matter), it waits;
 * - the holder writes its own `leaseDuration` into the Lease, so the configured duration is what the
 *   standbys wait for;
 * - otherwise it writes itself in as holder with the resourceVersion it read: optimistic concurrency,
 *   so of two candidates racing for an expired Lease only one write succeeds; the other gets 409
 *   Conflict and reads again on its next try;
 * - the leader renews every `retryPeriod`; if it has not renewed for `renewDeadline` it stops leading,
 *   which happens before the Lease can expire for the others (renewDeadline < leaseDuration);
 * - on close the leader releases the Lease (empty holder), so a standby takes over at its next try
 *   instead of waiting out the lease.
 *
 * The fencing token is `spec.leaseTransitions` as written by the holder that acquired: it grows by one
 * on every change of holder, so a newer leader always has a higher token than any earlier one (as long
 * as the Lease object itself is not deleted and recreated, which restarts the count at 0).
 */
import { ApiException, CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { ConfigurationOptions, V1Lease } from '@kubernetes/client-node';
import { abortableRequest, loadKubeConfig } from './kubernetes-config.js';
import type { KubeConfigOptions } from './kubernetes-config.js';
import { Timers } from './timers.js';
import { KubernetesError, describeKubernetesError } from './kubernetes-error.js';

export interface KubernetesLeaseElectorOptions extends KubeConfigOptions {
  /** Namespace of the Lease (the watcher's own namespace). */
  readonly namespace: string;
  /** Name of the Lease, shared by every replica of one deployment. */
  readonly name: string;
  /** This replica's identity, unique among the candidates: the pod name. */
  readonly identity: string;
  /** How long a standby waits, after it last saw the Lease change, before it takes over. Default 15 s. */
  readonly leaseDurationMs?: number;
  /** The leader stops leading if it could not renew for this long. Default 10 s. */
  readonly renewDeadlineMs?: number;
  /** Time between tries (renewals for the leader; standbys add up to 120 % jitter). Default 2 s. */
  readonly retryPeriodMs?: number;
  /** Limit for one API request. Default half the renew deadline. */
  readonly requestTimeoutMs?: number;
  /** Release the Lease on close so a standby takes over at once (default true). */
  readonly releaseOnClose?: boolean;
  /** Errors the elector recovers from by retrying (API server unreachable, unexpected statuses). */
  readonly onProblem?: (message: string, cause: unknown) => void;
  readonly random?: () => number;
}

/** The client-go defaults (leaderelection.go, and what istiod passes). */
export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;
/** Standbys wait retryPeriod plus up to this multiple of it (client-go's JitterFactor). */
const STANDBY_JITTER_FACTOR = 1.2;

export type LeadershipListener = (leading: boolean, token: number | null) => void;

/** A leader election: `isLeader()` says whether this replica may act as the single writer now. */
export interface LeaderElection {
  start(): void;
  close(): Promise<void>;
  isLeader(): boolean;
  /** The token to fence writes with while leading; null while not leading. */
  fencingToken(): number | null;
  /** Calls `listener` on every change of leadership; returns the function that removes it. */
  onChange(listener: LeadershipListener): () => void;
}

export class KubernetesLeaseElector implements LeaderElection {
  private readonly api: CoordinationV1Api;
  private readonly namespace: string;
  private readonly name: string;
  private readonly identity: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly requestTimeoutMs: number;
  private readonly releaseOnClose: boolean;
  private readonly onProblem: (message: string, cause: unknown) => void;
  private readonly random: () => number;
  private readonly listeners = new Set<LeadershipListener>();
  private readonly timers = new Timers();
  /** Aborts requests in flight when the elector closes. */
  private readonly closing = new AbortController();
  private state: 'new' | 'running' | 'closed' = 'new';
  private leading = false;
  private token: number | null = null;
  /** Monotonic time (performance.now) of the start of the last successful acquire or renew. */
  private renewedAt = 0;
  private cancelDeadline: () => void = () => {};
  /** The Lease as last read or written, and when (monotonic) its resourceVersion was first seen. */
  private observed: V1Lease | undefined;
  private observedAt = 0;
  private running: Promise<void> = Promise.resolve();

  constructor(options: KubernetesLeaseElectorOptions) {
    this.namespace = options.namespace;
    this.name = options.name;
    this.identity = options.identity;
    if (this.namespace === '' || this.name === '' || this.identity === '') {
      throw new KubernetesError('invalid-options', 'namespace, name and identity are required for a Lease elector');
    }
    this.leaseDurationMs = options.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
    this.renewDeadlineMs = options.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
    this.retryPeriodMs = options.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
    // The same constraints client-go's NewLeaderElector enforces: the leader must give up before the
    // others may take over, and must get more than one try before it gives up.
    if (!(this.leaseDurationMs > this.renewDeadlineMs)) {
      throw new KubernetesError('invalid-options', 'leaseDurationMs must be greater than renewDeadlineMs');
    }
    if (!(this.retryPeriodMs > 0) || !(this.renewDeadlineMs > STANDBY_JITTER_FACTOR * this.retryPeriodMs)) {
      throw new KubernetesError('invalid-options', `renewDeadlineMs must be greater than ${STANDBY_JITTER_FACTOR} x retryPeriodMs > 0`);
    }
    this.requestTimeoutMs = options.requestTimeoutMs ?? Math.floor(this.renewDeadlineMs / 2);
    this.releaseOnClose = options.releaseOnClose ?? true;
    this.onProblem = options.onProblem ?? (() => {});
    this.random = options.random ?? Math.random;
    this.api = loadKubeConfig(options).makeApiClient(CoordinationV1Api);
  }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.loop();
  }

  /** True while this replica holds the Lease and renewed it within the renew deadline. */
  isLeader(): boolean {
    return this.leading && performance.now() - this.renewedAt < this.renewDeadlineMs;
  }

  fencingToken(): number | null {
    return this.isLeader() ? this.token : null;
  }

  onChange(listener: LeadershipListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops trying; a leader stops leading (listeners hear it first) and, unless told otherwise, releases the Lease. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasStarted = this.state === 'running';
    this.state = 'closed';
    this.timers.clear();
    this.closing.abort();
    await this.running;
    this.stopLeading();
    // Release whatever the last record says is ours, even if a renewal raced with close.
    const holdsRecord = this.observed?.spec?.holderIdentity === this.identity;
    if (wasStarted && holdsRecord && this.releaseOnClose) await this.release();
  }

  private loop(): void {
    this.running = this.tick().finally(() => {
      if (this.state !== 'running') return;
      const delay = this.leading
        ? this.retryPeriodMs
        : this.retryPeriodMs * (1 + STANDBY_JITTER_FACTOR * this.random());
      this.timers.after(delay, () => this.loop());
    });
  }

  private async tick(): Promise<void> {
    const startedAt = performance.now();
    try {
      const holds = await this.tryAcquireOrRenew();
      if (holds && this.state === 'running') this.renewed(startedAt);
    } catch (err) {
      if (this.state === 'running') {
        this.onProblem(`Lease ${this.namespace}/${this.name}: ${describeKubernetesError(err)}`, err);
      }
    }
  }

  /** One attempt; true when this replica holds the Lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const lease = await this.read();
    if (this.state !== 'running') return false;
    if (lease === undefined) return this.create();
    this.observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    if (holder !== '' && holder !== this.identity && performance.now() < this.observedAt + recordedDurationMs(spec, this.leaseDurationMs)) {
      // Someone else holds a Lease that is still valid as far as this replica has seen, for the
      // duration its holder wrote into it (client-go's isLeaseValid), not this replica's own setting.
      if (this.leading) this.stopLeading();
      return false;
    }
    const transitions = spec.leaseTransitions ?? 0;
    const renewing = holder === this.identity;
    const nextTransitions = renewing ? transitions : transitions + 1;
    const stamp = new V1MicroTime();
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
        acquireTime: renewing && spec.acquireTime !== undefined ? spec.acquireTime : stamp,
        renewTime: stamp,
        leaseTransitions: nextTransitions,
      },
    };
    const written = await this.write((options) =>
      this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body }, options),
    );
    if (written === undefined) return false; // 409: changed since read; the next try reads it again
    this.observe(written);
    this.token = nextTransitions;
    return true;
  }

  private async create(): Promise<boolean> {
    const stamp = new V1MicroTime();
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace },
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
        acquireTime: stamp,
        renewTime: stamp,
        leaseTransitions: 0,
      },
    };
    const created = await this.write((options) => this.api.createNamespacedLease({ namespace: this.namespace, body }, options));
    if (created === undefined) return false; // another candidate created it first
    this.observe(created);
    this.token = 0;
    return true;
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.request((options) => this.api.readNamespacedLease({ name: this.name, namespace: this.namespace }, options));
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  /** Runs a create or replace; undefined on 409 (AlreadyExists or Conflict). */
  private async write(call: (options: ConfigurationOptions) => Promise<V1Lease>): Promise<V1Lease | undefined> {
    try {
      return await this.request(call);
    } catch (err) {
      if (err instanceof ApiException && err.code === 409) return undefined;
      throw err;
    }
  }

  /**
   * Records when this replica first saw the Lease at a given resourceVersion: the start of its validity
   * as far as this replica knows (client-go's observedTime).
   */
  private observe(lease: V1Lease): void {
    if (lease.metadata?.resourceVersion !== this.observed?.metadata?.resourceVersion) this.observedAt = performance.now();
    this.observed = lease;
  }

  private renewed(startedAt: number): void {
    this.renewedAt = startedAt;
    this.armDeadline();
    if (!this.leading) {
      this.leading = true;
      this.notify(true, this.token);
    }
  }

  /** Stops leading as soon as the renew deadline passes without a renewal. */
  private armDeadline(): void {
    this.cancelDeadline();
    const remaining = this.renewedAt + this.renewDeadlineMs - performance.now();
    this.cancelDeadline = this.timers.after(Math.max(0, Math.ceil(remaining)), () => {
      if (this.isLeader()) {
        this.armDeadline(); // fired a little early
      } else if (this.leading) {
        this.onProblem(`Lease ${this.namespace}/${this.name}: not renewed within ${this.renewDeadlineMs} ms; no longer leading`, undefined);
        this.stopLeading();
      }
    });
  }

  private stopLeading(): void {
    this.cancelDeadline();
    if (!this.leading) return;
    this.leading = false;
    this.token = null;
    this.notify(false, null);
  }

  private notify(leading: boolean, token: number | null): void {
    for (const listener of this.listeners) {
      try {
        listener(leading, token);
      } catch (err) {
        this.onProblem(`a leadership listener failed: ${String(err)}`, err);
      }
    }
  }

  /** Empties the holder so a standby need not wait out the lease (client-go's ReleaseOnCancel). */
  private async release(): Promise<void> {
    const lease = this.observed;
    if (lease === undefined) return;
    const stamp = new V1MicroTime();
    const body: V1Lease = {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: stamp,
        renewTime: stamp,
      },
    };
    try {
      this.observed = await this.request(
        (options) => this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body }, options),
        false,
      );
    } catch (err) {
      // A 409 means someone else wrote the Lease since: it was not ours to release any more.
      if (!(err instanceof ApiException && err.code === 409)) {
        this.onProblem(`Lease ${this.namespace}/${this.name}: release failed: ${describeKubernetesError(err)}`, err);
      }
    }
  }

  /**
   * Runs one API call with its own deadline; calls made by the loop are also aborted when the elector
   * closes (the release on close is not, it is the last call).
   */
  private async request<T>(call: (options: ConfigurationOptions) => Promise<T>, abortOnClose = true): Promise<T> {
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    if (abortOnClose) this.closing.signal.addEventListener('abort', onClose, { once: true });
    const timer = setTimeout(() => abort.abort(), this.requestTimeoutMs);
    try {
      return await call(abortableRequest(abort.signal));
    } finally {
      clearTimeout(timer);
      this.closing.signal.removeEventListener('abort', onClose);
    }
  }
}

/** How long the Lease's holder promised to hold it: its `leaseDurationSeconds`, or `fallbackMs` when unset. */
function recordedDurationMs(spec: { leaseDurationSeconds?: number }, fallbackMs: number): number {
  const seconds = spec.leaseDurationSeconds;
  return seconds !== undefined && seconds > 0 ? seconds * 1000 : fallbackMs;
}
