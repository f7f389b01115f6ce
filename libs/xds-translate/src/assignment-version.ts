/**
 * The version of an encoded ClusterLoadAssignment: a content hash, like every resource's
 * (`version.ts`), taken in two levels so that a rebuild can reuse the hashes of the locality groups
 * that did not change. It is the SHA-256 of the assignment's bytes in which every locality group
 * (`endpoints`, field 2) keeps its tag and length and has its content replaced by the SHA-256 of that
 * content; every other field is hashed as it is.
 *
 * Why: hashing a 2,000-endpoint assignment whole (about 300 KB) cost a large share of rebuilding it
 * when one workload changed, and an update changes one locality group. The version is still a
 * function of the bytes alone, so replicas building the same bytes name them alike, and any change
 * of a byte changes it: the replaced form can be read back field by field (tags and lengths are
 * kept, a digest is always 32 bytes), so two different assignments hash different input.
 */
import { createHash, hash as oneShotHash, type Hash } from 'node:crypto';

/** `endpoints` (`LocalityLbEndpoints`), the repeated field of a ClusterLoadAssignment hashed by its parts. */
const ENDPOINTS_FIELD = 2;

/** SHA-256 of a locality group's content: `parts` concatenated (locality, endpoints, the fields after them). */
export function groupDigest(...parts: readonly Uint8Array[]): Buffer {
  // One part (a group read back from bytes) is hashed in one call, which costs half of a `Hash` object's three.
  if (parts.length === 1) return oneShotHash('sha256', parts[0]!, 'buffer');
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** A varint at `offset`: its value and where it ends, or undefined past the end of `bytes`. */
function readVarint(bytes: Uint8Array, offset: number): { value: number; end: number } | undefined {
  let value = 0;
  let scale = 1;
  let at = offset;
  for (;;) {
    if (at >= bytes.length || scale > 2 ** 63) return undefined;
    const byte = bytes[at++] as number;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return { value, end: at };
  }
}

/**
 * Feeds `hash` the assignment's top-level fields, each locality group as its tag, length and
 * `groupDigest` of its content; false when `bytes` are not a sequence of fields (nothing this package
 * encodes), leaving `hash` half fed.
 */
function hashFields(hash: Hash, bytes: Uint8Array): boolean {
  let offset = 0;
  while (offset < bytes.length) {
    const start = offset;
    const tag = readVarint(bytes, offset);
    if (tag === undefined) return false;
    offset = tag.end;
    switch (tag.value & 7) {
      case 0: {
        const value = readVarint(bytes, offset);
        if (value === undefined) return false;
        offset = value.end;
        break;
      }
      case 1:
        offset += 8;
        break;
      case 5:
        offset += 4;
        break;
      case 2: {
        const length = readVarint(bytes, offset);
        if (length === undefined || length.end + length.value > bytes.length) return false;
        if (tag.value >>> 3 === ENDPOINTS_FIELD) {
          hash.update(bytes.subarray(start, length.end));
          hash.update(groupDigest(bytes.subarray(length.end, length.end + length.value)));
          offset = length.end + length.value;
          continue;
        }
        offset = length.end + length.value;
        break;
      }
      default:
        return false;
    }
    if (offset > bytes.length) return false;
    hash.update(bytes.subarray(start, offset));
  }
  return true;
}

/**
 * The version of the encoded assignment `bytes` (see above). Bytes that are not a sequence of
 * fields, which no encoder here writes, are versioned by the SHA-256 of the whole.
 */
export function assignmentVersion(bytes: Uint8Array): string {
  const hash = createHash('sha256');
  if (hashFields(hash, bytes)) return hash.digest('hex');
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * `assignmentVersion` of an assignment put together from parts: `head` (the fields before the
 * locality groups), then per group its tag and length (`header`) and the `groupDigest` of its
 * content, in order. The same value as `assignmentVersion` of the concatenated bytes.
 */
export function splicedAssignmentVersion(head: Uint8Array, groups: readonly { readonly header: Uint8Array; readonly digest: Uint8Array }[]): string {
  const hash = createHash('sha256').update(head);
  for (const { header, digest } of groups) hash.update(header).update(digest);
  return hash.digest('hex');
}
