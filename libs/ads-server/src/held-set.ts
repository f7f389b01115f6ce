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
 * A set is a base map shared along a line of moves, with the changes since on top (`applied`), so a
 * move costs about the square root of the set's size rather than a copy of it.
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

/**
 * A name's entry on top of the base map: what is held now (null: nothing), and whether the name
 * comes after the base's names (it is new, or was dropped and held again), as a copied map would
 * have appended it.
 */
interface OverlayEntry {
  readonly held: HeldResource | null;
  readonly appended: boolean;
}

const DROPPED: OverlayEntry = { held: null, appended: false };

/**
 * Entries on top of a base before they are merged into a new base. A move copies its set's overlay,
 * and a merge copies the whole set: with the overlay at about sqrt(2 * size) entries, a change costs
 * about that many entries of copying, where a copy of the set per change cost its size (a sidecar's
 * thousand endpoint names, once per change of one of them; garbage that outlived young collections
 * and made full ones come sooner).
 */
function overlayLimit(baseSize: number): number {
  return Math.max(8, Math.ceil(Math.sqrt(2 * baseSize)));
}

export class HeldSet {
  static readonly EMPTY = new HeldSet(new Map(), new Map(), 0, 0, 0);

  private versionText: string | undefined;
  /** Where each list of changes applied to this set led, while a stream still holds that set. */
  private moves: Map<string, WeakRef<HeldSet>> | undefined;

  private constructor(
    /** Shared by the sets moved from one another since it was made, never changed. */
    private readonly base: ReadonlyMap<string, HeldResource>,
    /** This set's changes on top of `base`, in the order a copied map would have them. */
    private readonly overlay: ReadonlyMap<string, OverlayEntry>,
    /** Entries holding a resource (not `ABSENT`). */
    readonly heldCount: number,
    /** The set's digest: the XOR of its held entries' digests, in two 32-bit halves. */
    private readonly high: number,
    private readonly low: number,
  ) {}

  get(name: string): HeldResource | undefined {
    const over = this.overlay.get(name);
    return over === undefined ? this.base.get(name) : (over.held ?? undefined);
  }

  /** Names held or told `ABSENT`, in the order they came (a name dropped and held again comes last). */
  *names(): IterableIterator<string> {
    for (const name of this.base.keys()) {
      const over = this.overlay.get(name);
      if (over === undefined || (over.held !== null && !over.appended)) yield name;
    }
    for (const [name, over] of this.overlay) if (over.held !== null && over.appended) yield name;
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
    let overlay: Map<string, OverlayEntry> | undefined;
    let count = this.heldCount;
    let high = this.high;
    let low = this.low;
    for (const [name, held] of changes) {
      const over = (overlay ?? this.overlay).get(name);
      const previous = over === undefined ? this.base.get(name) : (over.held ?? undefined);
      if (held === null ? previous === undefined : previous?.version === held.version) continue;
      overlay ??= new Map(this.overlay);
      if (previous?.digest !== undefined) {
        high = (high ^ previous.digest[0]) >>> 0;
        low = (low ^ previous.digest[1]) >>> 0;
        count -= 1;
      }
      if (held === null) {
        if (this.base.has(name)) overlay.set(name, DROPPED);
        else overlay.delete(name);
        continue;
      }
      if (held.digest !== undefined) {
        high = (high ^ held.digest[0]) >>> 0;
        low = (low ^ held.digest[1]) >>> 0;
        count += 1;
      }
      if (previous !== undefined) {
        // Held before: it keeps its place.
        overlay.set(name, { held, appended: over?.appended ?? false });
      } else {
        // New, or held again after it was dropped: it goes last.
        overlay.delete(name);
        overlay.set(name, { held, appended: true });
      }
    }
    if (overlay === undefined) return this;
    if (overlay.size <= overlayLimit(this.base.size)) return new HeldSet(this.base, overlay, count, high, low);
    const merged = new HeldSet(this.base, overlay, count, high, low);
    const base = new Map<string, HeldResource>();
    for (const name of merged.names()) base.set(name, merged.get(name)!);
    return new HeldSet(base, new Map(), count, high, low);
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
