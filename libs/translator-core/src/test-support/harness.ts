/**
 * Test harness for the translator: a store (in memory, or Redis with a key prefix of the test's own),
 * a writer that plays the watcher, and a translator store that can be made to hang and then "die".
 */
import type { NormalizedDestinationRule, NormalizedEndpoint, NormalizedServiceEntry, ObjectKey } from '@skiff/model';
import { silentLogger } from '@skiff/runtime';
import {
  createMemoryStore,
  createRedisStore,
  decodeServiceEntry,
  diffFields,
  FRESH_FIELD_ENCODING,
  serviceEntryFields,
  StoreError,
  type LeaseGrant,
  type OwnedResources,
  type Store,
  type TranslatorStore,
} from '@skiff/store';
import { connectAdmin, deleteKeys, normalizedServiceEntry, normalizedWorkload, SHARED_REDIS_URL, uniquePrefix } from '@skiff/testing';
import { DEFAULT_MESH_SETTINGS } from '@skiff/xds-translate';
import { buildServiceEntry, SERVED_VARIANTS } from '../build.js';
import { Translator, type TranslatorOptions } from '../translator.js';

export { eventually } from '@skiff/testing';

/** A STATIC ServiceEntry on port 80 selecting `app: <name>`, created at a fixed time. */
export function serviceEntry(key: ObjectKey, overrides: Partial<NormalizedServiceEntry> = {}): NormalizedServiceEntry {
  return normalizedServiceEntry({ ...key, creationTime: 1_700_000_000_000, ...overrides });
}

/** A healthy WorkloadEntry endpoint. */
export function workload(namespace: string, name: string, address: string, overrides: Partial<NormalizedEndpoint> = {}): NormalizedEndpoint {
  return { ...normalizedWorkload({ namespace, name, address, serviceAccount: 'default' }), ...overrides };
}

export interface StoreEnvironment {
  readonly kind: 'memory' | 'redis';
  /** The store the test writes and inspects through. */
  readonly store: Store;
  /** A separate store (its own connections on Redis) for one translator, so it can be killed alone. */
  openTranslatorStore(): Promise<Store>;
  close(): Promise<void>;
}

export async function memoryEnvironment(): Promise<StoreEnvironment> {
  const store = createMemoryStore();
  return { kind: 'memory', store, openTranslatorStore: async () => store, close: () => store.close() };
}

export async function redisEnvironment(file: string): Promise<StoreEnvironment> {
  const admin = await connectAdmin();
  const keyPrefix = uniquePrefix(file);
  const opened: Store[] = [];
  const open = (): Store => {
    const store = createRedisStore({ url: SHARED_REDIS_URL, keyPrefix, retry: { minDelayMs: 10, maxDelayMs: 100 } });
    opened.push(store);
    return store;
  };
  const store = open();
  return {
    kind: 'redis',
    store,
    openTranslatorStore: async () => open(),
    async close() {
      await Promise.all(opened.map((s) => s.close()));
      await deleteKeys(admin, keyPrefix);
      admin.disconnect();
    },
  };
}

/** Plays the watcher: writes ServiceEntry hashes under a lease it holds. */
export class EntryWriter {
  private constructor(
    private readonly store: Store,
    private readonly lease: LeaseGrant,
  ) {}

  static async create(store: Store): Promise<EntryWriter> {
    const lease = await store.lease.acquire(`test-watcher-${Math.random().toString(36).slice(2)}`, 600_000);
    if (lease === null) throw new Error('the lease is held by someone else');
    return new EntryWriter(store, lease);
  }

  /** Writes the full state of one ServiceEntry; returns the revision (null if nothing changed). */
  async put(
    serviceEntry: NormalizedServiceEntry,
    endpoints: readonly NormalizedEndpoint[] = [],
    trace?: string,
    destinationRules: readonly NormalizedDestinationRule[] = [],
  ): Promise<number | null> {
    const key = { namespace: serviceEntry.namespace, name: serviceEntry.name };
    const current = await this.store.serviceEntries.read(key);
    const diff = diffFields(current?.fields ?? null, serviceEntryFields(serviceEntry, endpoints, FRESH_FIELD_ENCODING, destinationRules));
    const result = await this.store.serviceEntries.write(key, diff, this.lease, trace === undefined ? {} : { trace });
    return result.status === 'written' ? result.revision : null;
  }

  /** Writes raw fields (for hashes that do not decode). */
  async putRaw(key: ObjectKey, fields: Record<string, string>): Promise<number | null> {
    const result = await this.store.serviceEntries.write(key, { set: fields, delete: [] }, this.lease);
    return result.status === 'written' ? result.revision : null;
  }

  async remove(key: ObjectKey): Promise<number | null> {
    const result = await this.store.serviceEntries.delete(key, this.lease);
    return result.status === 'deleted' ? result.revision : null;
  }
}

/**
 * A translator store that can hang every resource write (the translator is "mid-stream": it read
 * entries and has not stored their builds) and then die: hung and later calls fail with `closed`, as
 * they do when a process's connections go away.
 */
export class DyingStore {
  readonly store: TranslatorStore;
  private hanging = false;
  private dead = false;
  private readonly hung = new Set<(error: Error) => void>();
  /** Resource writes that are hanging now. */
  hungWrites = 0;

  constructor(inner: TranslatorStore) {
    const guard = <T>(call: () => Promise<T>): Promise<T> => {
      if (this.dead) return Promise.reject(new StoreError('closed', 'the translator died'));
      return call();
    };
    const hangable = <T>(call: () => Promise<T>): Promise<T> => {
      if (this.dead) return Promise.reject(new StoreError('closed', 'the translator died'));
      if (!this.hanging) return call();
      this.hungWrites++;
      return new Promise<T>((_resolve, reject) => this.hung.add(reject));
    };
    this.store = {
      serviceEntries: { read: (key) => guard(() => inner.serviceEntries.read(key)), list: () => guard(() => inner.serviceEntries.list()) },
      changeLog: {
        read: (consumer, options) => guard(() => inner.changeLog.read(consumer, options)),
        ack: (ids) => guard(() => inner.changeLog.ack(ids)),
        claimStale: (consumer, minIdleMs, count) => guard(() => inner.changeLog.claimStale(consumer, minIdleMs, count)),
        pending: () => guard(() => inner.changeLog.pending()),
        hasUndelivered: () => guard(() => inner.changeLog.hasUndelivered()),
        length: () => guard(() => inner.changeLog.length()),
      },
      resources: {
        loadAll: () => guard(() => inner.resources.loadAll()),
        readOwner: (owner, ids) => guard(() => inner.resources.readOwner(owner, ids)),
        listOwners: () => guard(() => inner.resources.listOwners()),
        replace: (input) => hangable(() => inner.resources.replace(input)),
        deleteOwner: (owner, options) => hangable(() => inner.resources.deleteOwner(owner, options)),
      },
      health: () => inner.health(),
      onStateChange: (listener) => inner.onStateChange(listener),
    };
  }

  hangWrites(): void {
    this.hanging = true;
  }

  die(): void {
    this.dead = true;
    for (const reject of this.hung) reject(new StoreError('closed', 'the translator died'));
    this.hung.clear();
  }
}

export function startTranslator(store: TranslatorStore, consumer: string, options: Partial<TranslatorOptions> = {}): Translator {
  const translator = new Translator({ store, consumer, logger: silentLogger(), blockMs: 50, claimIntervalMs: 50, claimMinIdleMs: 60_000, ...options });
  void translator.start();
  return translator;
}

/** The stored build of `key` compared with a fresh build of its hash: both sides as sorted `variant type name version` lines. */
export async function storedAndExpected(store: Store, key: ObjectKey): Promise<{ stored: OwnedResources | null; storedRefs: string[]; expectedRefs: string[] }> {
  const [hash, stored] = await Promise.all([store.serviceEntries.read(key), store.resources.readOwner(key)]);
  const expectedRefs =
    hash === null ? [] : buildServiceEntry(decodeServiceEntry(hash), SERVED_VARIANTS, DEFAULT_MESH_SETTINGS).resources.map((r) => `${r.variant} ${r.typeUrl} ${r.name} ${r.version}`).sort();
  const storedRefs = (stored?.record.resources ?? []).map((r) => `${r.variant} ${r.typeUrl} ${r.name} ${r.version}`).sort();
  if (hash !== null && stored !== null && stored.record.revision !== hash.revision) storedRefs.push(`revision ${stored.record.revision} != hash revision ${hash.revision}`);
  return { stored, storedRefs, expectedRefs };
}
