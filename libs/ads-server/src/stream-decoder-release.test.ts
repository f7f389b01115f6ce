import { StreamDecoder } from '@grpc/grpc-js/build/src/stream-decoder.js';
import fc from 'fast-check';
import { chunksOf, frameBoundaries, grpcFramed } from '@skiff/testing';
import { describe, expect, it } from 'vitest';
import { releaseDecodedChunks } from './stream-decoder-release.js';

/** Every Buffer among the decoder's own fields (grpc-js's private state). */
function heldBuffers(decoder: StreamDecoder): Buffer[] {
  return Object.values(decoder as object).flatMap((value: unknown) => (Buffer.isBuffer(value) ? [value] : Array.isArray(value) ? value.filter((item) => Buffer.isBuffer(item)) : []));
}

describe('releaseDecodedChunks', () => {
  it('recognises the decoder of the grpc-js in use, and wraps it once', () => {
    expect(releaseDecodedChunks()).toBe(true);
    const wrapped = StreamDecoder.prototype.write;
    expect(wrapped.name).toBe('writeAndRelease');
    expect(releaseDecodedChunks()).toBe(true);
    expect(StreamDecoder.prototype.write).toBe(wrapped);
  });

  it('decodes what grpc-js decodes, and holds no chunk of a message once it has returned it', () => {
    releaseDecodedChunks();
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (messages, cuts) => {
        const frames = messages.map(grpcFramed);
        const boundaries = frameBoundaries(frames);
        const chunks = chunksOf(Buffer.concat(frames), cuts);
        const decoder = new StreamDecoder(-1);
        const decoded: Buffer[] = [];
        let ends = 0;
        for (const chunk of chunks) {
          for (const message of decoder.write(chunk)) decoded.push(message);
          ends += chunk.length;
          if (boundaries.has(ends)) {
            const chunkBuffers = new Set(chunks.map((each) => each.buffer));
            expect(heldBuffers(decoder).filter((held) => chunkBuffers.has(held.buffer))).toEqual([]);
          }
        }
        expect(decoded.map((message) => Buffer.from(message))).toEqual(frames);
      }),
    );
  });

  it('keeps the chunks of a message still being received', () => {
    releaseDecodedChunks();
    const frame = grpcFramed(new Uint8Array(40_000).fill(7));
    const [first, second, third] = chunksOf(frame, [16_384, 32_768]);
    const decoder = new StreamDecoder(-1);
    expect(decoder.write(first!)).toEqual([]);
    expect(decoder.write(second!)).toEqual([]);
    expect(heldBuffers(decoder).some((held) => held.buffer === second!.buffer)).toBe(true);
    expect(decoder.write(third!).map((message) => Buffer.from(message))).toEqual([frame]);
  });
});
