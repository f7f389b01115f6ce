/**
 * The Redis key layout: every key and channel of one store, derived from its prefix. The memory store
 * reports the same layout (`Store.keys`), so tools and tests name keys one way.
 *
 * Every key starts with the store's hash tag `{<prefix>}` (default prefix `skiff`, so `{skiff}`):
 *
 * | key                               | type   | what                                                                  |
 * |-----------------------------------|--------|-----------------------------------------------------------------------|
 * | `{skiff}:se:<namespace>/<name>`   | hash   | one ServiceEntry: `se`, `rev`, one `ep:...` field per endpoint         |
 * | `{skiff}:se`                      | set    | ids (`<namespace>/<name>`) of every ServiceEntry hash, for listing    |
 * | `{skiff}:rev`                     | string | revision counter; every ServiceEntry write or delete takes the next   |
 * | `{skiff}:log`                     | stream | change log; consumer group `translators`; trimmed with `MAXLEN ~`     |
 * | `{skiff}:xds:<namespace>/<name>`  | hash   | built resources of one ServiceEntry: `record`, `vis`, `rev`, `b:<id>`  |
 * | `{skiff}:xds`                     | set    | ids of every ServiceEntry that owns resources (the resource index)    |
 * | `{skiff}:sidecars`                | hash   | Sidecars: field `<namespace>/<name>`, value `<rev> <NormalizedSidecar JSON>` |
 * | `{skiff}:gateways`                | hash   | Gateways: field `<namespace>/<name>`, value `<rev> <NormalizedGateway JSON>` |
 * | `{skiff}:seq`                     | string | invalidation sequence counter                                         |
 * | `{skiff}:epoch`                   | string | random id created by the first write into an empty store              |
 * | `{skiff}:lease`                   | string | `<token>|<holder>` of the writer lease, expires with `PX`             |
 * | `{skiff}:lease:token`             | string | fencing token counter                                                 |
 * | `{skiff}:fleet:<replica>`         | string | one gateway replica's report (its proxies' sync state), expires (`PX`) |
 * | `{skiff}:fleet`                   | set    | replica ids with a report, for listing (expired ones are pruned)      |
 *
 * Pub/sub channel (not a key): `{skiff}:invalidations`.
 *
 * ### Why one hash tag for the whole store, not one per ServiceEntry
 *
 * A ServiceEntry write must be atomic with its change-log entry and checked against the lease, and a
 * resource write must be atomic with the invalidation sequence number it takes. Redis Cluster runs a
 * script only when all its keys hash to one slot, and the change log, the lease and the sequence
 * counter are shared by every ServiceEntry. So all keys of one ServiceEntry share a hash tag, and it is
 * the store's tag: every script is single-slot, so the same keys and scripts work unchanged on a
 * standalone server and on Redis Cluster (one slot, one primary; the state is small: the design's
 * largest mesh, 200k endpoints, is some hundred MB). `redis.ts` connects with a standalone client
 * today. Spreading ServiceEntries over slots would need one change log and one sequence per slot
 * group; the tag is built in one place (`keyLayout`) so that split stays a local change.
 */
import { StoreError, type ServiceEntryId } from './contract.js';

/** Prefix used when none is configured. */
export const DEFAULT_KEY_PREFIX = 'skiff';

/** Every Redis key and channel of one store, derived from its prefix (see the table above). */
export interface KeyLayout {
  /** The hash tag `{<prefix>}` every key starts with. */
  readonly hashTag: string;
  serviceEntry(id: ServiceEntryId): string;
  readonly serviceEntryIndex: string;
  readonly revisionCounter: string;
  readonly changeLog: string;
  resources(id: ServiceEntryId): string;
  readonly resourceIndex: string;
  /** Every Sidecar in one hash: they are few (one or a few per namespace) and read all at once. */
  readonly sidecars: string;
  /** Every Gateway in one hash, as Sidecars (few, read all at once). */
  readonly gateways: string;
  readonly sequence: string;
  readonly epoch: string;
  readonly lease: string;
  readonly leaseTokenCounter: string;
  fleetReport(replica: string): string;
  readonly fleetIndex: string;
  /** Pub/sub channel of invalidations. */
  readonly invalidationChannel: string;
  /** Pattern matching every key of this store (for cleanup and inspection; never for listing). */
  readonly allKeysPattern: string;
}

/** The key layout of a store with `prefix` (no braces or spaces allowed in the prefix). */
export function keyLayout(prefix: string = DEFAULT_KEY_PREFIX): KeyLayout {
  if (prefix === '' || /[{}\s*?[\]\\]/.test(prefix)) {
    throw new StoreError('invalid-argument', `invalid key prefix ${JSON.stringify(prefix)}: must be non-empty without braces, spaces or glob characters`);
  }
  const tag = `{${prefix}}`;
  return {
    hashTag: tag,
    serviceEntry: (id) => `${tag}:se:${id}`,
    serviceEntryIndex: `${tag}:se`,
    revisionCounter: `${tag}:rev`,
    changeLog: `${tag}:log`,
    resources: (id) => `${tag}:xds:${id}`,
    resourceIndex: `${tag}:xds`,
    sidecars: `${tag}:sidecars`,
    gateways: `${tag}:gateways`,
    sequence: `${tag}:seq`,
    epoch: `${tag}:epoch`,
    lease: `${tag}:lease`,
    leaseTokenCounter: `${tag}:lease:token`,
    fleetReport: (replica) => `${tag}:fleet:${replica}`,
    fleetIndex: `${tag}:fleet`,
    invalidationChannel: `${tag}:invalidations`,
    allKeysPattern: `${tag}:*`,
  };
}

