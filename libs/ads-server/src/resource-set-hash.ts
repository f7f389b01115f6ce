/**
 * The `version_info` of a type on a stream: a digest of the set of (name, version) pairs the client
 * holds. It is order-independent and updated per entry (XOR of per-entry digests), so a push that
 * changes one resource of thousands costs one update, and it depends only on content: a client that
 * reconnects to another replica with the same resources sees the same version (docs/xds-protocol.md#versions-and-nonces).
 */
import { hash } from 'node:crypto';
import type { ServedResource } from './provider.js';

/** 64 bits of one (name, version) pair. */
export type EntryDigest = readonly [high: number, low: number];

/** The empty set's version: never the empty string, which clients send before their first ACK. */
const EMPTY_SET_VERSION = '0000000000000000';

/** SHA-1 of the pair, first 64 bits; the separator keeps ("ab","c") and ("a","bc") apart. */
export function entryDigest(name: string, version: string): EntryDigest {
  const hex = hash('sha1', `${name}\u0000${version}`, 'hex');
  return [Number.parseInt(hex.slice(0, 8), 16), Number.parseInt(hex.slice(8, 16), 16)];
}

/**
 * A served resource's digest, computed once per resource object: the provider shares one object per
 * version with every proxy, so a push to many proxies hashes it once, not once per proxy.
 */
const resourceDigests = new WeakMap<ServedResource, EntryDigest>();
export function resourceDigest(resource: ServedResource): EntryDigest {
  let digest = resourceDigests.get(resource);
  if (digest === undefined) resourceDigests.set(resource, (digest = entryDigest(resource.name, resource.version)));
  return digest;
}

/** The version of a set whose digest is `high`, `low`: 16 hex digits. */
export function setVersion(high: number, low: number): string {
  if (high === 0 && low === 0) return EMPTY_SET_VERSION;
  return high.toString(16).padStart(8, '0') + low.toString(16).padStart(8, '0');
}

export class ResourceSetHash {
  private high = 0;
  private low = 0;

  /** Adds an entry, or removes it: XOR is its own inverse. */
  toggle(digest: EntryDigest): void {
    this.high = (this.high ^ digest[0]) >>> 0;
    this.low = (this.low ^ digest[1]) >>> 0;
  }

  clear(): void {
    this.high = 0;
    this.low = 0;
  }

  /** 16 hex digits. */
  toString(): string {
    return setVersion(this.high, this.low);
  }
}
