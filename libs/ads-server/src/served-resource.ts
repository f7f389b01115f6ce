/** Building a `ServedResource`: the resource bytes wrapped in a `google.protobuf.Any` once, for every push. */
import { contentVersion } from '@skiff/protos';
import type { ServedResource } from './provider.js';
import { encodeAny } from './wire.js';

/**
 * Wraps a serialized resource for serving: `anyBytes` is the `Any{type_url, value: bytes}` encoded
 * here once. `version` defaults to the content hash of `bytes`.
 */
export function servedResource(typeUrl: string, name: string, bytes: Uint8Array, version: string = contentVersion(bytes)): ServedResource {
  const anyBytes = encodeAny(typeUrl, bytes);
  return { name, version, anyBytes, bytes };
}
