/**
 * One informer (list + watch of one kind, cluster-wide or in one namespace) that keeps itself running.
 *
 * @kubernetes/client-node's ListWatch relists on 410 Gone and re-watches after a clean end of the
 * stream, but on any other failure (a dropped connection, a failed list, an HTTP error) it reports
 * 'error' and stops for good. This wrapper restarts it after an exponential backoff; a restart resumes
 * the watch from the last resource version the informer saw, or relists when it has none or the version
 * was compacted (410), and the informer's cache turns a relist into exactly the adds, updates and
 * deletes that happened in the gap. That is client-go's Reflector contract
 * (k8s.io/client-go/tools/cache/reflector.go: ListAndWatch, watchErrorHandler, backoff manager).
 *
 * Two more things client-go does that ListWatch does not: lists are paged (`limit`/`continue`, with the
 * full-list fallback of k8s.io/client-go/tools/pager/pager.go when the continue token expires), and
 * watches ask for bookmarks (`allowWatchBookmarks=true`), so a quiet watch still learns the current
 * resource version and can resume after a disconnect without a relist.
 */
import { ADD, ApiException, CoreV1Api, CustomObjectsApi, DELETE, ERROR, ListWatch, UPDATE, Watch } from '@kubernetes/client-node';
import type { ConfigurationOptions, KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { abortableRequest } from './kubernetes-config.js';
import { backoffDelay, type BackoffPolicy } from '@skiff/runtime';
import { Timers } from './timers.js';
import type { ServedKind } from './kubernetes-discovery.js';
import { describeKubernetesError } from './kubernetes-error.js';

/** What one informer watches. */
export interface InformerTarget extends ServedKind {
  /** undefined: all namespaces. */
  readonly namespace: string | undefined;
  /** A field selector for the list and the watch (the Secrets watch leaves out Helm releases and tokens). */
  readonly fieldSelector?: string;
}

export interface InformerEvents {
  upsert(object: KubernetesObject): void;
  remove(object: KubernetesObject): void;
  /** A list finished and its differences from the previous state were delivered through upsert/remove. */
  listed(): void;
  /** The informer failed and will restart after `delayMs`. */
  failed(message: string, cause: unknown, delayMs: number): void;
}

export interface RestartingInformerOptions {
  readonly config: KubeConfig;
  readonly target: InformerTarget;
  readonly backoff: BackoffPolicy;
  /** Items per list page; 0 lists everything in one response. */
  readonly pageSize: number;
  readonly events: InformerEvents;
  readonly random?: () => number;
}

export class RestartingInformer {
  readonly target: InformerTarget;
  readonly description: string;
  private readonly informer: ListWatch<KubernetesObject>;
  private readonly api: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly timers = new Timers();
  /** Cancels a list still in flight when the informer stops. */
  private readonly inFlight = new AbortController();
  private readonly requestOptions: ConfigurationOptions;
  /** Failures since the informer last made progress (a list or a watch event); drives the backoff. */
  private failures = 0;
  /** Re-watches after clean ends of the stream since the last progress. */
  private rewatches = 0;
  private stopped = false;
  private restartCount = 0;
  private listCount = 0;
  /** Monotonic time (performance.now) of the first failure since a watch was last open; undefined while watching. */
  private failingSinceMs: number | undefined;
  private lastFailure = '';

  constructor(private readonly options: RestartingInformerOptions) {
    const { config, target } = options;
    this.target = target;
    const where = target.namespace === undefined ? 'all namespaces' : `namespace ${target.namespace}`;
    this.description = `${target.kind} (${target.group}/${target.version}) in ${where}`;
    this.api = config.makeApiClient(CustomObjectsApi);
    this.core = config.makeApiClient(CoreV1Api);
    this.requestOptions = abortableRequest(this.inFlight.signal);
    const watch = new GuardedWatch(config, {
      stopped: () => this.stopped,
      event: () => this.progressed(),
      connected: () => {
        this.failingSinceMs = undefined;
      },
    });
    this.informer = new ListWatch<KubernetesObject>(
      collectionPath(target),
      watch,
      () => this.list(),
      false,
      undefined,
      target.fieldSelector,
      // ListWatch waits before re-watching after repeated clean ends; make that wait follow the same
      // policy as restarts, and end it (rather than leave a timer running) when the informer stops.
      { delayFn: () => this.timers.sleep(backoffDelay(options.backoff, this.rewatches++, options.random)) },
    );
    this.informer.on(ADD, (object) => this.deliver(() => options.events.upsert(object)));
    this.informer.on(UPDATE, (object) => this.deliver(() => options.events.upsert(object)));
    this.informer.on(DELETE, (object) => this.deliver(() => options.events.remove(object)));
    this.informer.on(ERROR, (err: unknown) => this.failed(err));
  }

  /** Lists, delivers the initial state, and starts watching; failures are retried in the background. */
  async start(): Promise<void> {
    await this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clear();
    this.inFlight.abort();
    await this.informer.stop();
  }

  /** The resource version the informer would resume watching from ('' before the first list or after a 410). */
  get resourceVersion(): string {
    return this.informer.latestResourceVersion();
  }

  /** How many times the informer was restarted after a failure. */
  get restarts(): number {
    return this.restartCount;
  }

  /** How many lists completed (the first one, and every relist after a 410 or a restart without a version). */
  get lists(): number {
    return this.listCount;
  }

  /**
   * How long the informer has been failing without getting a watch open again (ms), with the last
   * failure; undefined while it is watching (or has not failed yet).
   */
  failing(now: number = performance.now()): { readonly forMs: number; readonly lastFailure: string } | undefined {
    return this.failingSinceMs === undefined ? undefined : { forMs: now - this.failingSinceMs, lastFailure: this.lastFailure };
  }

  private deliver(fn: () => void): void {
    if (!this.stopped) fn();
  }

  private async list(): Promise<KubernetesListObject<KubernetesObject>> {
    const list = await listAllPages({ custom: this.api, core: this.core }, this.options.target, this.options.pageSize, this.requestOptions);
    this.progressed();
    this.listCount++;
    // ListWatch applies the list to its cache (emitting the adds, updates and deletes) synchronously
    // once this promise resolves; report the list after that.
    this.timers.soon(() => this.deliver(() => this.options.events.listed()));
    return list;
  }

  private progressed(): void {
    this.failures = 0;
    this.rewatches = 0;
    this.failingSinceMs = undefined;
  }

  private failed(err: unknown): void {
    if (this.stopped) return;
    const delayMs = backoffDelay(this.options.backoff, this.failures++, this.options.random);
    this.failingSinceMs ??= performance.now();
    this.lastFailure = describeKubernetesError(err);
    this.options.events.failed(`${this.description}: ${this.lastFailure}`, err, delayMs);
    this.timers.after(delayMs, () => {
      if (this.stopped) return;
      this.restartCount++;
      this.informer.start().catch((startErr: unknown) => this.failed(startErr));
    });
  }
}

/**
 * The client's Watch with three additions: it asks for bookmarks, it tells when a watch is open (the
 * server answered 200 and the stream has not ended), and once the informer stopped it opens nothing
 * (ListWatch does not check whether it was stopped after its re-watch delay).
 */
class GuardedWatch extends Watch {
  constructor(
    config: KubeConfig,
    private readonly guard: { stopped(): boolean; event(): void; connected(): void },
  ) {
    super(config);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    if (this.guard.stopped()) {
      const never = new AbortController();
      never.abort();
      return never;
    }
    let ended = false;
    const controller = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true },
      (phase, apiObj, watchObj) => {
        if (phase !== 'ERROR') this.guard.event();
        callback(phase, apiObj, watchObj);
      },
      (err) => {
        ended = true;
        done(err);
      },
    );
    // super.watch resolves once the server answered; a refusal or a non-200 answer has ended it already.
    if (!ended) this.guard.connected();
    return controller;
  }
}

function collectionPath(target: InformerTarget): string {
  // The core group ('') lives under /api, every other group under /apis.
  const base = target.group === '' ? `/api/${target.version}` : `/apis/${target.group}/${target.version}`;
  return target.namespace === undefined || !target.namespaced
    ? `${base}/${target.plural}`
    : `${base}/namespaces/${encodeURIComponent(target.namespace)}/${target.plural}`;
}

interface ListPage {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly resourceVersion?: string; readonly continue?: string };
  readonly items: KubernetesObject[];
}

/** Lists every object, page by page; the pages share one snapshot and so one resourceVersion. */
/** The clients a list needs: custom resources, and the core group's Secrets. */
interface ListClients {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
}

async function listAllPages(
  api: ListClients,
  target: InformerTarget,
  pageSize: number,
  options: ConfigurationOptions,
): Promise<KubernetesListObject<KubernetesObject>> {
  const items: KubernetesObject[] = [];
  let continueToken: string | undefined;
  for (;;) {
    let page: ListPage;
    try {
      page = await listPage(api, target, pageSize, continueToken, options);
    } catch (err) {
      // The snapshot behind the continue token was compacted: start over with one full list.
      if (continueToken === undefined || !(err instanceof ApiException) || err.code !== 410) throw err;
      return toList(await listPage(api, target, 0, undefined, options), []);
    }
    continueToken = page.metadata?.continue || undefined;
    if (continueToken === undefined) return toList(page, items);
    for (const item of page.items) items.push(item);
  }
}

function toList(last: ListPage, earlier: KubernetesObject[]): KubernetesListObject<KubernetesObject> {
  return {
    ...(last.apiVersion === undefined ? {} : { apiVersion: last.apiVersion }),
    ...(last.kind === undefined ? {} : { kind: last.kind }),
    metadata: last.metadata?.resourceVersion === undefined ? {} : { resourceVersion: last.metadata.resourceVersion },
    items: [...earlier, ...last.items],
  };
}

async function listPage(
  api: ListClients,
  target: InformerTarget,
  pageSize: number,
  continueToken: string | undefined,
  options: ConfigurationOptions,
): Promise<ListPage> {
  const paging = {
    ...(pageSize > 0 ? { limit: pageSize } : {}),
    ...(continueToken === undefined ? {} : { _continue: continueToken }),
    ...(target.fieldSelector === undefined ? {} : { fieldSelector: target.fieldSelector }),
  };
  const { group, version, plural } = target;
  if (group === '') {
    if (version !== 'v1' || plural !== 'secrets') throw new Error(`the informer lists only Secrets of the core group, not ${plural}`);
    if (target.namespace === undefined) return (await api.core.listSecretForAllNamespaces(paging, options)) as ListPage;
    return (await api.core.listNamespacedSecret({ namespace: target.namespace, ...paging }, options)) as ListPage;
  }
  if (target.namespace === undefined || !target.namespaced) {
    return (await api.custom.listClusterCustomObject({ group, version, plural, ...paging }, options)) as ListPage;
  }
  return (await api.custom.listNamespacedCustomObject({ group, version, plural, namespace: target.namespace, ...paging }, options)) as ListPage;
}
