/**
 * Response framing by hand. A response is a few strings around resources that are already
 * serialized (`ServedResource.anyBytes`, encoded once per version by the provider), so building it
 * is a size measured up front and a byte copy per resource into a buffer of at least that size,
 * not a protobuf encode of every resource for every proxy. (protobuf-es's `BinaryWriter` grows its
 * buffer as it goes; that reallocation was a quarter of the CPU of a push fanned out to thousands
 * of streams.)
 *
 * Field numbers come from `envoy/service/discovery/v3/discovery.proto`; fields are written in
 * field-number order, as protobuf-es's `toBinary` writes them, and `wire.test.ts` checks the bytes
 * against `toBinary` of the same message built with `create`.
 */
import { delimitedSize } from '@skiff/protos/wire-size.js';

/** `DiscoveryResponse` fields. */
const SotwField = { VersionInfo: 1, Resources: 2, TypeUrl: 4, Nonce: 5, ControlPlane: 6 } as const;
/** `DeltaDiscoveryResponse` fields. */
const DeltaField = { SystemVersionInfo: 1, Resources: 2, TypeUrl: 4, Nonce: 5, RemovedResources: 6, ControlPlane: 7 } as const;
/** `Resource` fields (delta). */
const ResourceField = { Version: 1, Resource: 2, Name: 3 } as const;
/** `config.core.v3.ControlPlane.identifier`. */
const CONTROL_PLANE_IDENTIFIER_FIELD = 1;

export interface SotwResponseParts {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  /** Serialized `google.protobuf.Any` messages. */
  readonly resources: readonly Uint8Array[];
  /** `control_plane.identifier`, omitted when empty. */
  readonly controlPlaneIdentifier?: string;
}

export interface DeltaResourceParts {
  readonly name: string;
  readonly version: string;
  /** Serialized `google.protobuf.Any`. */
  readonly anyBytes: Uint8Array;
}

export interface DeltaResponseParts {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly DeltaResourceParts[];
  readonly removedResources: readonly string[];
  readonly controlPlaneIdentifier?: string;
}

/** proto3 leaves empty strings off the wire; so does this, to match `toBinary` byte for byte. */
function stringFieldSize(value: string): number {
  return value === '' ? 0 : delimitedSize(Buffer.byteLength(value));
}

function controlPlaneSize(identifier: string | undefined): number {
  return identifier === undefined || identifier === '' ? 0 : delimitedSize(stringFieldSize(identifier));
}

/** Writes length-delimited fields into the first `size` bytes of a buffer. */
class FrameWriter {
  private offset = 0;

  constructor(
    private readonly buffer: Buffer,
    private readonly size: number,
  ) {}

  /** Tag (wire type 2) and length prefix of a field whose payload follows. */
  header(field: number, length: number): void {
    this.buffer[this.offset++] = (field << 3) | 2;
    let value = length;
    while (value >= 0x80) {
      this.buffer[this.offset++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buffer[this.offset++] = value;
  }

  /** A singular string field: left off when empty. */
  string(field: number, value: string): void {
    if (value !== '') this.element(field, value);
  }

  /** One element of a repeated string field: written even when empty. */
  element(field: number, value: string): void {
    this.header(field, Buffer.byteLength(value));
    this.offset += this.buffer.write(value, this.offset, 'utf8');
  }

  bytes(field: number, value: Uint8Array): void {
    this.header(field, value.length);
    this.buffer.set(value, this.offset);
    this.offset += value.length;
  }

  controlPlane(field: number, identifier: string | undefined): void {
    if (identifier === undefined || identifier === '') return;
    this.header(field, stringFieldSize(identifier));
    this.string(CONTROL_PLANE_IDENTIFIER_FIELD, identifier);
  }

  /** Checks that the measured size was written to the byte. */
  finish(): void {
    if (this.offset !== this.size) throw new Error(`framing wrote ${this.offset} of ${this.size} bytes`);
  }
}

/**
 * A response measured but not yet written. The gRPC server writes it into a buffer it reuses
 * (`grpc-server.ts`, `serializeResponse`), because grpc-js copies every serialized message into a
 * frame of its own: a response written into a buffer of its own would be that many bytes written
 * twice into fresh memory, and a garbage buffer per response. Sessions hand these to their sink.
 */
export interface OutgoingResponse {
  /** The serialized message's size. */
  readonly byteLength: number;
  /** Writes the message into `target`'s first `byteLength` bytes. */
  writeInto(target: Buffer): void;
}

/** A plain `Uint8Array` view of a buffer's bytes. */
const plainView = (buffer: Buffer): Uint8Array => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);

/** The bytes of `response` in a buffer of their own. */
export function encodeResponse(response: OutgoingResponse): Uint8Array {
  const buffer = Buffer.allocUnsafe(response.byteLength);
  response.writeInto(buffer);
  return plainView(buffer);
}

/** An `envoy.service.discovery.v3.DiscoveryResponse`. */
export class SotwResponse implements OutgoingResponse {
  readonly byteLength: number;

  constructor(private readonly parts: SotwResponseParts) {
    let size = stringFieldSize(parts.versionInfo) + stringFieldSize(parts.typeUrl) + stringFieldSize(parts.nonce) + controlPlaneSize(parts.controlPlaneIdentifier);
    for (const any of parts.resources) size += delimitedSize(any.length);
    this.byteLength = size;
  }

  writeInto(target: Buffer): void {
    const { parts } = this;
    const writer = new FrameWriter(target, this.byteLength);
    writer.string(SotwField.VersionInfo, parts.versionInfo);
    for (const any of parts.resources) writer.bytes(SotwField.Resources, any);
    writer.string(SotwField.TypeUrl, parts.typeUrl);
    writer.string(SotwField.Nonce, parts.nonce);
    writer.controlPlane(SotwField.ControlPlane, parts.controlPlaneIdentifier);
    writer.finish();
  }
}

/** Serializes an `envoy.service.discovery.v3.DiscoveryResponse`. */
export function encodeDiscoveryResponse(parts: SotwResponseParts): Uint8Array {
  return encodeResponse(new SotwResponse(parts));
}

function deltaResourceSize(resource: DeltaResourceParts): number {
  return stringFieldSize(resource.version) + delimitedSize(resource.anyBytes.length) + stringFieldSize(resource.name);
}

/** An `envoy.service.discovery.v3.DeltaDiscoveryResponse`. */
export class DeltaResponse implements OutgoingResponse {
  readonly byteLength: number;
  private readonly resourceSizes: readonly number[];

  constructor(private readonly parts: DeltaResponseParts) {
    let size = stringFieldSize(parts.systemVersionInfo) + stringFieldSize(parts.typeUrl) + stringFieldSize(parts.nonce) + controlPlaneSize(parts.controlPlaneIdentifier);
    this.resourceSizes = parts.resources.map(deltaResourceSize);
    for (const resourceSize of this.resourceSizes) size += delimitedSize(resourceSize);
    // Removed names are written even when empty: a repeated field keeps every element.
    for (const name of parts.removedResources) size += delimitedSize(Buffer.byteLength(name));
    this.byteLength = size;
  }

  writeInto(target: Buffer): void {
    const { parts, resourceSizes } = this;
    const writer = new FrameWriter(target, this.byteLength);
    writer.string(DeltaField.SystemVersionInfo, parts.systemVersionInfo);
    parts.resources.forEach((resource, index) => {
      writer.header(DeltaField.Resources, resourceSizes[index]!);
      writer.string(ResourceField.Version, resource.version);
      writer.bytes(ResourceField.Resource, resource.anyBytes);
      writer.string(ResourceField.Name, resource.name);
    });
    writer.string(DeltaField.TypeUrl, parts.typeUrl);
    writer.string(DeltaField.Nonce, parts.nonce);
    for (const name of parts.removedResources) writer.element(DeltaField.RemovedResources, name);
    writer.controlPlane(DeltaField.ControlPlane, parts.controlPlaneIdentifier);
    writer.finish();
  }
}

/** Serializes an `envoy.service.discovery.v3.DeltaDiscoveryResponse`. */
export function encodeDeltaDiscoveryResponse(parts: DeltaResponseParts): Uint8Array {
  return encodeResponse(new DeltaResponse(parts));
}

/** `google.protobuf.Any` fields. */
const AnyField = { TypeUrl: 1, Value: 2 } as const;

/**
 * Serializes a `google.protobuf.Any` around a resource's bytes: `type_url`, then `value`, which is
 * therefore the buffer's tail (`bytes.length` bytes at the end). One exact-size allocation, where
 * `toBinary` grows its buffer by doubling and copies it once more when it finishes: a gateway wraps every
 * resource version it takes in.
 */
export function encodeAny(typeUrl: string, value: Uint8Array): Uint8Array {
  const size = stringFieldSize(typeUrl) + (value.length === 0 ? 0 : delimitedSize(value.length));
  const buffer = Buffer.allocUnsafe(size);
  const writer = new FrameWriter(buffer, size);
  writer.string(AnyField.TypeUrl, typeUrl);
  // proto3 leaves empty bytes off the wire, as toBinary does.
  if (value.length > 0) writer.bytes(AnyField.Value, value);
  writer.finish();
  return plainView(buffer);
}
