/**
 * The monitoring HTTP server every Skiff service runs (istiod's monitoring port, 15014): liveness,
 * readiness, Prometheus metrics and the debug handlers, on istiod's paths and with its conventions
 * (pilot/pkg/xds/debug.go): `/debug` is an HTML index of the handlers with their descriptions,
 * `/debug/list` a sorted JSON array of the command names without the `/debug/` prefix, and `?pretty`
 * indents JSON.
 *
 * `/healthz`, `/readyz` and `/metrics` are open, so probes and Prometheus need nothing. `/debug/*` is
 * guarded as istiod guards it (`pilot/pkg/xds/debug.go` `allowAuthenticatedOrLocalhost`): callers on
 * the loopback interface (a port-forward, the process itself) pass; others must send
 * `Authorization: Bearer <token>` with a token from `debugAccess.tokenFile`, else 401. With
 * `debugAccess.enabled` false (istiod's `ENABLE_DEBUG_ON_HTTP=false`) the debug paths are not served.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListenError } from './listen-error.js';
import type { Logger } from './logging.js';
import { PROMETHEUS_CONTENT_TYPE } from './metrics.js';
import { formatHostPort, type HostPort, messageOf, parseHostPort } from './parsers.js';
import type { Runner } from './runner.js';

/** Thrown by a debug handler to answer with a status and a plain-text message (`400 You must provide a proxyID`). */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** What a debug handler answers. */
export interface DebugResponse {
  readonly status: number;
  /** A string or bytes are sent as they are; anything else as JSON (bigints as strings, as proto JSON has int64). */
  readonly body: unknown;
  /** Defaults to `application/json` for JSON, `text/plain; charset=utf-8` for strings, `application/octet-stream` for bytes. */
  readonly contentType?: string;
}

/** A debug handler: gets the query string, answers or throws (`HttpError` for a client error). */
export type DebugHandler = (query: URLSearchParams) => DebugResponse | Promise<DebugResponse>;

/** A readiness check: ready when it returns true; false, a rejection or a timeout mean not ready. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

/** Who may read `/debug/*`. */
export interface DebugAccessOptions {
  /** Serve `/debug/*` at all (istiod's `ENABLE_DEBUG_ON_HTTP`). Default true. */
  readonly enabled?: boolean;
  /** Require loopback or a bearer token (istiod's `ENABLE_DEBUG_ENDPOINT_AUTH`). Default true. */
  readonly authenticate?: boolean;
  /**
   * A file of accepted bearer tokens, one per line (a mounted Secret); re-read when it changes, so a
   * rotated token works without a restart. Without it only loopback callers get in.
   */
  readonly tokenFile?: string;
  /** Let loopback callers in without a token (istiod's `isRequestFromLocalhost`). Default true. */
  readonly trustLoopback?: boolean;
}

export interface MonitoringServerOptions {
  readonly logger: Logger;
  readonly debugAccess?: DebugAccessOptions;
  /** Source of `/metrics`; without it the path answers 404. */
  readonly metrics?: { collectText(): Promise<string> };
  /** How long one readiness check may take before it counts as failing. Default 1000 ms, Kubernetes' default probe timeout. */
  readonly readinessTimeoutMs?: number;
}

/** A debug handler's answer as it is sent. */
export interface RenderedDebug {
  readonly status: number;
  readonly contentType: string;
  readonly body: string | Uint8Array;
}

interface DebugEntry {
  readonly description: string;
  readonly handler: DebugHandler;
}

const DEBUG_PREFIX = '/debug/';

/** The monitoring and debug HTTP server. Register handlers and checks, then `listen`. */
export class MonitoringServer {
  private readonly logger: Logger;
  private readonly metrics: { collectText(): Promise<string> } | undefined;
  private readonly readinessTimeoutMs: number;
  private readonly debugHandlers = new Map<string, DebugEntry>();
  private readonly readinessChecks = new Map<string, ReadinessCheck>();
  private readonly server: Server;
  private readonly debugAccess: DebugAccessOptions;
  private tokens: { readonly mtimeMs: number; readonly size: number; readonly digests: readonly Buffer[] } | undefined;
  private bound: HostPort | undefined;

  constructor(options: MonitoringServerOptions) {
    this.logger = options.logger;
    this.debugAccess = options.debugAccess ?? {};
    this.metrics = options.metrics;
    this.readinessTimeoutMs = options.readinessTimeoutMs ?? 1000;
    this.server = createServer((request, response) => {
      this.route(request, response).catch((error: unknown) => {
        // route() answers every error itself; this is only reached if writing the answer failed.
        this.logger.error({ err: error, path: request.url }, 'monitoring request failed');
        response.destroy();
      });
    });
    this.addDebugHandler('/debug/list', 'List all supported debug commands in json', () => ({
      status: 200,
      body: [...this.debugHandlers.keys()].map((path) => path.slice(DEBUG_PREFIX.length)).filter((name) => name !== 'list').sort(),
    }));
  }

  /**
   * Registers `/debug/<name>` with a one-line description for the index (istiod's `addDebugHandler`).
   * Paths are exact: no query string, no trailing slash, registered once.
   */
  addDebugHandler(path: string, description: string, handler: DebugHandler): void {
    if (!path.startsWith(DEBUG_PREFIX) || path.length === DEBUG_PREFIX.length || /[?#\s]/.test(path) || path.endsWith('/')) {
      throw new Error(`debug handler path "${path}" must be /debug/<name> without a query`);
    }
    if (this.debugHandlers.has(path)) throw new Error(`debug handler ${path} is registered twice`);
    this.debugHandlers.set(path, { description, handler });
  }

  /** Registers a named readiness check; `/readyz` passes only when every check does. */
  addReadinessCheck(name: string, check: ReadinessCheck): void {
    if (this.readinessChecks.has(name)) throw new Error(`readiness check ${name} is registered twice`);
    this.readinessChecks.set(name, check);
  }

  /**
   * Starts listening on `host:port`, `:port` (all interfaces) or a parsed address; port 0 picks a free
   * port. Resolves with the bound address (also in `address`).
   */
  async listen(address: string | HostPort): Promise<HostPort> {
    const { host, port } = typeof address === 'string' ? parseHostPort(address) : address;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(new ListenError('the monitoring server', formatHostPort({ host, port }), error));
      this.server.once('error', onError);
      const onListening = (): void => {
        this.server.off('error', onError);
        resolve();
      };
      if (host === '') this.server.listen(port, onListening);
      else this.server.listen(port, host, onListening);
    });
    const info = this.server.address() as AddressInfo;
    this.bound = { host: info.address, port: info.port };
    this.logger.info({ address: `${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}` }, 'monitoring server listening');
    return this.bound;
  }

  /** The bound address after `listen`, e.g. `{ host: '127.0.0.1', port: 41234 }` (`::` for all interfaces). */
  get address(): HostPort | undefined {
    return this.bound;
  }

  /** Stops listening and closes open connections (a scrape in flight is cut: the process is going away). */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve, reject) => {
      this.server.close((error) => (error === undefined ? resolve() : reject(error)));
      this.server.closeAllConnections();
    });
    this.bound = undefined;
  }

  /** A runner that listens on `address` when started and closes when stopped. */
  toRunner(address: string | HostPort, name = 'monitoring'): Runner {
    return {
      name,
      start: async () => {
        await this.listen(address);
      },
      close: () => this.close(),
    };
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://monitoring');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return send(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    const path = url.pathname;
    if (path === '/healthz') return send(response, 200, 'text/plain; charset=utf-8', 'ok\n');
    if (path === '/readyz') return this.serveReadiness(response);
    if (path === '/metrics' && this.metrics !== undefined) return this.serveMetrics(response, this.metrics);
    if (path === '/debug' || path.startsWith(DEBUG_PREFIX)) {
      if (this.debugAccess.enabled === false) return send(response, 404, 'text/plain; charset=utf-8', `${path} not found\n`);
      if (!this.debugCallerAllowed(request)) {
        this.logger.warn({ path, remote: request.socket.remoteAddress }, 'unauthenticated debug request refused');
        response.setHeader('www-authenticate', 'Bearer');
        return send(response, 401, 'text/plain; charset=utf-8', 'authentication required\n');
      }
    }
    if (path === '/debug' || path === '/debug/') return send(response, 200, 'text/html; charset=utf-8', this.debugIndexHtml());
    const entry = this.debugHandlers.get(path);
    if (entry === undefined) return send(response, 404, 'text/plain; charset=utf-8', `${path} not found\n`);
    return this.serveDebug(path, entry, url.searchParams, response);
  }

  /** Loopback callers, and callers with a valid bearer token, may read `/debug/*`. */
  private debugCallerAllowed(request: IncomingMessage): boolean {
    if (this.debugAccess.authenticate === false) return true;
    if (this.debugAccess.trustLoopback !== false && isLoopbackAddress(request.socket.remoteAddress ?? '')) return true;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) return false;
    const presented = sha256(match[1]!);
    return this.acceptedTokenDigests().some((digest) => timingSafeEqual(digest, presented));
  }

  /** Digests of the tokens in `tokenFile`, re-read when its size or modification time changes. */
  private acceptedTokenDigests(): readonly Buffer[] {
    const file = this.debugAccess.tokenFile;
    if (file === undefined) return [];
    try {
      const { mtimeMs, size } = statSync(file);
      if (this.tokens?.mtimeMs !== mtimeMs || this.tokens.size !== size) {
        const lines = readFileSync(file, 'utf8').split('\n').map((line) => line.trim()).filter((line) => line !== '');
        this.tokens = { mtimeMs, size, digests: lines.map(sha256) };
      }
    } catch (error) {
      this.logger.error({ err: error, file }, 'cannot read the debug token file; only loopback callers get in');
      this.tokens = undefined;
      return [];
    }
    return this.tokens.digests;
  }

  private async serveReadiness(response: ServerResponse): Promise<void> {
    const results = await Promise.all(
      [...this.readinessChecks].map(async ([name, check]) => {
        const failure = await this.runReadinessCheck(check);
        return failure === undefined ? undefined : `${name} (${failure})`;
      }),
    );
    const failing = results.filter((result): result is string => result !== undefined);
    if (failing.length === 0) return send(response, 200, 'text/plain; charset=utf-8', 'ok\n');
    return send(response, 503, 'text/plain; charset=utf-8', `not ready: ${failing.join(', ')}\n`);
  }

  /** Runs one check; returns why it failed, or undefined when it passed. */
  private async runReadinessCheck(check: ReadinessCheck): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no answer within ${this.readinessTimeoutMs} ms`), this.readinessTimeoutMs);
    });
    try {
      const outcome = Promise.resolve()
        .then(check)
        .then(
          (ready) => (ready ? undefined : 'not ready'),
          (error: unknown) => messageOf(error),
        );
      return await Promise.race([outcome, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async serveMetrics(response: ServerResponse, metrics: { collectText(): Promise<string> }): Promise<void> {
    let text: string;
    try {
      text = await metrics.collectText();
    } catch (error) {
      this.logger.error({ err: error }, 'metrics collection failed');
      return send(response, 500, 'text/plain; charset=utf-8', `metrics collection failed: ${messageOf(error)}\n`);
    }
    return send(response, 200, PROMETHEUS_CONTENT_TYPE, text);
  }

  private async serveDebug(path: string, entry: DebugEntry, query: URLSearchParams, response: ServerResponse): Promise<void> {
    const answer = await this.renderDebug(path, entry, query);
    return send(response, answer.status, answer.contentType, answer.body);
  }

  /**
   * Runs the debug handler of `pathAndQuery` (`/debug/syncz?namespace=a`) in process, as an HTTP
   * caller would get it: istiod answers its `istio.io/debug` xDS type the same way
   * (`pilot/pkg/xds/debuggen.go` `processDebugRequest`). Access control is the caller's to apply.
   */
  async invokeDebug(pathAndQuery: string): Promise<RenderedDebug> {
    const url = new URL(pathAndQuery, 'http://debug.invalid');
    const entry = this.debugHandlers.get(url.pathname);
    if (entry === undefined) return { status: 404, contentType: 'text/plain; charset=utf-8', body: `no debug handler for ${url.pathname}\n` };
    return this.renderDebug(url.pathname, entry, url.searchParams);
  }

  private async renderDebug(path: string, entry: DebugEntry, query: URLSearchParams): Promise<RenderedDebug> {
    let answer: DebugResponse;
    try {
      answer = await entry.handler(query);
    } catch (error) {
      if (error instanceof HttpError) return { status: error.status, contentType: 'text/plain; charset=utf-8', body: `${error.message}\n` };
      this.logger.error({ err: error, path }, 'debug handler failed');
      return { status: 500, contentType: 'text/plain; charset=utf-8', body: `${path} failed: ${messageOf(error)}\n` };
    }
    let body: string | Uint8Array;
    let contentType: string;
    if (typeof answer.body === 'string') {
      body = answer.body;
      contentType = 'text/plain; charset=utf-8';
    } else if (answer.body instanceof Uint8Array) {
      body = answer.body;
      contentType = 'application/octet-stream';
    } else {
      try {
        body = toJson(answer.body, query.has('pretty'));
      } catch (error) {
        this.logger.error({ err: error, path }, 'debug handler answer is not JSON-serializable');
        return { status: 500, contentType: 'text/plain; charset=utf-8', body: `${path} failed: ${messageOf(error)}\n` };
      }
      contentType = 'application/json';
    }
    return { status: answer.status, contentType: answer.contentType ?? contentType, body };
  }

  private debugIndexHtml(): string {
    const rows = [...this.debugHandlers]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([path, { description }]) => `<tr><td><a href="${escapeHtml(path)}">${escapeHtml(path)}</a></td><td>${escapeHtml(description)}</td></tr>`)
      .join('\n');
    return [
      '<!DOCTYPE html>',
      '<html><head><meta charset="utf-8"><title>Skiff debug</title></head><body>',
      '<p>Add <b>?pretty</b> to a JSON endpoint (like <b>/debug/list?pretty</b>) to indent its output.</p>',
      '<table><tr><th>Endpoint</th><th>Description</th></tr>',
      rows,
      '</table></body></html>',
      '',
    ].join('\n');
  }
}

/** Compared as digests so that the comparison takes the same time whatever the token's length. */
function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** `127.0.0.1`, `::1`, `::ffff:127.0.0.1` (istiod's `isRequestFromLocalhost`: `IsLoopback`). */
export function isLoopbackAddress(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

function toJson(value: unknown, pretty: boolean): string {
  const text = JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item), pretty ? 2 : undefined);
  // JSON.stringify(undefined) is undefined: answer with JSON null rather than an empty body.
  return `${text ?? 'null'}${pretty ? '\n' : ''}`;
}

function send(response: ServerResponse, status: number, contentType: string, body: string | Uint8Array): void {
  response.statusCode = status;
  response.setHeader('content-type', contentType);
  response.setHeader('cache-control', 'no-store');
  response.end(body);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
