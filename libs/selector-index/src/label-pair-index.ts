/**
 * Items filed under one (label key, label value) pair. One instance per namespace and per kind of item:
 * the selector index keeps one for ServiceEntries (filed under one pair of their selector) and one for
 * workloads (filed under every pair of their labels). Each bucket is a `SlotList`, so an item is filed
 * and unfiled with the number its owner gave that filing.
 */
import { SlotList, type Slotted } from './slot-list.js';

export class LabelPairIndex<T extends Slotted> {
  readonly #byKey = new Map<string, Map<string, SlotList<T>>>();

  add(key: string, value: string, item: T, filing: number): void {
    let byValue = this.#byKey.get(key);
    if (byValue === undefined) {
      byValue = new Map();
      this.#byKey.set(key, byValue);
    }
    let items = byValue.get(value);
    if (items === undefined) {
      items = new SlotList();
      byValue.set(value, items);
    }
    items.add(item, filing);
  }

  /** Removes `item` from the pair and drops buckets that become empty, so the index never outgrows its contents. */
  delete(key: string, value: string, item: T, filing: number): void {
    const byValue = this.#byKey.get(key);
    const items = byValue?.get(value);
    if (byValue === undefined || items === undefined) return;
    items.remove(item, filing);
    if (items.size > 0) return;
    byValue.delete(value);
    if (byValue.size === 0) this.#byKey.delete(key);
  }

  /** The items filed under the pair, in no particular order (a live view: do not mutate the index while iterating it). */
  get(key: string, value: string): readonly T[] | undefined {
    return this.#byKey.get(key)?.get(value)?.items;
  }

  count(key: string, value: string): number {
    return this.#byKey.get(key)?.get(value)?.size ?? 0;
  }

  get isEmpty(): boolean {
    return this.#byKey.size === 0;
  }
}
