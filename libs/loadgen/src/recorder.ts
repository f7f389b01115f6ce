/**
 * When each simulated proxy received each version of each resource. Every arrival of a version the
 * proxy did not already hold is one row of a columnar log (typed arrays: proxy, resource, version,
 * time), so ten thousand proxies times a few hundred resources stay a few tens of megabytes. The
 * questions a benchmark driver asks are answered from it: "since time t, which subscribers of this
 * resource got a new version, and how long after t" (now, or as soon as all of them have).
 */
import { distributionOf, type Distribution } from './stats.js';

/** The answer to "which subscribers of a resource got a new version since `since`". */
export interface ArrivalQuery {
  /** Proxies subscribed to the resource (by name, or by wildcard while holding it). */
  readonly subscribers: number;
  /** Per subscriber that got one: milliseconds from `since` to its first new version, ascending. */
  readonly delaysMs: number[];
  /** Subscribers without a new version since `since`. */
  readonly missing: number;
}

/** How far apart the proxies received each version: per version, every arrival minus the first one. */
export interface VersionSpread {
  /** Versions (resource, version) first received after the cut-off. */
  readonly versions: number;
  /** Arrivals of those versions, all proxies counted. */
  readonly arrivals: number;
  /** Over every arrival: milliseconds after the first proxy got the same version. */
  readonly spreadMs: Distribution;
}

interface Waiter {
  readonly since: number;
  readonly remaining: Set<number>;
  readonly subscribers: number;
  readonly delaysMs: number[];
  readonly resolve: (query: ArrivalQuery) => void;
  timer: NodeJS.Timeout | undefined;
}

const INITIAL_CAPACITY = 4096;

export class ArrivalRecorder {
  /**
   * Resource keys by type URL, then name: a key of the two joined was a new string to hash for every
   * resource of every response (a tenth of the load generator's CPU at ten thousand clusters).
   */
  private readonly keyIds = new Map<string, Map<string, number>>();
  private readonly versionIds = new Map<string, number>();
  /** Per proxy: resource key -> version id it holds. */
  private readonly held: Map<number, number>[];
  /** Per resource key: log rows, in arrival order. */
  private readonly rowsByKey: number[][] = [];
  /** Per resource key: proxies subscribed to it by name. */
  private readonly namedSubscribers = new Map<number, Set<number>>();
  /** Per proxy and type URL: the resource keys it subscribes to by name. */
  private readonly namedSubscriptions: Map<string, number[]>[];
  /** Per type URL: proxies with a wildcard subscription. */
  private readonly wildcardSubscribers = new Map<string, Set<number>>();
  private readonly waiters = new Map<number, Set<Waiter>>();
  private proxyColumn = new Int32Array(INITIAL_CAPACITY);
  private keyColumn = new Int32Array(INITIAL_CAPACITY);
  private versionColumn = new Int32Array(INITIAL_CAPACITY);
  private timeColumn = new Float64Array(INITIAL_CAPACITY);
  private length = 0;

  constructor(readonly proxyCount: number) {
    this.held = Array.from({ length: proxyCount }, () => new Map<number, number>());
    this.namedSubscriptions = Array.from({ length: proxyCount }, () => new Map<string, number[]>());
  }

  /** Rows recorded: new versions received, all proxies and resources counted. */
  get size(): number {
    return this.length;
  }

  /** Sets what `proxy` subscribes to for `typeUrl`: `names`, and everything when `wildcard`. */
  setSubscription(proxy: number, typeUrl: string, names: readonly string[], wildcard: boolean): void {
    const subscriptions = this.namedSubscriptions[proxy]!;
    for (const keyId of subscriptions.get(typeUrl) ?? []) this.namedSubscribers.get(keyId)?.delete(proxy);
    const keyIds = names.map((name) => this.keyIdOf(typeUrl, name));
    subscriptions.set(typeUrl, keyIds);
    for (const keyId of keyIds) {
      let proxies = this.namedSubscribers.get(keyId);
      if (proxies === undefined) this.namedSubscribers.set(keyId, (proxies = new Set()));
      proxies.add(proxy);
    }
    let wildcards = this.wildcardSubscribers.get(typeUrl);
    if (wildcard) {
      if (wildcards === undefined) this.wildcardSubscribers.set(typeUrl, (wildcards = new Set()));
      wildcards.add(proxy);
    } else {
      wildcards?.delete(proxy);
    }
  }

  /**
   * Records that `proxy` received `name` at `version` at `at` (epoch ms). Returns false, recording
   * nothing, when the proxy already held that version (a state-of-the-world resend).
   */
  record(proxy: number, typeUrl: string, name: string, version: string, at: number): boolean {
    const keyId = this.keyIdOf(typeUrl, name);
    let versionId = this.versionIds.get(version);
    if (versionId === undefined) this.versionIds.set(version, (versionId = this.versionIds.size));
    const held = this.held[proxy]!;
    if (held.get(keyId) === versionId) return false;
    held.set(keyId, versionId);
    this.append(proxy, keyId, versionId, at);
    const waiters = this.waiters.get(keyId);
    if (waiters !== undefined) {
      for (const waiter of waiters) {
        if (at >= waiter.since && waiter.remaining.delete(proxy)) {
          waiter.delaysMs.push(at - waiter.since);
          if (waiter.remaining.size === 0) this.settle(keyId, waiter);
        }
      }
    }
    return true;
  }

  /** The proxy no longer holds `name` (delta removal): receiving it again is a new arrival. */
  forget(proxy: number, typeUrl: string, name: string): void {
    const keyId = this.keyIds.get(typeUrl)?.get(name);
    if (keyId !== undefined) this.held[proxy]!.delete(keyId);
  }

  /** Which subscribers of `name` received a new version at or after `since` (epoch ms), as of now. */
  arrivalsSince(typeUrl: string, name: string, since: number): ArrivalQuery {
    const keyId = this.keyIdOf(typeUrl, name);
    const subscribers = this.subscribersOf(typeUrl, keyId);
    const delaysMs = this.delaysSince(keyId, since, subscribers);
    return { subscribers: subscribers.size, delaysMs, missing: subscribers.size - delaysMs.length };
  }

  /**
   * Resolves once every current subscriber of `name` has received a new version at or after `since`,
   * or after `timeoutMs` with what arrived by then (`missing` > 0).
   */
  waitForArrivals(typeUrl: string, name: string, since: number, timeoutMs: number): Promise<ArrivalQuery> {
    const keyId = this.keyIdOf(typeUrl, name);
    const subscribers = this.subscribersOf(typeUrl, keyId);
    const delaysMs = this.delaysSince(keyId, since, subscribers);
    const remaining = new Set(subscribers);
    for (const row of this.firstRowsSince(keyId, since).values()) remaining.delete(this.proxyColumn[row]!);
    if (remaining.size === 0) return Promise.resolve({ subscribers: subscribers.size, delaysMs, missing: 0 });
    return new Promise((resolve) => {
      const waiter: Waiter = { since, remaining, subscribers: subscribers.size, delaysMs, resolve, timer: undefined };
      waiter.timer = setTimeout(() => this.settle(keyId, waiter), timeoutMs);
      let waiters = this.waiters.get(keyId);
      if (waiters === undefined) this.waiters.set(keyId, (waiters = new Set()));
      waiters.add(waiter);
    });
  }

  /**
   * Per version first received after `after` (epoch ms), how long after the first proxy each proxy
   * received it: the fan-out spread of the pushes of one change.
   */
  versionSpread(after: number): VersionSpread {
    const firsts = new Map<string, number>();
    for (let row = 0; row < this.length; row++) {
      const key = `${this.keyColumn[row]} ${this.versionColumn[row]}`;
      const at = this.timeColumn[row]!;
      const first = firsts.get(key);
      if (first === undefined || at < first) firsts.set(key, at);
    }
    const spreads: number[] = [];
    let versions = 0;
    for (const first of firsts.values()) if (first > after) versions++;
    for (let row = 0; row < this.length; row++) {
      const first = firsts.get(`${this.keyColumn[row]} ${this.versionColumn[row]}`)!;
      if (first > after) spreads.push(this.timeColumn[row]! - first);
    }
    return { versions, arrivals: spreads.length, spreadMs: distributionOf(spreads) };
  }

  /** Ends every pending wait now, with what arrived so far. */
  cancelWaits(): void {
    for (const [keyId, waiters] of this.waiters) for (const waiter of [...waiters]) this.settle(keyId, waiter);
  }

  private settle(keyId: number, waiter: Waiter): void {
    clearTimeout(waiter.timer);
    const waiters = this.waiters.get(keyId);
    waiters?.delete(waiter);
    if (waiters?.size === 0) this.waiters.delete(keyId);
    waiter.resolve({ subscribers: waiter.subscribers, delaysMs: waiter.delaysMs.sort((a, b) => a - b), missing: waiter.remaining.size });
  }

  private keyIdOf(typeUrl: string, name: string): number {
    let byName = this.keyIds.get(typeUrl);
    if (byName === undefined) this.keyIds.set(typeUrl, (byName = new Map()));
    let keyId = byName.get(name);
    if (keyId === undefined) {
      keyId = this.rowsByKey.length;
      byName.set(name, keyId);
      this.rowsByKey.push([]);
    }
    return keyId;
  }

  /** Named subscribers, plus wildcard subscribers that hold the resource (a wildcard says nothing about a name a proxy cannot see). */
  private subscribersOf(typeUrl: string, keyId: number): Set<number> {
    const subscribers = new Set(this.namedSubscribers.get(keyId));
    for (const proxy of this.wildcardSubscribers.get(typeUrl) ?? []) if (this.held[proxy]!.has(keyId)) subscribers.add(proxy);
    return subscribers;
  }

  /** Per proxy, its first row for `keyId` at or after `since`. */
  private firstRowsSince(keyId: number, since: number): Map<number, number> {
    const rows = this.rowsByKey[keyId]!;
    const first = new Map<number, number>();
    // Rows are appended as responses arrive, so they are in time order: walk back to `since`.
    for (let i = rows.length - 1; i >= 0; i--) {
      const row = rows[i]!;
      if (this.timeColumn[row]! < since) break;
      first.set(this.proxyColumn[row]!, row);
    }
    return first;
  }

  private delaysSince(keyId: number, since: number, subscribers: ReadonlySet<number>): number[] {
    const delays: number[] = [];
    for (const [proxy, row] of this.firstRowsSince(keyId, since)) if (subscribers.has(proxy)) delays.push(this.timeColumn[row]! - since);
    return delays.sort((a, b) => a - b);
  }

  private append(proxy: number, keyId: number, versionId: number, at: number): void {
    if (this.length === this.timeColumn.length) this.grow();
    const row = this.length++;
    this.proxyColumn[row] = proxy;
    this.keyColumn[row] = keyId;
    this.versionColumn[row] = versionId;
    this.timeColumn[row] = at;
    this.rowsByKey[keyId]!.push(row);
  }

  private grow(): void {
    const capacity = this.timeColumn.length * 2;
    const widen = <T extends Int32Array | Float64Array>(column: T, make: (size: number) => T): T => {
      const wider = make(capacity);
      wider.set(column);
      return wider;
    };
    this.proxyColumn = widen(this.proxyColumn, (size) => new Int32Array(size));
    this.keyColumn = widen(this.keyColumn, (size) => new Int32Array(size));
    this.versionColumn = widen(this.versionColumn, (size) => new Int32Array(size));
    this.timeColumn = widen(this.timeColumn, (size) => new Float64Array(size));
  }
}
