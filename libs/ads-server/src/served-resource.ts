/** Building a `ServedResource`: the resource bytes wrapped in a `google.protobuf.Any` once, for every push. */
import { createHash } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import type { ServedResource } from './provider.js';

/** Lowercase hex SHA-256 of the bytes: the content-hash version every replica computes alike. */
export function contentVersion(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Wraps a serialized resource for serving: `anyBytes` is the `Any{type_url, value: bytes}` encoded
 * here once. `version` defaults to the content hash of `bytes`.
 */
export function servedResource(typeUrl: string, name: string, bytes: Uint8Array, version: string = contentVersion(bytes)): ServedResource {
  const anyBytes = toBinary(AnySchema, create(AnySchema, { typeUrl, value: bytes }));
  return { name, version, anyBytes, bytes };
}
