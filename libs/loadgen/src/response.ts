/**
 * Reading ADS responses the cheap way: a simulated proxy needs each response's type, nonce and
 * version (to ACK it) and each resource's name and version (to record arrivals), nothing more. So
 * the bytes are walked with protobuf-es's `BinaryReader`, skipping every field that is not needed,
 * and resources are never decoded into messages: ten thousand simulated proxies then cost the load
 * generator little more than the bytes it receives.
 *
 * Field numbers come from `envoy/service/discovery/v3/discovery.proto` (`DiscoveryResponse`,
 * `DeltaDiscoveryResponse`, `Resource`, `ResourceName`) and `google/protobuf/any.proto`.
 */
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

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

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * A version identity for resource bytes: the byte length and the 32-bit FNV-1a hash of the bytes
 * (the FNV specification, draft-eastlake-fnv). Not a cryptographic hash: two different versions of
 * one resource collide with probability about 2^-32, which would hide one arrival from the records.
 */
export function fingerprint(bytes: Uint8Array): string {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i]!;
    hash = Math.imul(hash, FNV_PRIME);
  }
  return `${bytes.length.toString(36)}-${(hash >>> 0).toString(36)}`;
}

/** The resource's name (its field 1 as a string), or undefined when it has none. */
export function resourceMessageName(bytes: Uint8Array): string | undefined {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === RESOURCE_MESSAGE_NAME && wireType === WireType.LengthDelimited) return reader.string();
    reader.skip(wireType, field);
  }
  return undefined;
}

/** The `value` of a serialized `google.protobuf.Any` (the resource bytes, not copied). */
function anyValue(bytes: Uint8Array): Uint8Array {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === AnyField.Value && wireType === WireType.LengthDelimited) return reader.bytes();
    reader.skip(wireType, field);
  }
  return new Uint8Array(0);
}

/**
 * Reads a state-of-the-world `DiscoveryResponse`. A resource without a name is recorded as
 * `#<position>`, so it is still counted.
 */
export function readDiscoveryResponse(bytes: Uint8Array): ReceivedResponse {
  const reader = new BinaryReader(bytes);
  let typeUrl = '';
  let nonce = '';
  let versionInfo = '';
  const resources: ReceivedResource[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, field);
      continue;
    }
    switch (field) {
      case SotwField.VersionInfo:
        versionInfo = reader.string();
        break;
      case SotwField.Resources: {
        const value = anyValue(reader.bytes());
        resources.push({ name: resourceMessageName(value) ?? `#${resources.length}`, version: fingerprint(value) });
        break;
      }
      case SotwField.TypeUrl:
        typeUrl = reader.string();
        break;
      case SotwField.Nonce:
        nonce = reader.string();
        break;
      default:
        reader.skip(wireType, field);
    }
  }
  return { typeUrl, nonce, versionInfo, resources, removed: [] };
}

function readDeltaResource(bytes: Uint8Array, position: number): ReceivedResource {
  const reader = new BinaryReader(bytes);
  let name: string | undefined;
  let version = '';
  let resourceBytes: Uint8Array | undefined;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (wireType === WireType.LengthDelimited && field === DeltaResourceField.Name) name = reader.string();
    else if (wireType === WireType.LengthDelimited && field === DeltaResourceField.Version) version = reader.string();
    else if (wireType === WireType.LengthDelimited && field === DeltaResourceField.Resource) resourceBytes = anyValue(reader.bytes());
    else reader.skip(wireType, field);
  }
  // `Resource.name` is required by the protocol; a server that leaves it out still names the message.
  name ??= (resourceBytes === undefined ? undefined : resourceMessageName(resourceBytes)) ?? `#${position}`;
  if (version === '' && resourceBytes !== undefined) version = fingerprint(resourceBytes);
  return { name, version };
}

/** Reads a `DeltaDiscoveryResponse`. */
export function readDeltaDiscoveryResponse(bytes: Uint8Array): ReceivedResponse {
  const reader = new BinaryReader(bytes);
  let typeUrl = '';
  let nonce = '';
  let versionInfo = '';
  const resources: ReceivedResource[] = [];
  const removed: string[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, field);
      continue;
    }
    switch (field) {
      case DeltaField.SystemVersionInfo:
        versionInfo = reader.string();
        break;
      case DeltaField.Resources:
        resources.push(readDeltaResource(reader.bytes(), resources.length));
        break;
      case DeltaField.TypeUrl:
        typeUrl = reader.string();
        break;
      case DeltaField.Nonce:
        nonce = reader.string();
        break;
      case DeltaField.RemovedResources:
        removed.push(reader.string());
        break;
      case DeltaField.RemovedResourceNames: {
        const name = new BinaryReader(reader.bytes());
        while (name.pos < name.len) {
          const [nameField, nameWireType] = name.tag();
          if (nameField === RESOURCE_NAME_NAME && nameWireType === WireType.LengthDelimited) removed.push(name.string());
          else name.skip(nameWireType, nameField);
        }
        break;
      }
      default:
        reader.skip(wireType, field);
    }
  }
  // Servers may name a removal in both fields; it is one removal.
  return { typeUrl, nonce, versionInfo, resources, removed: [...new Set(removed)] };
}
