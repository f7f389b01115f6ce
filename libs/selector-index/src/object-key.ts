import type { ObjectKey } from '@skiff/model';

/** `namespace/name`: unambiguous because Kubernetes namespaces and object names cannot contain `/`. */
export function objectKeyId(key: ObjectKey): string {
  return `${key.namespace}/${key.name}`;
}

/**
 * Orders keys by namespace, then name, comparing UTF-16 code units (not the locale), so the order is
 * the same on every machine (istiod sorts selected workloads by namespace and name before building
 * instances: `pilot/pkg/serviceregistry/serviceentry/conversion.go`).
 */
export function compareObjectKeys(a: ObjectKey, b: ObjectKey): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return 0;
}

/**
 * Values by object key, as a map of names per namespace. A lookup hashes the namespace and the name as
 * they are, where a map keyed by `objectKeyId` builds a new string for every lookup and hashes it:
 * filling one with 200,000 workloads took about 30% longer (docs/BENCHMARKS.md, "Selector index buckets").
 */
export class ObjectKeyMap<V> {
  readonly #byNamespace = new Map<string, Map<string, V>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(key: ObjectKey): V | undefined {
    return this.#byNamespace.get(key.namespace)?.get(key.name);
  }

  set(key: ObjectKey, value: V): void {
    let names = this.#byNamespace.get(key.namespace);
    if (names === undefined) {
      names = new Map();
      this.#byNamespace.set(key.namespace, names);
    }
    const before = names.size;
    names.set(key.name, value);
    this.#size += names.size - before;
  }

  /** Every value, namespace by namespace, in insertion order within each. */
  *values(): IterableIterator<V> {
    for (const names of this.#byNamespace.values()) yield* names.values();
  }

  /** Removes the key; a namespace left without keys is dropped, so the map never outgrows its contents. */
  delete(key: ObjectKey): boolean {
    const names = this.#byNamespace.get(key.namespace);
    if (names === undefined || !names.delete(key.name)) return false;
    this.#size--;
    if (names.size === 0) this.#byNamespace.delete(key.namespace);
    return true;
  }
}
