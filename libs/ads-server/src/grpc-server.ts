/**
 * The ADS gRPC server: `envoy.service.discovery.v3.AggregatedDiscoveryService` with
 * `StreamAggregatedResources` (state of the world) and `DeltaAggregatedResources` (incremental) over
 * `@grpc/grpc-js`, plaintext or TLS. Requests are decoded with protobuf-es; responses are bytes the
 * sessions framed around pre-encoded resources, passed through untouched.
 *
 * Lifecycle (a `Runner`): `start` binds; `close` stops accepting, sends GOAWAY, ends every stream
 * with UNAVAILABLE so proxies reconnect to another replica, and cuts what is left after a deadline.
 * Connections are closed after a maximum age so proxies rebalance across replicas (istiod's
 * `keepaliveMaxServerConnectionAge`; grpc-js adds a random +/-10% to the age, as grpc-go does).
 */
import { randomBytes } from 'node:crypto';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { formatHostPort, ListenError, parseHostPort, silentLogger, type HostPort, type Logger, type Runner } from '@skiff/runtime';
import { AggregatedDiscoveryService } from '@skiff/protos/gen/envoy/service/discovery/v3/ads_pb.js';
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
  type DeltaDiscoveryRequest,
  type DiscoveryRequest,
} from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import { systemClock, type Clock } from './clock.js';
import type { AdsCallbacks, AdsMode, TypeHandler } from './events.js';
import type { ResourceChange, ResourceProvider } from './provider.js';
import { SessionRegistry } from './registry.js';
import { AdsSession, GrpcStatus, type SessionHost, type SessionSettings } from './session.js';
import type { SubscriptionChange } from './subscription.js';
import { SubscriptionIndex } from './subscription-index.js';

/** Server certificate for TLS; without it the server speaks plaintext (istiod's 15010). */
export interface AdsServerTls {
  /** PEM certificate chain. */
  readonly certChain: Buffer;
  /** PEM private key. */
  readonly privateKey: Buffer;
  /** PEM CA bundle to verify client certificates with; required when `requireClientCertificate`. */
  readonly clientCa?: Buffer;
  readonly requireClientCertificate?: boolean;
}

export interface AdsServerOptions {
  readonly provider: ResourceProvider;
  /** `host:port` or `:port` (all interfaces); port 0 picks a free port. Default `:15010`. */
  readonly address?: string;
  readonly tls?: AdsServerTls;
  readonly logger?: Logger;
  readonly callbacks?: AdsCallbacks;
  /** Coalescing window for pushes caused by resource changes (ms). Default 10. */
  readonly debounceMs?: number;
  /** Per type URL overrides of `debounceMs`. */
  readonly debounceMsByType?: Readonly<Record<string, number>>;
  /**
   * How long a stream's first requests wait for the provider to become ready before the stream is
   * ended with UNAVAILABLE (the proxy retries, maybe on a ready replica). Default 10 s: below the
   * clients' 15 s resource timeout, so they reconnect rather than give the resource up.
   */
  readonly readyWaitMs?: number;
  /** How often waiting streams check the provider's readiness (ms). Default 100. */
  readonly readinessPollMs?: number;
  /** Connection age after which the server sends GOAWAY (ms, +/-10% jitter); 0 for none. Default 30 min. */
  readonly maxConnectionAgeMs?: number;
  /** Time streams get after that GOAWAY before the connection is closed (ms). Default 10 s (istiod's). */
  readonly maxConnectionAgeGraceMs?: number;
  /** Server keepalive ping interval (ms). Default 30 s (istiod's). */
  readonly keepaliveTimeMs?: number;
  /** Keepalive ping timeout (ms). Default 10 s (istiod's). */
  readonly keepaliveTimeoutMs?: number;
  /** After `close` began, how long connections get to finish before they are cut (ms). Default 5 s. */
  readonly shutdownGraceMs?: number;
  /** `control_plane.identifier` in every response (Istio sends a JSON identity). Default none. */
  readonly controlPlaneIdentifier?: string;
  readonly clock?: Clock;
}

const DEFAULTS = {
  address: ':15010',
  debounceMs: 10,
  readyWaitMs: 10_000,
  readinessPollMs: 100,
  maxConnectionAgeMs: 30 * 60_000,
  maxConnectionAgeGraceMs: 10_000,
  keepaliveTimeMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  shutdownGraceMs: 5_000,
} as const;

/** Passes pre-framed response bytes to grpc-js without a copy. */
function passThrough(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The gRPC service definition: requests decoded with protobuf-es, responses already serialized. */
export const adsServiceDefinition = {
  StreamAggregatedResources: {
    path: `/${AggregatedDiscoveryService.typeName}/${AggregatedDiscoveryService.method.streamAggregatedResources.name}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (request: DiscoveryRequest) => Buffer.from(toBinary(DiscoveryRequestSchema, request)),
    requestDeserialize: (bytes: Buffer) => fromBinary(DiscoveryRequestSchema, bytes),
    responseSerialize: passThrough,
    responseDeserialize: (bytes: Buffer): Uint8Array => bytes,
  },
  DeltaAggregatedResources: {
    path: `/${AggregatedDiscoveryService.typeName}/${AggregatedDiscoveryService.method.deltaAggregatedResources.name}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (request: DeltaDiscoveryRequest) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, request)),
    requestDeserialize: (bytes: Buffer) => fromBinary(DeltaDiscoveryRequestSchema, bytes),
    responseSerialize: passThrough,
    responseDeserialize: (bytes: Buffer): Uint8Array => bytes,
  },
} satisfies grpc.ServiceDefinition;

export class AdsServer implements Runner {
  readonly name = 'ads-server';
  /** The connected streams. */
  readonly sessions = new SessionRegistry();
  private readonly options: AdsServerOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly server: grpc.Server;
  private readonly index = new SubscriptionIndex<AdsSession>();
  private readonly typeHandlers = new Map<string, TypeHandler>();
  private readonly waitingForReady = new Set<AdsSession>();
  private readonly host: SessionHost;
  private readonly noncePrefix = randomBytes(4).toString('hex');
  private nonceCounter = 0;
  private sessionCounter = 0;
  private readinessTimer: unknown;
  private stopListening: (() => void) | undefined;
  private bound: HostPort | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: AdsServerOptions) {
    this.options = options;
    this.logger = options.logger ?? silentLogger();
    routeGrpcLogs(this.logger);
    this.clock = options.clock ?? systemClock;
    const maxConnectionAgeMs = options.maxConnectionAgeMs ?? DEFAULTS.maxConnectionAgeMs;
    this.server = new grpc.Server({
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? DEFAULTS.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? DEFAULTS.keepaliveTimeoutMs,
      ...(maxConnectionAgeMs > 0
        ? {
            'grpc.max_connection_age_ms': maxConnectionAgeMs,
            'grpc.max_connection_age_grace_ms': options.maxConnectionAgeGraceMs ?? DEFAULTS.maxConnectionAgeGraceMs,
          }
        : {}),
    });
    this.server.addService(adsServiceDefinition, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, Uint8Array>) => this.serveStream('sotw', call),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, Uint8Array>) => this.serveStream('delta', call),
    });
    const debounceMs = options.debounceMs ?? DEFAULTS.debounceMs;
    const debounceByType = options.debounceMsByType ?? {};
    const settings: SessionSettings = {
      debounceMs: (typeUrl) => debounceByType[typeUrl] ?? debounceMs,
      readyWaitMs: options.readyWaitMs ?? DEFAULTS.readyWaitMs,
      controlPlaneIdentifier: options.controlPlaneIdentifier ?? '',
    };
    this.host = {
      provider: options.provider,
      clock: this.clock,
      logger: this.logger,
      callbacks: options.callbacks ?? {},
      settings,
      typeHandler: (typeUrl) => this.typeHandlers.get(typeUrl),
      nextNonce: () => `${this.noncePrefix}-${(++this.nonceCounter).toString(36)}`,
      subscriptionChanged: (session: AdsSession, typeUrl: string, change: SubscriptionChange) => this.index.update(session, typeUrl, change),
      awaitReady: (session: AdsSession) => this.awaitReady(session),
    };
  }

  /**
   * Answers every request of `typeUrl` that is not an ACK or NACK with `handler`'s resources, instead
   * of the provider's (for `istio.io/debug/*` types). Applies to streams whose first request of that
   * type comes later. Returns the function that removes the handler.
   */
  registerTypeHandler(typeUrl: string, handler: TypeHandler): () => void {
    if (this.typeHandlers.has(typeUrl)) throw new Error(`a handler for ${typeUrl} is already registered`);
    this.typeHandlers.set(typeUrl, handler);
    return () => {
      if (this.typeHandlers.get(typeUrl) === handler) this.typeHandlers.delete(typeUrl);
    };
  }

  /** The bound address after `listen`, e.g. `{ host: '127.0.0.1', port: 15010 }`. */
  get address(): HostPort | undefined {
    return this.bound;
  }

  /** Binds the configured address and starts serving; resolves with the bound address. */
  async listen(): Promise<HostPort> {
    if (this.closing !== undefined) throw new Error('the ADS server is closed');
    if (this.bound !== undefined) return this.bound;
    const { host, port } = parseHostPort(this.options.address ?? DEFAULTS.address);
    const tls = this.options.tls;
    const credentials =
      tls === undefined
        ? grpc.ServerCredentials.createInsecure()
        : grpc.ServerCredentials.createSsl(
            tls.clientCa ?? null,
            [{ cert_chain: tls.certChain, private_key: tls.privateKey }],
            tls.requireClientCertificate ?? false,
          );
    const bind = (bindHost: string): Promise<HostPort> =>
      new Promise((resolve, reject) => {
        this.server.bindAsync(formatHostPort({ host: bindHost, port }), credentials, (error, actualPort) =>
          error === null ? resolve({ host: bindHost, port: actualPort }) : reject(new ListenError(tls === undefined ? 'ADS' : 'ADS (TLS)', formatHostPort({ host: bindHost, port }), error)),
        );
      });
    // All interfaces: the IPv6 wildcard (dual-stack, so IPv4 clients connect too), else IPv4 only
    // where IPv6 is off, as Node's own `listen(port)` does.
    this.bound = host !== '' ? await bind(host) : await bind('::').catch(() => bind('0.0.0.0'));
    this.stopListening = this.options.provider.onChange((changes) => this.resourcesChanged(changes));
    this.logger.info({ address: formatHostPort(this.bound), tls: tls !== undefined }, 'ADS server listening');
    return this.bound;
  }

  async start(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await this.listen();
  }

  /** Graceful shutdown; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.stopListening?.();
    this.stopListening = undefined;
    if (this.readinessTimer !== undefined) this.clock.clearTimer(this.readinessTimer);
    this.readinessTimer = undefined;
    if (this.bound === undefined) {
      this.server.forceShutdown();
      return;
    }
    // Stop accepting and send GOAWAY first, so the proxies told to leave cannot come back here.
    const drained = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    const streams = this.sessions.size;
    for (const session of [...this.sessions.values()]) session.end(GrpcStatus.UNAVAILABLE, 'the control plane is shutting down; reconnect');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.shutdownGraceMs ?? DEFAULTS.shutdownGraceMs);
    });
    const outcome = await Promise.race([drained.then(() => 'drained' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.server.forceShutdown();
    this.logger.info({ streams, outcome }, 'ADS server stopped');
    this.bound = undefined;
  }

  private serveStream<Request extends DiscoveryRequest | DeltaDiscoveryRequest>(mode: AdsMode, call: grpc.ServerDuplexStream<Request, Uint8Array>): void {
    if (this.closing !== undefined) {
      call.emit('error', { code: GrpcStatus.UNAVAILABLE, details: 'the control plane is shutting down' });
      return;
    }
    const session = new AdsSession({
      id: String(++this.sessionCounter),
      mode,
      peer: call.getPeer(),
      host: this.host,
      sink: {
        write: (bytes) => call.write(bytes),
        // grpc-js turns an 'error' event on a server stream into its final status.
        end: ({ code, details }) => call.emit('error', Object.assign(new Error(details), { code, details })),
      },
    });
    this.sessions.add(session);
    this.callback(() => this.options.callbacks?.onStreamOpen?.(session));
    let finished = false;
    const finish = (reason: string): void => {
      if (finished) return;
      finished = true;
      session.close();
      this.index.remove(session, session.subscriptions());
      this.sessions.delete(session);
      this.waitingForReady.delete(session);
      // A stream that never named its node was never logged as a connection.
      if (session.node.id === '') this.logger.debug({ session: session.id, reason }, 'stream closed before it named its node');
      else this.logger.info({ session: session.id, node: session.node.id, reason }, 'ADS: connection closed');
      this.callback(() => this.options.callbacks?.onStreamClosed?.(session, reason));
    };
    call.on('data', (request: Request) => {
      try {
        if (mode === 'sotw') session.handleSotwRequest(request as DiscoveryRequest);
        else session.handleDeltaRequest(request as DeltaDiscoveryRequest);
      } catch (error) {
        this.logger.error({ session: session.id, err: error }, 'request handling failed');
        session.end(GrpcStatus.INTERNAL, 'internal error in the control plane');
      }
    });
    call.on('drain', () => session.drained());
    call.on('end', () => {
      finish('client closed the stream');
      call.end();
    });
    call.on('cancelled', () => finish('cancelled'));
    call.on('error', (error: Error) => finish(error.message));
    call.on('close', () => finish('closed'));
  }

  private resourcesChanged(changes: readonly ResourceChange[]): void {
    for (const change of changes) {
      for (const [session, names] of this.index.interested(change.typeUrl, change.names)) {
        session.resourcesChanged(change.typeUrl, names, change.since);
      }
    }
    if (this.waitingForReady.size > 0) this.retryWaiting();
  }

  private awaitReady(session: AdsSession): void {
    this.waitingForReady.add(session);
    if (this.readinessTimer !== undefined || this.closing !== undefined) return;
    const poll = (): void => {
      // The fired handle stays set while retrying, so sessions that wait again do not start a second poll.
      this.retryWaiting();
      this.readinessTimer =
        this.waitingForReady.size > 0 && this.closing === undefined
          ? this.clock.setTimer(poll, this.options.readinessPollMs ?? DEFAULTS.readinessPollMs)
          : undefined;
    };
    this.readinessTimer = this.clock.setTimer(poll, this.options.readinessPollMs ?? DEFAULTS.readinessPollMs);
  }

  private retryWaiting(): void {
    for (const session of [...this.waitingForReady]) {
      this.waitingForReady.delete(session);
      // A session still waiting adds itself back through `awaitReady`.
      if (session.retryWhenReady()) this.waitingForReady.add(session);
    }
  }

  private callback(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.logger.error({ err: error }, 'ADS callback failed');
    }
  }
}

/**
 * grpc-js writes its own log lines to the console (`E No address added out of total 1 resolved` beside
 * Skiff's JSON for a port in use). Everything it reports that matters surfaces as a failed bind or call,
 * which Skiff logs itself, so its lines go to the process's logger at debug level, structured.
 */
function routeGrpcLogs(logger: Logger): void {
  grpc.setLogger({ error: (...parts: unknown[]) => logger.debug({ grpcJs: parts.map(String).join(' ') }, 'grpc-js') });
}
