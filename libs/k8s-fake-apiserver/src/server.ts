/**
 * A Kubernetes API server for tests, speaking the part of the protocol a list/watch client and a
 * leader elector use, faithfully enough that the real @kubernetes/client-node runs against it:
 *
 * - discovery: `/apis`, `/apis/<group>`, `/apis/<group>/<version>`, with a configurable set of served
 *   versions per resource (an unserved version 404s, like a CRD version with `served: false`);
 * - list, cluster-wide (`/apis/<g>/<v>/<plural>`) and per namespace (`/apis/<g>/<v>/namespaces/<ns>/<plural>`),
 *   with `metadata.resourceVersion`, `kind: <Kind>List`, and `limit`/`continue` paging over a snapshot;
 * - watch (`?watch=true&resourceVersion=N`): a chunked stream of newline-delimited JSON events, only the
 *   changes after N; N older than the compaction horizon gets 410 Gone, as an in-stream ERROR Status
 *   (what the watch cache does) or as an HTTP 410 (configurable); `allowWatchBookmarks`, `timeoutSeconds`;
 * - get/create/replace/delete of single objects, with optimistic concurrency on `metadata.resourceVersion`
 *   (409 Conflict), which is what a Lease-based leader election relies on;
 * - a bearer token check.
 *
 * Semantics follow https://kubernetes.io/docs/reference/using-api/api-concepts/ ("Efficient detection of
 * changes", "Resource versions", "Retrieving large results sets in chunks") and the watch cache in
 * k8s.io/apiserver/pkg/storage/cacher/cacher.go (410 "too old resource version" as an ERROR event).
 *
 * Test controls change the "cluster" and break connections: `apply`, `delete`, `compact`, `dropWatches`,
 * `closeWatches`, `expireWatches`, `sendBookmark`; every request is logged for assertions.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ObjectStore, StoreError } from './object-store.js';
import type { KubeObject, StoredChange } from './object-store.js';
import {
  LEASE_RESOURCE,
  buildApiGroup,
  buildApiGroupList,
  buildApiResourceList,
  istioNetworkingResources,
} from './resources.js';
import type { FakeResource } from './resources.js';

/** How a watch from a compacted resource version is refused. */
export type ExpiredWatchResponse =
  /** HTTP 200, then one ERROR event carrying a 410 Status, then the end of the stream (the watch cache). */
  | 'error-event'
  /** HTTP 410 with a Status body, before any stream starts. */
  | 'http-status';

export interface FakeApiServerOptions {
  /** Served resource types. Default: ServiceEntry, WorkloadEntry, DestinationRule, Sidecar, Gateway and VirtualService in v1, v1beta1, v1alpha3, and Lease. */
  readonly resources?: readonly FakeResource[];
  /** Bearer token every request must carry. Default `fake-apiserver-token`. */
  readonly token?: string;
  readonly expiredWatchResponse?: ExpiredWatchResponse;
}

/** One request as the server saw it. */
export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  /** Query parameters (last value wins). */
  readonly query: Readonly<Record<string, string>>;
  readonly authorized: boolean;
  /** The HTTP status answered (200 for a watch, whatever its stream later carried). */
  status: number;
}

/** Whether a request is a watch, for filtering the request log. */
export function isWatchRequest(record: RequestRecord): boolean {
  return record.query['watch'] === 'true' || record.query['watch'] === '1';
}

interface OpenWatch {
  readonly resource: FakeResource;
  readonly version: string;
  readonly namespace: string | undefined;
  readonly bookmarks: boolean;
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  timeout: NodeJS.Timeout | undefined;
}

interface InjectedFailure {
  remaining: number;
  readonly status: number;
  readonly match: (request: RequestRecord) => boolean;
}

interface ListSnapshot {
  readonly resourceVersion: number;
  readonly items: readonly KubeObject[];
}

interface ContinueToken {
  readonly snapshot: number;
  readonly offset: number;
}

const DEFAULT_TOKEN = 'fake-apiserver-token';

export class FakeApiServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly token: string;
  /** May be changed between requests. */
  expiredWatchResponse: ExpiredWatchResponse;

  private readonly store = new ObjectStore();
  private readonly resources: readonly FakeResource[];
  private readonly watches = new Set<OpenWatch>();
  private readonly log: RequestRecord[] = [];
  private readonly snapshots = new Map<number, ListSnapshot>();
  private nextSnapshotId = 1;
  private failures: InjectedFailure[] = [];
  private readonly hooks = new Set<(request: RequestRecord) => void>();

  private constructor(
    private readonly server: Server,
    options: FakeApiServerOptions,
  ) {
    const address = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${address.port}`;
    this.token = options.token ?? DEFAULT_TOKEN;
    this.expiredWatchResponse = options.expiredWatchResponse ?? 'error-event';
    this.resources = options.resources ?? [...istioNetworkingResources(), LEASE_RESOURCE];
    const kinds = new Set<string>();
    for (const resource of this.resources) {
      if (kinds.has(resource.kind)) throw new Error(`kind ${resource.kind} is defined twice`);
      kinds.add(resource.kind);
    }
    this.store.subscribe((change) => this.broadcast(change));
    server.on('request', (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.reply(res, 500, statusBody(500, 'InternalError', String(err)));
        else res.destroy();
      });
    });
  }

  /** Starts a server on 127.0.0.1 on an ephemeral port. */
  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new FakeApiServer(server, options);
  }

  /** The current (global) resource version. */
  get resourceVersion(): number {
    return this.store.resourceVersion;
  }

  /** Every request so far, oldest first. */
  get requests(): readonly RequestRecord[] {
    return this.log;
  }

  clearRequests(): void {
    this.log.length = 0;
  }

  /** Watches currently streaming. */
  get openWatchCount(): number {
    return this.watches.size;
  }

  /**
   * Creates or replaces an object, whatever its resourceVersion (a test changing the cluster). The
   * group comes from `apiVersion`; a namespaced object without a namespace goes to `default`.
   * Returns the stored object with its new resourceVersion.
   */
  apply(object: KubeObject): KubeObject {
    return this.store.upsert(this.resourceOf(object), object);
  }

  /** Deletes an object; false if it did not exist. Cluster-scoped objects take namespace "". */
  delete(kind: string, namespace: string, name: string): boolean {
    return this.store.remove(this.resourceByKind(kind), namespace, name) !== undefined;
  }

  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    return this.store.get(this.resourceByKind(kind), namespace, name);
  }

  /** Raises the compaction horizon to the current version: a watch or a continue from an older one gets 410 Gone. */
  compact(): void {
    this.store.compact();
    this.snapshots.clear();
  }

  /** Destroys the sockets of all open watches without ending the HTTP response (a network failure). */
  dropWatches(): number {
    return this.endWatches((watch) => watch.request.socket.destroy());
  }

  /** Ends all open watches cleanly (what the API server does when `timeoutSeconds` runs out). */
  closeWatches(): number {
    return this.endWatches((watch) => watch.response.end());
  }

  /** Sends every open watch an ERROR 410 event and ends it (a watcher that fell behind the watch cache). */
  expireWatches(): number {
    return this.endWatches((watch) => {
      writeEvent(watch.response, 'ERROR', expiredStatus(this.store.resourceVersion, this.store.resourceVersion + 1));
      watch.response.end();
    });
  }

  /**
   * Sends a BOOKMARK at the current resource version to every open watch that asked for bookmarks
   * (`allowWatchBookmarks=true`); the real server never sends them to others. Returns how many were sent.
   */
  sendBookmark(): number {
    let sent = 0;
    for (const watch of this.watches) {
      if (!watch.bookmarks) continue;
      writeEvent(watch.response, 'BOOKMARK', {
        kind: watch.resource.kind,
        apiVersion: `${watch.resource.group}/${watch.version}`,
        metadata: { resourceVersion: String(this.store.resourceVersion) },
      });
      sent++;
    }
    return sent;
  }

  /**
   * Answers the next `count` requests that `match` (default: every request) with an error status
   * (default 503) and a Status body instead of serving them: an overloaded or restarting API server.
   */
  failNext(count: number, options: { status?: number; match?: (request: RequestRecord) => boolean } = {}): void {
    this.failures.push({ remaining: count, status: options.status ?? 503, match: options.match ?? (() => true) });
  }

  /**
   * Runs `hook` on every request before it is served (after it is logged): a way to make a change land
   * exactly between two requests of a client, e.g. between a read and the write based on it. Returns
   * the function that removes the hook.
   */
  onRequest(hook: (request: RequestRecord) => void): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  /** Cancels the failures `failNext` has not used up yet. */
  clearFailures(): void {
    this.failures = [];
  }

  /** Options for `KubeConfig.loadFromOptions` pointing at this server with its token. */
  kubeConfigOptions(): Record<string, unknown> {
    return {
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake', token: this.token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    };
  }

  /** A kubeconfig file's contents (JSON, which is valid YAML) pointing at this server with its token. */
  kubeconfig(): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake', user: { token: this.token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
      'current-context': 'fake',
    });
  }

  async close(): Promise<void> {
    this.dropWatches();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-apiserver');
    const record: RequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorized: req.headers.authorization === `Bearer ${this.token}`,
      status: 0,
    };
    this.log.push(record);
    const reply = (status: number, body: unknown): void => {
      record.status = status;
      this.reply(res, status, body);
    };
    if (!record.authorized) {
      reply(401, statusBody(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    for (const hook of this.hooks) hook(record);
    const failure = this.failures.find((f) => f.remaining > 0 && f.match(record));
    if (failure !== undefined) {
      failure.remaining--;
      this.failures = this.failures.filter((f) => f.remaining > 0);
      reply(failure.status, statusBody(failure.status, failure.status === 503 ? 'ServiceUnavailable' : 'InternalError', 'injected failure'));
      return;
    }
    const segments = url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
    if (segments[0] !== 'apis') {
      reply(404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
      return;
    }
    const body = req.method === 'POST' || req.method === 'PUT' ? await readBody(req) : undefined;
    const [, group, version, ...rest] = segments;
    if (group === undefined) {
      if (req.method !== 'GET') return reply(405, methodNotAllowed());
      return reply(200, buildApiGroupList(this.resources));
    }
    if (version === undefined) {
      const apiGroup = buildApiGroup(group, this.resources);
      if (req.method !== 'GET') return reply(405, methodNotAllowed());
      if (apiGroup === undefined) return reply(404, notFound());
      return reply(200, { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup });
    }
    if (rest.length === 0) {
      const list = buildApiResourceList(group, version, this.resources);
      if (req.method !== 'GET') return reply(405, methodNotAllowed());
      if (list === undefined) return reply(404, notFound());
      return reply(200, list);
    }
    const target = this.route(group, version, rest);
    if (target === undefined) return reply(404, notFound());
    const { resource, namespace, name } = target;

    if (name === undefined) {
      if (req.method === 'GET') {
        if (isWatchRequest(record)) {
          this.startWatch(record, req, res, resource, version, namespace);
          return;
        }
        const list = this.list(resource, version, namespace, record.query);
        return reply(list.status, list.body);
      }
      if (req.method === 'POST') {
        const parsed = parseObject(body);
        if (typeof parsed === 'string') return reply(400, statusBody(400, 'BadRequest', parsed));
        const mismatch = namespaceMismatch(parsed, namespace);
        if (mismatch !== undefined) return reply(400, statusBody(400, 'BadRequest', mismatch));
        if (namespace !== undefined) parsed.metadata.namespace = namespace;
        return this.write(reply, resource, version, 201, String(parsed.metadata.name), () => this.store.create(resource, { ...parsed, apiVersion: `${resource.group}/${version}` }));
      }
      return reply(405, methodNotAllowed());
    }

    const objectNamespace = namespace ?? '';
    if (req.method === 'GET') {
      const found = this.store.get(resource, objectNamespace, name);
      if (found === undefined) return reply(404, objectNotFound(resource, name));
      return reply(200, withVersion(found, resource, version));
    }
    if (req.method === 'PUT') {
      const parsed = parseObject(body);
      if (typeof parsed === 'string') return reply(400, statusBody(400, 'BadRequest', parsed));
      if (parsed.metadata.name !== name) {
        return reply(400, statusBody(400, 'BadRequest', `the name of the object (${String(parsed.metadata.name)}) does not match the name on the URL (${name})`));
      }
      const mismatch = namespaceMismatch(parsed, namespace);
      if (mismatch !== undefined) return reply(400, statusBody(400, 'BadRequest', mismatch));
      if (namespace !== undefined) parsed.metadata.namespace = namespace;
      return this.write(reply, resource, version, 200, name, () => this.store.update(resource, { ...parsed, apiVersion: `${resource.group}/${version}` }));
    }
    if (req.method === 'DELETE') {
      const removed = this.store.remove(resource, objectNamespace, name);
      if (removed === undefined) return reply(404, objectNotFound(resource, name));
      return reply(200, withVersion(removed, resource, version));
    }
    return reply(405, methodNotAllowed());
  }

  /** Resolves `<plural>[/<name>]` or `namespaces/<ns>/<plural>[/<name>]` within a served group version. */
  private route(
    group: string,
    version: string,
    rest: readonly string[],
  ): { resource: FakeResource; namespace: string | undefined; name: string | undefined } | undefined {
    const served = (plural: string | undefined): FakeResource | undefined =>
      this.resources.find((r) => r.group === group && r.plural === plural && r.versions.includes(version));
    if (rest[0] === 'namespaces' && rest.length >= 3 && rest.length <= 4) {
      const resource = served(rest[2]);
      if (resource === undefined || !resource.namespaced) return undefined;
      return { resource, namespace: rest[1], name: rest[3] };
    }
    if (rest.length <= 2) {
      const resource = served(rest[0]);
      if (resource === undefined) return undefined;
      // A namespaced resource's object path needs its namespace; only the collection is cluster-wide.
      if (resource.namespaced && rest[1] !== undefined) return undefined;
      return { resource, namespace: undefined, name: rest[1] };
    }
    return undefined;
  }

  private list(
    resource: FakeResource,
    version: string,
    namespace: string | undefined,
    query: Readonly<Record<string, string>>,
  ): { status: number; body: unknown } {
    const unsupported = unsupportedSelector(query);
    if (unsupported !== undefined) return { status: 400, body: statusBody(400, 'BadRequest', unsupported) };
    if (query['resourceVersionMatch'] === 'Exact') {
      return { status: 400, body: statusBody(400, 'BadRequest', 'resourceVersionMatch=Exact is not supported by the fake API server') };
    }
    // A list is always served from the latest state, which satisfies resourceVersion "" (most recent),
    // "0" (any) and NotOlderThan.
    let snapshot: ListSnapshot;
    let offset = 0;
    let snapshotId: number;
    const continueParam = query['continue'];
    if (continueParam !== undefined && continueParam !== '') {
      const token = decodeContinue(continueParam);
      const found = token === undefined ? undefined : this.snapshots.get(token.snapshot);
      if (token === undefined || found === undefined) {
        return {
          status: 410,
          body: statusBody(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'),
        };
      }
      snapshot = found;
      snapshotId = token.snapshot;
      offset = token.offset;
    } else {
      snapshot = { resourceVersion: this.store.resourceVersion, items: this.store.list(resource, namespace) };
      snapshotId = this.nextSnapshotId++;
    }
    const limit = query['limit'] === undefined ? 0 : Number(query['limit']);
    if (!Number.isInteger(limit) || limit < 0) {
      return { status: 400, body: statusBody(400, 'BadRequest', `invalid limit: ${query['limit']}`) };
    }
    const end = limit > 0 ? Math.min(offset + limit, snapshot.items.length) : snapshot.items.length;
    const remaining = snapshot.items.length - end;
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshot.resourceVersion) };
    if (remaining > 0) {
      this.snapshots.set(snapshotId, snapshot);
      metadata['continue'] = encodeContinue({ snapshot: snapshotId, offset: end });
      metadata['remainingItemCount'] = remaining;
    } else {
      this.snapshots.delete(snapshotId);
    }
    return {
      status: 200,
      body: {
        apiVersion: `${resource.group}/${version}`,
        kind: `${resource.kind}List`,
        metadata,
        items: snapshot.items.slice(offset, end).map((item) => withVersion(item, resource, version)),
      },
    };
  }

  private startWatch(
    record: RequestRecord,
    request: IncomingMessage,
    response: ServerResponse,
    resource: FakeResource,
    version: string,
    namespace: string | undefined,
  ): void {
    const { query } = record;
    const unsupported = unsupportedSelector(query);
    if (unsupported !== undefined) {
      record.status = 400;
      this.reply(response, 400, statusBody(400, 'BadRequest', unsupported));
      return;
    }
    const requested = query['resourceVersion'] ?? '';
    let replay: readonly StoredChange[];
    if (requested === '' || requested === '0') {
      // No starting point: synthetic ADDED events for the current state, then live changes.
      replay = this.store.list(resource, namespace).map((object) => ({
        resourceVersion: Number(object.metadata.resourceVersion),
        type: 'ADDED' as const,
        resource,
        object,
      }));
    } else {
      const from = Number(requested);
      if (!Number.isSafeInteger(from) || from < 0) {
        record.status = 400;
        this.reply(response, 400, statusBody(400, 'BadRequest', `invalid resource version: ${requested}`));
        return;
      }
      const after = this.store.changesAfter(resource, namespace, from);
      if (after.expired) {
        const gone = expiredStatus(from, after.oldest);
        if (this.expiredWatchResponse === 'http-status') {
          record.status = 410;
          this.reply(response, 410, gone);
        } else {
          record.status = 200;
          response.writeHead(200, WATCH_HEADERS);
          writeEvent(response, 'ERROR', gone);
          response.end();
        }
        return;
      }
      replay = after.changes;
    }
    record.status = 200;
    response.writeHead(200, WATCH_HEADERS);
    response.flushHeaders();
    const watch: OpenWatch = {
      resource,
      version,
      namespace,
      bookmarks: query['allowWatchBookmarks'] === 'true',
      request,
      response,
      timeout: undefined,
    };
    for (const change of replay) writeEvent(response, change.type, withVersion(change.object, resource, version));
    this.watches.add(watch);
    const forget = (): void => {
      this.watches.delete(watch);
      if (watch.timeout !== undefined) clearTimeout(watch.timeout);
    };
    response.on('close', forget);
    const timeoutSeconds = Number(query['timeoutSeconds'] ?? '0');
    if (timeoutSeconds > 0) {
      watch.timeout = setTimeout(() => {
        forget();
        response.end();
      }, timeoutSeconds * 1000);
    }
  }

  private broadcast(change: StoredChange): void {
    for (const watch of this.watches) {
      if (watch.resource !== change.resource) continue;
      if (watch.namespace !== undefined && (change.object.metadata.namespace ?? '') !== watch.namespace) continue;
      writeEvent(watch.response, change.type, withVersion(change.object, watch.resource, watch.version));
    }
  }

  private endWatches(end: (watch: OpenWatch) => void): number {
    const open = [...this.watches];
    this.watches.clear();
    for (const watch of open) {
      if (watch.timeout !== undefined) clearTimeout(watch.timeout);
      end(watch);
    }
    return open.length;
  }

  private write(
    reply: (status: number, body: unknown) => void,
    resource: FakeResource,
    version: string,
    successStatus: number,
    name: string,
    operation: () => KubeObject,
  ): void {
    try {
      reply(successStatus, withVersion(operation(), resource, version));
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      const code = { AlreadyExists: 409, Conflict: 409, NotFound: 404, Invalid: 422 }[err.reason];
      reply(code, statusBody(code, err.reason, err.message, { name, group: resource.group, kind: resource.plural }));
    }
  }

  private reply(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private resourceOf(object: KubeObject): FakeResource {
    const group = (object.apiVersion ?? '').split('/')[0] ?? '';
    const resource = this.resources.find((r) => r.kind === object.kind && r.group === group);
    if (resource === undefined) {
      throw new Error(`the fake API server does not serve ${String(object.kind)} in ${object.apiVersion ?? '(no apiVersion)'}`);
    }
    return resource;
  }

  private resourceByKind(kind: string): FakeResource {
    const resource = this.resources.find((r) => r.kind === kind);
    if (resource === undefined) throw new Error(`the fake API server does not serve kind ${kind}`);
    return resource;
  }
}

const WATCH_HEADERS = {
  'Content-Type': 'application/json',
  'Transfer-Encoding': 'chunked',
  'Cache-Control': 'no-cache, private',
};

function writeEvent(response: ServerResponse, type: string, object: unknown): void {
  if (response.writableEnded || response.destroyed) return;
  response.write(`${JSON.stringify({ type, object })}\n`);
}

function withVersion(object: KubeObject, resource: FakeResource, version: string): KubeObject {
  return { ...object, apiVersion: `${resource.group}/${version}` };
}

/** A metav1.Status failure body. */
export function statusBody(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details === undefined ? {} : { details }),
    code,
  };
}

function expiredStatus(requested: number, oldest: number): Record<string, unknown> {
  return statusBody(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

function notFound(): Record<string, unknown> {
  return statusBody(404, 'NotFound', 'the server could not find the requested resource');
}

function objectNotFound(resource: FakeResource, name: string): Record<string, unknown> {
  return statusBody(404, 'NotFound', `${resource.plural}.${resource.group} "${name}" not found`, {
    name,
    group: resource.group,
    kind: resource.plural,
  });
}

function methodNotAllowed(): Record<string, unknown> {
  return statusBody(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
}

function unsupportedSelector(query: Readonly<Record<string, string>>): string | undefined {
  for (const param of ['labelSelector', 'fieldSelector']) {
    if (query[param] !== undefined && query[param] !== '') return `${param} is not supported by the fake API server`;
  }
  return undefined;
}

function namespaceMismatch(object: KubeObject, namespace: string | undefined): string | undefined {
  const declared = object.metadata.namespace;
  if (namespace !== undefined && declared !== undefined && declared !== '' && declared !== namespace) {
    return 'the namespace of the provided object does not match the namespace sent on the request';
  }
  return undefined;
}

function parseObject(body: string | undefined): KubeObject | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body ?? '');
  } catch (err) {
    return `invalid JSON body: ${String(err)}`;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'the body is not a JSON object';
  const object = parsed as KubeObject;
  if (typeof object.metadata !== 'object' || object.metadata === null) return 'metadata: Required value';
  return object;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeContinue(value: string): ContinueToken | undefined {
  try {
    const token = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<ContinueToken>;
    if (typeof token.snapshot === 'number' && typeof token.offset === 'number') return { snapshot: token.snapshot, offset: token.offset };
  } catch {
    // Not one of ours.
  }
  return undefined;
}
