/**
 * An item that lists keep track of: `slots[filing]` is where the item sits in the list of its
 * `filing`-th membership. The owner numbers an item's memberships (a workload: 0 for its namespace,
 * 1 + j for the j-th pair of its labels) and passes the same number when it adds and removes it.
 */
export interface Slotted {
  readonly slots: number[];
}

/**
 * An unordered list with O(1) add and remove, for the index's buckets. A removed item's place is taken
 * by the last item (whose slot is updated), so the list stays dense.
 *
 * Why not a `Set`: a cold start files every workload under every pair of its labels, about 600,000
 * insertions for 200,000 workloads, several of them into buckets holding every workload of the
 * namespace (`tier: backend`). Appending to arrays took less than half the time of adding to `Set`s
 * that keep growing and rehashing (docs/BENCHMARKS.md, "Selector index buckets").
 */
export class SlotList<T extends Slotted> {
  readonly #items: T[] = [];
  /** `#filings[i]`: which of `#items[i]`'s memberships this list is. */
  readonly #filings: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  /** The items, in no particular order: a live view, not to be iterated while the list changes. */
  get items(): readonly T[] {
    return this.#items;
  }

  add(item: T, filing: number): void {
    item.slots[filing] = this.#items.length;
    this.#items.push(item);
    this.#filings.push(filing);
  }

  /** Removes `item`, added with the same `filing`; throws when it is not there (the owner's bookkeeping is wrong). */
  remove(item: T, filing: number): void {
    const slot = item.slots[filing];
    if (slot === undefined || this.#items[slot] !== item || this.#filings[slot] !== filing) {
      throw new Error(`SlotList: the item is not at slot ${String(slot)} of this list as filing ${filing}`);
    }
    const last = this.#items.length - 1;
    if (slot !== last) {
      const moved = this.#items[last];
      const movedFiling = this.#filings[last];
      this.#items[slot] = moved;
      this.#filings[slot] = movedFiling;
      moved.slots[movedFiling] = slot;
    }
    this.#items.pop();
    this.#filings.pop();
  }
}
