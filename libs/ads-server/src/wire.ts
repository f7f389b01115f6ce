/**
 * Response framing by hand. A response is a few strings around resources that are already
 * serialized (`ServedResource.anyBytes`, encoded once per version by the provider), so building
 * it is a byte copy, not a protobuf encode of every resource for every proxy.
 *
 * Field numbers come from `envoy/service/discovery/v3/discovery.proto`; fields are written in
 * field-number order, as protobuf-es's `toBinary` writes them, and `wire.test.ts` checks the bytes
 * against `toBinary` of the same message built with `create`.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

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
function writeString(writer: BinaryWriter, field: number, value: string): void {
  if (value !== '') writer.tag(field, WireType.LengthDelimited).string(value);
}

function writeControlPlane(writer: BinaryWriter, field: number, identifier: string | undefined): void {
  if (identifier === undefined || identifier === '') return;
  writer.tag(field, WireType.LengthDelimited).fork();
  writeString(writer, CONTROL_PLANE_IDENTIFIER_FIELD, identifier);
  writer.join();
}

/** Serializes an `envoy.service.discovery.v3.DiscoveryResponse`. */
export function encodeDiscoveryResponse(parts: SotwResponseParts): Uint8Array {
  const writer = new BinaryWriter();
  writeString(writer, SotwField.VersionInfo, parts.versionInfo);
  for (const any of parts.resources) writer.tag(SotwField.Resources, WireType.LengthDelimited).bytes(any);
  writeString(writer, SotwField.TypeUrl, parts.typeUrl);
  writeString(writer, SotwField.Nonce, parts.nonce);
  writeControlPlane(writer, SotwField.ControlPlane, parts.controlPlaneIdentifier);
  return writer.finish();
}

/** Serializes an `envoy.service.discovery.v3.DeltaDiscoveryResponse`. */
export function encodeDeltaDiscoveryResponse(parts: DeltaResponseParts): Uint8Array {
  const writer = new BinaryWriter();
  writeString(writer, DeltaField.SystemVersionInfo, parts.systemVersionInfo);
  for (const resource of parts.resources) {
    writer.tag(DeltaField.Resources, WireType.LengthDelimited).fork();
    writeString(writer, ResourceField.Version, resource.version);
    writer.tag(ResourceField.Resource, WireType.LengthDelimited).bytes(resource.anyBytes);
    writeString(writer, ResourceField.Name, resource.name);
    writer.join();
  }
  writeString(writer, DeltaField.TypeUrl, parts.typeUrl);
  writeString(writer, DeltaField.Nonce, parts.nonce);
  for (const name of parts.removedResources) writer.tag(DeltaField.RemovedResources, WireType.LengthDelimited).string(name);
  writeControlPlane(writer, DeltaField.ControlPlane, parts.controlPlaneIdentifier);
  return writer.finish();
}
