/** ADS calls through @grpc/grpc-js's client: one `grpc.Client` (its own connection) per channel. */
import * as grpc from '@grpc/grpc-js';
import type { AdsCall, AdsChannel, CallHandlers } from './channel.js';

/** Passes request bytes encoded here to grpc-js without a copy. */
const passRequest = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
/** Hands response bytes over undecoded. */
const keepResponse = (bytes: Buffer): Buffer => bytes;

export class GrpcJsAdsChannel implements AdsChannel {
  private readonly client: grpc.Client;

  /** `target` is any gRPC target; `windowBytes` is the HTTP/2 stream and connection window to offer. */
  constructor(target: string, windowBytes: number) {
    this.client = new grpc.Client(target, grpc.credentials.createInsecure(), {
      // Without a local pool, channels to one target share a connection, whatever their count.
      'grpc.use_local_subchannel_pool': 1,
      // A wildcard CDS response of a large mesh exceeds the 4 MB default.
      'grpc.max_receive_message_length': -1,
      // Per-call bookkeeping the generator never reads.
      'grpc.enable_channelz': 0,
      'grpc-node.flow_control_window': windowBytes,
    });
  }

  open(methodPath: string, handlers: CallHandlers): AdsCall {
    const call = this.client.makeBidiStreamRequest(methodPath, passRequest, keepResponse);
    call.on('data', handlers.message);
    call.on('status', (status: grpc.StatusObject) => handlers.ended(status.code));
    // The status event reports how the stream ended; the error event is the same end as an exception.
    call.on('error', () => {});
    return {
      write: (bytes) => {
        call.write(bytes);
      },
      close: () => {
        call.end();
        call.cancel();
      },
    };
  }

  close(): void {
    this.client.close();
  }
}
