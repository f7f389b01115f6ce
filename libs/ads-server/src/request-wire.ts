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
 * An ACK also repeats every name the client subscribes to: a sidecar's hundreds of endpoint names,
 * identical from one ACK to the next. Those are not decoded here: the request keeps the bytes of the
 * names (`requestedNames`), which the session compares with the names it holds, and decodes them only
 * when something reads `resource_names` (docs/BENCHMARKS.md, "ACKs that repeat their names"). The
 * request keeps a copy of those bytes, never a view of the message (see `RequestedNames`).
 *
 * Field numbers from `envoy/service/discovery/v3/discovery.proto`.
 */
import { isUtf8 } from 'node:buffer';
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
   * The fields of `kept` as they came, when they are one run of fields of one-byte lengths (then not
   * decoded into `list`), with how many there are.
   */
  keptRun: { start: number; end: number; count: number } | undefined;

  /**
   * Reads `bytes` when every field in it is one of `singular` or `repeated`, length-delimited, with a
   * one-byte tag; undefined at anything else or at a length that runs past the end (the caller then
   * decodes with `fromBinary`). Throws on a string that is not UTF-8. `kept`, one of `repeated`, is
   * left as bytes (`keptRun`) when its fields are one run of short strings; read again with
   * everything decoded otherwise.
   */
  static read(bytes: Uint8Array, singular: readonly number[], repeated: readonly number[], kept?: number): StringFields | undefined {
    const fields = new StringFields();
    let offset = 0;
    const length = bytes.length;
    let run: { start: number; end: number; count: number } | undefined;
    while (offset < length) {
      const start = offset;
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
      if (field === kept) {
        // Another run of the field, or a length of more than one byte: decode everything instead.
        if (offset - start !== 2 || (run !== undefined && run.end !== start)) return StringFields.read(bytes, singular, repeated);
        run ??= { start, end, count: 0 };
        run.end = end;
        run.count += 1;
        offset = end;
        continue;
      }
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
    if (run !== undefined) {
      // Tags and one-byte lengths are ASCII, so the run is valid UTF-8 exactly when every string in it is.
      if (!isUtf8(bytes.subarray(run.start, run.end))) throw new TypeError('invalid UTF-8 in a string field');
      fields.keptRun = run;
    }
    return fields;
  }
}

/**
 * A state-of-the-world request's `resource_names` as they came: the bytes of their fields (the same
 * bytes are the same names in the same order) and how many names they hold.
 */
export interface RequestedNames {
  /**
   * The bytes of the names' fields, one character per byte (latin1): a string on the JavaScript heap
   * rather than a view of the message. A view keeps the message's whole buffer, which lives outside
   * the heap, for as long as the request lives; requests that outlived two young collections took
   * their buffers (60 KB for a sidecar's EDS ACK at 10,000 ServiceEntries) into the old generation,
   * and V8 starts a full collection of the whole heap for every 64 MB of such memory: one every ten
   * seconds under churn at 10,000 ServiceEntries and 200,000 WorkloadEntries, each delaying changes by
   * half a second (docs/BENCHMARKS.md).
   */
  readonly fields: string;
  readonly count: number;
}

const requestedNamesOf = new WeakMap<DiscoveryRequest, RequestedNames>();

/** The names of `request` as bytes, when it was read on the fast path with its names left undecoded. */
export function requestedNames(request: DiscoveryRequest): RequestedNames | undefined {
  return requestedNamesOf.get(request);
}

/** The strings of a run of fields with one-byte tags and lengths, already checked to be UTF-8. */
function namesOfRun(run: Uint8Array): string[] {
  const names: string[] = [];
  for (let offset = 0; offset < run.length; ) {
    const size = run[offset + 1]!;
    names.push(size === 0 ? '' : utf8.decode(run.subarray(offset + 2, offset + 2 + size)));
    offset += 2 + size;
  }
  return names;
}

/** A state-of-the-world request with string fields only, else undefined. */
function fastDiscoveryRequest(bytes: Uint8Array): DiscoveryRequest | undefined {
  const fields = StringFields.read(bytes, [SotwField.VersionInfo, SotwField.TypeUrl, SotwField.ResponseNonce], [SotwField.ResourceNames], SotwField.ResourceNames);
  if (fields === undefined) return undefined;
  // Every field of the message, as `create` would set it; `node` and `error_detail` are unset.
  const request: DiscoveryRequest = {
    $typeName: DiscoveryRequestSchema.typeName,
    versionInfo: fields.text(SotwField.VersionInfo),
    resourceNames: fields.list(SotwField.ResourceNames),
    resourceLocators: [],
    typeUrl: fields.text(SotwField.TypeUrl),
    responseNonce: fields.text(SotwField.ResponseNonce),
  };
  const run = fields.keptRun;
  if (run !== undefined) {
    const names = Buffer.from(bytes.buffer, bytes.byteOffset + run.start, run.end - run.start).toString('latin1');
    let decoded: string[] | undefined;
    // Decoded when read, once; an own enumerable property, so the request reads and compares as a message does.
    Object.defineProperty(request, 'resourceNames', {
      enumerable: true,
      configurable: true,
      get: () => (decoded ??= namesOfRun(Buffer.from(names, 'latin1'))),
      set: (value: string[]) => {
        decoded = value;
        requestedNamesOf.delete(request);
      },
    });
    requestedNamesOf.set(request, { fields: names, count: run.count });
  }
  return request;
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
