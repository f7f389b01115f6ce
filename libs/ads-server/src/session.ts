/**
 * One ADS stream's protocol state machine, state of the world or delta (go-control-plane's
 * `pkg/server/sotw/v3` and `pkg/server/delta/v3`): node capture, subscriptions, nonces, ACK/NACK,
 * what the client holds, and when to respond. It knows no transport (responses go to a
 * `ResponseSink`), no clock (a `Clock`), and no storage (a `ResourceProvider` view, read at push
 * time, so a push always carries the latest state and never a queued stale one).
 *
 * The rules, with the Envoy `xds_protocol.rst` sections and Istio files they come from, are in
 * docs/xds-protocol.md and docs/istio-behaviour.md#ack-nack; each one is cited where it is applied.
 */
import { fromBinary } from '@bufbuild/protobuf';
import type { Logger } from '@skiff/runtime';
import { TypeUrl } from '@skiff/protos';
import { Cluster_DiscoveryType, ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { Node } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import type { DeltaDiscoveryRequest, DiscoveryRequest } from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import type { Clock } from './clock.js';
import type {
  AdsCallbacks,
  AdsMode,
  AdsRequestKind,
  AdsSessionInfo,
  AdsSessionStatus,
  AdsTypeStatus,
  NackRecord,
  TypeHandler,
  TypeHandlerRequest,
} from './events.js';
import { ABSENT, ABSENT_ENTRY, heldResource, HeldSet, heldVersion, type HeldResource } from './held-set.js';
import { checkConnectionIdentity, type SpiffeIdentity } from './identity.js';
import { AdsRefusalError, truncateUtf8, type AdsLimits, type AdsRefusalReason } from './limits.js';
import { EMPTY_PROXY_NODE, proxyNodeFromProto } from './node.js';
import type { ProxyNode, ProxyProfile, ProxyResourceView, ResourceChange, ResourceProvider, ServedResource } from './provider.js';
import { requestedNames } from './request-wire.js';
import { resourceDigest, ResourceSetHash } from './resource-set-hash.js';
import { allowsLegacyWildcard, PUSH_ORDER, requiresFullStateInSotw, WILDCARD } from './resource-types.js';
import { Subscription, type SubscriptionChange } from './subscription.js';
import type { SubscriptionIndex } from './subscription-index.js';
import { DeltaResponse, SotwResponse, type OutgoingResponse } from './wire.js';

/** gRPC status codes used when the server ends a stream. */
export const GrpcStatus = { INVALID_ARGUMENT: 3, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/** Where a session's responses go: the gRPC call in production, a fake in tests. */
export interface ResponseSink {
  /**
   * Writes one response, measured and ready to serialize (the gRPC server writes it into a buffer
   * it reuses). False when the transport's buffer is full: stop until `drained()`.
   */
  write(response: OutgoingResponse): boolean;
  /** Ends the stream with a status; the client reconnects. */
  end(status: { readonly code: number; readonly details: string }): void;
}

/** Tuning shared by every session of a server. */
export interface SessionSettings {
  /** Coalescing window for pushes caused by resource changes, per type URL. */
  debounceMs(typeUrl: string): number;
  /** How long a stream's first requests wait for `provider.isReady()` before the stream is ended with UNAVAILABLE. */
  readonly readyWaitMs: number;
  /** `control_plane.identifier` in every response; empty for none. */
  readonly controlPlaneIdentifier: string;
  readonly limits: AdsLimits;
  /**
   * Bind a stream's verified identities to its node (istiod's `PILOT_ENABLE_XDS_IDENTITY_CHECK`): a
   * stream with a client certificate must be in the node's namespace, else PERMISSION_DENIED.
   */
  readonly identityCheck: boolean;
}

/** What a session needs from the server that owns it. */
export interface SessionHost {
  readonly provider: ResourceProvider;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly callbacks: AdsCallbacks;
  readonly settings: SessionSettings;
  typeHandler(typeUrl: string): TypeHandler | undefined;
  /** Whether the server answers `typeUrl` at all; requests for other types are ignored and hold no state. */
  servesType(typeUrl: string): boolean;
  /** A nonce never used before in this process (nor, with a random prefix, in another replica). */
  nextNonce(): string;
  /** Keeps the server's index of who subscribes to what in step with this session. */
  subscriptionChanged(session: AdsSession, typeUrl: string, change: SubscriptionChange): void;
  /** The session has work held back because the provider is not ready; call `retryWhenReady` later. */
  awaitReady(session: AdsSession): void;
}

export interface AdsSessionOptions {
  readonly id: string;
  readonly mode: AdsMode;
  readonly peer: string;
  readonly sink: ResponseSink;
  readonly host: SessionHost;
  /**
   * The caller's SPIFFE identities: URI SANs of the client certificate the TLS layer verified, or
   * what a bearer-token authenticator returned (`authenticated`); none on plaintext.
   */
  readonly identities?: readonly string[];
}

/** Longest node id accepted (Istio's are `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`). */
export const MAX_NODE_ID_BYTES = 1024;

/** Longest `version_info` of a client's ACK or NACK kept. */
const MAX_CLIENT_VERSION_BYTES = 256;

/** Work due within this many milliseconds is done now. */
const TIMER_SLACK_MS = 1;

/** The per-type state of one stream. */
class TypeState {
  readonly subscription: Subscription;
  /** What the client holds as far as the server knows (`ABSENT` entries in delta only); shared with every stream that holds the same. */
  private held = HeldSet.EMPTY;
  /**
   * Changes to `held` not applied yet: a push records what it sends name by name, and the set moves
   * once, when its version or names are read, so that the streams sent the same push make the same move.
   */
  private changes: Map<string, HeldResource | null> | undefined;
  /** Names whose visible version may have changed since the last push. */
  readonly pendingNames = new Set<string>();
  /** Names to send even if the client already holds their version (resubscribed, or an EDS cluster just pushed). */
  readonly forcedNames = new Set<string>();
  /** Re-read the whole subscription at the next push. */
  pendingAll = false;
  /** Answer at the next push even if nothing differs (an initial request, a full-state subscription change). */
  mustRespond = false;
  /** The pending work was caused by a request, not only by resource changes (for the response event). */
  requestDriven = false;
  /** A request a type handler has yet to answer (newest wins). */
  handlerRequest: TypeHandlerRequest | undefined;
  /** Monotonic ms when the pending work is due; undefined when there is none. */
  dueAt: number | undefined;
  changeSince: number | undefined;

  lastNonce: string | undefined;
  lastVersionInfo: string | undefined;
  lastSentMonotonic: number | undefined;
  lastSentAt: number | undefined;
  ackedNonce: string | undefined;
  ackedVersion: string | undefined;
  ackedAt: number | undefined;
  lastNack: NackRecord | undefined;

  constructor(
    readonly typeUrl: string,
    readonly handler: TypeHandler | undefined,
  ) {
    this.subscription = new Subscription(allowsLegacyWildcard(typeUrl));
  }

  /** The version the client holds of `name`, `ABSENT`, or undefined when it holds nothing of that name. */
  versionOf(name: string): string | undefined {
    const changed = this.changes?.get(name);
    return changed === undefined ? this.held.get(name)?.version : changed?.version;
  }

  /** Names the client holds or was told are absent. */
  heldNames(): IterableIterator<string> {
    return this.settled().names();
  }

  /** The digest of what the client holds (without `ABSENT` entries): the type's `version_info`. */
  sentVersion(): string {
    return this.settled().version;
  }

  /** Records that the client holds `resource`. */
  rememberResource(resource: ServedResource): void {
    this.change(resource.name, heldResource(resource));
  }

  /** Records that the client holds `name` at `version`, as it said in `initial_resource_versions`. */
  rememberVersion(name: string, version: string): void {
    this.change(name, heldVersion(name, version));
  }

  /** Records that the client was told `name` does not exist. */
  rememberAbsent(name: string): void {
    this.change(name, ABSENT_ENTRY);
  }

  /** Records that the client no longer holds `name`. */
  forget(name: string): void {
    this.change(name, null);
  }

  forgetAll(): void {
    this.changes = undefined;
    this.held = HeldSet.EMPTY;
  }

  /** Holds a resource the client has (not `ABSENT`). */
  holds(name: string): boolean {
    const changed = this.changes?.get(name);
    return (changed === undefined ? this.held.get(name) : changed)?.digest !== undefined;
  }

  /** Number of resources the client holds. */
  get heldCount(): number {
    return this.settled().heldCount;
  }

  /** Records a change of `name`; of several, the last is the one that counts. */
  private change(name: string, held: HeldResource | null): void {
    this.changes ??= new Map();
    this.changes.set(name, held);
  }

  /** `held` with the recorded changes applied. */
  private settled(): HeldSet {
    if (this.changes !== undefined) {
      this.held = this.held.with(this.changes);
      this.changes = undefined;
    }
    return this.held;
  }

  hasPendingWork(): boolean {
    return this.pendingAll || this.mustRespond || this.pendingNames.size > 0 || this.forcedNames.size > 0 || this.handlerRequest !== undefined;
  }

  clearPending(): void {
    this.pendingAll = false;
    this.mustRespond = false;
    this.requestDriven = false;
    this.pendingNames.clear();
    this.forcedNames.clear();
    this.dueAt = undefined;
    this.changeSince = undefined;
  }
}

/** The EDS names of a Cluster: `eds_cluster_config.service_name`, else the cluster name; none for other discovery types. */
const edsNamesOfClusterBytes = new WeakMap<Uint8Array, string | null>();
function edsServiceNameOf(cluster: ServedResource): string | undefined {
  let name = edsNamesOfClusterBytes.get(cluster.bytes);
  if (name === undefined) {
    // Decoded once per version (the provider shares one `bytes` per version), never per proxy.
    try {
      const decoded = fromBinary(ClusterSchema, cluster.bytes);
      const discovery = decoded.clusterDiscoveryType;
      const isEds = discovery.case === 'type' && discovery.value === Cluster_DiscoveryType.EDS;
      name = isEds ? decoded.edsClusterConfig?.serviceName || decoded.name : null;
    } catch {
      name = null;
    }
    edsNamesOfClusterBytes.set(cluster.bytes, name);
  }
  return name ?? undefined;
}

export class AdsSession implements AdsSessionInfo {
  readonly id: string;
  readonly mode: AdsMode;
  readonly peer: string;
  readonly connectedAt: number;
  private identitiesValue: readonly string[];
  private verified: SpiffeIdentity | undefined;
  private nodeValue: ProxyNode = EMPTY_PROXY_NODE;
  /** An ignored unknown type URL was logged once on this stream. */
  private unknownTypeLogged = false;
  private profileValue: ProxyProfile | undefined;
  private readonly sink: ResponseSink;
  private readonly host: SessionHost;
  private readonly types = new Map<string, TypeState>();
  private timer: unknown;
  private timerDueAt: number | undefined;
  /** The transport's buffer is full: write nothing until `drained()`. */
  private blocked = false;
  private closed = false;
  /** Monotonic ms since when pushes have been held for the provider's readiness. */
  private readyWaitSince: number | undefined;
  private syncRevisionValue = 0;

  constructor(options: AdsSessionOptions) {
    this.id = options.id;
    this.mode = options.mode;
    this.peer = options.peer;
    this.sink = options.sink;
    this.host = options.host;
    this.connectedAt = options.host.clock.epochMs();
    this.identitiesValue = options.identities ?? [];
  }

  get identities(): readonly string[] {
    return this.identitiesValue;
  }

  /** The stream's token was accepted: its identities, known before any request is handled. */
  authenticated(identities: readonly string[]): void {
    if (this.nodeValue !== EMPTY_PROXY_NODE) throw new Error('a stream is authenticated before its first request');
    this.identitiesValue = identities;
  }

  /** No authenticator accepted the stream (istiod's `authenticate` error: UNAUTHENTICATED). */
  refuseUnauthenticated(): void {
    this.refuse('authentication', GrpcStatus.UNAUTHENTICATED, 'authentication failure');
  }

  /** The identity that matched the node (istiod's `VerifiedIdentity`); undefined without a client certificate. */
  get verifiedIdentity(): SpiffeIdentity | undefined {
    return this.verified;
  }

  get node(): ProxyNode {
    return this.nodeValue;
  }

  get profile(): ProxyProfile | undefined {
    return this.profileValue;
  }

  /** Handles one state-of-the-world `DiscoveryRequest`. */
  handleSotwRequest(request: DiscoveryRequest): void {
    if (this.closed || !this.identify(request.node)) return;
    // An ACK's names stay bytes unless they differ from what the subscription holds.
    const requested = requestedNames(request);
    if (!this.admit(request.typeUrl, requested?.count ?? request.resourceNames.length)) return;
    const { typeUrl, responseNonce } = request;
    let state = this.types.get(typeUrl);
    // A nonce this stream never sent for the type (first request, or a nonce from an earlier stream
    // after a reconnect) is an initial request: answered (docs/istio-behaviour.md#ack-nack).
    const isReply = responseNonce !== '' && state?.lastNonce !== undefined;
    if (isReply && responseNonce !== state!.lastNonce) {
      // "the management server should not send a DiscoveryResponse for any DiscoveryRequest that has
      // a stale nonce": a newer response is on its way and the client will answer that one.
      this.emitRequest(typeUrl, 'stale', responseNonce);
      this.host.logger.debug({ session: this.id, typeUrl, responseNonce, lastNonce: state!.lastNonce }, 'stale nonce ignored');
      return;
    }
    state ??= this.createState(typeUrl);
    let kind: AdsRequestKind = 'initial';
    if (isReply) kind = request.errorDetail === undefined ? 'ack' : 'nack';
    this.emitRequest(typeUrl, kind, responseNonce);
    // The version a client says it runs is kept and shown; the server's own are 64 hex characters.
    const versionInfo = truncateUtf8(request.versionInfo, MAX_CLIENT_VERSION_BYTES);
    if (kind === 'ack') this.recordAck(state, responseNonce, versionInfo);
    else if (kind === 'nack') this.recordNack(state, responseNonce, versionInfo, request.errorDetail!.code, request.errorDetail!.message);

    const change =
      requested === undefined
        ? state.subscription.replace(request.resourceNames)
        : state.subscription.replaceRequested(requested.fields, () => request.resourceNames);
    if (state.handler !== undefined) {
      // Generated per request, not pushed: answer new requests and changed names, not ACKs.
      if (kind === 'initial' || subscriptionChanged(change)) this.requestHandler(state, request.resourceNames);
      return;
    }
    this.applySubscriptionChange(state, change);
    if (kind === 'initial') {
      // A new stream holds nothing from this one: send the full subscription, even at a version the
      // client already has (docs/grpc-proxyless.md#reconnect: a restarted server must answer).
      state.forgetAll();
      state.pendingAll = true;
      state.mustRespond = true;
    } else if (subscriptionChanged(change)) {
      if (requiresFullStateInSotw(typeUrl)) {
        // Full-state types answer every subscription change with the complete state (Istio
        // `pkg/xds/server.go` `ShouldRespond`).
        state.pendingAll = true;
        state.mustRespond = true;
      } else if (change.wildcardAfter && !change.wildcardBefore) {
        state.pendingAll = true;
      }
    }
    // Only a request that asked for something is answered now; an ACK leaves pending changes to their debounce.
    if ((kind === 'initial' || subscriptionChanged(change)) && state.hasPendingWork()) this.schedule(state, 0, true);
  }

  /** Handles one `DeltaDiscoveryRequest`. */
  handleDeltaRequest(request: DeltaDiscoveryRequest): void {
    if (this.closed || !this.identify(request.node)) return;
    const names = request.resourceNamesSubscribe.length + request.resourceNamesUnsubscribe.length + Object.keys(request.initialResourceVersions).length;
    if (!this.admit(request.typeUrl, names)) return;
    const { typeUrl, responseNonce } = request;
    const existing = this.types.get(typeUrl);
    const first = existing === undefined;
    const state = existing ?? this.createState(typeUrl);
    let kind: AdsRequestKind = first ? 'initial' : 'update';
    if (responseNonce !== '') kind = request.errorDetail === undefined ? 'ack' : 'nack';
    this.emitRequest(typeUrl, kind, responseNonce);
    // Delta allows several responses in flight; only an ACK of the newest one means "in sync".
    if (kind === 'ack' && responseNonce === state.lastNonce) this.recordAck(state, responseNonce, state.lastVersionInfo ?? '');
    else if (kind === 'nack') this.recordNack(state, responseNonce, '', request.errorDetail!.code, request.errorDetail!.message);

    // "the server must honor changes to the subscription state even if the nonce is stale": delta
    // subscription edits are applied whatever the nonce.
    const change = state.subscription.update(request.resourceNamesSubscribe, request.resourceNamesUnsubscribe);
    if (state.handler !== undefined) {
      if (first || request.resourceNamesSubscribe.length > 0) this.requestHandler(state, request.resourceNamesSubscribe);
      return;
    }
    this.applySubscriptionChange(state, change);
    for (const name of request.resourceNamesSubscribe) {
      // Subscribing to a name the server thinks the client has still sends it ("must still send").
      if (name !== WILDCARD && state.subscription.covers(name)) this.markForced(state, name);
    }
    for (const name of change.removed) {
      // Unsubscribed but still covered by `*`: the client dropped it, so send it again (or report it removed).
      if (state.subscription.covers(name)) this.markForced(state, name);
    }
    if (change.wildcardAfter && !change.wildcardBefore) state.pendingAll = true;
    if (first) {
      // Reconnect: the client names what it still holds; unchanged versions are not sent again, and
      // names that are gone are reported in `removed_resources` (`xds_protocol.rst` "Incremental xDS").
      for (const [name, version] of Object.entries(request.initialResourceVersions)) {
        if (version === '') continue;
        state.rememberVersion(name, version);
        state.forcedNames.delete(name);
        state.pendingNames.add(name);
      }
      state.pendingAll = true;
      state.mustRespond = true;
    }
    const asked = first || request.resourceNamesSubscribe.length > 0 || change.removed.length > 0;
    if (asked && state.hasPendingWork()) this.schedule(state, 0, true);
  }

  /**
   * Resources of `typeUrl` named in `names` may have changed (the server calls this only for names
   * the session subscribes to). The push waits for the type's debounce, collecting later changes.
   */
  resourcesChanged(typeUrl: string, names: Iterable<string>, since: number | undefined): void {
    const state = this.types.get(typeUrl);
    if (this.closed || state === undefined || state.handler !== undefined) return;
    let any = false;
    for (const name of names) {
      if (state.subscription.covers(name) || state.versionOf(name) !== undefined) {
        state.pendingNames.add(name);
        any = true;
      }
    }
    if (!any) return;
    if (since !== undefined && (state.changeSince === undefined || since < state.changeSince)) state.changeSince = since;
    this.schedule(state, this.host.settings.debounceMs(typeUrl), false);
  }

  /** The transport's buffer has room again: push the latest state of everything held back. */
  drained(): void {
    if (!this.blocked) return;
    this.blocked = false;
    this.flush();
  }

  /**
   * Called by the server while this session waits for the provider. Pushes if it is ready; ends the
   * stream if a first request has waited longer than `readyWaitMs`. Returns whether it still waits.
   */
  retryWhenReady(): boolean {
    if (this.closed) return false;
    if (this.host.provider.isReady(this.profileValue)) {
      this.readyWaitSince = undefined;
      this.flush();
      return this.readyWaitSince !== undefined;
    }
    const waited = this.readyWaitSince === undefined ? 0 : this.host.clock.now() - this.readyWaitSince;
    if (waited >= this.host.settings.readyWaitMs && this.hasUnansweredRequest()) {
      this.end(GrpcStatus.UNAVAILABLE, 'resources are not ready yet; reconnect later');
      return false;
    }
    return true;
  }

  /** Ends the stream from the server side. */
  end(code: number, details: string): void {
    if (this.closed) return;
    this.close();
    this.sink.end({ code, details });
  }

  /** Stops timers; the stream is gone. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.host.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Changes whenever the sync state in `status()` changes: the node, the types requested, and per type
   * the last response sent and the last ACK or NACK (not the subscriptions' names or resource counts).
   * A status derived from those fields alone can be kept while this stays the same.
   */
  get syncRevision(): number {
    return this.syncRevisionValue;
  }

  /** Type URLs with their subscriptions, for removing the session from the server's index. */
  subscriptions(): Iterable<[string, Subscription]> {
    return [...this.types].map(([typeUrl, state]) => [typeUrl, state.subscription] as [string, Subscription]);
  }

  status(): AdsSessionStatus {
    return {
      id: this.id,
      mode: this.mode,
      peer: this.peer,
      connectedAt: this.connectedAt,
      node: this.nodeValue,
      profile: this.profileValue,
      identities: this.identities,
      verifiedIdentity: this.verified,
      types: this.orderedTypes().map(
        (state): AdsTypeStatus => ({
          typeUrl: state.typeUrl,
          wildcard: state.subscription.wildcard,
          names: state.subscription.sortedNames,
          resourceCount: state.heldCount,
          sentNonce: state.lastNonce,
          sentVersion: state.lastVersionInfo,
          sentAt: state.lastSentAt,
          ackedNonce: state.ackedNonce,
          ackedVersion: state.ackedVersion,
          ackedAt: state.ackedAt,
          lastNack: state.lastNack,
        }),
      ),
    };
  }

  /**
   * Captures the node from the stream's first request ("sufficient to only check the first
   * message"). A first request without a node or with an empty node id is refused with istiod's
   * INVALID_ARGUMENT "missing node information" (`pkg/xds/server.go`); with verified identities,
   * the node's namespace must match one of them (istiod's `authorize`, `pilot/pkg/xds/auth.go`).
   */
  private identify(node: Node | undefined): boolean {
    if (this.profileValue !== undefined) return true;
    if (node === undefined || node.id === '') {
      this.refuse('missing_node', GrpcStatus.INVALID_ARGUMENT, 'missing node information');
      return false;
    }
    // Node ids are kept per stream, logged and republished in fleet reports: a bounded identifier.
    if (Buffer.byteLength(node.id) > MAX_NODE_ID_BYTES) {
      this.refuse('invalid_node', GrpcStatus.INVALID_ARGUMENT, `node id is longer than ${MAX_NODE_ID_BYTES} bytes`);
      return false;
    }
    const proxyNode = proxyNodeFromProto(node);
    let profile: ProxyProfile;
    try {
      profile = this.host.provider.profileOf(proxyNode);
    } catch (error) {
      this.host.logger.warn({ session: this.id, node: proxyNode.id, err: error }, 'no profile for node');
      this.end(GrpcStatus.INVALID_ARGUMENT, `cannot serve node "${proxyNode.id}": ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
    if (this.host.settings.identityCheck && this.identities.length > 0) {
      const serviceAccount = proxyNode.metadata['SERVICE_ACCOUNT'];
      const outcome = checkConnectionIdentity(this.identities, { namespace: profile.namespace, serviceAccount: typeof serviceAccount === 'string' ? serviceAccount : '' });
      if ('error' in outcome) {
        this.host.logger.warn({ session: this.id, node: proxyNode.id, peer: this.peer, identities: this.identities, err: outcome.error }, 'Unauthorized XDS');
        this.refuse('identity', GrpcStatus.PERMISSION_DENIED, `authorization failed: ${outcome.error}`);
        return false;
      }
      this.verified = outcome.identity;
    }
    this.nodeValue = proxyNode;
    this.profileValue = profile;
    this.syncRevisionValue += 1;
    // istiod logs every connection at info ("ADS: new connection for node:..."; pilot/pkg/xds/ads.go).
    this.host.logger.info({ session: this.id, node: this.nodeValue.id, peer: this.peer, mode: this.mode }, 'ADS: new connection');
    this.callback('onStreamIdentified', (callbacks) => callbacks.onStreamIdentified?.(this));
    return true;
  }

  /**
   * Limits on one request: too many names end the stream (RESOURCE_EXHAUSTED); a type the server
   * does not serve is ignored without keeping anything for it, so a client cannot grow the stream's
   * state with made-up type URLs (istiod answers none either: no generator, no response).
   */
  private admit(typeUrl: string, names: number): boolean {
    const limit = this.host.settings.limits.maxNamesPerRequest;
    if (names > limit) {
      this.refuse('names_per_request', GrpcStatus.RESOURCE_EXHAUSTED, `request for ${typeUrl} has ${names} resource names, more than the limit of ${limit}`);
      return false;
    }
    if (this.types.has(typeUrl) || this.host.servesType(typeUrl)) return true;
    this.callback('onRefused', (callbacks) => callbacks.onRefused?.(this, { reason: 'unknown_type' }));
    if (!this.unknownTypeLogged) {
      this.unknownTypeLogged = true;
      this.host.logger.info({ session: this.id, node: this.nodeValue.id, typeUrl: truncateUtf8(typeUrl, 256) }, 'ignoring requests for a type this server does not serve');
    }
    return false;
  }

  /** Ends the stream for a broken limit or rule, and reports it. */
  private refuse(reason: AdsRefusalReason, code: number, details: string): void {
    this.callback('onRefused', (callbacks) => callbacks.onRefused?.(this, { reason }));
    this.host.logger.info({ session: this.id, peer: this.peer, reason, details: truncateUtf8(details, 512) }, 'stream refused');
    this.end(code, details);
  }

  private createState(typeUrl: string): TypeState {
    const state = new TypeState(typeUrl, this.host.typeHandler(typeUrl));
    this.types.set(typeUrl, state);
    this.syncRevisionValue += 1;
    return state;
  }

  private requestHandler(state: TypeState, resourceNames: readonly string[]): void {
    state.handlerRequest = { typeUrl: state.typeUrl, resourceNames: [...resourceNames] };
    this.schedule(state, 0, true);
  }

  /** Updates the server's index and forgets what the client drops with its subscription. */
  private applySubscriptionChange(state: TypeState, change: SubscriptionChange): void {
    if (!subscriptionChanged(change)) return;
    this.host.subscriptionChanged(this, state.typeUrl, change);
    for (const name of change.added) this.markForced(state, name);
    for (const name of change.removed) {
      if (!state.subscription.covers(name)) this.forgetName(state, name);
    }
    if (change.wildcardBefore && !change.wildcardAfter) {
      for (const name of [...state.heldNames()]) if (!state.subscription.covers(name)) this.forgetName(state, name);
    }
  }

  /**
   * The client drops what it unsubscribes, so a later resubscription must send it again (the
   * go-control-plane #431 bug class: unchanged resources not resent on resubscribe).
   */
  private forgetName(state: TypeState, name: string): void {
    state.forget(name);
    state.pendingNames.delete(name);
    state.forcedNames.delete(name);
  }

  private markForced(state: TypeState, name: string): void {
    state.forcedNames.add(name);
    state.pendingNames.add(name);
  }

  private emitRequest(typeUrl: string, kind: AdsRequestKind, responseNonce: string): void {
    this.callback('onRequest', (callbacks) => callbacks.onRequest?.(this, { typeUrl, kind, responseNonce }));
  }

  private recordAck(state: TypeState, nonce: string, versionInfo: string): void {
    const now = this.host.clock.now();
    state.ackedNonce = nonce;
    state.ackedVersion = versionInfo;
    state.ackedAt = this.host.clock.epochMs();
    state.lastNack = undefined;
    this.syncRevisionValue += 1;
    const latencyMs = state.lastSentMonotonic === undefined ? 0 : now - state.lastSentMonotonic;
    this.callback('onAck', (callbacks) => callbacks.onAck?.(this, { typeUrl: state.typeUrl, nonce, versionInfo, latencyMs }));
  }

  /**
   * A NACK is a request with `error_detail` (never inferred from a version mismatch, which happens
   * with changing EDS/RDS subscriptions). The resources stay as sent: resending the same bytes would
   * only be rejected again; the next change is pushed as usual.
   */
  private recordNack(state: TypeState, nonce: string, versionInfo: string, code: number, fullMessage: string): void {
    // Kept, logged, shown in /debug/syncz and republished in fleet reports: bounded once, here.
    const message = truncateUtf8(fullMessage, this.host.settings.limits.maxErrorDetailBytes);
    state.lastNack = { nonce, versionInfo, code, message, at: this.host.clock.epochMs() };
    this.syncRevisionValue += 1;
    this.host.logger.warn({ session: this.id, node: this.nodeValue.id, typeUrl: state.typeUrl, nonce, versionInfo, message }, 'ACK ERROR');
    this.callback('onNack', (callbacks) => callbacks.onNack?.(this, { typeUrl: state.typeUrl, nonce, versionInfo, code, message }));
  }

  private callback(name: keyof AdsCallbacks, call: (callbacks: AdsCallbacks) => void): void {
    try {
      call(this.host.callbacks);
    } catch (error) {
      this.host.logger.error({ session: this.id, callback: name, err: error }, 'ADS callback failed');
    }
  }

  private schedule(state: TypeState, delayMs: number, requestDriven: boolean): void {
    const dueAt = this.host.clock.now() + delayMs;
    if (state.dueAt === undefined || dueAt < state.dueAt) state.dueAt = dueAt;
    if (requestDriven) state.requestDriven = true;
    this.armTimer(state.dueAt);
  }

  private armTimer(dueAt: number): void {
    if (this.closed || this.blocked) return;
    if (this.timerDueAt !== undefined && this.timerDueAt <= dueAt) return;
    if (this.timer !== undefined) this.host.clock.clearTimer(this.timer);
    this.timerDueAt = dueAt;
    this.timer = this.host.clock.setTimer(() => {
      this.timer = undefined;
      this.timerDueAt = undefined;
      this.flush(dueAt);
    }, Math.max(0, dueAt - this.host.clock.now()));
  }

  private orderedTypes(): TypeState[] {
    const ordered: TypeState[] = [];
    for (const typeUrl of PUSH_ORDER) {
      const state = this.types.get(typeUrl);
      if (state !== undefined) ordered.push(state);
    }
    for (const [typeUrl, state] of this.types) if (!PUSH_ORDER.includes(typeUrl)) ordered.push(state);
    return ordered;
  }

  private hasUnansweredRequest(): boolean {
    for (const state of this.types.values()) if (state.mustRespond && state.lastNonce === undefined) return true;
    return false;
  }

  /** Pushes every type whose work is due, in push order; stops when the transport is full. */
  private flush(timerDueAt = 0): void {
    if (this.closed || this.blocked) return;
    // Node's timers run on a coarser clock and may fire before the monotonic time they were set for;
    // what was due then is due now, so changes of one batch are pushed in one cycle, in push order.
    const now = Math.max(this.host.clock.now(), timerDueAt) + TIMER_SLACK_MS;
    let view: ProxyResourceView | undefined;
    for (const state of this.orderedTypes()) {
      if (state.dueAt === undefined || state.dueAt > now) continue;
      if (state.handler !== undefined) {
        this.pushHandler(state);
      } else {
        if (view === undefined) {
          // Never push while the provider is not ready: an empty or partial view would delete the
          // client's good configuration (the store-outage rule).
          if (!this.host.provider.isReady(this.profileValue)) continue;
          view = this.host.provider.viewFor(this.profileValue!, this);
        }
        if (this.mode === 'sotw') this.pushSotw(state, view, now);
        else this.pushDelta(state, view, now);
      }
      if (this.blocked || this.closed) return;
    }
    // Work still due after the loop was held back for the provider's readiness.
    let held = false;
    let next: number | undefined;
    for (const state of this.types.values()) {
      if (state.dueAt === undefined) continue;
      if (state.dueAt <= now) held = true;
      else if (next === undefined || state.dueAt < next) next = state.dueAt;
    }
    if (held) {
      this.readyWaitSince ??= this.host.clock.now();
      this.host.awaitReady(this);
    } else {
      this.readyWaitSince = undefined;
    }
    if (next !== undefined) this.armTimer(next);
  }

  private pushHandler(state: TypeState): void {
    const request = state.handlerRequest;
    state.handlerRequest = undefined;
    const requestDriven = state.requestDriven;
    state.clearPending();
    if (request === undefined) return;
    let produced: readonly ServedResource[] | Promise<readonly ServedResource[]> = [];
    try {
      produced = state.handler!(this, request);
    } catch (error) {
      this.handlerFailed(state, error, requestDriven);
      return;
    }
    if (Array.isArray(produced)) {
      this.sendHandled(state, produced, requestDriven);
      return;
    }
    // Answered later (a handler that reads the store): the stream may have closed in between.
    (produced as Promise<readonly ServedResource[]>).then(
      (resources) => {
        if (!this.closed) this.sendHandled(state, resources, requestDriven);
      },
      (error: unknown) => {
        if (!this.closed) this.handlerFailed(state, error, requestDriven);
      },
    );
  }

  private handlerFailed(state: TypeState, error: unknown, requestDriven: boolean): void {
    if (error instanceof AdsRefusalError) {
      this.refuse(error.reason, error.code, error.message);
      return;
    }
    this.host.logger.error({ session: this.id, typeUrl: state.typeUrl, err: error }, 'type handler failed; answering with no resources');
    this.sendHandled(state, [], requestDriven);
  }

  private sendHandled(state: TypeState, produced: readonly ServedResource[], requestDriven: boolean): void {
    // Never the same name twice in one response: the last one wins.
    const byName = new Map<string, ServedResource>();
    for (const resource of produced) byName.set(resource.name, resource);
    const hash = new ResourceSetHash();
    for (const resource of byName.values()) hash.toggle(resourceDigest(resource));
    this.send(state, [...byName.values()], [], hash.toString(), requestDriven, undefined);
  }

  /**
   * State of the world. Listener and Cluster responses carry the complete subscribed state and are
   * sent when any of it differs from what the client holds; other types carry only the resources
   * whose version changed or that must be resent (Envoy `xds_protocol.rst` "Grouping resources
   * into responses"; grpc-js-xds `test/xds-server.ts` sends RDS/EDS per updated name).
   */
  private pushSotw(state: TypeState, view: ProxyResourceView, now: number): void {
    const { typeUrl, subscription } = state;
    const requestDriven = state.requestDriven;
    const changeSince = state.changeSince;
    const mustRespond = state.mustRespond;
    if (requiresFullStateInSotw(typeUrl)) {
      if (!state.pendingAll && !mustRespond && state.forcedNames.size === 0) {
        // Only some names changed: look at those first, so a change this client cannot see costs
        // nothing more than the lookups.
        let differs = false;
        for (const name of state.pendingNames) {
          const current = subscription.covers(name) ? view.get(typeUrl, name) : undefined;
          if (current?.version !== state.versionOf(name)) {
            differs = true;
            break;
          }
        }
        if (!differs) {
          state.clearPending();
          return;
        }
      }
      const desired = this.visibleSubscribed(state, view);
      const changed: ServedResource[] = [];
      for (const resource of desired.values()) {
        if (state.forcedNames.has(resource.name) || state.versionOf(resource.name) !== resource.version) changed.push(resource);
      }
      const removed = [...state.heldNames()].filter((name) => !desired.has(name));
      state.clearPending();
      if (!mustRespond && changed.length === 0 && removed.length === 0) return;
      for (const name of removed) state.forget(name);
      for (const resource of changed) state.rememberResource(resource);
      this.send(state, [...desired.values()], [], state.sentVersion(), requestDriven, changeSince);
      if (typeUrl === TypeUrl.Cluster) this.resendEndpointsOf(changed, now);
      return;
    }
    const toSend: ServedResource[] = [];
    for (const name of this.candidateNames(state, view)) {
      const resource = subscription.covers(name) ? view.get(typeUrl, name) : undefined;
      if (resource === undefined) {
        // Gone or not visible: nothing to send for per-name types (absence is not deletion here), but
        // the client must get it again if it comes back.
        state.forget(name);
        continue;
      }
      if (state.forcedNames.has(name) || state.versionOf(name) !== resource.version) toSend.push(resource);
    }
    state.clearPending();
    if (!mustRespond && toSend.length === 0) return;
    for (const resource of toSend) state.rememberResource(resource);
    this.send(state, toSend, [], state.sentVersion(), requestDriven, changeSince);
  }

  /**
   * Delta: changed resources in `resources`, names that are gone, no longer visible, or subscribed
   * but not existing in `removed_resources` (so the client need not wait for its 15 s timeout).
   */
  private pushDelta(state: TypeState, view: ProxyResourceView, now: number): void {
    const { typeUrl, subscription } = state;
    const requestDriven = state.requestDriven;
    const changeSince = state.changeSince;
    const mustRespond = state.mustRespond;
    const resources: ServedResource[] = [];
    const removed: string[] = [];
    for (const name of this.candidateNames(state, view)) {
      if (!subscription.covers(name)) {
        state.forget(name);
        continue;
      }
      const forced = state.forcedNames.has(name);
      const resource = view.get(typeUrl, name);
      const previous = state.versionOf(name);
      if (resource !== undefined) {
        if (forced || previous !== resource.version) {
          resources.push(resource);
          state.rememberResource(resource);
        }
      } else if (subscription.names.has(name)) {
        if (forced || previous !== ABSENT) {
          removed.push(name);
          state.rememberAbsent(name);
        }
      } else if (previous !== undefined) {
        if (previous !== ABSENT) removed.push(name);
        state.forget(name);
      }
    }
    state.clearPending();
    if (!mustRespond && resources.length === 0 && removed.length === 0) return;
    this.send(state, resources, removed, state.sentVersion(), requestDriven, changeSince);
    if (typeUrl === TypeUrl.Cluster) this.resendEndpointsOf(resources, now);
  }

  /** The names a push must look at: all of the subscription and what the client holds, or only what changed. */
  private candidateNames(state: TypeState, view: ProxyResourceView): Set<string> {
    const names = new Set<string>(state.pendingNames);
    for (const name of state.forcedNames) names.add(name);
    if (state.pendingAll) {
      for (const name of state.subscription.names) names.add(name);
      for (const name of state.heldNames()) names.add(name);
      if (state.subscription.wildcard) for (const name of view.all(state.typeUrl).keys()) names.add(name);
    }
    return names;
  }

  /** Every subscribed resource the view has: what a full-state response carries, each name once. */
  private visibleSubscribed(state: TypeState, view: ProxyResourceView): Map<string, ServedResource> {
    const desired = new Map<string, ServedResource>();
    if (state.subscription.wildcard) for (const [name, resource] of view.all(state.typeUrl)) desired.set(name, resource);
    for (const name of state.subscription.names) {
      if (desired.has(name)) continue;
      const resource = view.get(state.typeUrl, name);
      if (resource !== undefined) desired.set(name, resource);
    }
    return desired;
  }

  /**
   * A new or changed EDS cluster warms until a ClusterLoadAssignment response for it arrives, even if
   * the endpoints did not change (`xds_protocol.rst` "eventual consistency considerations"), so its
   * endpoints are pushed right after the clusters, in the same cycle.
   */
  private resendEndpointsOf(clusters: readonly ServedResource[], now: number): void {
    const endpoints = this.types.get(TypeUrl.ClusterLoadAssignment);
    if (endpoints === undefined || clusters.length === 0) return;
    let any = false;
    for (const cluster of clusters) {
      const serviceName = edsServiceNameOf(cluster);
      if (serviceName === undefined || !endpoints.subscription.covers(serviceName)) continue;
      this.markForced(endpoints, serviceName);
      any = true;
    }
    if (any && (endpoints.dueAt === undefined || endpoints.dueAt > now)) endpoints.dueAt = now;
  }

  private send(
    state: TypeState,
    resources: readonly ServedResource[],
    removed: readonly string[],
    versionInfo: string,
    requestDriven: boolean,
    changeSince: number | undefined,
  ): void {
    const nonce = this.host.nextNonce();
    const controlPlaneIdentifier = this.host.settings.controlPlaneIdentifier;
    const response =
      this.mode === 'sotw'
        ? new SotwResponse({ versionInfo, typeUrl: state.typeUrl, nonce, resources: resources.map((r) => r.anyBytes), controlPlaneIdentifier })
        : new DeltaResponse({ systemVersionInfo: versionInfo, typeUrl: state.typeUrl, nonce, resources, removedResources: removed, controlPlaneIdentifier });
    state.lastNonce = nonce;
    state.lastVersionInfo = versionInfo;
    state.lastSentMonotonic = this.host.clock.now();
    state.lastSentAt = this.host.clock.epochMs();
    this.syncRevisionValue += 1;
    const written = this.sink.write(response);
    if (!written) this.blocked = true;
    if (this.host.logger.isLevelEnabled('debug')) {
      this.host.logger.debug(
        { session: this.id, typeUrl: state.typeUrl, nonce, versionInfo, resources: resources.length, removed: removed.length, bytes: response.byteLength },
        'response sent',
      );
    }
    this.callback('onResponse', (callbacks) =>
      callbacks.onResponse?.(this, {
        typeUrl: state.typeUrl,
        nonce,
        versionInfo,
        resourceCount: resources.length,
        removedCount: removed.length,
        byteLength: response.byteLength,
        trigger: requestDriven ? 'request' : 'change',
        changeSince,
      }),
    );
  }
}

function subscriptionChanged(change: SubscriptionChange): boolean {
  return change.added.length > 0 || change.removed.length > 0 || change.wildcardBefore !== change.wildcardAfter;
}

/**
 * Tells each session of `index` which of the names it subscribes to `changes` may have changed,
 * leaving out the proxies a change does not concern (`ResourceChange.concerns`).
 */
export function deliverChanges(index: SubscriptionIndex<AdsSession>, changes: readonly ResourceChange[]): void {
  for (const change of changes) {
    for (const [session, names] of index.interested(change.typeUrl, change.names)) {
      if (change.concerns !== undefined && session.profile !== undefined && !change.concerns(session.profile)) continue;
      session.resourcesChanged(change.typeUrl, names, change.since);
    }
  }
}
