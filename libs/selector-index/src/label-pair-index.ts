/**
 * Items filed under one (label key, label value) pair. One instance per namespace and per kind of item:
 * the selector index keeps one for ServiceEntries (filed under one pair of their selector) and one for
 * workloads (filed under every pair of their labels).
 */
export class LabelPairIndex<T> {
  readonly #byKey = new Map<string, Map<string, Set<T>>>();

  add(key: string, value: string, item: T): void {
    let byValue = this.#byKey.get(key);
    if (byValue === undefined) {
      byValue = new Map();
      this.#byKey.set(key, byValue);
    }
    let items = byValue.get(value);
    if (items === undefined) {
      items = new Set();
      byValue.set(value, items);
    }
    items.add(item);
  }

  /** Removes `item` from the pair and drops buckets that become empty, so the index never outgrows its contents. */
  delete(key: string, value: string, item: T): void {
    const byValue = this.#byKey.get(key);
    const items = byValue?.get(value);
    if (byValue === undefined || items === undefined) return;
    items.delete(item);
    if (items.size > 0) return;
    byValue.delete(value);
    if (byValue.size === 0) this.#byKey.delete(key);
  }

  /** The items filed under the pair (a live view: do not mutate the index while iterating it). */
  get(key: string, value: string): ReadonlySet<T> | undefined {
    return this.#byKey.get(key)?.get(value);
  }

  count(key: string, value: string): number {
    return this.#byKey.get(key)?.get(value)?.size ?? 0;
  }

  get isEmpty(): boolean {
    return this.#byKey.size === 0;
  }
}
