/**
 * What a client holds of one resource type, as far as the server knows: name -> version, and the
 * set's `version_info`. Immutable, and shared by every stream that holds the same thing.
 *
 * Why: a sidecar's Cluster state is the same as its neighbours' (every sidecar of a namespace is sent
 * the same clusters at the same versions), so a map per stream held one copy of the same entries per
 * proxy: about 7 KB for 150 clusters, a third of a stream's heap in the gateway benchmark, and every
 * full collection marked all of it. Streams now move from set to set by the changes they are sent,
 * and a set remembers where each batch of changes led (`with`): the first stream to make a move builds
 * the next set, the others find it. A stream costs a reference, whatever the size of its state.
 */
import { hash } from 'node:crypto';
import { entryDigest, resourceDigest, setVersion, type EntryDigest } from './resource-set-hash.js';
import type { ServedResource } from './provider.js';

/**
 * In delta: the client was told (in `removed_resources`) that this explicitly subscribed name does
 * not exist, so it is not reported again until it appears or is subscribed again.
 */
export const ABSENT = '';

/** What the client holds of one name: the version and its digest (none for `ABSENT`). */
export interface HeldResource {
  readonly version: string;
  readonly digest: EntryDigest | undefined;
}

/** A change of one name: what the client holds of it now, or null when it holds nothing of it. */
export type HeldChanges = ReadonlyMap<string, HeldResource | null>;

/** Moves remembered per set; beyond this, those whose set is gone are dropped, then the oldest. */
const MAX_REMEMBERED_MOVES = 256;

/** Keys of longer change lists are hashed, so that a remembered move never keeps a large string. */
const MAX_PLAIN_KEY_LENGTH = 256;

/** The entry of a served resource, one per resource object (the provider shares one per version), so that streams share entries too. */
const heldEntries = new WeakMap<ServedResource, HeldResource>();

export function heldResource(resource: ServedResource): HeldResource {
  let held = heldEntries.get(resource);
  if (held === undefined) heldEntries.set(resource, (held = { version: resource.version, digest: resourceDigest(resource) }));
  return held;
}

/** An entry the client reported holding (`initial_resource_versions`). */
export function heldVersion(name: string, version: string): HeldResource {
  return { version, digest: entryDigest(name, version) };
}

export const ABSENT_ENTRY: HeldResource = { version: ABSENT, digest: undefined };

/** A change's part of a key after its name: forgotten, `ABSENT`, or held at a version (length-prefixed). */
function changeKey(held: HeldResource | null): string {
  if (held === null) return '-';
  if (held.digest === undefined) return '!';
  return `${held.version.length}=${held.version}`;
}

/**
 * The key of a list of changes: every name and what it became, length-prefixed so that no two lists
 * share one, hashed when long.
 */
function movesKey(changes: HeldChanges): string {
  let key = '';
  for (const [name, held] of changes) key += `${name.length}:${name}${changeKey(held)}`;
  return key.length > MAX_PLAIN_KEY_LENGTH ? hash('sha256', key, 'base64') : key;
}

export class HeldSet {
  static readonly EMPTY = new HeldSet(new Map(), 0, 0);

  /** Entries holding a resource (not `ABSENT`). */
  readonly heldCount: number;
  private versionText: string | undefined;
  /** Where each list of changes applied to this set led, while a stream still holds that set. */
  private moves: Map<string, WeakRef<HeldSet>> | undefined;

  private constructor(
    private readonly entries: ReadonlyMap<string, HeldResource>,
    /** The set's digest: the XOR of its held entries' digests, in two 32-bit halves. */
    private readonly high: number,
    private readonly low: number,
  ) {
    let count = 0;
    for (const held of entries.values()) if (held.digest !== undefined) count += 1;
    this.heldCount = count;
  }

  get(name: string): HeldResource | undefined {
    return this.entries.get(name);
  }

  /** Names held or told `ABSENT`. */
  names(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** The type's `version_info`: the digest of the (name, version) pairs held (`ResourceSetHash`). */
  get version(): string {
    this.versionText ??= setVersion(this.high, this.low);
    return this.versionText;
  }

  /**
   * This set with `changes` applied in order (a name whose version is the one held stays as it is):
   * the same object for every stream that applies the same changes to this set, for as long as one
   * of them holds it; this set itself when nothing changes.
   */
  with(changes: HeldChanges): HeldSet {
    if (changes.size === 0) return this;
    const key = movesKey(changes);
    const known = this.moves?.get(key)?.deref();
    if (known !== undefined) return known;
    const next = this.applied(changes);
    if (next !== this) this.remember(key, next);
    return next;
  }

  private applied(changes: HeldChanges): HeldSet {
    let entries: Map<string, HeldResource> | undefined;
    let high = this.high;
    let low = this.low;
    for (const [name, held] of changes) {
      const previous = (entries ?? this.entries).get(name);
      if (held === null ? previous === undefined : previous?.version === held.version) continue;
      entries ??= new Map(this.entries);
      if (previous?.digest !== undefined) {
        high = (high ^ previous.digest[0]) >>> 0;
        low = (low ^ previous.digest[1]) >>> 0;
      }
      if (held === null) {
        entries.delete(name);
        continue;
      }
      if (held.digest !== undefined) {
        high = (high ^ held.digest[0]) >>> 0;
        low = (low ^ held.digest[1]) >>> 0;
      }
      entries.set(name, held);
    }
    return entries === undefined ? this : new HeldSet(entries, high, low);
  }

  private remember(key: string, next: HeldSet): void {
    this.moves ??= new Map();
    if (this.moves.size >= MAX_REMEMBERED_MOVES) {
      for (const [known, target] of this.moves) if (target.deref() === undefined) this.moves.delete(known);
      if (this.moves.size >= MAX_REMEMBERED_MOVES) this.moves.delete(this.moves.keys().next().value as string);
    }
    this.moves.set(key, new WeakRef(next));
  }
}
