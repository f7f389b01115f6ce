/**
 * The Redis key layout: every key and channel of one store, derived from its prefix. The memory store
 * reports the same layout (`Store.keys`), so tools and tests name keys one way.
 *
 * Every key starts with the store's hash tag `{<prefix>}` (default prefix `skiff`, so `{skiff}`):
 *
 * | key                               | type   | what                                                                  |
 * |-----------------------------------|--------|-----------------------------------------------------------------------|
 * | `{skiff}:se:<namespace>/<name>`   | hash   | one ServiceEntry: `se`, `rev`, `ep:...` per endpoint, `dr:`/`vs:` rules |
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
 * | `{skiff}:fleet:<replica>`         | string | one gateway replica's report (its proxies' sync state), expires (`PX`; an unchanged report is kept alive with `PEXPIRE`) |
 * | `{skiff}:fleet-revision:<replica>` | string | a random id per published report, set and kept alive with it: readers holding it skip the report |
 * | `{skiff}:fleet`                   | set    | replica ids with a report, for listing (expired ones are pruned)      |
 *
 * Pub/sub channel (not a key): `{skiff}:invalidations`.
 *
 * ### Why one hash tag per shard
 *
 * A ServiceEntry write must be atomic with its change-log entry and checked against the lease, and a
 * resource write must be atomic with the invalidation sequence number it takes. Redis Cluster runs a
 * script only when all its keys hash to one slot. So every key a script touches shares one hash tag.
 * With one shard (the default) that tag is the store's, `{skiff}`: every key of the installation
 * sits in one slot, on one primary, and the same keys and scripts work on a standalone server and on
 * Redis Cluster.
 *
 * With `shards` > 1 (`redis-sharded.ts`) each shard `i` has its own tag `{<prefix>:<i>:<n>}` (`shardTag`) and holds, for
 * the ServiceEntries whose key hashes to it (`shardOf`), everything above: their hashes, the index,
 * revision counter, change log, built resources, invalidation sequence and channel, the Sidecars of
 * those keys, its epoch, and under `lease` the shard's copy of the writer lease (the fence,
 * `{<prefix>:<i>:<n>}:fence`) that its scripts check. The lease itself, its token counter and the fleet
 * reports stay under the store's tag `{<prefix>}` (a layout with one shard). Different tags hash to
 * different slots, so a cluster spreads the shards over its primaries.
 */
import calculateSlot from 'cluster-key-slot';
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
  /** The number of shards the store was laid out with (recorded by the first service; on the store's own tag). */
  readonly shardCount: string;
  readonly lease: string;
  readonly leaseTokenCounter: string;
  fleetReport(replica: string): string;
  fleetRevision(replica: string): string;
  readonly fleetIndex: string;
  /** Pub/sub channel of invalidations. */
  readonly invalidationChannel: string;
  /** Pattern matching every key of this store (for cleanup and inspection; never for listing). */
  readonly allKeysPattern: string;
}

/** Most shards a store may have: a shard is a hash tag, a change log and a subscription each. */
export const MAX_SHARDS = 256;

/** One shard of a sharded layout: `index` of `count`. */
export interface ShardPosition {
  readonly index: number;
  readonly count: number;
}

/**
 * The key layout of a store with `prefix` (no braces or spaces allowed in the prefix), or of one shard
 * of it: with `shard.count` > 1 the tag is the shard's (`shardTag`) and `lease` names the shard's fence copy.
 */
export function keyLayout(prefix: string = DEFAULT_KEY_PREFIX, shard?: ShardPosition): KeyLayout {
  if (prefix === '' || /[{}\s*?[\]\\]/.test(prefix)) {
    throw new StoreError('invalid-argument', `invalid key prefix ${JSON.stringify(prefix)}: must be non-empty without braces, spaces or glob characters`);
  }
  if (shard !== undefined) checkShards(shard.count);
  if (shard !== undefined && (!Number.isSafeInteger(shard.index) || shard.index < 0 || shard.index >= shard.count)) {
    throw new StoreError('invalid-argument', `shard index ${shard.index} is not in 0..${shard.count - 1}`);
  }
  const sharded = shard !== undefined && shard.count > 1;
  const tag = sharded ? shardTag(prefix, shard) : `{${prefix}}`;
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
    shardCount: `${tag}:shards`,
    lease: sharded ? `${tag}:fence` : `${tag}:lease`,
    leaseTokenCounter: `${tag}:lease:token`,
    fleetReport: (replica) => `${tag}:fleet:${replica}`,
    fleetRevision: (replica) => `${tag}:fleet-revision:${replica}`,
    fleetIndex: `${tag}:fleet`,
    invalidationChannel: `${tag}:invalidations`,
    allKeysPattern: `${tag}:*`,
  };
}


/** Redis Cluster's hash slots (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#key-distribution-model). */
const SLOTS = 16384;

/**
 * The hash tag of shard `index` of `count`: `{<prefix>:<index>:<n>}` with the smallest `n` whose slot
 * lies in the shard's `count`-th of the slot range. `redis-cli --cluster create` gives each master an
 * equal, contiguous range of slots, so with as many masters as shards each shard has a master of its
 * own, and with more shards than masters they spread evenly; a bare `{<prefix>:<index>}` would land on
 * masters by chance (two of three shards on one master about four times in five).
 */
function shardTag(prefix: string, shard: ShardPosition): string {
  const from = Math.floor((shard.index * SLOTS) / shard.count);
  const to = Math.floor(((shard.index + 1) * SLOTS) / shard.count);
  for (let n = 0; ; n++) {
    const tag = `{${prefix}:${shard.index}:${n}}`;
    const slot = calculateSlot(tag);
    if (slot >= from && slot < to) return tag;
  }
}

/** Throws `StoreError('invalid-argument')` unless `count` is a shard count the store supports. */
export function checkShards(count: number): void {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_SHARDS) {
    throw new StoreError('invalid-argument', `shard count ${count} must be an integer from 1 to ${MAX_SHARDS}`);
  }
}

/**
 * The shard of a ServiceEntry or Sidecar id (`<namespace>/<name>`) among `count`: FNV-1a (32 bits) of
 * its UTF-8 bytes, modulo `count`. Stable across processes and versions, so every service of an
 * installation agrees; changing the shard count moves keys, and needs an empty store (see docs).
 */
export function shardOf(id: string, count: number): number {
  if (count === 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(id, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}
