/**
 * Reading ADS responses the cheap way: a simulated proxy needs each response's type, nonce and
 * version (to ACK it) and each resource's name and version (to record arrivals), nothing more. So
 * the bytes are walked field by field in place (the protobuf wire format: a varint key, then a
 * varint, a fixed-size value or a length-prefixed run), skipping every field that is not needed, and
 * resources are never decoded into messages: ten thousand simulated proxies then cost the load
 * generator little more than the bytes it receives. No reader object is made per message, which at
 * one response per proxy per change is what a general-purpose reader would cost most.
 *
 * Field numbers come from `envoy/service/discovery/v3/discovery.proto` (`DiscoveryResponse`,
 * `DeltaDiscoveryResponse`, `Resource`, `ResourceName`) and `google/protobuf/any.proto`.
 */

import { contentVersion } from '@skiff/protos/content-version.js';

/** One resource as received: its name and a version identity. */
export interface ReceivedResource {
  readonly name: string;
  /**
   * Delta: the server's `Resource.version`. State of the world carries no per-resource version, so
   * it is a fingerprint of the resource bytes (`fingerprint`): equal bytes, equal version.
   */
  readonly version: string;
}

/** The parts of a `DiscoveryResponse` or `DeltaDiscoveryResponse` a simulated proxy uses. */
export interface ReceivedResponse {
  readonly typeUrl: string;
  readonly nonce: string;
  /** `version_info` (state of the world) or `system_version_info` (delta). */
  readonly versionInfo: string;
  readonly resources: readonly ReceivedResource[];
  /** Delta `removed_resources` (and `removed_resource_names`); always empty for state of the world. */
  readonly removed: readonly string[];
}

const SotwField = { VersionInfo: 1, Resources: 2, TypeUrl: 4, Nonce: 5 } as const;
const DeltaField = { SystemVersionInfo: 1, Resources: 2, TypeUrl: 4, Nonce: 5, RemovedResources: 6, RemovedResourceNames: 8 } as const;
const DeltaResourceField = { Version: 1, Resource: 2, Name: 3 } as const;
const AnyField = { Value: 2 } as const;
/** `ResourceName.name`. */
const RESOURCE_NAME_NAME = 1;
/**
 * The name field of every resource type a proxy subscribes to over ADS: `Cluster.name`,
 * `ClusterLoadAssignment.cluster_name`, `Listener.name` and `RouteConfiguration.name` are all field 1.
 */
const RESOURCE_MESSAGE_NAME = 1;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/**
 * A version identity for resource bytes: their content version, as the gateway names the resources it
 * builds (`contentVersion`, a SHA-256 hashed natively, here of a view without a copy). A 32-bit FNV-1a
 * written in JavaScript before cost four to seven times as much per kilobyte, which at a hundred
 * proxies receiving ten thousand clusters each made the load generator, not the server, the slower
 * side of a cold start.
 */
export function fingerprint(bytes: Uint8Array, start = 0, end = bytes.length): string {
  return contentVersion(bytes.subarray(start, end));
}

/**
 * The fingerprints of resource bytes seen before, per type URL and name: the latest bytes received
 * under each name, copied, with their fingerprint. Every simulated sidecar of a namespace receives the
 * same bytes for a name, and comparing them with the bytes seen last costs a fraction of hashing them
 * again (a `memcmp` against a SHA-256): each version is then hashed about once rather than once per
 * proxy. Holds one copy of every resource the proxies hold, at its latest version.
 */
export class FingerprintCache {
  private readonly byType = new Map<string, Map<string, { readonly bytes: Buffer; readonly version: string }>>();

  /** `fingerprint(bytes, start, end)`, for the resource `name` of `typeUrl`. */
  versionOf(typeUrl: string, name: string, bytes: Buffer, start: number, end: number): string {
    let byName = this.byType.get(typeUrl);
    if (byName === undefined) this.byType.set(typeUrl, (byName = new Map()));
    const seen = byName.get(name);
    const received = bytes.subarray(start, end);
    if (seen !== undefined && seen.bytes.equals(received)) return seen.version;
    const version = fingerprint(received);
    byName.set(name, { bytes: Buffer.from(received), version });
    return version;
  }

  /** Resources held, over every type. */
  get size(): number {
    let size = 0;
    for (const byName of this.byType.values()) size += byName.size;
    return size;
  }
}

/** A malformed message: the caller counts the response as unreadable. */
export class WireFormatError extends Error {
  override readonly name = 'WireFormatError';
}

/**
 * A cursor over one message's fields. `next()` reads a key; for a length-delimited field, `start`
 * and `end` then bound its value, and `skip()` or reading it moves past it.
 */
class FieldCursor {
  pos: number;
  field = 0;
  wireType = 0;
  start = 0;
  end = 0;

  constructor(
    readonly bytes: Buffer,
    from: number,
    readonly limit: number,
  ) {
    this.pos = from;
  }

  private varint(): number {
    let value = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.limit) throw new WireFormatError('truncated varint');
      const byte = this.bytes[this.pos++]!;
      // Lengths and keys fit in 32 bits; larger varints (uint64 fields) are only skipped.
      if (shift < 32) value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
      if (shift > 63) throw new WireFormatError('varint too long');
    }
  }

  /** Reads the next field's key (and its bounds when length-delimited); false at the end. */
  next(): boolean {
    if (this.pos >= this.limit) return false;
    const key = this.varint();
    this.field = Math.floor(key / 8);
    this.wireType = key & 7;
    if (this.wireType === WIRE_LENGTH_DELIMITED) {
      const length = this.varint();
      this.start = this.pos;
      this.end = this.pos + length;
      if (this.end > this.limit) throw new WireFormatError('length past the end of the message');
    }
    return true;
  }

  /** Moves past the current field's value. */
  skip(): void {
    switch (this.wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.pos += 8;
        break;
      case WIRE_LENGTH_DELIMITED:
        this.pos = this.end;
        break;
      case WIRE_FIXED32:
        this.pos += 4;
        break;
      default:
        throw new WireFormatError(`wire type ${this.wireType} is not supported`);
    }
    if (this.pos > this.limit) throw new WireFormatError('field past the end of the message');
  }

  isBytes(field: number): boolean {
    return this.field === field && this.wireType === WIRE_LENGTH_DELIMITED;
  }

  /** The current length-delimited field as a string, moving past it. */
  string(): string {
    this.pos = this.end;
    return this.bytes.toString('utf8', this.start, this.end);
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The name (field 1) of the resource message in `bytes[start, end)`, or undefined when it has none. */
function nameIn(bytes: Buffer, start: number, end: number): string | undefined {
  const cursor = new FieldCursor(bytes, start, end);
  while (cursor.next()) {
    if (cursor.isBytes(RESOURCE_MESSAGE_NAME)) return cursor.string();
    cursor.skip();
  }
  return undefined;
}

/** The resource's name (its field 1 as a string), or undefined when it has none. */
export function resourceMessageName(bytes: Uint8Array): string | undefined {
  return nameIn(asBuffer(bytes), 0, bytes.length);
}

/** Bounds of the `value` of the `google.protobuf.Any` in `bytes[start, end)` (empty when absent). */
function anyValueBounds(bytes: Buffer, start: number, end: number): [number, number] {
  const cursor = new FieldCursor(bytes, start, end);
  while (cursor.next()) {
    if (cursor.isBytes(AnyField.Value)) return [cursor.start, cursor.end];
    cursor.skip();
  }
  return [end, end];
}

/**
 * Reads a state-of-the-world `DiscoveryResponse`. A resource without a name is recorded as
 * `#<position>`, so it is still counted. Throws `WireFormatError` for malformed bytes. With
 * `versions`, fingerprints of bytes seen before are taken from it.
 */
export function readDiscoveryResponse(input: Uint8Array, versions?: FingerprintCache): ReceivedResponse {
  const bytes = asBuffer(input);
  const cursor = new FieldCursor(bytes, 0, bytes.length);
  let typeUrl = '';
  let nonce = '';
  let versionInfo = '';
  const names: string[] = [];
  /** Start and end of each resource's bytes: fingerprinted once the type URL, written after them, is read. */
  const bounds: number[] = [];
  while (cursor.next()) {
    if (cursor.wireType !== WIRE_LENGTH_DELIMITED) {
      cursor.skip();
      continue;
    }
    switch (cursor.field) {
      case SotwField.VersionInfo:
        versionInfo = cursor.string();
        break;
      case SotwField.Resources: {
        const [start, end] = anyValueBounds(bytes, cursor.start, cursor.end);
        names.push(nameIn(bytes, start, end) ?? `#${names.length}`);
        bounds.push(start, end);
        cursor.skip();
        break;
      }
      case SotwField.TypeUrl:
        typeUrl = cursor.string();
        break;
      case SotwField.Nonce:
        nonce = cursor.string();
        break;
      default:
        cursor.skip();
    }
  }
  const resources = names.map((name, i): ReceivedResource => {
    const start = bounds[2 * i]!;
    const end = bounds[2 * i + 1]!;
    return { name, version: versions === undefined ? fingerprint(bytes, start, end) : versions.versionOf(typeUrl, name, bytes, start, end) };
  });
  return { typeUrl, nonce, versionInfo, resources, removed: [] };
}

function readDeltaResource(bytes: Buffer, start: number, end: number, position: number): ReceivedResource {
  const cursor = new FieldCursor(bytes, start, end);
  let name: string | undefined;
  let version = '';
  let value: [number, number] | undefined;
  while (cursor.next()) {
    if (cursor.isBytes(DeltaResourceField.Name)) name = cursor.string();
    else if (cursor.isBytes(DeltaResourceField.Version)) version = cursor.string();
    else if (cursor.isBytes(DeltaResourceField.Resource)) {
      value = anyValueBounds(bytes, cursor.start, cursor.end);
      cursor.skip();
    } else cursor.skip();
  }
  // `Resource.name` is required by the protocol; a server that leaves it out still names the message.
  name ??= (value === undefined ? undefined : nameIn(bytes, value[0], value[1])) ?? `#${position}`;
  if (version === '' && value !== undefined) version = fingerprint(bytes, value[0], value[1]);
  return { name, version };
}

/** Reads a `DeltaDiscoveryResponse`. Throws `WireFormatError` for malformed bytes. */
export function readDeltaDiscoveryResponse(input: Uint8Array): ReceivedResponse {
  const bytes = asBuffer(input);
  const cursor = new FieldCursor(bytes, 0, bytes.length);
  let typeUrl = '';
  let nonce = '';
  let versionInfo = '';
  const resources: ReceivedResource[] = [];
  const removed: string[] = [];
  while (cursor.next()) {
    if (cursor.wireType !== WIRE_LENGTH_DELIMITED) {
      cursor.skip();
      continue;
    }
    switch (cursor.field) {
      case DeltaField.SystemVersionInfo:
        versionInfo = cursor.string();
        break;
      case DeltaField.Resources:
        resources.push(readDeltaResource(bytes, cursor.start, cursor.end, resources.length));
        cursor.skip();
        break;
      case DeltaField.TypeUrl:
        typeUrl = cursor.string();
        break;
      case DeltaField.Nonce:
        nonce = cursor.string();
        break;
      case DeltaField.RemovedResources:
        removed.push(cursor.string());
        break;
      case DeltaField.RemovedResourceNames: {
        const name = new FieldCursor(bytes, cursor.start, cursor.end);
        while (name.next()) {
          if (name.isBytes(RESOURCE_NAME_NAME)) removed.push(name.string());
          else name.skip();
        }
        cursor.skip();
        break;
      }
      default:
        cursor.skip();
    }
  }
  // Servers may name a removal in both fields; it is one removal.
  return { typeUrl, nonce, versionInfo, resources, removed: [...new Set(removed)] };
}
