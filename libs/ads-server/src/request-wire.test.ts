/** The request fast path reads exactly what protobuf-es's `fromBinary` reads, or leaves the bytes to it. */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { TypeUrl } from '@skiff/protos';
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
} from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDeltaDiscoveryRequest, decodeDiscoveryRequest, requestedNames } from './request-wire.js';

/** The outcome of a decode: the message, or the error's message. */
function outcome<T>(decode: () => T): { message: T } | { error: string } {
  try {
    return { message: decode() };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** `decode` and `reference` read every short byte string alike: the same message, or both fail. */
function agreesOnAnyBytes<T>(decode: (bytes: Uint8Array) => T, reference: (bytes: Uint8Array) => T): void {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const fast = outcome(() => decode(bytes));
      const expected = outcome(() => reference(bytes));
      if ('error' in expected) expect(fast).toHaveProperty('error');
      else expect(fast).toStrictEqual(expected);
    }),
    { numRuns: 3_000 },
  );
}

const text = fc.oneof(fc.string(), fc.constantFrom(TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, 'outbound|80||a.example.com', 'ñ-✓-𝄞'));

const sotwRequest = fc.record({
  versionInfo: text,
  resourceNames: fc.array(text, { maxLength: 5 }),
  typeUrl: text,
  responseNonce: text,
  node: fc.option(fc.record({ id: text, cluster: text }), { nil: undefined }),
  errorDetail: fc.option(fc.record({ code: fc.integer({ min: 0, max: 16 }), message: text }), { nil: undefined }),
});

const deltaRequest = fc.record({
  typeUrl: text,
  resourceNamesSubscribe: fc.array(text, { maxLength: 5 }),
  resourceNamesUnsubscribe: fc.array(text, { maxLength: 5 }),
  responseNonce: text,
  initialResourceVersions: fc.dictionary(text, text, { maxKeys: 2 }),
  node: fc.option(fc.record({ id: text }), { nil: undefined }),
  errorDetail: fc.option(fc.record({ code: fc.integer({ min: 0, max: 16 }), message: text }), { nil: undefined }),
});

describe('decodeDiscoveryRequest', () => {
  it('reads an ACK (strings only) into the same message as fromBinary, with every field set', () => {
    const ack = create(DiscoveryRequestSchema, { versionInfo: 'v1', resourceNames: ['a', '', 'b'], typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: 'n-1' });
    const bytes = toBinary(DiscoveryRequestSchema, ack);
    expect(decodeDiscoveryRequest(bytes)).toStrictEqual(fromBinary(DiscoveryRequestSchema, bytes));
    expect(decodeDiscoveryRequest(bytes)).toStrictEqual(ack);
  });

  it("leaves an ACK's names as the bytes they came in, decoded once when read", () => {
    const ack = create(DiscoveryRequestSchema, { versionInfo: 'v1', resourceNames: ['a', '', 'ñ-✓'], typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: 'n-1' });
    const decoded = decodeDiscoveryRequest(toBinary(DiscoveryRequestSchema, ack));
    const again = decodeDiscoveryRequest(toBinary(DiscoveryRequestSchema, ack));
    const requested = requestedNames(decoded);
    expect(requested?.count).toBe(3);
    expect(requested!.fields).toBe(requestedNames(again)!.fields);
    // A copy of the names' bytes, not a view of the message.
    expect(typeof requested!.fields).toBe('string');
    expect(Buffer.from(requested!.fields, 'latin1')).toEqual(Buffer.from(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { resourceNames: ['a', '', 'ñ-✓'] }))));
    expect(decoded.resourceNames).toEqual(['a', '', 'ñ-✓']);
    expect(decoded.resourceNames).toBe(decoded.resourceNames);
    // Names set by hand are no longer those bytes.
    decoded.resourceNames = ['other'];
    expect(decoded.resourceNames).toEqual(['other']);
    expect(requestedNames(decoded)).toBeUndefined();
  });

  it('decodes at once names that are not one run of short fields, as fromBinary does', () => {
    const long = create(DiscoveryRequestSchema, { resourceNames: ['a', 'x'.repeat(200)], typeUrl: TypeUrl.ClusterLoadAssignment });
    const longBytes = toBinary(DiscoveryRequestSchema, long);
    expect(requestedNames(decodeDiscoveryRequest(longBytes))).toBeUndefined();
    expect(decodeDiscoveryRequest(longBytes)).toStrictEqual(fromBinary(DiscoveryRequestSchema, longBytes));
    // A name, the type URL, then another name: two runs (field order is free on the wire).
    const name = (value: string) => toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { resourceNames: [value] }));
    const typeUrl = toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { typeUrl: TypeUrl.Cluster }));
    const split = new Uint8Array([...name('a'), ...typeUrl, ...name('b')]);
    expect(requestedNames(decodeDiscoveryRequest(split))).toBeUndefined();
    expect(decodeDiscoveryRequest(split)).toStrictEqual(fromBinary(DiscoveryRequestSchema, split));
    expect(decodeDiscoveryRequest(split).resourceNames).toEqual(['a', 'b']);
  });

  it('refuses names that are not UTF-8, as fromBinary does', () => {
    for (const invalid of [[0xff], [0xc3], [0x61, 0xe2, 0x82]]) {
      const bytes = new Uint8Array([0x1a, 1, 0x62, 0x1a, invalid.length, ...invalid, 0x22, 1, 0x74]);
      expect(() => fromBinary(DiscoveryRequestSchema, bytes)).toThrow();
      expect(() => decodeDiscoveryRequest(bytes)).toThrow();
    }
  });

  it('leaves a request with a node or an error detail to fromBinary', () => {
    const nack = create(DiscoveryRequestSchema, { typeUrl: TypeUrl.Cluster, responseNonce: 'n', errorDetail: { code: 3, message: 'bad' }, node: { id: 'sidecar~1' } });
    const decoded = decodeDiscoveryRequest(toBinary(DiscoveryRequestSchema, nack));
    expect(decoded.errorDetail?.message).toBe('bad');
    expect(decoded.node?.id).toBe('sidecar~1');
  });

  it('reads any request as fromBinary does', () => {
    fc.assert(
      fc.property(sotwRequest, (init) => {
        const bytes = toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, init));
        expect(decodeDiscoveryRequest(bytes)).toStrictEqual(fromBinary(DiscoveryRequestSchema, bytes));
      }),
    );
  });

  it('reads any bytes as fromBinary does: the same message or a failure', () => {
    agreesOnAnyBytes(decodeDiscoveryRequest, (bytes) => fromBinary(DiscoveryRequestSchema, bytes));
  }, 60_000);

  it('keeps the last of a repeated singular field, as fromBinary does', () => {
    // type_url twice (protobuf: the last wins).
    const bytes = Uint8Array.from([0x22, 0x01, 0x61, 0x22, 0x01, 0x62, 0x2a, 0x01, 0x6e]);
    const decoded = decodeDiscoveryRequest(bytes);
    expect(decoded).toStrictEqual(fromBinary(DiscoveryRequestSchema, bytes));
    expect(decoded.typeUrl).toBe('b');
  });

  it('refuses a string that is not UTF-8 with fromBinary\'s error', () => {
    // A nonce holding an invalid UTF-8 sequence.
    const bytes = Uint8Array.from([0x22, 0x01, 0x61, 0x2a, 0x03, 0xe2, 0x28, 0xa1]);
    expect(() => fromBinary(DiscoveryRequestSchema, bytes)).toThrow();
    expect(outcome(() => decodeDiscoveryRequest(bytes))).toStrictEqual(outcome(() => fromBinary(DiscoveryRequestSchema, bytes)));
  });

  it('fails on a truncated request, as fromBinary does', () => {
    const bytes = toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { typeUrl: TypeUrl.Cluster, responseNonce: 'n-1' }));
    expect(() => decodeDiscoveryRequest(bytes.subarray(0, bytes.length - 1))).toThrow();
  });
});

describe('decodeDeltaDiscoveryRequest', () => {
  it('reads an ACK and a subscription change into the same message as fromBinary', () => {
    const ack = create(DeltaDiscoveryRequestSchema, { typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: 'n-2', resourceNamesSubscribe: ['a'], resourceNamesUnsubscribe: ['b'] });
    const bytes = toBinary(DeltaDiscoveryRequestSchema, ack);
    expect(decodeDeltaDiscoveryRequest(bytes)).toStrictEqual(fromBinary(DeltaDiscoveryRequestSchema, bytes));
    expect(decodeDeltaDiscoveryRequest(bytes)).toStrictEqual(ack);
  });

  it('reads any request as fromBinary does', () => {
    fc.assert(
      fc.property(deltaRequest, (init) => {
        const bytes = toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, init));
        expect(decodeDeltaDiscoveryRequest(bytes)).toStrictEqual(fromBinary(DeltaDiscoveryRequestSchema, bytes));
      }),
    );
  });

  it('reads any bytes as fromBinary does: the same message or a failure', () => {
    agreesOnAnyBytes(decodeDeltaDiscoveryRequest, (bytes) => fromBinary(DeltaDiscoveryRequestSchema, bytes));
  }, 60_000);
});
