/**
 * The fake's etcd: objects per resource type, one global resource version that every write increments,
 * and the history of changes a watch replays from (until it is compacted).
 *
 * Objects are stored once per kind, whatever version they were written in; the server stamps the
 * requested `apiVersion` on the way out, as the API server converts between a CRD's versions (with the
 * `None` conversion strategy Istio's CRDs use, only `apiVersion` changes).
 */
import { randomUUID } from 'node:crypto';
import type { FakeResource } from './resources.js';

export interface KubeObjectMeta {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  uid?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** Any Kubernetes object, as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: KubeObjectMeta;
  [field: string]: unknown;
}

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One committed change. `object` is the state after the change (for DELETED, the last state, at the deletion's version). */
export interface StoredChange {
  readonly resourceVersion: number;
  readonly type: ChangeType;
  readonly resource: FakeResource;
  readonly object: KubeObject;
}

export type StoreErrorReason = 'AlreadyExists' | 'Conflict' | 'NotFound' | 'Invalid';

/** A rejected write, carrying the Kubernetes status reason the server answers with. */
export class StoreError extends Error {
  constructor(
    readonly reason: StoreErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** The result of asking for the changes after a resource version. */
export type ChangesAfter =
  | { readonly expired: false; readonly changes: readonly StoredChange[] }
  /** The version is older than the compaction horizon: the history needed is gone (410 Gone). */
  | { readonly expired: true; readonly oldest: number };

export class ObjectStore {
  private current = 0;
  /** The oldest version a watch can resume from; anything older was compacted away. */
  private horizon = 0;
  private readonly objects = new Map<FakeResource, Map<string, KubeObject>>();
  private history: StoredChange[] = [];
  private readonly listeners = new Set<(change: StoredChange) => void>();

  /** The version of the last write (what a list returns as `metadata.resourceVersion`). */
  get resourceVersion(): number {
    return this.current;
  }

  get compactedThrough(): number {
    return this.horizon;
  }

  get(resource: FakeResource, namespace: string, name: string): KubeObject | undefined {
    const found = this.table(resource).get(objectKey(namespace, name));
    return found === undefined ? undefined : structuredClone(found);
  }

  /** Objects of one type, in one namespace or all, in etcd key order (namespace, then name). */
  list(resource: FakeResource, namespace?: string): KubeObject[] {
    const rows = [...this.table(resource).entries()]
      .filter(([, obj]) => namespace === undefined || (obj.metadata.namespace ?? '') === namespace)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return rows.map(([, obj]) => structuredClone(obj));
  }

  /** POST semantics: fails if the object exists or the client set a resourceVersion. */
  create(resource: FakeResource, object: KubeObject): KubeObject {
    const { namespace, name } = identify(resource, object);
    if (this.table(resource).has(objectKey(namespace, name))) {
      throw new StoreError('AlreadyExists', `${qualified(resource)} "${name}" already exists`);
    }
    if (object.metadata.resourceVersion !== undefined && object.metadata.resourceVersion !== '') {
      throw new StoreError('Invalid', 'metadata.resourceVersion: Invalid value: must be empty when creating an object');
    }
    return this.write(resource, namespace, name, object, undefined);
  }

  /**
   * PUT semantics: the object must exist; a non-empty `metadata.resourceVersion` must equal the stored
   * one (optimistic concurrency), an empty one is an unconditional update.
   */
  update(resource: FakeResource, object: KubeObject): KubeObject {
    const { namespace, name } = identify(resource, object);
    const existing = this.table(resource).get(objectKey(namespace, name));
    if (existing === undefined) {
      throw new StoreError('NotFound', `${qualified(resource)} "${name}" not found`);
    }
    const expected = object.metadata.resourceVersion;
    if (expected !== undefined && expected !== '' && expected !== existing.metadata.resourceVersion) {
      throw new StoreError(
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    return this.write(resource, namespace, name, object, existing);
  }

  /** Create or replace, ignoring versions: what a test does to "change the cluster". */
  upsert(resource: FakeResource, object: KubeObject): KubeObject {
    const { namespace, name } = identify(resource, object);
    const existing = this.table(resource).get(objectKey(namespace, name));
    return this.write(resource, namespace, name, object, existing);
  }

  /** Deletes an object; the DELETED change carries its last state at the deletion's resource version. */
  remove(resource: FakeResource, namespace: string, name: string): KubeObject | undefined {
    const table = this.table(resource);
    const key = objectKey(namespace, name);
    const existing = table.get(key);
    if (existing === undefined) return undefined;
    table.delete(key);
    const last: KubeObject = structuredClone(existing);
    last.metadata.resourceVersion = String(++this.current);
    this.commit({ resourceVersion: this.current, type: 'DELETED', resource, object: last });
    return structuredClone(last);
  }

  /** Changes to one type (in one namespace or all) strictly after `resourceVersion`. */
  changesAfter(resource: FakeResource, namespace: string | undefined, resourceVersion: number): ChangesAfter {
    if (resourceVersion < this.horizon) return { expired: true, oldest: this.horizon };
    const changes = this.history.filter(
      (c) => c.resourceVersion > resourceVersion && matches(c, resource, namespace),
    );
    return { expired: false, changes };
  }

  /** Drops all history: a watch from any version older than the current one now gets 410 Gone. */
  compact(): void {
    this.horizon = this.current;
    this.history = [];
  }

  /** Called synchronously after every committed change. Returns the unsubscribe function. */
  subscribe(listener: (change: StoredChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private write(
    resource: FakeResource,
    namespace: string,
    name: string,
    object: KubeObject,
    existing: KubeObject | undefined,
  ): KubeObject {
    const stored: KubeObject = structuredClone(object);
    stored.kind = resource.kind;
    stored.apiVersion = stored.apiVersion ?? `${resource.group}/${resource.versions[0]}`;
    const metadata: KubeObjectMeta = { ...stored.metadata, name };
    if (resource.namespaced) metadata.namespace = namespace;
    else delete metadata.namespace;
    if (existing === undefined) {
      metadata.uid = randomUUID();
      metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      metadata.generation = 1;
    } else {
      // Server-owned fields survive an update whatever the client sent.
      metadata.uid = existing.metadata.uid ?? randomUUID();
      if (existing.metadata.creationTimestamp !== undefined) {
        metadata.creationTimestamp = existing.metadata.creationTimestamp;
      }
      const previousGeneration = existing.metadata.generation ?? 1;
      metadata.generation = sameContent(existing, stored) ? previousGeneration : previousGeneration + 1;
    }
    metadata.resourceVersion = String(++this.current);
    stored.metadata = metadata;
    this.table(resource).set(objectKey(namespace, name), stored);
    this.commit({
      resourceVersion: this.current,
      type: existing === undefined ? 'ADDED' : 'MODIFIED',
      resource,
      object: structuredClone(stored),
    });
    return structuredClone(stored);
  }

  private commit(change: StoredChange): void {
    this.history.push(change);
    for (const listener of this.listeners) listener(change);
  }

  private table(resource: FakeResource): Map<string, KubeObject> {
    let table = this.objects.get(resource);
    if (table === undefined) {
      table = new Map();
      this.objects.set(resource, table);
    }
    return table;
  }
}

function matches(change: StoredChange, resource: FakeResource, namespace: string | undefined): boolean {
  return change.resource === resource && (namespace === undefined || (change.object.metadata.namespace ?? '') === namespace);
}

function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function qualified(resource: FakeResource): string {
  return `${resource.plural}.${resource.group}`;
}

function identify(resource: FakeResource, object: KubeObject): { namespace: string; name: string } {
  const name = object.metadata?.name;
  if (typeof name !== 'string' || name === '') {
    throw new StoreError('Invalid', 'metadata.name: Required value: name or generateName is required');
  }
  const namespace = resource.namespaced ? (object.metadata.namespace ?? 'default') : '';
  return { namespace, name };
}

/** Generation counts changes to anything but metadata and status (the API server's rule for CRDs with a status subresource). */
function sameContent(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject): string => {
    const { metadata: _metadata, status: _status, apiVersion: _apiVersion, ...rest } = o;
    return JSON.stringify(rest);
  };
  return strip(a) === strip(b);
}
