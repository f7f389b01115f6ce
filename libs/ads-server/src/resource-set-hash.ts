/**
 * The `version_info` of a type on a stream: a digest of the set of (name, version) pairs the client
 * holds. It is order-independent and updated per entry (XOR of per-entry hashes), so a push that
 * changes one resource of thousands costs one hash, and it depends only on content: a client that
 * reconnects to another replica with the same resources sees the same version (STYLE.md rule 10).
 */
import { hash } from 'node:crypto';

/** The empty set's version: never the empty string, which clients send before their first ACK. */
const EMPTY_SET_VERSION = '0000000000000000';

/** 64 bits of SHA-1 over the pair; the separator keeps ("ab","c") and ("a","bc") apart. */
function entryHash(name: string, version: string): readonly [number, number] {
  const hex = hash('sha1', `${name}\u0000${version}`, 'hex');
  return [Number.parseInt(hex.slice(0, 8), 16), Number.parseInt(hex.slice(8, 16), 16)];
}

export class ResourceSetHash {
  private high = 0;
  private low = 0;

  /** Adds a pair (or removes it: XOR is its own inverse). */
  toggle(name: string, version: string): void {
    const [high, low] = entryHash(name, version);
    this.high = (this.high ^ high) >>> 0;
    this.low = (this.low ^ low) >>> 0;
  }

  clear(): void {
    this.high = 0;
    this.low = 0;
  }

  /** 16 hex digits. */
  toString(): string {
    if (this.high === 0 && this.low === 0) return EMPTY_SET_VERSION;
    return this.high.toString(16).padStart(8, '0') + this.low.toString(16).padStart(8, '0');
  }
}
