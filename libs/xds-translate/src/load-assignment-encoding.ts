/**
 * A direct binary encoder for ClusterLoadAssignments, producing exactly the bytes of
 * `toBinary(ClusterLoadAssignmentSchema, assignment)`.
 *
 * Why: a cold build encodes hundreds of thousands of LbEndpoints, and protobuf-es's reflective
 * `toBinary` spends most of that time (and garbage) wrapping every message and converting every
 * metadata `JsonObject` into `Struct`/`Value` messages before writing them. The assignments the
 * builders in `endpoint.ts` make use a handful of fields, which this writes straight to a
 * `BinaryWriter` in field-number order, as `toBinary` does (it iterates `sortedFields`, skips unset
 * fields, writes map entries in key order of the object and unknown fields last).
 *
 * Anything outside that shape (another field set, unknown fields, metadata values that are not
 * strings, an endpoint given by name, an internal address) is not guessed at: the whole assignment
 * falls back to `toBinary`. `load-assignment-encoding.test.ts` compares both on random assignments.
 *
 * Groups made by `buildLocalityLbEndpoints` carry their instances instead of built `LbEndpoint`
 * messages (`deferred-endpoints.ts`): their endpoints are written from the instances, the bytes of
 * what `buildLbEndpoint` would build, without building it.
 */
import { toBinary, type DescMessage, type JsonObject } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { FeatureSet_FieldPresence } from '@bufbuild/protobuf/wkt';
import { AddressSchema, PipeSchema, SocketAddressSchema, type Address } from '@skiff/protos/gen/envoy/config/core/v3/address_pb.js';
import { LocalitySchema, MetadataSchema, type Locality, type Metadata } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import {
  EndpointSchema,
  LbEndpointSchema,
  LocalityLbEndpointsSchema,
  type LbEndpoint,
  type LocalityLbEndpoints,
} from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_components_pb.js';
import { deferredLbEndpoints, type DeferredLbEndpoints } from './deferred-endpoints.js';
import { assignmentVersion, groupDigest, splicedAssignmentVersion } from './assignment-version.js';
import { sameBytes, sameItems, type EndpointBytesScope, type LocalityGroupBytes } from './endpoint-bytes.js';
import { buildWorkloadMetadata, ISTIO_METADATA_KEY, TRANSPORT_SOCKET_MATCH_METADATA_KEY } from './endpoint.js';
import { ISTIO_MUTUAL_TLS_MODE, type ServiceInstance } from './instances.js';
import { delimitedSize, utf8Length, varintSize } from '@skiff/protos/wire-size.js';

/** Thrown inside the fast path when a message has a shape it does not write; caught below. */
class UnsupportedShape extends Error {}
const UNSUPPORTED = new UnsupportedShape('shape not supported by the direct encoder');

type UnsetCheck = (message: Record<string, unknown>) => boolean;

function isZeroScalar(value: unknown): boolean {
  return value === 0 || value === '' || value === false || value === 0n || (value instanceof Uint8Array && value.length === 0);
}

/**
 * A check that every field of `schema` except `handled` (field numbers) is unset, and that the
 * message carries no unknown fields: only then are the handled fields all `toBinary` would write.
 * Conservative: a value it cannot prove unset counts as set (and sends the assignment to `toBinary`).
 */
function unhandledFieldsUnset(schema: DescMessage, handled: readonly number[]): UnsetCheck {
  const checks: UnsetCheck[] = [];
  for (const oneof of schema.oneofs) {
    if (oneof.fields.some((field) => handled.includes(field.number))) continue;
    const name = oneof.localName;
    checks.push((message) => (message[name] as { case: unknown } | undefined)?.case === undefined);
  }
  for (const field of schema.fields) {
    if (handled.includes(field.number) || field.oneof !== undefined) continue;
    const name = field.localName;
    switch (field.fieldKind) {
      case 'list':
        checks.push((message) => (message[name] as unknown[] | undefined)?.length === 0);
        break;
      case 'map':
        checks.push((message) => {
          const value = message[name] as object | undefined;
          return value !== undefined && Object.keys(value).length === 0;
        });
        break;
      case 'message':
        checks.push((message) => message[name] === undefined);
        break;
      default: {
        const implicit = field.presence === FeatureSet_FieldPresence.IMPLICIT;
        checks.push((message) => message[name] === undefined || (implicit && isZeroScalar(message[name])));
      }
    }
  }
  return (message) => {
    const unknown = message['$unknown'] as unknown[] | undefined;
    if (unknown !== undefined && unknown.length > 0) return false;
    for (const check of checks) if (!check(message)) return false;
    return true;
  };
}

function requireUnset(check: UnsetCheck, message: object): void {
  if (!check(message as Record<string, unknown>)) throw UNSUPPORTED;
}

const assignmentRest = unhandledFieldsUnset(ClusterLoadAssignmentSchema, [1, 2]);
const localityEndpointsRest = unhandledFieldsUnset(LocalityLbEndpointsSchema, [1, 2, 3, 5]);
const localityRest = unhandledFieldsUnset(LocalitySchema, [1, 2, 3]);
const lbEndpointRest = unhandledFieldsUnset(LbEndpointSchema, [1, 2, 3, 4]);
const endpointRest = unhandledFieldsUnset(EndpointSchema, [1]);
const addressRest = unhandledFieldsUnset(AddressSchema, [1, 2]);
const socketAddressRest = unhandledFieldsUnset(SocketAddressSchema, [2, 3]);
const pipeRest = unhandledFieldsUnset(PipeSchema, [1]);
const metadataRest = unhandledFieldsUnset(MetadataSchema, [1]);

/** `field` as a `google.protobuf.UInt32Value`: an empty message for 0, as `toBinary` writes it. */
function writeUInt32Wrapper(writer: BinaryWriter, field: number, value: number): void {
  writer.tag(field, WireType.LengthDelimited).fork();
  if (value !== 0) writer.tag(1, WireType.Varint).uint32(value);
  writer.join();
}

function writeString(writer: BinaryWriter, field: number, value: string): void {
  if (value !== '') writer.tag(field, WireType.LengthDelimited).string(value);
}

function writeLocality(writer: BinaryWriter, locality: Locality): void {
  requireUnset(localityRest, locality);
  writer.tag(1, WireType.LengthDelimited).fork();
  writeString(writer, 1, locality.region);
  writeString(writer, 2, locality.zone);
  writeString(writer, 3, locality.subZone);
  writer.join();
}

function writeAddress(writer: BinaryWriter, address: Address): void {
  requireUnset(addressRest, address);
  writer.tag(1, WireType.LengthDelimited).fork();
  const choice = address.address;
  if (choice.case === 'socketAddress') {
    const socket = choice.value;
    requireUnset(socketAddressRest, socket);
    writer.tag(1, WireType.LengthDelimited).fork();
    writeString(writer, 2, socket.address);
    const port = socket.portSpecifier;
    // A oneof member is written whenever its case is selected, even with a zero value.
    if (port.case === 'portValue') writer.tag(3, WireType.Varint).uint32(port.value);
    else if (port.case !== undefined) throw UNSUPPORTED;
    writer.join();
  } else if (choice.case === 'pipe') {
    requireUnset(pipeRest, choice.value);
    writer.tag(2, WireType.LengthDelimited).fork();
    writeString(writer, 1, choice.value.path);
    writer.join();
  } else if (choice.case !== undefined) {
    throw UNSUPPORTED;
  }
  writer.join();
}

/** `Metadata.filter_metadata`: map<string, Struct>, each Struct a map<string, Value> of strings here. */
function writeMetadata(writer: BinaryWriter, metadata: Metadata): void {
  requireUnset(metadataRest, metadata);
  writer.tag(3, WireType.LengthDelimited).fork();
  const filterMetadata = metadata.filterMetadata;
  for (const namespace of Object.keys(filterMetadata)) {
    const struct = filterMetadata[namespace] as JsonObject;
    writer.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(namespace);
    writer.tag(2, WireType.LengthDelimited).fork();
    for (const key of Object.keys(struct)) {
      const value = struct[key];
      if (typeof value !== 'string' || key === '$typeName') throw UNSUPPORTED;
      writer.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(key);
      // Value { string_value = 3 }: a oneof member, written even when empty.
      writer.tag(2, WireType.LengthDelimited).fork().tag(3, WireType.LengthDelimited).string(value).join();
      writer.join();
    }
    writer.join().join();
  }
  writer.join();
}

function writeLbEndpoint(writer: BinaryWriter, lbEndpoint: LbEndpoint): void {
  requireUnset(lbEndpointRest, lbEndpoint);
  writer.tag(2, WireType.LengthDelimited).fork();
  const host = lbEndpoint.hostIdentifier;
  if (host.case === 'endpoint') {
    const endpoint = host.value;
    requireUnset(endpointRest, endpoint);
    writer.tag(1, WireType.LengthDelimited).fork();
    if (endpoint.address !== undefined) writeAddress(writer, endpoint.address);
    writer.join();
  } else if (host.case !== undefined) {
    throw UNSUPPORTED;
  }
  if (lbEndpoint.healthStatus !== 0) writer.tag(2, WireType.Varint).int32(lbEndpoint.healthStatus);
  if (lbEndpoint.metadata !== undefined) writeMetadata(writer, lbEndpoint.metadata);
  if (lbEndpoint.loadBalancingWeight !== undefined) writeUInt32Wrapper(writer, 4, lbEndpoint.loadBalancingWeight);
  writer.join();
}

/**
 * A `filter_metadata` entry whose Struct holds one string, `{namespace: {key: <string value>}}`, as
 * `writeMetadata` writes it (map keys and the `Value` oneof member are written even when empty).
 * Only the value varies between endpoints: the rest is written once here.
 */
class StringStructEntry {
  private readonly namespace: Buffer;
  private readonly key: Buffer;

  constructor(namespace: string, key: string) {
    this.namespace = Buffer.from(namespace, 'utf8');
    this.key = Buffer.from(key, 'utf8');
  }

  /** The entry's message sizes, innermost first, for a value of `valueLength` bytes. */
  sizes(valueLength: number): { value: number; field: number; struct: number; entry: number } {
    const value = delimitedSize(valueLength);
    const field = delimitedSize(this.key.length) + delimitedSize(value);
    const struct = delimitedSize(field);
    const entry = delimitedSize(this.namespace.length) + delimitedSize(struct);
    return { value, field, struct, entry };
  }

  /** Bytes of the whole `filter_metadata` field (tag, length, entry). */
  fieldSize(valueLength: number): number {
    return delimitedSize(this.sizes(valueLength).entry);
  }

  write(out: InstanceFieldWriter, value: string, valueLength: number): void {
    const sizes = this.sizes(valueLength);
    out.header(0x0a, sizes.entry); // Metadata.filter_metadata = 1
    out.header(0x0a, this.namespace.length); // entry key = 1
    out.bytes(this.namespace);
    out.header(0x12, sizes.struct); // entry value = 2 (Struct)
    out.header(0x0a, sizes.field); // Struct.fields = 1
    out.header(0x0a, this.key.length); // entry key = 1
    out.bytes(this.key);
    out.header(0x12, sizes.value); // entry value = 2 (Value)
    out.header(0x1a, valueLength); // Value.string_value = 3
    out.string(value, valueLength);
  }
}

const TLS_MODE_ENTRY = new StringStructEntry(TRANSPORT_SOCKET_MATCH_METADATA_KEY, 'tlsMode');
const WORKLOAD_ENTRY = new StringStructEntry(ISTIO_METADATA_KEY, 'workload');
const ISTIO_MUTUAL_TLS_MODE_LENGTH = utf8Length(ISTIO_MUTUAL_TLS_MODE);

/** Writes into one buffer of the exact final size (computed first): tags, lengths and strings, no forks. */
class InstanceFieldWriter {
  readonly buffer: Buffer;
  offset = 0;

  constructor(size: number) {
    this.buffer = Buffer.allocUnsafeSlow(size);
  }

  varint(value: number): void {
    const buffer = this.buffer;
    while (value >= 0x80) {
      buffer[this.offset++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    buffer[this.offset++] = value;
  }

  /** A one-byte tag (field number below 16) and a length. */
  header(tag: number, length: number): void {
    this.buffer[this.offset++] = tag;
    this.varint(length);
  }

  /** A few constant bytes (a metadata namespace or key): copied in a loop, cheaper than `set` at this size. */
  bytes(value: Uint8Array): void {
    const buffer = this.buffer;
    let offset = this.offset;
    for (let i = 0; i < value.length; i++) buffer[offset++] = value[i] as number;
    this.offset = offset;
  }

  /** `value`, of `length` UTF-8 bytes (`utf8Length`: equal to its length only when it is ASCII). */
  string(value: string, length: number): void {
    if (length === value.length) {
      // ASCII: a UTF-8 length equal to the UTF-16 length means every character is one byte.
      const buffer = this.buffer;
      let offset = this.offset;
      for (let i = 0; i < length; i++) buffer[offset++] = value.charCodeAt(i);
    } else {
      this.buffer.write(value, this.offset, length, 'utf8');
    }
    this.offset += length;
  }
}

/** What one instance's `lb_endpoints` field is made of, measured before it is written. */
interface InstanceField {
  readonly instance: ServiceInstance;
  readonly workload: string;
  readonly workloadLength: number;
  readonly addressLength: number;
  /** `SocketAddress` (or `Pipe`) body, `Address`, `Endpoint` and `LbEndpoint` body sizes, `filter_metadata` bytes and the weight. */
  readonly socket: number;
  readonly address: number;
  readonly endpoint: number;
  readonly metadata: number;
  readonly weight: number;
  readonly body: number;
}

const UINT32_MAX = 0xffffffff;

/** A port or weight `toBinary` would refuse as a `uint32` is not written here either: the assignment goes to `toBinary`, which says why. */
function requireUint32(value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) throw UNSUPPORTED;
}

function measureInstanceField(instance: ServiceInstance, clusterId: string): InstanceField {
  const weight = instance.weight > 0 ? instance.weight : 1;
  requireUint32(instance.port);
  requireUint32(weight);
  const workload = buildWorkloadMetadata(instance, clusterId);
  const workloadLength = utf8Length(workload);
  const addressLength = utf8Length(instance.address);
  // Socket address { address = 2 (omitted when empty), port_value = 3 (a oneof member: always) }, or Pipe { path = 1 } for port 0.
  const addressField = addressLength === 0 ? 0 : delimitedSize(addressLength);
  const socket = instance.port === 0 ? addressField : addressField + 1 + varintSize(instance.port);
  const address = delimitedSize(socket);
  const endpoint = delimitedSize(address);
  const metadata = (instance.tlsMode === ISTIO_MUTUAL_TLS_MODE ? TLS_MODE_ENTRY.fieldSize(ISTIO_MUTUAL_TLS_MODE_LENGTH) : 0) + WORKLOAD_ENTRY.fieldSize(workloadLength);
  // LbEndpoint { endpoint = 1, metadata = 3, load_balancing_weight = 4 (UInt32Value { value = 1 }) }.
  const body = delimitedSize(endpoint) + delimitedSize(metadata) + delimitedSize(1 + varintSize(weight));
  return { instance, workload, workloadLength, addressLength, socket, address, endpoint, metadata, weight, body };
}

function writeMeasuredInstanceField(out: InstanceFieldWriter, field: InstanceField): void {
  const { instance } = field;
  out.header(0x12, field.body); // LocalityLbEndpoints.lb_endpoints = 2
  out.header(0x0a, field.endpoint); // LbEndpoint.endpoint = 1
  out.header(0x0a, field.address); // Endpoint.address = 1
  if (instance.port === 0) {
    out.header(0x12, field.socket); // Address.pipe = 2
    if (field.addressLength > 0) out.header(0x0a, field.addressLength); // Pipe.path = 1
  } else {
    out.header(0x0a, field.socket); // Address.socket_address = 1
    if (field.addressLength > 0) out.header(0x12, field.addressLength); // SocketAddress.address = 2
  }
  out.string(instance.address, field.addressLength);
  if (instance.port !== 0) {
    out.buffer[out.offset++] = 0x18; // SocketAddress.port_value = 3
    out.varint(instance.port);
  }
  out.header(0x1a, field.metadata); // LbEndpoint.metadata = 3, `envoy.transport_socket_match` first, as it is inserted first
  if (instance.tlsMode === ISTIO_MUTUAL_TLS_MODE) TLS_MODE_ENTRY.write(out, ISTIO_MUTUAL_TLS_MODE, ISTIO_MUTUAL_TLS_MODE_LENGTH);
  WORKLOAD_ENTRY.write(out, field.workload, field.workloadLength);
  out.header(0x22, 1 + varintSize(field.weight)); // LbEndpoint.load_balancing_weight = 4 (unset becomes 1)
  out.buffer[out.offset++] = 0x08; // UInt32Value.value = 1
  out.varint(field.weight);
}

/**
 * The `lb_endpoints` fields (tag, length, `LbEndpoint`) of `instances` in a cluster of `clusterId`,
 * the bytes of what `buildLbEndpoint(instance, clusterId)` builds, in one buffer of the exact size;
 * `ends[i]` is where instance `i`'s field ends. Every field is measured first and then written
 * straight into place, where protobuf-es's `BinaryWriter` copied each nested message into its parent
 * on `join`: seven levels, a copy and an allocation each, for every endpoint of a cold build.
 */
function instanceFields(instances: readonly ServiceInstance[], clusterId: string): { readonly bytes: Uint8Array; readonly ends: Uint32Array } {
  const fields = instances.map((instance) => measureInstanceField(instance, clusterId));
  let size = 0;
  for (const field of fields) size += delimitedSize(field.body);
  if (size === 0) return { bytes: NO_BYTES, ends: new Uint32Array(0) };
  const out = new InstanceFieldWriter(size);
  const ends = new Uint32Array(fields.length);
  for (let i = 0; i < fields.length; i++) {
    writeMeasuredInstanceField(out, fields[i] as InstanceField);
    ends[i] = out.offset;
  }
  if (out.offset !== size) throw new Error(`lb_endpoints of ${clusterId}: wrote ${out.offset} bytes, measured ${size}`);
  return { bytes: out.buffer, ends };
}

/** Where an assignment's framing (its name, each group's locality, header and tail) is written before it is copied into place; emptied by each `finish`. */
const scratch = new BinaryWriter();

const NO_BYTES = new Uint8Array(0);

function writeDeferredEndpoints(writer: BinaryWriter, source: DeferredLbEndpoints): void {
  writer.raw(instanceFields(source.instances, source.clusterId).bytes);
}

function writeLocalityLbEndpoints(writer: BinaryWriter, group: LocalityLbEndpoints): void {
  requireUnset(localityEndpointsRest, group);
  writer.tag(2, WireType.LengthDelimited).fork();
  if (group.locality !== undefined) writeLocality(writer, group.locality);
  const source = deferredLbEndpoints(group);
  if (source !== undefined) writeDeferredEndpoints(writer, source);
  else for (const lbEndpoint of group.lbEndpoints) writeLbEndpoint(writer, lbEndpoint);
  writeLocalityLbEndpointsTail(writer, group);
  writer.join();
}

/** The fields of a `LocalityLbEndpoints` after its endpoints. */
function writeLocalityLbEndpointsTail(writer: BinaryWriter, group: LocalityLbEndpoints): void {
  if (group.loadBalancingWeight !== undefined) writeUInt32Wrapper(writer, 3, group.loadBalancingWeight);
  if (group.priority !== 0) writer.tag(5, WireType.Varint).uint32(group.priority);
}

function sameBytesOf(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** How far ahead of where the walk is the previous group's endpoints are searched for an instance. */
const ENTRY_WINDOW = 8;

/**
 * A locality group whose endpoints changed, before it is copied into the assignment: endpoint `i`
 * is at `[starts[i], ends[i])` of the previous group's bytes, or of `fresh` (the endpoints written
 * now, in order) when `isFresh[i]` is 1. Without `starts`, every endpoint was written now: `fresh`
 * holds them in order and `ends` are already where they end in it (a group's first encoding, which
 * a cold build makes of every group, so it allocates no more than it must).
 */
interface ChangedGroup {
  readonly locality: Uint8Array;
  readonly instances: readonly ServiceInstance[];
  readonly clusterId: string;
  readonly starts: Uint32Array | undefined;
  readonly ends: Uint32Array;
  readonly isFresh: Uint8Array | undefined;
  readonly fresh: Uint8Array;
  readonly previous: Uint8Array;
  /** The endpoints' fields' total length. */
  readonly length: number;
}

/** Every instance of a group written now, in order: a group no earlier encoding has bytes for. */
function freshGroup(instances: readonly ServiceInstance[], clusterId: string, locality: Uint8Array): ChangedGroup {
  const { bytes: fresh, ends } = instanceFields(instances, clusterId);
  return { locality, instances, clusterId, starts: undefined, ends, isFresh: undefined, fresh, previous: NO_BYTES, length: fresh.length };
}

/**
 * The `lb_endpoints` of a locality group, `last` being the same locality's group in the assignment's
 * last encoding. The same instance objects in the same order (instances are immutable, and kept
 * between builds: `PortInstances`) are those bytes again, checked in one pass of comparisons.
 * Otherwise the group's endpoints are found by walking its instances beside `last`'s, as
 * `alignByIdentity` does but comparing the inputs of the bytes (`sameBytes`) where the objects
 * differ; an instance with no endpoint there is written now. The caller puts a changed group's bytes
 * together in the assignment's (`spliceClusterLoadAssignment`).
 */
function groupBytesOf(source: DeferredLbEndpoints, locality: Uint8Array, last: LocalityGroupBytes | undefined): LocalityGroupBytes | ChangedGroup {
  const { instances, clusterId } = source;
  // Bytes written for another cluster carry its name: none of them can be used.
  const previous = last !== undefined && last.clusterId === clusterId ? last : undefined;
  if (previous === undefined) return freshGroup(instances, clusterId, locality);
  if (sameItems(previous.instances, instances)) return previous;
  const count = instances.length;
  const previousInstances = previous.instances;
  const previousEnds = previous.ends;
  const starts = new Uint32Array(count);
  const ends = new Uint32Array(count);
  const isFresh = new Uint8Array(count);
  let same = previousInstances.length === count;
  const unmatched: ServiceInstance[] = [];
  let j = 0;
  for (let i = 0; i < count; i++) {
    const instance = instances[i] as ServiceInstance;
    let found = -1;
    for (let k = j; k < previousInstances.length && k <= j + ENTRY_WINDOW; k++) {
      if (sameBytes(previousInstances[k] as ServiceInstance, instance)) {
        found = k;
        j = k + 1;
        break;
      }
    }
    if (found === -1) {
      unmatched.push(instance);
      isFresh[i] = 1;
      same = false;
    } else {
      starts[i] = found === 0 ? 0 : (previousEnds[found - 1] as number);
      ends[i] = previousEnds[found] as number;
      if (found !== i) same = false;
    }
  }
  // Other instance objects, the same bytes: kept with these instances, so the next build compares them.
  if (same) return { ...previous, locality, instances };
  const written = instanceFields(unmatched, clusterId);
  const fresh = written.bytes;
  let next = 0;
  let length = 0;
  for (let i = 0; i < count; i++) {
    if (isFresh[i] === 1) {
      starts[i] = next === 0 ? 0 : (written.ends[next - 1] as number);
      ends[i] = written.ends[next] as number;
      next++;
    }
    length += (ends[i] as number) - (starts[i] as number);
  }
  return { locality, instances, clusterId, starts, ends, isFresh, fresh, previous: previous.bytes, length };
}

/**
 * Copies a changed group's endpoints to `bytes` at `offset`, a run of endpoints adjacent in the
 * bytes they are in at a time; returns the group, its bytes a view of those.
 */
function placeGroup(group: ChangedGroup, bytes: Uint8Array, offset: number): LocalityGroupBytes {
  const { starts, ends, isFresh } = group;
  if (starts === undefined || isFresh === undefined) {
    bytes.set(group.fresh, offset);
    return { locality: group.locality, instances: group.instances, clusterId: group.clusterId, ends, bytes: bytes.subarray(offset, offset + group.fresh.length), digest: undefined };
  }
  const count = starts.length;
  const placedEnds = new Uint32Array(count);
  let at = 0;
  for (let i = 0; i < count; ) {
    const fromFresh = isFresh[i];
    const runStart = starts[i] as number;
    let runEnd = ends[i] as number;
    let next = i + 1;
    while (next < count && isFresh[next] === fromFresh && starts[next] === runEnd) runEnd = ends[next++] as number;
    bytes.set((fromFresh === 1 ? group.fresh : group.previous).subarray(runStart, runEnd), offset + at);
    for (; i < next; i++) {
      at += (ends[i] as number) - (starts[i] as number);
      placedEnds[i] = at;
    }
  }
  return { locality: group.locality, instances: group.instances, clusterId: group.clusterId, ends: placedEnds, bytes: bytes.subarray(offset, offset + at), digest: undefined };
}

/** The `groupDigest` of a group's content: the one kept with its endpoints when the fields after them are the same. */
function digestOf(group: LocalityGroupBytes, tail: Uint8Array): Uint8Array {
  const kept = group.digest;
  if (kept !== undefined && sameBytesOf(kept.tail, tail)) return kept.value;
  const value = groupDigest(group.locality, group.bytes, tail);
  group.digest = { tail, value };
  return value;
}

/**
 * The group of `groups` with this `locality` field that no other group of this encoding took, if
 * any: a group reused whole is moved into the new assignment's bytes, so two groups never share one
 * (two spellings of a locality, `a/b` and `a/b/`, are two groups with one locality field).
 */
function groupAt(groups: readonly LocalityGroupBytes[], locality: Uint8Array, position: number, taken: Set<LocalityGroupBytes>): LocalityGroupBytes | undefined {
  const atPosition = groups[position];
  const found = atPosition !== undefined && !taken.has(atPosition) && sameBytesOf(atPosition.locality, locality) ? atPosition : groups.find((group) => !taken.has(group) && sameBytesOf(group.locality, locality));
  if (found !== undefined) taken.add(found);
  return found;
}

/** An encoded assignment and its `assignmentVersion`. */
export interface VersionedAssignment {
  readonly bytes: Uint8Array;
  readonly version: string;
}

/**
 * `encodeClusterLoadAssignment` splicing the endpoints from their bytes: each locality group is its
 * framing (tag, length, locality) around the endpoints' bytes, all copied once into the assignment's
 * bytes, of which the groups kept are then views. The version is taken from the groups' digests,
 * which a group reused whole keeps.
 */
function spliceClusterLoadAssignment(assignment: ClusterLoadAssignment, endpoints: EndpointBytesScope): VersionedAssignment {
  const cached = endpoints.assignment(assignment.clusterName);
  requireUnset(assignmentRest, assignment);
  writeString(scratch, 1, assignment.clusterName);
  const head = scratch.finish();
  // Each group's framing, endpoints and tail, or a group written whole (endpoint messages already built).
  const parts: ({ readonly header: Uint8Array; readonly locality: Uint8Array; readonly group: LocalityGroupBytes | ChangedGroup; readonly tail: Uint8Array } | Uint8Array)[] = [];
  let total = head.length;
  const taken = new Set<LocalityGroupBytes>();
  for (const [position, group] of assignment.endpoints.entries()) {
    const source = deferredLbEndpoints(group);
    if (source === undefined) {
      writeLocalityLbEndpoints(scratch, group);
      const written = scratch.finish();
      parts.push(written);
      total += written.length;
      continue;
    }
    requireUnset(localityEndpointsRest, group);
    if (group.locality !== undefined) writeLocality(scratch, group.locality);
    const locality = scratch.finish();
    writeLocalityLbEndpointsTail(scratch, group);
    const tail = scratch.finish();
    const lbEndpoints = groupBytesOf(source, locality, groupAt(cached.groups, locality, position, taken));
    const length = 'starts' in lbEndpoints ? lbEndpoints.length : lbEndpoints.bytes.length;
    scratch.tag(2, WireType.LengthDelimited).uint32(locality.length + length + tail.length);
    const header = scratch.finish();
    parts.push({ header, locality, group: lbEndpoints, tail });
    total += header.length + locality.length + length + tail.length;
  }
  const bytes = new Uint8Array(total);
  bytes.set(head, 0);
  let offset = head.length;
  const groups: LocalityGroupBytes[] = [];
  const versionParts: { header: Uint8Array; digest: Uint8Array }[] = [];
  let versioned = true;
  for (const part of parts) {
    if (part instanceof Uint8Array) {
      bytes.set(part, offset);
      offset += part.length;
      versioned = false;
      continue;
    }
    bytes.set(part.header, offset);
    offset += part.header.length;
    bytes.set(part.locality, offset);
    offset += part.locality.length;
    let group: LocalityGroupBytes;
    if ('starts' in part.group) {
      group = placeGroup(part.group, bytes, offset);
    } else {
      // The same bytes, moved into these: the previous assignment's are not kept alive for it.
      group = part.group;
      bytes.set(group.bytes, offset);
      group.bytes = bytes.subarray(offset, offset + group.bytes.length);
    }
    offset += group.bytes.length;
    bytes.set(part.tail, offset);
    offset += part.tail.length;
    groups.push(group);
    if (versioned) versionParts.push({ header: part.header, digest: digestOf(group, part.tail) });
  }
  cached.groups = groups;
  return { bytes, version: versioned ? splicedAssignmentVersion(head, versionParts) : assignmentVersion(bytes) };
}

/** The bytes of `toBinary(ClusterLoadAssignmentSchema, assignment)`, written directly when the shape allows. */
function writeClusterLoadAssignment(assignment: ClusterLoadAssignment): Uint8Array {
  try {
    requireUnset(assignmentRest, assignment);
    const writer = new BinaryWriter();
    writeString(writer, 1, assignment.clusterName);
    for (const group of assignment.endpoints) writeLocalityLbEndpoints(writer, group);
    return writer.finish();
  } catch (error) {
    if (error !== UNSUPPORTED) throw error;
    scratch.finish(); // the fallback may leave a message half written there
    return toBinary(ClusterLoadAssignmentSchema, assignment);
  }
}

/**
 * The bytes of `toBinary(ClusterLoadAssignmentSchema, assignment)` and their `assignmentVersion`.
 * With `endpoints`, the scope of the owner's build, endpoints written by the owner's previous build
 * (or earlier in this one) are spliced in from their bytes instead of being written again, and the
 * digests of locality groups it encoded the same are reused.
 */
export function encodeVersionedClusterLoadAssignment(assignment: ClusterLoadAssignment, endpoints?: EndpointBytesScope): VersionedAssignment {
  if (endpoints?.recording === true) {
    try {
      return spliceClusterLoadAssignment(assignment, endpoints);
    } catch (error) {
      if (error !== UNSUPPORTED) throw error;
      scratch.finish(); // the fallback may leave a message half written there
    }
  }
  const bytes = writeClusterLoadAssignment(assignment);
  return { bytes, version: assignmentVersion(bytes) };
}

/** The bytes of `encodeVersionedClusterLoadAssignment`, without the version. */
export function encodeClusterLoadAssignment(assignment: ClusterLoadAssignment, endpoints?: EndpointBytesScope): Uint8Array {
  if (endpoints?.recording === true) return encodeVersionedClusterLoadAssignment(assignment, endpoints).bytes;
  return writeClusterLoadAssignment(assignment);
}
