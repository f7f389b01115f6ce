/**
 * The Kubernetes configuration source: informers for ServiceEntry and WorkloadEntry
 * (networking.istio.io, the most stable served version per kind), cluster-wide or in a set of
 * namespaces, delivering raw objects to the watcher through the `ConfigSource` contract.
 *
 * This is istiod's config controller for these two kinds (pilot/pkg/config/kube/crdclient/client.go:
 * one informer per kind, events handed to handlers, "synced" once every informer listed), on
 * @kubernetes/client-node, with the restarts the client leaves to its caller (kubernetes-informer.ts).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { resolveBackoff, type BackoffOptions, type BackoffPolicy } from '@skiff/runtime';
import type { ConfigSource, ObjectRef, Origin, SourceEvent, SourceHandler, SourceHealth } from './source.js';
import { loadKubeConfig } from './kubernetes-config.js';
import type { KubeConfigOptions } from './kubernetes-config.js';
import { ISTIO_NETWORKING_GROUP, discoverServedKinds } from './kubernetes-discovery.js';
import type { ServedKind } from './kubernetes-discovery.js';
import { KubernetesError } from './kubernetes-error.js';
import { RestartingInformer } from './kubernetes-informer.js';

/** Informer restarts: 100 ms doubling to 30 s (client-go's reflector caps its backoff at 30 s), spread by 20 %. */
export const DEFAULT_KUBERNETES_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 30_000, multiplier: 2, jitter: 0.2 };

export const KUBERNETES_ORIGIN: Origin = 'kubernetes';
/**
 * What the watcher reads: the services and workloads, and the DestinationRules, Sidecars, Gateways
 * and VirtualServices that shape what proxies get for them.
 */
export const DEFAULT_KUBERNETES_KINDS: readonly string[] = ['ServiceEntry', 'WorkloadEntry', 'DestinationRule', 'Sidecar', 'Gateway', 'VirtualService'];
/** client-go's reflector pages its lists by 500 items (k8s.io/client-go/tools/pager/pager.go defaultPageSize). */
export const DEFAULT_LIST_PAGE_SIZE = 500;
/**
 * How long a watch may stay lost (the API server unreachable or refusing) before the source reports
 * itself unhealthy: long enough to ride out an API server restart or a dropped connection, which the
 * informers resume from within seconds, short enough that a replica cut off from the API server for
 * real stops reporting ready while its view goes stale.
 */
export const DEFAULT_LOST_WATCH_GRACE_MS = 10_000;

export interface KubernetesSourceOptions extends KubeConfigOptions {
  /** Namespaces to watch; empty or absent: all namespaces, with one cluster-wide informer per kind. */
  readonly namespaces?: readonly string[];
  /** networking.istio.io kinds to watch. Default `DEFAULT_KUBERNETES_KINDS`. */
  readonly kinds?: readonly string[];
  /** Restart delays after a failure (default 100 ms doubling to 30 s, with jitter). */
  readonly backoff?: BackoffOptions;
  /** Items per list page (default 500); 0 lists everything in one response. */
  readonly listPageSize?: number;
  /** How long a watch may stay lost before `health()` reports the source unhealthy (default 10 s). */
  readonly lostWatchGraceMs?: number;
}

/** The state of one informer, for /debug endpoints and tests. */
export interface KubernetesWatchStatus {
  readonly kind: string;
  readonly apiVersion: string;
  /** undefined: all namespaces. */
  readonly namespace: string | undefined;
  /** The resource version a watch would resume from; '' before the first list and while relisting. */
  readonly resourceVersion: string;
  /** Completed lists (1 after the start; more after 410s). */
  readonly lists: number;
  /** Restarts after failures. */
  readonly restarts: number;
  /** How long the informer has been failing without a watch open (ms), and why; absent while watching. */
  readonly failing?: { readonly forMs: number; readonly lastFailure: string };
}

export class KubernetesSource implements ConfigSource {
  readonly name = 'kubernetes';
  private readonly kinds: readonly string[];
  private readonly namespaces: readonly string[];
  private readonly backoff: BackoffPolicy;
  private readonly pageSize: number;
  private readonly lostWatchGraceMs: number;
  private informers: RestartingInformer[] = [];
  private readonly listedOnce = new Set<RestartingInformer>();
  private initiallySynced = false;
  private state: 'new' | 'started' | 'closed' = 'new';
  private servedKinds = new Map<string, ServedKind>();

  constructor(private readonly options: KubernetesSourceOptions = {}) {
    this.kinds = [...new Set(options.kinds ?? DEFAULT_KUBERNETES_KINDS)];
    if (this.kinds.length === 0) throw new KubernetesError('invalid-options', 'kinds: at least one kind is required');
    this.namespaces = [...new Set(options.namespaces ?? [])];
    if (this.namespaces.some((ns) => ns === '')) {
      throw new KubernetesError('invalid-options', 'namespaces: an empty name is not a namespace (leave the list empty to watch all)');
    }
    this.backoff = resolveBackoff({ ...DEFAULT_KUBERNETES_BACKOFF, ...options.backoff });
    this.pageSize = options.listPageSize ?? DEFAULT_LIST_PAGE_SIZE;
    this.lostWatchGraceMs = options.lostWatchGraceMs ?? DEFAULT_LOST_WATCH_GRACE_MS;
    if (!(this.lostWatchGraceMs >= 0)) throw new KubernetesError('invalid-options', `lostWatchGraceMs: ${this.lostWatchGraceMs} is not >= 0`);
    if (!Number.isInteger(this.pageSize) || this.pageSize < 0) {
      throw new KubernetesError('invalid-options', `listPageSize: ${this.pageSize} is not a whole number >= 0`);
    }
  }

  /**
   * Loads the kubeconfig, discovers the served versions (failing with a KubernetesError when a kind is
   * not served), and starts every informer. Resolves once each informer has listed and is watching, or
   * has failed and is retrying in the background (reported through `handler.problem`).
   */
  async start(handler: SourceHandler): Promise<void> {
    if (this.state !== 'new') throw new KubernetesError('invalid-options', 'a KubernetesSource can be started only once');
    this.state = 'started';
    const config = loadKubeConfig(this.options);
    this.servedKinds = await discoverServedKinds(config, ISTIO_NETWORKING_GROUP, this.kinds);
    if (this.state !== 'started') return; // closed during discovery
    for (const kind of this.kinds) {
      const served = this.servedKinds.get(kind) as ServedKind;
      const namespaces = this.namespaces.length === 0 || !served.namespaced ? [undefined] : this.namespaces;
      for (const namespace of namespaces) {
        const informer: RestartingInformer = new RestartingInformer({
          config,
          target: { ...served, namespace },
          backoff: this.backoff,
          pageSize: this.pageSize,
          events: {
            upsert: (object) => this.emit(handler, { type: 'upsert', object: withTypeMeta(object, served), origin: KUBERNETES_ORIGIN }),
            remove: (object) => this.emit(handler, { type: 'delete', ref: refOf(object, served), origin: KUBERNETES_ORIGIN }),
            listed: () => this.listed(handler, informer),
            failed: (message, cause, delayMs) => handler.problem(`${message}; restarting in ${delayMs} ms`, cause),
          },
        });
        this.informers.push(informer);
      }
    }
    await Promise.all(this.informers.map((informer) => informer.start()));
  }

  /** Stops every informer and timer; no event is delivered after it resolves. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await Promise.all(this.informers.map((informer) => informer.stop()));
  }

  /** The version chosen for each kind (after `start`). */
  servedVersions(): ReadonlyMap<string, string> {
    return new Map([...this.servedKinds].map(([kind, served]) => [kind, `${served.group}/${served.version}`]));
  }

  status(): KubernetesWatchStatus[] {
    return this.informers.map((informer) => {
      const failing = informer.failing();
      return {
        kind: informer.target.kind,
        apiVersion: `${informer.target.group}/${informer.target.version}`,
        namespace: informer.target.namespace,
        resourceVersion: informer.resourceVersion,
        lists: informer.lists,
        restarts: informer.restarts,
        ...(failing === undefined ? {} : { failing: { forMs: Math.round(failing.forMs), lastFailure: failing.lastFailure } }),
      };
    });
  }

  /**
   * Unhealthy once any informer has gone `lostWatchGraceMs` without a watch open: its objects may be
   * stale, and nothing tells it so until it reconnects. Healthy again as soon as it watches again.
   */
  health(): SourceHealth {
    const now = performance.now();
    const lost = this.informers.flatMap((informer) => {
      const failing = informer.failing(now);
      return failing !== undefined && failing.forMs >= this.lostWatchGraceMs
        ? [`${informer.description}: no watch for ${Math.round(failing.forMs / 1000)} s (${failing.lastFailure})`]
        : [];
    });
    return lost.length === 0 ? { healthy: true } : { healthy: false, reason: lost.join('; ') };
  }

  /**
   * `synced` once every informer has listed; after that, again whenever one informer relisted (after a
   * 410 Gone or a restart that had no version to resume from), since a relist replaces its state.
   */
  private listed(handler: SourceHandler, informer: RestartingInformer): void {
    if (this.state !== 'started') return;
    this.listedOnce.add(informer);
    if (this.initiallySynced) {
      this.call(handler, 'synced', () => handler.synced());
    } else if (this.listedOnce.size === this.informers.length) {
      this.initiallySynced = true;
      this.call(handler, 'synced', () => handler.synced());
    }
  }

  private emit(handler: SourceHandler, event: SourceEvent): void {
    if (this.state !== 'started') return;
    this.call(handler, `${event.type} event`, () => handler.event(event));
  }

  /** A throwing handler must not break the informer (its exception would vanish inside the client's stream reader). */
  private call(handler: SourceHandler, what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      handler.problem(`the handler failed on a ${what}: ${String(err)}`, err);
    }
  }
}

/** Objects in a list may lack apiVersion and kind (the API server omits them for built-in types); the watcher needs both. */
function withTypeMeta(object: KubernetesObject, served: ServedKind): KubernetesObject {
  if (object.apiVersion !== undefined && object.kind !== undefined) return object;
  return { ...object, apiVersion: object.apiVersion ?? `${served.group}/${served.version}`, kind: object.kind ?? served.kind };
}

function refOf(object: KubernetesObject, served: ServedKind): ObjectRef {
  return { kind: served.kind, namespace: object.metadata?.namespace ?? '', name: object.metadata?.name ?? '' };
}
