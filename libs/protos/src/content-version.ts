import { createHash } from 'node:crypto';

/**
 * A serialized resource's version: the lowercase hex SHA-256 of its bytes (go-control-plane
 * `pkg/cache/v3/cached_resource.go`). Any replica that builds the same bytes names them alike, so a
 * proxy that reconnects to another gateway is sent nothing again.
 */
export function contentVersion(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
