import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ABSENT_ENTRY, HeldSet, heldVersion, type HeldChanges, type HeldResource } from './held-set.js';
import { ResourceSetHash } from './resource-set-hash.js';

/** The set as a map per stream used to keep it: what `HeldSet` must equal. */
class ModelSet {
  readonly entries = new Map<string, HeldResource>();
  readonly hash = new ResourceSetHash();

  apply(changes: ReadonlyMap<string, HeldResource | null>): void {
    for (const [name, held] of changes) {
      const previous = this.entries.get(name);
      if (held === null) {
        if (previous === undefined) continue;
        if (previous.digest !== undefined) this.hash.toggle(previous.digest);
        this.entries.delete(name);
        continue;
      }
      if (previous?.version === held.version) continue;
      if (previous?.digest !== undefined) this.hash.toggle(previous.digest);
      if (held.digest !== undefined) this.hash.toggle(held.digest);
      this.entries.set(name, held);
    }
  }
}

const names = ['a', 'b', 'c', 'outbound|80||a.example.com', '1:a-', ''];
const versions = ['v1', 'v2', '1=v'];
/** One of `items`. */
const oneOf = (items: readonly string[]) => fc.nat({ max: items.length - 1 }).map((index) => items[index]!);
/** A batch of up to `maxLength` changes of `pool`'s names, each name once, in the order last changed. */
function batchOf(pool: readonly string[], maxLength: number) {
  const change = fc.tuple(oneOf(pool), fc.oneof(fc.constant<HeldResource | null>(null), fc.constant<HeldResource | null>(ABSENT_ENTRY), oneOf(versions)));
  return fc.array(change, { maxLength }).map((list) => {
    const changes = new Map<string, HeldResource | null>();
    for (const [name, held] of list) {
      changes.delete(name);
      changes.set(name, typeof held === 'string' ? heldVersion(name, held) : held);
    }
    return changes;
  });
}
const batch = batchOf(names, 6);

function contentOf(set: HeldSet): [string, string][] {
  return [...set.names()].sort().map((name) => [name, set.get(name)!.version]);
}

describe('HeldSet', () => {
  /** Applies each batch to a set and to the per-stream map, and checks they hold the same, in the same order. */
  function followsTheMap(batches: readonly HeldChanges[]): void {
    const model = new ModelSet();
    let set = HeldSet.EMPTY;
    for (const changes of batches) {
      model.apply(changes);
      set = set.with(changes);
      expect([...set.names()]).toEqual([...model.entries.keys()]);
      // A set reached through a remembered move holds equal entries, not the same objects.
      for (const [name, held] of model.entries) expect(set.get(name)).toEqual(held);
      expect(set.version).toBe(model.hash.toString());
      expect(set.heldCount).toBe([...model.entries.values()].filter((held) => held.digest !== undefined).length);
    }
  }

  it('holds what a map per stream held, in its order, with the same version, after any changes', () => {
    fc.assert(fc.property(fc.array(batch, { maxLength: 12 }), followsTheMap));
  });

  it('holds what the map held, in its order, through changes that outgrow what is kept on top of a base', () => {
    const manyNames = Array.from({ length: 60 }, (_, index) => `outbound|80||svc-${index}.example.com`);
    fc.assert(fc.property(fc.array(batchOf(manyNames, 40), { maxLength: 30 }), followsTheMap), { numRuns: 200 });
  });

  it('leads every stream that applies the same changes to the same set to the same object', () => {
    fc.assert(
      fc.property(fc.array(batch, { maxLength: 8 }), (batches) => {
        let first = HeldSet.EMPTY;
        let second = HeldSet.EMPTY;
        for (const changes of batches) {
          first = first.with(changes);
          // Another stream's changes are other objects with the same content.
          second = second.with(new Map([...changes].map(([name, held]) => [name, held === null || held === ABSENT_ENTRY ? held : heldVersion(name, held.version)])));
          expect(second).toBe(first);
        }
      }),
    );
  });

  it('stays itself when nothing changes, and tells apart change lists that concatenate alike', () => {
    const set = HeldSet.EMPTY.with(new Map([['a', heldVersion('a', 'v1')]]));
    expect(set.with(new Map([['a', heldVersion('a', 'v1')]]))).toBe(set);
    expect(set.with(new Map([['b', null]]))).toBe(set);
    expect(set.with(new Map())).toBe(set);
    // Without length prefixes, both would read "ab" + "c".
    const one = HeldSet.EMPTY.with(new Map([['ab', heldVersion('ab', 'c')]]));
    const other = HeldSet.EMPTY.with(new Map([['a', heldVersion('a', 'bc')]]));
    expect(contentOf(one)).toEqual([['ab', 'c']]);
    expect(contentOf(other)).toEqual([['a', 'bc']]);
    // Told absent is not held at an empty version.
    const absent = HeldSet.EMPTY.with(new Map([['e', ABSENT_ENTRY]]));
    const empty = HeldSet.EMPTY.with(new Map([['e', heldVersion('e', '')]]));
    expect(empty).not.toBe(absent);
    expect([absent.heldCount, empty.heldCount]).toEqual([0, 1]);
  });

  it('keeps sharing after more distinct moves from one set than it remembers', () => {
    const base = HeldSet.EMPTY.with(new Map([['base', heldVersion('base', 'v')]]));
    const kept: HeldSet[] = [];
    for (let index = 0; index < 600; index++) kept.push(base.with(new Map([[`n${index}`, heldVersion(`n${index}`, 'v')]])));
    // The newest moves are remembered; an old one forgotten is built again with the same content.
    expect(base.with(new Map([['n599', heldVersion('n599', 'v')]]))).toBe(kept[599]);
    const again = base.with(new Map([['n0', heldVersion('n0', 'v')]]));
    expect(contentOf(again)).toEqual(contentOf(kept[0]!));
    expect(again.version).toBe(kept[0]!.version);
  });
});
