import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { delimitedSize, utf8Length, varintSize } from './wire-size.js';

describe('wire sizes', () => {
  it('sizes varints as protobuf-es writes them, across every byte-count boundary', () => {
    for (const value of [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455, 268_435_456, 0xffffffff]) {
      expect(varintSize(value), String(value)).toBe(new BinaryWriter().uint32(value).finish().length);
    }
  });

  it('sizes a length-delimited field with a one-byte tag as protobuf-es writes it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 15 }), fc.uint8Array({ maxLength: 300 }), (field, payload) => {
        expect(delimitedSize(payload.length)).toBe(new BinaryWriter().tag(field, WireType.LengthDelimited).bytes(payload).finish().length);
      }),
    );
  });

  it('measures UTF-8 as Buffer.byteLength does, lone surrogates included, and by the length alone only for ASCII', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })), (value) => {
        const length = utf8Length(value);
        expect(length).toBe(Buffer.byteLength(value, 'utf8'));
        expect(length === value.length).toBe([...value].every((character) => character.charCodeAt(0) < 0x80));
      }),
    );
    expect(utf8Length('10.0.0.1')).toBe(8);
    expect(utf8Length('é')).toBe(2);
    expect(utf8Length('\ud800')).toBe(3);
  });
});
