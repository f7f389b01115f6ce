/** Building a `ServedResource`: the resource bytes wrapped in a `google.protobuf.Any` once, for every push. */
import { create, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { contentVersion } from '@skiff/protos';
import type { ServedResource } from './provider.js';

/**
 * Wraps a serialized resource for serving: `anyBytes` is the `Any{type_url, value: bytes}` encoded
 * here once. `version` defaults to the content hash of `bytes`.
 */
export function servedResource(typeUrl: string, name: string, bytes: Uint8Array, version: string = contentVersion(bytes)): ServedResource {
  const anyBytes = toBinary(AnySchema, create(AnySchema, { typeUrl, value: bytes }));
  return { name, version, anyBytes, bytes };
}
