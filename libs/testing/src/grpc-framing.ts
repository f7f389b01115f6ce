/** Test helpers for code that reads gRPC's length-prefixed messages from HTTP/2 DATA chunks. */

/** A gRPC length-prefixed message: flag byte 0, 4-byte big-endian length, the message. */
export function grpcFramed(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * `bytes` cut at `cuts` (each taken modulo `bytes.length + 1`, duplicates ignored) into chunks, each in
 * an ArrayBuffer of its own, as HTTP/2 DATA chunks arrive.
 */
export function chunksOf(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point > start) chunks.push(Buffer.from(bytes.subarray(start, point)));
    start = point;
  }
  return chunks;
}

/** The offsets at which each of `frames` ends, laid end to end (0 included): where a reader is between messages. */
export function frameBoundaries(frames: readonly Uint8Array[]): Set<number> {
  const boundaries = new Set([0]);
  let end = 0;
  for (const frame of frames) boundaries.add((end += frame.length));
  return boundaries;
}
