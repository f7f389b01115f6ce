/**
 * ACKs without a protobuf encode each. A simulated proxy ACKs every response, so with ten thousand
 * proxies on one cluster a single change is ten thousand ACKs; encoding each with `toBinary` (field
 * reflection and a growing writer) cost the load generator more than reading the responses. An ACK
 * differs from the previous one of its type only in `version_info` and the nonce, so the fields that
 * never change (the resource names and the type URL) are encoded once, with protobuf-es's writer,
 * and each ACK is three slices copied into one buffer.
 *
 * Fields are written in field-number order, as `toBinary` writes them (`request.test.ts` compares
 * the bytes), from `envoy/service/discovery/v3/discovery.proto`: `DiscoveryRequest` version_info = 1,
 * resource_names = 3, type_url = 4, response_nonce = 5; `DeltaDiscoveryRequest` type_url = 2,
 * response_nonce = 6.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

const SOTW_VERSION_INFO = 1;
const SOTW_RESOURCE_NAMES = 3;
const SOTW_TYPE_URL = 4;
const SOTW_RESPONSE_NONCE = 5;
const DELTA_TYPE_URL = 2;
const DELTA_RESPONSE_NONCE = 6;

/** The key byte of a length-delimited field (field numbers below 16 fit in one byte). */
function keyByte(field: number): number {
  return (field << 3) | WireType.LengthDelimited;
}

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value >>>= 7;
    length++;
  }
  return length;
}

function writeVarint(buffer: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buffer[offset++] = value;
  return offset;
}

/** Bytes a string field takes (key, length, UTF-8); 0 for the empty string, which proto3 leaves out. */
function stringFieldLength(text: string): number {
  if (text === '') return 0;
  const bytes = Buffer.byteLength(text);
  return 1 + varintLength(bytes) + bytes;
}

function writeStringField(buffer: Buffer, offset: number, field: number, text: string): number {
  if (text === '') return offset;
  buffer[offset++] = keyByte(field);
  offset = writeVarint(buffer, offset, Buffer.byteLength(text));
  return offset + buffer.write(text, offset);
}

/** The ACKs of one proxy for one type, state of the world: `version_info`, the names, the type URL, the nonce. */
export class SotwAckEncoder {
  private readonly fixed: Uint8Array;

  constructor(typeUrl: string, resourceNames: readonly string[]) {
    const writer = new BinaryWriter();
    for (const name of resourceNames) writer.tag(SOTW_RESOURCE_NAMES, WireType.LengthDelimited).string(name);
    if (typeUrl !== '') writer.tag(SOTW_TYPE_URL, WireType.LengthDelimited).string(typeUrl);
    this.fixed = writer.finish();
  }

  encode(versionInfo: string, responseNonce: string): Buffer {
    const buffer = Buffer.allocUnsafe(stringFieldLength(versionInfo) + this.fixed.length + stringFieldLength(responseNonce));
    let offset = writeStringField(buffer, 0, SOTW_VERSION_INFO, versionInfo);
    buffer.set(this.fixed, offset);
    offset += this.fixed.length;
    offset = writeStringField(buffer, offset, SOTW_RESPONSE_NONCE, responseNonce);
    return buffer.subarray(0, offset);
  }
}

/** The ACKs of one proxy for one type, delta: the type URL and the nonce. */
export class DeltaAckEncoder {
  private readonly fixed: Uint8Array;

  constructor(typeUrl: string) {
    const writer = new BinaryWriter();
    if (typeUrl !== '') writer.tag(DELTA_TYPE_URL, WireType.LengthDelimited).string(typeUrl);
    this.fixed = writer.finish();
  }

  encode(responseNonce: string): Buffer {
    const buffer = Buffer.allocUnsafe(this.fixed.length + stringFieldLength(responseNonce));
    buffer.set(this.fixed, 0);
    const end = writeStringField(buffer, this.fixed.length, DELTA_RESPONSE_NONCE, responseNonce);
    return buffer.subarray(0, end);
  }
}
