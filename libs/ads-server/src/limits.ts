/**
 * What one client may cost the server, and how a refusal is reported. istiod bounds the receive size
 * (`ISTIO_GPRC_MAXRECVMSGSIZE`, 4 MiB) and the HTTP/2 streams per connection (`ISTIO_GPRC_MAXSTREAMS`)
 * in `pilot/pkg/features/tuning.go`; Skiff adds the limits a hostile client otherwise gets for free:
 * connections per server, names per request, requests per second per stream, and the size of the
 * NACK details it keeps.
 */

export interface AdsLimits {
  /** Largest request message accepted (bytes); larger ends the stream with RESOURCE_EXHAUSTED (grpc-js checks the length prefix before buffering). */
  readonly maxReceiveMessageBytes: number;
  /** Concurrent ADS streams on one connection; more are ended with RESOURCE_EXHAUSTED. Envoy and gRPC clients open one. */
  readonly maxStreamsPerConnection: number;
  /** Open TCP connections per listener; more are closed on accept. 0 for no limit. */
  readonly maxConnections: number;
  /** Resource names in one request (state of the world `resource_names`, delta subscribe + unsubscribe). */
  readonly maxNamesPerRequest: number;
  /** Sustained requests per second per stream; a stream above it is read more slowly (its requests wait). */
  readonly requestsPerSecond: number;
  /** Requests a stream may send at once above the sustained rate. */
  readonly requestBurst: number;
  /** NACK `error_detail.message` bytes kept, logged and reported; the rest is cut with a marker. */
  readonly maxErrorDetailBytes: number;
}

/**
 * Defaults: istiod's 4 MiB receive size; one stream per connection is what real clients use, 1000
 * leaves room for multiplexing load generators (skiff-loadgen puts 100 on one) and their reconnects; 100k connections is far above what one Node process
 * serves; 50k names covers a sidecar subscribed to every cluster of a large mesh; a proxy acknowledges
 * at most four types per debounce period, so 200 requests/s with a burst of 1000 never slows one down.
 */
export const DEFAULT_ADS_LIMITS: AdsLimits = Object.freeze({
  maxReceiveMessageBytes: 4 * 1024 * 1024,
  maxStreamsPerConnection: 1_000,
  maxConnections: 100_000,
  maxNamesPerRequest: 50_000,
  requestsPerSecond: 200,
  requestBurst: 1_000,
  maxErrorDetailBytes: 4 * 1024,
});

/** Why the server refused a client or a request; the label of `skiff_xds_refused_total`. */
export type AdsRefusalReason =
  | 'message_size'
  | 'streams_per_connection'
  | 'connections'
  | 'names_per_request'
  | 'request_rate'
  | 'unknown_type'
  | 'missing_node'
  | 'invalid_node'
  | 'identity'
  | 'authentication'
  | 'debug_unauthenticated'
  | 'debug_permission'
  | 'debug_request';

export const ADS_REFUSAL_REASONS: readonly AdsRefusalReason[] = [
  'debug_request',
  'message_size',
  'streams_per_connection',
  'connections',
  'names_per_request',
  'request_rate',
  'unknown_type',
  'missing_node',
  'invalid_node',
  'identity',
  'authentication',
  'debug_unauthenticated',
  'debug_permission',
];

/**
 * Thrown by a type handler to refuse the request and end the stream with `code` (istiod ends a
 * stream whose generator returns an error, e.g. debug types without an authenticated identity).
 */
export class AdsRefusalError extends Error {
  override readonly name = 'AdsRefusalError';
  constructor(
    readonly code: number,
    message: string,
    readonly reason: AdsRefusalReason,
  ) {
    super(message);
  }
}

const TRUNCATION_MARKER = '... [truncated';

/**
 * Cuts `text` to at most `maxBytes` UTF-8 bytes plus a marker saying how much was cut, never inside
 * a character. Proxies send their full validation error in a NACK (a 3.5 MB Envoy message is possible),
 * and the server keeps, logs and republishes it: bounded here once, everything downstream is bounded.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  // Cheap exit: a string of n UTF-16 units is at most 3n UTF-8 bytes.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) so the cut falls between characters.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return `${bytes.subarray(0, end).toString('utf8')}${TRUNCATION_MARKER} ${bytes.length - end} of ${bytes.length} bytes]`;
}

/**
 * A token bucket: `take` succeeds while tokens remain; they refill at `ratePerSecond` up to `burst`.
 * `waitMs` says how long until the next token.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond);
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.updatedAt = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
  }
}
