/**
 * What the server tells the outside about its streams: hooks for metrics (go-control-plane
 * `server/v3` `CallbackFuncs`: every hook optional) and the status of a session for debug endpoints
 * (istiod's `/debug/syncz` and `/debug/adsz`, docs/istio-behaviour.md#debug-endpoints).
 */
import type { SpiffeIdentity } from './identity.js';
import type { AdsRefusalReason } from './limits.js';
import type { ProxyNode, ProxyProfile, ServedResource } from './provider.js';

export type AdsMode = 'sotw' | 'delta';

/** The identity of a stream, available from its first request on. */
export interface AdsSessionInfo {
  /** Unique within the process, in the order streams opened. */
  readonly id: string;
  readonly mode: AdsMode;
  /** The client's address as gRPC reports it (`127.0.0.1:50312`, `[::1]:50312`). */
  readonly peer: string;
  /** Epoch milliseconds. */
  readonly connectedAt: number;
  /** The node of the first request; `EMPTY_PROXY_NODE` before it (or when it carried none). */
  readonly node: ProxyNode;
  /** The provider's profile of the node; undefined before the first request. */
  readonly profile: ProxyProfile | undefined;
  /** URI SANs of the verified client certificate; empty on plaintext. */
  readonly identities: readonly string[];
  /** The identity bound to the node by the identity check (istiod's `VerifiedIdentity`); undefined without one. */
  readonly verifiedIdentity: SpiffeIdentity | undefined;
}

/**
 * How a request was read (docs/istio-behaviour.md#ack-nack): `initial` (first of its type on the stream, or a nonce
 * this stream never sent), `ack`, `nack` (has `error_detail`), `stale` (state of the world: an older
 * nonce, ignored), `update` (delta: a subscription change without a nonce).
 */
export type AdsRequestKind = 'initial' | 'ack' | 'nack' | 'stale' | 'update';

export interface AdsRequestEvent {
  readonly typeUrl: string;
  readonly kind: AdsRequestKind;
  readonly responseNonce: string;
}

export interface AdsResponseEvent {
  readonly typeUrl: string;
  readonly nonce: string;
  readonly versionInfo: string;
  readonly resourceCount: number;
  /** Delta `removed_resources`; 0 for state of the world. */
  readonly removedCount: number;
  readonly byteLength: number;
  /** `request`: answers a request (initial, new names); `change`: pushed because resources changed. */
  readonly trigger: 'request' | 'change';
  /** Monotonic ms of the oldest change this response carries (`ResourceChange.since`), for convergence time. */
  readonly changeSince: number | undefined;
}

export interface AdsAckEvent {
  readonly typeUrl: string;
  readonly nonce: string;
  readonly versionInfo: string;
  /** From sending the response to its ACK. */
  readonly latencyMs: number;
}

export interface AdsNackEvent {
  readonly typeUrl: string;
  readonly nonce: string;
  /** The version the client still runs (a NACK carries the previous accepted version). */
  readonly versionInfo: string;
  /** `error_detail.code` (the gRPC client sends 14, UNAVAILABLE). */
  readonly code: number;
  readonly message: string;
}

/**
 * Hooks called synchronously on the stream's path; keep them cheap. A hook that throws is logged
 * and ignored, never breaks the stream.
 */
/** A client or request the server refused or ignored for a limit or rule. */
export interface AdsRefusalEvent {
  readonly reason: AdsRefusalReason;
}

export interface AdsCallbacks {
  onStreamOpen?(session: AdsSessionInfo): void;
  /**
   * The stream's first request named an acceptable node: from here on `node` and `profile` are
   * set. Not called for a stream refused before (so connection counts by node stay symmetric with
   * `onStreamClosed` when paired through this hook).
   */
  onStreamIdentified?(session: AdsSessionInfo): void;
  /**
   * A refusal: `session` is undefined for refusals before a stream exists (a connection over the
   * limit). Called for every refused or ignored request; keep it cheap.
   */
  onRefused?(session: AdsSessionInfo | undefined, refusal: AdsRefusalEvent): void;
  onRequest?(session: AdsSessionInfo, request: AdsRequestEvent): void;
  onResponse?(session: AdsSessionInfo, response: AdsResponseEvent): void;
  onAck?(session: AdsSessionInfo, ack: AdsAckEvent): void;
  onNack?(session: AdsSessionInfo, nack: AdsNackEvent): void;
  onStreamClosed?(session: AdsSessionInfo, reason: string): void;
}

/** A NACK as kept for status: the newest one of a type, cleared by the next ACK (Istio `LastError`). */
export interface NackRecord {
  readonly nonce: string;
  readonly versionInfo: string;
  readonly code: number;
  readonly message: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

/** One type on one stream, as debug endpoints show it. Nonces and versions are undefined until sent/acked. */
export interface AdsTypeStatus {
  readonly typeUrl: string;
  readonly wildcard: boolean;
  /** Explicitly subscribed names, sorted. */
  readonly names: readonly string[];
  /** Resources the client holds as far as the server knows. */
  readonly resourceCount: number;
  readonly sentNonce: string | undefined;
  readonly sentVersion: string | undefined;
  readonly sentAt: number | undefined;
  readonly ackedNonce: string | undefined;
  readonly ackedVersion: string | undefined;
  readonly ackedAt: number | undefined;
  readonly lastNack: NackRecord | undefined;
}

export interface AdsSessionStatus extends AdsSessionInfo {
  /** One entry per requested type, in push order. */
  readonly types: readonly AdsTypeStatus[];
}

/** Istio's per-type sync status (`pilot/pkg/xds/statusgen.go`). */
export type SyncStatus = 'SYNCED' | 'STALE' | 'NOT_SENT' | 'ERROR';

/** A NACK not yet followed by an ACK is `ERROR`; nothing sent is `NOT_SENT`; acked == sent is `SYNCED`; else `STALE`. */
export function syncStatusOf(type: AdsTypeStatus): SyncStatus {
  if (type.lastNack !== undefined) return 'ERROR';
  if (type.sentNonce === undefined) return 'NOT_SENT';
  return type.ackedNonce === type.sentNonce ? 'SYNCED' : 'STALE';
}

/** The request a registered type handler answers (`AdsServer.registerTypeHandler`). */
export interface TypeHandlerRequest {
  readonly typeUrl: string;
  /** State of the world `resource_names`, or delta `resource_names_subscribe`. */
  readonly resourceNames: readonly string[];
}

/**
 * Answers every request of one type that is not an ACK or NACK, with the resources to send (for
 * example istiod's `istio.io/debug/syncz`, generated per request rather than pushed), now or once a
 * promise settles. Throwing (or rejecting with) an `AdsRefusalError` ends the stream with its status.
 */
export type TypeHandler = (session: AdsSessionInfo, request: TypeHandlerRequest) => readonly ServedResource[] | Promise<readonly ServedResource[]>;
