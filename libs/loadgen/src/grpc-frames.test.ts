import { chunksOf, frameBoundaries, grpcFramed } from '@skiff/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameGrpcMessage, GrpcFramingError, GrpcMessageReader } from './grpc-frames.js';

describe('frameGrpcMessage', () => {
  it('writes gRPC length-prefixed messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (message) => {
        expect(frameGrpcMessage(message)).toEqual(grpcFramed(message));
      }),
    );
  });
});

describe('GrpcMessageReader', () => {
  it('reads every message, in order, however the stream cuts them, and is idle exactly between messages', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (messages, cuts) => {
        const frames = messages.map((message) => grpcFramed(message));
        const boundaries = frameBoundaries(frames);
        const reader = new GrpcMessageReader();
        const read: Buffer[] = [];
        let ends = 0;
        for (const chunk of chunksOf(Buffer.concat(frames), cuts)) {
          reader.read(chunk, (message) => read.push(Buffer.from(message)));
          ends += chunk.length;
          expect(reader.idle).toBe(boundaries.has(ends));
        }
        expect(read).toEqual(messages.map((message) => Buffer.from(message)));
      }),
    );
  });

  it('hands over a message that lies in one chunk as a view of it, and copies one cut across chunks', () => {
    const first = grpcFramed(new Uint8Array([1, 2, 3]));
    const second = grpcFramed(new Uint8Array(100).fill(9));
    const [head, tail] = chunksOf(Buffer.concat([first, second]), [first.length + 50]);
    const reader = new GrpcMessageReader();
    const read: Buffer[] = [];
    reader.read(head!, (message) => read.push(message));
    reader.read(tail!, (message) => read.push(message));
    expect(read).toEqual([Buffer.from([1, 2, 3]), Buffer.alloc(100, 9)]);
    // Overwriting the chunks shows which message was a view and which a copy.
    head!.fill(0);
    tail!.fill(0);
    expect(read).toEqual([Buffer.alloc(3), Buffer.alloc(100, 9)]);
  });

  it('refuses a compressed message, which a stream announcing no encoding must not receive', () => {
    const frame = grpcFramed(new Uint8Array([1]));
    frame[0] = 1;
    expect(() => new GrpcMessageReader().read(frame, () => {})).toThrow(GrpcFramingError);
  });
});
