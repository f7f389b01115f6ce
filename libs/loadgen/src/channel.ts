/**
 * How simulated proxies reach the ADS server: one channel per connection, many calls (ADS streams) per
 * channel. Two transports speak the same gRPC on the wire:
 *
 * - `http2` (the default): Node's HTTP/2 client with gRPC's framing and nothing else (`http2-channel.ts`).
 *   A simulated proxy needs none of a gRPC library's client machinery (name resolution, load balancing,
 *   retries, interceptors, filters), and that machinery is most of what receiving a push costs a client:
 *   measured against the ADS server, about 18 us of the load generator's CPU per response against about
 *   43 us through grpc-js. Real proxies each read on their own CPU; a load generator sharing the control
 *   plane's cores should take as little of them as it can.
 * - `grpc-js`: @grpc/grpc-js's client (`grpc-js-channel.ts`), to compare with.
 */

export const TRANSPORTS = ['http2', 'grpc-js'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** What a call reports. Both are called asynchronously, never from inside `open` or `write`. */
export interface CallHandlers {
  /** One response, as its undecoded bytes (valid only during the call when they are a view of a chunk). */
  readonly message: (bytes: Buffer) => void;
  /** The stream ended, with its gRPC status code; called once. */
  readonly ended: (code: number) => void;
}

/** One bidirectional streaming call. */
export interface AdsCall {
  /** Sends one request (its protobuf bytes); ignored once the call has ended. */
  write(bytes: Uint8Array): void;
  /** Ends the call as a proxy that shuts down does: half-close, then cancel. */
  close(): void;
}

/** One connection (opened on first use, again after it was lost), carrying many calls. */
export interface AdsChannel {
  open(methodPath: string, handlers: CallHandlers): AdsCall;
  /** Closes the connection; the calls should have been closed first. */
  close(): void;
}
