/**
 * Request decoding with a fast path for the requests a fan-out brings back by the thousand: ACKs.
 * After its first request a client repeats only strings (Envoy sends `node` on the first request of
 * a stream only, `xds_protocol.rst` "Basic protocol overview"; a NACK adds `error_detail`), so a
 * request made of string fields alone is read here field by field, without protobuf-es's reflective
 * decode (docs/BENCHMARKS.md, the gateway's fan-out profile). Anything else (a node,
 * an error detail, resource locators, a map, an unknown field, a malformed buffer) goes through
 * `fromBinary`, which stays the reference: `request-wire.test.ts` checks that both read the same
 * message from the same bytes, arbitrary bytes included.
 *
 * Field numbers from `envoy/service/discovery/v3/discovery.proto`.
 */
import { fromBinary } from '@bufbuild/protobuf';
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
  type DeltaDiscoveryRequest,
  type DiscoveryRequest,
} from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';

/** `DiscoveryRequest` string fields read on the fast path. */
const SotwField = { VersionInfo: 1, ResourceNames: 3, TypeUrl: 4, ResponseNonce: 5 } as const;
/** `DeltaDiscoveryRequest` string fields read on the fast path. */
const DeltaField = { TypeUrl: 2, Subscribe: 3, Unsubscribe: 4, ResponseNonce: 6 } as const;

/** Wire type of length-delimited fields (strings, bytes, messages). */
const LENGTH_DELIMITED = 2;

/**
 * protobuf-es refuses a proto3 string that is not valid UTF-8; a fatal decoder throws on the same
 * bytes, and the request then goes to `fromBinary`, whose error the caller gets.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The string fields of a message, by field number (below 16). */
class StringFields {
  private readonly singular = new Map<number, string>();
  private readonly repeated = new Map<number, string[]>();

  /** A singular field: the last occurrence wins, as in protobuf; '' when absent. */
  text(field: number): string {
    return this.singular.get(field) ?? '';
  }

  /** A repeated field's elements in order. */
  list(field: number): string[] {
    return this.repeated.get(field) ?? [];
  }

  /**
   * Reads `bytes` when every field in it is one of `singular` or `repeated`, length-delimited, with a
   * one-byte tag; undefined at anything else or at a length that runs past the end (the caller then
   * decodes with `fromBinary`). Throws on a string that is not UTF-8.
   */
  static read(bytes: Uint8Array, singular: readonly number[], repeated: readonly number[]): StringFields | undefined {
    const fields = new StringFields();
    let offset = 0;
    const length = bytes.length;
    while (offset < length) {
      const tag = bytes[offset++]!;
      if ((tag & 0x80) !== 0 || (tag & 7) !== LENGTH_DELIMITED) return undefined;
      let size = 0;
      let shift = 0;
      for (;;) {
        if (offset >= length || shift > 28) return undefined;
        const byte = bytes[offset++]!;
        size += (byte & 0x7f) * 2 ** shift;
        if ((byte & 0x80) === 0) break;
        shift += 7;
      }
      const end = offset + size;
      if (end > length) return undefined;
      const field = tag >>> 3;
      const value = offset === end ? '' : utf8.decode(bytes.subarray(offset, end));
      if (singular.includes(field)) {
        fields.singular.set(field, value);
      } else if (repeated.includes(field)) {
        const list = fields.repeated.get(field);
        if (list === undefined) fields.repeated.set(field, [value]);
        else list.push(value);
      } else {
        return undefined;
      }
      offset = end;
    }
    return fields;
  }
}

/** A state-of-the-world request with string fields only, else undefined. */
function fastDiscoveryRequest(bytes: Uint8Array): DiscoveryRequest | undefined {
  const fields = StringFields.read(bytes, [SotwField.VersionInfo, SotwField.TypeUrl, SotwField.ResponseNonce], [SotwField.ResourceNames]);
  if (fields === undefined) return undefined;
  // Every field of the message, as `create` would set it; `node` and `error_detail` are unset.
  return {
    $typeName: DiscoveryRequestSchema.typeName,
    versionInfo: fields.text(SotwField.VersionInfo),
    resourceNames: fields.list(SotwField.ResourceNames),
    resourceLocators: [],
    typeUrl: fields.text(SotwField.TypeUrl),
    responseNonce: fields.text(SotwField.ResponseNonce),
  };
}

/** A delta request with string fields only, else undefined. */
function fastDeltaDiscoveryRequest(bytes: Uint8Array): DeltaDiscoveryRequest | undefined {
  const fields = StringFields.read(bytes, [DeltaField.TypeUrl, DeltaField.ResponseNonce], [DeltaField.Subscribe, DeltaField.Unsubscribe]);
  if (fields === undefined) return undefined;
  return {
    $typeName: DeltaDiscoveryRequestSchema.typeName,
    typeUrl: fields.text(DeltaField.TypeUrl),
    resourceNamesSubscribe: fields.list(DeltaField.Subscribe),
    resourceNamesUnsubscribe: fields.list(DeltaField.Unsubscribe),
    resourceLocatorsSubscribe: [],
    resourceLocatorsUnsubscribe: [],
    initialResourceVersions: {},
    responseNonce: fields.text(DeltaField.ResponseNonce),
  };
}

/** Decodes a `DiscoveryRequest`; throws, as `fromBinary` does, on bytes that are not one. */
export function decodeDiscoveryRequest(bytes: Uint8Array): DiscoveryRequest {
  return fastPath(() => fastDiscoveryRequest(bytes)) ?? fromBinary(DiscoveryRequestSchema, bytes);
}

/** Decodes a `DeltaDiscoveryRequest`; throws, as `fromBinary` does, on bytes that are not one. */
export function decodeDeltaDiscoveryRequest(bytes: Uint8Array): DeltaDiscoveryRequest {
  return fastPath(() => fastDeltaDiscoveryRequest(bytes)) ?? fromBinary(DeltaDiscoveryRequestSchema, bytes);
}

/** The fast path's message, or undefined when it cannot read the bytes (invalid UTF-8 included). */
function fastPath<T>(decode: () => T | undefined): T | undefined {
  try {
    return decode();
  } catch {
    return undefined;
  }
}
