/**
 * gRPC's length-prefixed messages on an HTTP/2 stream (PROTOCOL-HTTP2.md in grpc/grpc, "Length-Prefixed-Message"):
 * a flag byte (1 = compressed), the message length as 4 bytes big-endian, then the message.
 * The DATA chunks a stream delivers cut these anywhere, so the reader keeps what a cut left over.
 */

const PREFIX_BYTES = 5;

/** Frames `message` as one length-prefixed, uncompressed gRPC message. */
export function frameGrpcMessage(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, PREFIX_BYTES);
  return frame;
}

export class GrpcFramingError extends Error {
  override readonly name = 'GrpcFramingError';
}

/**
 * Splits a stream's DATA chunks into messages. A message that lies whole in one chunk is handed over as
 * a view of it (no copy); one cut across chunks is copied once into a buffer of its exact length. Between
 * messages the reader holds no chunk, so a stream that goes quiet keeps nothing of its last message.
 */
export class GrpcMessageReader {
  private readonly prefix = Buffer.alloc(PREFIX_BYTES);
  private prefixBytes = 0;
  /** The message being assembled across chunks. */
  private partial: Buffer | undefined;
  private partialBytes = 0;

  /** Whether the reader is between messages (nothing of a message read and not yet handed over). */
  get idle(): boolean {
    return this.prefixBytes === 0 && this.partial === undefined;
  }

  /**
   * Calls `onMessage` with each message `chunk` completes, in order. Throws GrpcFramingError for a
   * compressed message: the streams this reader serves announce no encoding, so the peer must not send one.
   */
  read(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      const partial = this.partial;
      if (partial !== undefined) {
        const take = Math.min(partial.length - this.partialBytes, chunk.length - offset);
        chunk.copy(partial, this.partialBytes, offset, offset + take);
        this.partialBytes += take;
        offset += take;
        if (this.partialBytes === partial.length) {
          this.partial = undefined;
          onMessage(partial);
        }
        continue;
      }
      let flag: number;
      let length: number;
      if (this.prefixBytes === 0 && chunk.length - offset >= PREFIX_BYTES) {
        flag = chunk[offset]!;
        length = chunk.readUInt32BE(offset + 1);
        offset += PREFIX_BYTES;
      } else {
        const take = Math.min(PREFIX_BYTES - this.prefixBytes, chunk.length - offset);
        chunk.copy(this.prefix, this.prefixBytes, offset, offset + take);
        this.prefixBytes += take;
        offset += take;
        if (this.prefixBytes < PREFIX_BYTES) return;
        this.prefixBytes = 0;
        flag = this.prefix[0]!;
        length = this.prefix.readUInt32BE(1);
      }
      if (flag !== 0) throw new GrpcFramingError(`a message with flags ${flag} (compressed) on a stream that accepts no compression`);
      if (chunk.length - offset >= length) {
        onMessage(chunk.subarray(offset, offset + length));
        offset += length;
      } else {
        this.partial = Buffer.allocUnsafe(length);
        this.partialBytes = 0;
      }
    }
  }
}
