/**
 * ADS calls over Node's HTTP/2 client with gRPC's framing and nothing else (see `channel.ts` for why).
 * What it does on the wire is what grpc-js's client does for the same calls: a POST per call with
 * `content-type: application/grpc` and `te: trailers`, length-prefixed messages, the status from the
 * trailers (or from a trailers-only response), and the same status for a stream that ended without one
 * (grpc-js `src/subchannel-call.ts`, the stream's `close` handler).
 */
import * as http2 from 'node:http2';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { AdsCall, AdsChannel, CallHandlers } from './channel.js';
import { frameGrpcMessage, GrpcMessageReader } from './grpc-frames.js';

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_REFUSED_STREAM } = http2.constants;

/**
 * Node's default session memory limit (10 MB) counts responses received and not yet read: a hundred
 * streams receiving a large mesh's CDS at once pass it, and Node then resets streams with
 * ENHANCE_YOUR_CALM. grpc-js lifts the limit for the same reason (`grpc-node.max_session_memory`).
 */
const UNLIMITED_SESSION_MEMORY_MB = Number.MAX_SAFE_INTEGER;

/** The gRPC status of a response whose HTTP status is not 200 (grpc/grpc doc/http-grpc-status-mapping.md). */
function statusOfHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

function grpcStatusOf(headers: http2.IncomingHttpHeaders): number | undefined {
  const raw = headers['grpc-status'];
  if (raw === undefined) return undefined;
  const code = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isInteger(code) && code >= 0 ? code : GrpcStatus.UNKNOWN;
}

/** `host:port` (an IPv6 host in brackets), as an `http:` authority; anything else is refused. */
function authorityOf(target: string): string {
  let url: URL;
  try {
    url = new URL(`http://${target}`);
  } catch {
    url = new URL('http://invalid');
  }
  if (url.port === '' || url.host !== target || url.pathname !== '/') {
    throw new Error(`the http2 transport takes a host:port address, got "${target}" (gRPC target names need the grpc-js transport)`);
  }
  return `http://${url.host}`;
}

export class Http2AdsChannel implements AdsChannel {
  private readonly authority: string;
  private readonly windowBytes: number;
  private session: http2.ClientHttp2Session | undefined;

  /** `target` is `host:port`; `windowBytes` is the HTTP/2 stream and connection window to offer. */
  constructor(target: string, windowBytes: number) {
    this.authority = authorityOf(target);
    this.windowBytes = windowBytes;
  }

  open(methodPath: string, handlers: CallHandlers): AdsCall {
    const session = this.connection();
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({ ':method': 'POST', ':path': methodPath, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
    } catch {
      // A connection that takes no more streams (its stream ids run out after 2^30 calls): Node throws
      // rather than queue. The call fails as on a lost connection and the next one opens a new
      // connection; the streams still open on this one run to their end.
      if (this.session === session) this.session = undefined;
      session.close();
      setImmediate(() => handlers.ended(GrpcStatus.UNAVAILABLE));
      return { write: () => {}, close: () => {} };
    }
    return new Http2AdsCall(stream, session, handlers);
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  /** The current connection, or a new one when there is none or it is going away. */
  private connection(): http2.ClientHttp2Session {
    const current = this.session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const windowBytes = this.windowBytes;
    const session = http2.connect(this.authority, { settings: { initialWindowSize: windowBytes, enablePush: false }, maxSessionMemory: UNLIMITED_SESSION_MEMORY_MB });
    session.once('connect', () => session.setLocalWindowSize(windowBytes));
    // A failed or lost connection ends its streams, which report it; the next call opens a new one.
    session.on('error', () => {});
    const forget = (): void => {
      if (this.session === session) this.session = undefined;
    };
    // After a GOAWAY the server takes no new stream on this connection; its open streams run on.
    session.on('goaway', forget);
    session.on('close', forget);
    // As grpc-js's sessions: an open connection alone does not keep the process running.
    session.unref();
    this.session = session;
    return session;
  }
}

class Http2AdsCall implements AdsCall {
  private readonly stream: http2.ClientHttp2Stream;
  private readonly session: http2.ClientHttp2Session;
  private readonly reader = new GrpcMessageReader();
  private status: number | undefined;
  private cancelled = false;

  constructor(stream: http2.ClientHttp2Stream, session: http2.ClientHttp2Session, handlers: CallHandlers) {
    this.stream = stream;
    this.session = session;
    stream.on('response', (headers) => {
      // A trailers-only response (an immediate error) carries its status in the headers.
      const httpStatus = headers[':status'] ?? 200;
      this.status ??= grpcStatusOf(headers) ?? (httpStatus === 200 ? undefined : statusOfHttp(httpStatus));
      // The server has ended the call: half-close too, so that the stream closes.
      if (this.status !== undefined) stream.end();
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.status !== undefined) return;
      try {
        this.reader.read(chunk, handlers.message);
      } catch {
        this.status = GrpcStatus.INTERNAL;
        stream.close(NGHTTP2_CANCEL);
      }
    });
    stream.on('trailers', (trailers) => {
      this.status ??= grpcStatusOf(trailers) ?? GrpcStatus.UNKNOWN;
      // The server has ended the call: half-close too, so that the stream closes.
      stream.end();
    });
    // The close that follows an error reports the call's end.
    stream.on('error', () => {});
    stream.once('close', () => handlers.ended(this.status ?? this.statusOfReset()));
  }

  write(bytes: Uint8Array): void {
    const stream = this.stream;
    if (stream.destroyed || !stream.writable) return;
    stream.write(frameGrpcMessage(bytes));
  }

  close(): void {
    this.cancelled = true;
    const stream = this.stream;
    if (stream.destroyed) return;
    stream.end();
    stream.close(NGHTTP2_CANCEL);
  }

  /** The status of a stream that closed without one, as grpc-js reports it. */
  private statusOfReset(): number {
    switch (this.stream.rstCode) {
      case NGHTTP2_REFUSED_STREAM:
        return GrpcStatus.UNAVAILABLE;
      case NGHTTP2_CANCEL:
        // Node resets the streams of a lost connection with CANCEL too.
        return this.cancelled || !this.session.destroyed ? GrpcStatus.CANCELLED : GrpcStatus.UNAVAILABLE;
      case NGHTTP2_ENHANCE_YOUR_CALM:
        return GrpcStatus.RESOURCE_EXHAUSTED;
      default:
        return this.session.destroyed && !this.cancelled ? GrpcStatus.UNAVAILABLE : GrpcStatus.INTERNAL;
    }
  }
}
