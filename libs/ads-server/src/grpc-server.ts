/**
 * The ADS gRPC server: `envoy.service.discovery.v3.AggregatedDiscoveryService` with
 * `StreamAggregatedResources` (state of the world) and `DeltaAggregatedResources` (incremental) over
 * `@grpc/grpc-js`, plaintext or TLS. Requests are decoded with protobuf-es (ACKs by a fast path); responses are bytes the
 * sessions framed around pre-encoded resources, passed through untouched.
 *
 * Lifecycle (a `Runner`): `start` binds; `close` stops accepting, sends GOAWAY, ends every stream
 * with UNAVAILABLE so proxies reconnect to another replica, and cuts what is left after a deadline.
 * Connections are closed after a maximum age so proxies rebalance across replicas (istiod's
 * `keepaliveMaxServerConnectionAge`; grpc-js adds a random +/-10% to the age, as grpc-go does).
 *
 * Hostile clients meet the limits of `AdsLimits` (limits.ts): connections are accepted by a
 * `net.Server` with `maxConnections` and handed to grpc-js through its connection injector, so a
 * connection over the limit is closed before any TLS or HTTP/2 work; streams per connection, request
 * size, names per request and the request rate are checked per stream. With a client CA, TLS
 * requires a client certificate verified against it, and the stream's SPIFFE identities are bound to
 * its node (identity.ts). Certificates given as files are re-read when they change.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import type { AddressInfo } from 'node:net';
import { formatHostPort, isLoopbackAddress, ListenError, parseHostPort, silentLogger, type HostPort, type Logger, type Runner } from '@skiff/runtime';
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
import { SlicedTimers } from './sliced-timers.js';
import { bearerTokenOf, clusterIdOf, type BearerTokenAuthenticator } from './authenticate.js';
import { uriSansOf } from './identity.js';
import { DEFAULT_ADS_LIMITS, TokenBucket, type AdsLimits } from './limits.js';
import { decodeDeltaDiscoveryRequest, decodeDiscoveryRequest } from './request-wire.js';
import { PUSH_ORDER } from './resource-types.js';
import { AdsSession, deliverChanges, GrpcStatus, type SessionHost, type SessionSettings } from './session.js';
import { releaseDecodedChunks } from './stream-decoder-release.js';
import type { SubscriptionChange } from './subscription.js';
import { SubscriptionIndex } from './subscription-index.js';
import type { OutgoingResponse } from './wire.js';

/** Server certificate for TLS, in memory; without TLS the server speaks plaintext (istiod's 15010). */
export interface AdsServerTlsBytes {
  /** PEM certificate chain. */
  readonly certChain: Buffer;
  /** PEM private key. */
  readonly privateKey: Buffer;
  /** PEM CA bundle to verify client certificates with; required when `requireClientCertificate`. */
  readonly clientCa?: Buffer;
  /** Refuse clients without a certificate the CA verifies; only then are their identities used. */
  readonly requireClientCertificate?: boolean;
}

/**
 * Server certificate for TLS from files, re-read every `refreshIntervalMs` so a renewed certificate
 * (a cert-manager Secret update, an atomic symlink swap in the mounted volume) is used for new
 * connections without a restart. With `caFile`, every client must present a certificate it verifies.
 */
export interface AdsServerTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile?: string;
  /** Default 10 s. */
  readonly refreshIntervalMs?: number;
}

export type AdsServerTls = AdsServerTlsBytes | AdsServerTlsFiles;

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
  /** Limits on what one client may cost; each missing field takes `DEFAULT_ADS_LIMITS`'. */
  readonly limits?: Partial<AdsLimits>;
  /** Bind client-certificate identities to the node's namespace (istiod's `PILOT_ENABLE_XDS_IDENTITY_CHECK`). Default true. */
  readonly identityCheck?: boolean;
  /**
   * Authenticates TLS streams of clients without a verified certificate by their bearer token
   * (istiod's `KubeJWTAuthenticator` on 15012); such a stream without an accepted token ends with
   * UNAUTHENTICATED. Its identities are then bound to the node like a certificate's. Plaintext
   * streams are never authenticated (istiod's 15010). Needs `tls`.
   */
  readonly tokenAuthenticator?: BearerTokenAuthenticator;
  /**
   * Type URLs answered besides the four the provider serves (CDS, EDS, LDS, RDS) and the registered
   * type handlers'. Requests for any other type are ignored and keep no state.
   */
  readonly servedTypeUrls?: readonly string[];
  readonly clock?: Clock;
  /**
   * With the system clock, how many sessions' pushes (their debounce timers) run per turn of the event
   * loop: a change that reaches ten thousand streams is written in slices, the sockets flushed and the
   * ACKs read between them (sliced-timers.ts); 0 runs them all in one pass. Default 256. Ignored with
   * an injected `clock`, which then drives the sessions unchanged.
   */
  readonly pushSliceSize?: number;
  /**
   * With the system clock, the bytes of responses after which a slice of pushes ends and the rest
   * wait for the next turn of the event loop, so the responses already written are sent while the
   * next are built (sliced-timers.ts). Default 1 MiB.
   */
  readonly pushSliceBytes?: number;
  /**
   * The listening socket's accept queue (`listen(2)` backlog); the kernel caps it at
   * `net.core.somaxconn`. Default: that cap, as Go's `net.Listen` (and so istiod) asks for it. Node's
   * own default is 511: when every proxy of a fleet reconnects at once (a gateway restart, a network
   * blip), connections past it are dropped by the kernel and the proxies wait out TCP's SYN
   * retransmissions and their gRPC connect backoff before trying again.
   */
  readonly listenBacklog?: number;
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
  tlsRefreshIntervalMs: 10_000,
  pushSliceSize: 256,
  pushSliceBytes: 1024 * 1024,
  // Linux truncates a larger backlog to `net.core.somaxconn`; Go passes that value (65535 at most,
  // https://github.com/golang/go/blob/master/src/net/sock_linux.go `maxListenerBacklog`).
  listenBacklog: 65_535,
} as const;

function isTlsFiles(tls: AdsServerTls): tls is AdsServerTlsFiles {
  return 'certFile' in tls;
}

/** Whether a gRPC peer (`127.0.0.1:5000`, `[::1]:5000`) is on the loopback interface. */
export function isLoopbackPeer(peer: string): boolean {
  return isLoopbackAddress(peer.startsWith('[') ? peer.slice(1, peer.indexOf(']')) : peer.slice(0, peer.lastIndexOf(':')));
}

/** The reused response buffer's size at first, and again after a burst of larger responses. */
const RESPONSE_BUFFER_INITIAL_BYTES = 64 * 1024;
/** Above this size the buffer is given back once unused for `RESPONSE_BUFFER_SHRINK_MS`. */
const RESPONSE_BUFFER_KEPT_BYTES = 4 * 1024 * 1024;
/** How long a larger buffer outlives its last use. */
const RESPONSE_BUFFER_SHRINK_MS = 10_000;
let responseBuffer = Buffer.allocUnsafe(RESPONSE_BUFFER_INITIAL_BYTES);
let shrinkTimer: NodeJS.Timeout | undefined;

/**
 * Writes a response into one buffer reused for every response of the process, and returns a view of
 * it. That is safe because grpc-js copies the serialized message into a frame of its own (five bytes
 * of gRPC header, then the message) before `serialize` returns to it, and keeps nothing it returned:
 * `ServerInterceptingCall.serializeMessage` in grpc-js's `server-interceptors.ts`
 * (https://github.com/grpc/grpc-node/blob/master/packages/grpc-js/src/server-interceptors.ts).
 * `serialize-response.test.ts` holds grpc-js to it (responses queued behind a client that does not
 * read, each of another size, arrive intact). Writing each response into a buffer of its own cost as
 * much again as grpc-js's copy: at a hundred sidecars taking 3 MB each, 300 MB of fresh pages
 * faulted in, and as many bytes of garbage for the collector.
 */
export function serializeResponse(response: OutgoingResponse): Buffer {
  if (response.byteLength > responseBuffer.length) {
    responseBuffer = Buffer.allocUnsafe(Math.max(response.byteLength, responseBuffer.length * 2));
  }
  if (responseBuffer.length > RESPONSE_BUFFER_KEPT_BYTES) {
    // A sidecar's full state can be tens of MB; the process keeps that much only while it is in use.
    shrinkTimer?.refresh();
    shrinkTimer ??= setTimeout(() => {
      shrinkTimer = undefined;
      responseBuffer = Buffer.allocUnsafe(RESPONSE_BUFFER_INITIAL_BYTES);
    }, RESPONSE_BUFFER_SHRINK_MS).unref();
  }
  response.writeInto(responseBuffer);
  return responseBuffer.subarray(0, response.byteLength);
}

/** The gRPC service definition: requests decoded with protobuf-es, responses already serialized. */
export const adsServiceDefinition = {
  StreamAggregatedResources: {
    path: `/${AggregatedDiscoveryService.typeName}/${AggregatedDiscoveryService.method.streamAggregatedResources.name}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (request: DiscoveryRequest) => Buffer.from(toBinary(DiscoveryRequestSchema, request)),
    // ACKs (string fields only) skip the reflective decode; see request-wire.ts.
    requestDeserialize: decodeDiscoveryRequest,
    responseSerialize: serializeResponse,
    responseDeserialize: (bytes: Buffer): Uint8Array => bytes,
  },
  DeltaAggregatedResources: {
    path: `/${AggregatedDiscoveryService.typeName}/${AggregatedDiscoveryService.method.deltaAggregatedResources.name}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (request: DeltaDiscoveryRequest) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, request)),
    requestDeserialize: decodeDeltaDiscoveryRequest,
    responseSerialize: serializeResponse,
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
  /** The sessions' push timers, run in slices per turn of the event loop (none with an injected clock). */
  private readonly pushSlices: SlicedTimers | undefined;
  private readonly limits: AdsLimits;
  private readonly servedTypes: ReadonlySet<string>;
  /** Open streams per connection (a connection is one peer address and port). */
  private readonly streamsByPeer = new Map<string, number>();
  private netServer: NetServer | undefined;
  private injector: ReturnType<grpc.Server["createConnectionInjector"]> | undefined;
  /** Client certificates are verified against a CA, so their SANs are identities. */
  private verifiesClients = false;
  private readonly noncePrefix = randomBytes(4).toString('hex');
  private nonceCounter = 0;
  private sessionCounter = 0;
  private readinessTimer: unknown;
  private stopListening: (() => void) | undefined;
  private bound: HostPort | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: AdsServerOptions) {
    if (options.tokenAuthenticator !== undefined && options.tls === undefined) throw new Error('a token authenticator needs TLS: plaintext streams are never authenticated');
    this.options = options;
    this.logger = options.logger ?? silentLogger();
    routeGrpcLogs(this.logger);
    // Each stream would otherwise keep the chunks of its last request (a whole ACK) until its next one.
    if (!releaseDecodedChunks()) this.logger.debug('grpc-js message decoder not recognised: streams keep their last request until the next');
    this.clock = options.clock ?? systemClock;
    this.limits = { ...DEFAULT_ADS_LIMITS, ...options.limits };
    this.servedTypes = new Set([...PUSH_ORDER, ...(options.servedTypeUrls ?? [])]);
    const maxConnectionAgeMs = options.maxConnectionAgeMs ?? DEFAULTS.maxConnectionAgeMs;
    this.server = new grpc.Server({
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? DEFAULTS.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? DEFAULTS.keepaliveTimeoutMs,
      'grpc.max_receive_message_length': this.limits.maxReceiveMessageBytes,
      interceptors: [(_method, call) => this.observeOversizedMessages(call)],
      ...(maxConnectionAgeMs > 0
        ? {
            'grpc.max_connection_age_ms': maxConnectionAgeMs,
            'grpc.max_connection_age_grace_ms': options.maxConnectionAgeGraceMs ?? DEFAULTS.maxConnectionAgeGraceMs,
          }
        : {}),
    });
    this.server.addService(adsServiceDefinition, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, OutgoingResponse>) => this.serveStream('sotw', call),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, OutgoingResponse>) => this.serveStream('delta', call),
    });
    const debounceMs = options.debounceMs ?? DEFAULTS.debounceMs;
    const debounceByType = options.debounceMsByType ?? {};
    const settings: SessionSettings = {
      debounceMs: (typeUrl) => debounceByType[typeUrl] ?? debounceMs,
      readyWaitMs: options.readyWaitMs ?? DEFAULTS.readyWaitMs,
      controlPlaneIdentifier: options.controlPlaneIdentifier ?? '',
      limits: this.limits,
      identityCheck: options.identityCheck ?? true,
    };
    const pushSliceSize = options.pushSliceSize ?? DEFAULTS.pushSliceSize;
    this.pushSlices = options.clock === undefined && pushSliceSize > 0 ? new SlicedTimers(systemClock, pushSliceSize, options.pushSliceBytes ?? DEFAULTS.pushSliceBytes) : undefined;
    this.host = {
      provider: options.provider,
      clock: this.pushSlices ?? this.clock,
      logger: this.logger,
      callbacks: options.callbacks ?? {},
      settings,
      typeHandler: (typeUrl) => this.typeHandlers.get(typeUrl),
      servesType: (typeUrl) => this.servedTypes.has(typeUrl) || this.typeHandlers.has(typeUrl),
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

  /**
   * Pushes debounced or waiting for their slice and not yet written: zero when no fan-out is under
   * way. Always zero with an injected clock, whose timers the server does not see.
   */
  get pushesPending(): number {
    return this.pushSlices?.pending ?? 0;
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
    const injector = this.server.createConnectionInjector(this.credentials(tls));
    this.injector = injector;
    const netServer = createNetServer({ noDelay: true }, (socket) => injector.injectConnection(socket));
    if (this.limits.maxConnections > 0) netServer.maxConnections = this.limits.maxConnections;
    // Node closes a connection over `maxConnections` right after accepting it and says so here.
    netServer.on('drop', () => {
      this.callback(() => this.options.callbacks?.onRefused?.(undefined, { reason: 'connections' }));
      this.logger.debug({ limit: this.limits.maxConnections }, 'connection refused: too many connections');
    });
    this.netServer = netServer;
    const bind = (bindHost: string): Promise<HostPort> =>
      new Promise((resolve, reject) => {
        const onError = (error: Error): void => reject(new ListenError(tls === undefined ? 'ADS' : 'ADS (TLS)', formatHostPort({ host: bindHost, port }), error));
        netServer.once('error', onError);
        netServer.listen({ host: bindHost, port, backlog: this.options.listenBacklog ?? DEFAULTS.listenBacklog }, () => {
          netServer.off('error', onError);
          const info = netServer.address() as AddressInfo;
          resolve({ host: bindHost, port: info.port });
        });
      });
    // All interfaces: the IPv6 wildcard (dual-stack, so IPv4 clients connect too), else IPv4 only
    // where IPv6 is off, as Node's own `listen(port)` does.
    this.bound = host !== '' ? await bind(host) : await bind('::').catch(() => bind('0.0.0.0'));
    this.stopListening = this.options.provider.onChange((changes) => this.resourcesChanged(changes));
    this.logger.info({ address: formatHostPort(this.bound), tls: tls !== undefined, clientCertificates: this.verifiesClients }, 'ADS server listening');
    return this.bound;
  }

  /**
   * grpc-js refuses a message over `grpc.max_receive_message_length` itself, from the length prefix,
   * by sending RESOURCE_EXHAUSTED on the innermost call (server-interceptors.js `handleDataFrame`),
   * which no interceptor or handler sees as such (the handler only sees `cancelled`). Wrapping that
   * call's `sendStatus` is the one place the refusal can be counted.
   */
  private observeOversizedMessages(call: grpc.ServerInterceptingCallInterface): grpc.ServerInterceptingCall {
    const sendStatus = call.sendStatus.bind(call);
    call.sendStatus = (status) => {
      if (status.code === grpc.status.RESOURCE_EXHAUSTED && /larger than max/.test(status.details)) {
        this.callback(() => this.options.callbacks?.onRefused?.(undefined, { reason: 'message_size' }));
        this.logger.info({ details: status.details }, 'stream refused: message over the receive limit');
      }
      sendStatus(status);
    };
    return new grpc.ServerInterceptingCall(call);
  }

  private credentials(tls: AdsServerTls | undefined): grpc.ServerCredentials {
    if (tls === undefined) return grpc.ServerCredentials.createInsecure();
    if (!isTlsFiles(tls)) {
      const requireClientCertificate = tls.requireClientCertificate ?? false;
      this.verifiesClients = requireClientCertificate && tls.clientCa !== undefined;
      return grpc.ServerCredentials.createSsl(tls.clientCa ?? null, [{ cert_chain: tls.certChain, private_key: tls.privateKey }], requireClientCertificate);
    }
    // grpc-js re-reads the files every refresh interval and swaps the server's secure context when
    // they changed; reads of a file being replaced fail and keep the previous certificates.
    const provider = new grpc.experimental.FileWatcherCertificateProvider({
      certificateFile: tls.certFile,
      privateKeyFile: tls.keyFile,
      ...(tls.caFile === undefined ? {} : { caCertificateFile: tls.caFile }),
      refreshIntervalMs: tls.refreshIntervalMs ?? DEFAULTS.tlsRefreshIntervalMs,
    });
    this.verifiesClients = tls.caFile !== undefined;
    // grpc-js 1.14's factory hands its first argument to the credentials as the identity provider
    // and its second as the CA provider (server-credentials.js); one provider serves both here.
    return grpc.experimental.createCertificateProviderServerCredentials(provider, this.verifiesClients ? provider : null, this.verifiesClients);
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
    this.netServer?.close();
    const drained = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    const streams = this.sessions.size;
    for (const session of [...this.sessions.values()]) session.end(GrpcStatus.UNAVAILABLE, 'the control plane is shutting down; reconnect');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.shutdownGraceMs ?? DEFAULTS.shutdownGraceMs);
    });
    const outcome = await Promise.race([drained.then(() => 'drained' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.injector?.destroy();
      this.server.forceShutdown();
    }
    this.logger.info({ streams, outcome }, 'ADS server stopped');
    this.bound = undefined;
  }

  private serveStream<Request extends DiscoveryRequest | DeltaDiscoveryRequest>(mode: AdsMode, call: grpc.ServerDuplexStream<Request, OutgoingResponse>): void {
    if (this.closing !== undefined) {
      call.emit('error', { code: GrpcStatus.UNAVAILABLE, details: 'the control plane is shutting down' });
      return;
    }
    const peer = call.getPeer();
    // A TLS stream without a verified certificate is reviewed by its token before any request is handled.
    const reviewsToken = !this.verifiesClients && this.options.tokenAuthenticator !== undefined;
    const session = new AdsSession({
      id: String(++this.sessionCounter),
      mode,
      peer,
      identities: this.verifiesClients ? uriSansOf(call.getAuthContext()?.sslPeerCertificate) : [],
      host: this.host,
      sink: {
        write: (response) => {
          this.pushSlices?.spent(response.byteLength);
          return call.write(response);
        },
        // grpc-js turns an 'error' event on a server stream into its final status.
        end: ({ code, details }) => call.emit('error', Object.assign(new Error(details), { code, details })),
      },
    });
    this.sessions.add(session);
    this.callback(() => this.options.callbacks?.onStreamOpen?.(session));
    const streamsOnConnection = (this.streamsByPeer.get(peer) ?? 0) + 1;
    this.streamsByPeer.set(peer, streamsOnConnection);
    const bucket = new TokenBucket(this.limits.requestsPerSecond, this.limits.requestBurst, this.clock.now());
    /** Requests read while over the rate, handled in order as tokens come back. */
    const backlog: Request[] = [];
    let backlogTimer: unknown;
    let finished = false;
    const finish = (reason: string): void => {
      if (finished) return;
      finished = true;
      if (backlogTimer !== undefined) this.clock.clearTimer(backlogTimer);
      const left = (this.streamsByPeer.get(peer) ?? 1) - 1;
      if (left > 0) this.streamsByPeer.set(peer, left);
      else this.streamsByPeer.delete(peer);
      session.close();
      this.index.remove(session, session.subscriptions());
      this.sessions.delete(session);
      this.waitingForReady.delete(session);
      // A stream that never named its node was never logged as a connection.
      if (session.node.id === '') this.logger.debug({ session: session.id, reason }, 'stream closed before it named its node');
      else this.logger.info({ session: session.id, node: session.node.id, reason }, 'ADS: connection closed');
      this.callback(() => this.options.callbacks?.onStreamClosed?.(session, reason));
    };
    const handle = (request: Request): void => {
      try {
        if (mode === 'sotw') session.handleSotwRequest(request as DiscoveryRequest);
        else session.handleDeltaRequest(request as DeltaDiscoveryRequest);
      } catch (error) {
        this.logger.error({ session: session.id, err: error }, 'request handling failed');
        session.end(GrpcStatus.INTERNAL, 'internal error in the control plane');
      }
    };
    // Over the rate, reading stops (HTTP/2 flow control then stops the client) and the requests
    // already read wait for tokens, in order: a burst is slowed, never reordered or dropped.
    /** The token is being reviewed: requests wait in the backlog, unread further, until it is decided. */
    let authenticating = reviewsToken;
    const drainBacklog = (): void => {
      backlogTimer = undefined;
      if (authenticating) return;
      while (backlog.length > 0 && !finished && bucket.take(this.clock.now())) handle(backlog.shift()!);
      if (finished) return;
      if (backlog.length > 0) backlogTimer = this.clock.setTimer(drainBacklog, bucket.waitMs(this.clock.now()));
      else call.resume();
    };
    call.on('data', (request: Request) => {
      if (authenticating) {
        backlog.push(request);
        call.pause();
        return;
      }
      if (backlog.length === 0 && bucket.take(this.clock.now())) return handle(request);
      backlog.push(request);
      this.callback(() => this.options.callbacks?.onRefused?.(session, { reason: 'request_rate' }));
      if (backlog.length === 1) {
        call.pause();
        backlogTimer = this.clock.setTimer(drainBacklog, bucket.waitMs(this.clock.now()));
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
    // Checked once every listener is in place, so the refusal's 'error' event finishes the stream here.
    if (streamsOnConnection > this.limits.maxStreamsPerConnection) {
      this.callback(() => this.options.callbacks?.onRefused?.(session, { reason: 'streams_per_connection' }));
      this.logger.info({ session: session.id, peer, reason: 'streams_per_connection' }, 'stream refused');
      session.end(GrpcStatus.RESOURCE_EXHAUSTED, `too many streams on one connection (limit ${this.limits.maxStreamsPerConnection})`);
      return;
    }
    // Started only for a stream that is kept, so no review runs (or fails unobserved) for a refused one.
    if (!reviewsToken) return;
    this.authenticateToken(call, peer).then(
      (identities) => {
        if (finished) return;
        session.authenticated(identities);
        authenticating = false;
        drainBacklog();
      },
      (error: unknown) => {
        if (finished) return;
        // istiod logs the authenticators' reasons and tells the client only "authentication failure".
        this.logger.warn({ session: session.id, peer, err: error instanceof Error ? error.message : String(error) }, 'Failed to authenticate client');
        session.refuseUnauthenticated();
      },
    );
  }

  /**
   * The identities a TLS stream's bearer token stands for (for a stream without a verified client
   * certificate, when a token authenticator is configured), or a rejection saying why there are none.
   * Never throws: an authenticator that throws instead of rejecting is a rejection too.
   */
  private authenticateToken(call: grpc.ServerDuplexStream<unknown, OutgoingResponse>, peer: string): Promise<readonly string[]> {
    const authenticator = this.options.tokenAuthenticator;
    if (authenticator === undefined) return Promise.reject(new Error('no token authenticator'));
    const bearer = bearerTokenOf(call.metadata);
    if ('error' in bearer) return Promise.reject(new Error(`${authenticator.name}: target JWT extraction error: ${bearer.error}`));
    const clusterId = clusterIdOf(call.metadata);
    return Promise.resolve()
      .then(() => authenticator.authenticate(bearer.token, { clusterId }))
      .then(
        (identities) => {
          if (identities.length === 0) throw new Error(`${authenticator.name}: no identity for the token`);
          this.logger.debug({ peer, identities }, 'ADS client authenticated by token');
          return identities;
        },
        (error: unknown) => {
          throw new Error(`${authenticator.name}: ${error instanceof Error ? error.message : String(error)}`);
        },
      );
  }

  private resourcesChanged(changes: readonly ResourceChange[]): void {
    deliverChanges(this.index, changes);
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
