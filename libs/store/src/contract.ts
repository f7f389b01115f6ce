/**
 * The store contract: hash fields, message payloads, the facets' interfaces and store errors. The watcher, the translators and the gateways talk to each
 * other only through what is declared here; `redis.ts` and `memory.ts` implement it, and
 * `contract.suite.ts` holds both to the same behaviour.
 *
 * The Redis key layout (one hash tag for the whole store, and why) is in `redis-keys.ts`.
 *
 * Namespaces and names are Kubernetes DNS names, so they never contain `/`, `{`, `}` or spaces, which
 * keeps every key, field and id unambiguous (`checkObjectKey`).
 */
import type { EndpointSource, ObjectKey } from '@skiff/model';

// ---------------------------------------------------------------------------------------------------
// Identifiers, keys, fields

/** `<namespace>/<name>`: how a ServiceEntry is named in keys, stream entries and messages. */
export type ServiceEntryId = string;

const FORBIDDEN_IN_NAMES = /[/{}\s|]/;

/** Throws `StoreError('invalid-argument')` unless `key` can be used in keys and ids. */
export function checkObjectKey(key: ObjectKey): void {
  for (const part of [key.namespace, key.name]) {
    if (part === '' || FORBIDDEN_IN_NAMES.test(part)) {
      throw new StoreError('invalid-argument', `invalid ServiceEntry key ${JSON.stringify(key)}: namespace and name must be non-empty and contain no '/', '{', '}', '|' or spaces`);
    }
  }
}

/** The id of a ServiceEntry (`<namespace>/<name>`), after checking its parts. */
export function serviceEntryId(key: ObjectKey): ServiceEntryId {
  checkObjectKey(key);
  return `${key.namespace}/${key.name}`;
}

/** Inverse of `serviceEntryId`. */
export function parseServiceEntryId(id: ServiceEntryId): ObjectKey {
  const slash = id.indexOf('/');
  const key = { namespace: id.slice(0, slash), name: id.slice(slash + 1) };
  if (slash <= 0) throw new StoreError('corrupt', `not a ServiceEntry id: ${JSON.stringify(id)}`);
  checkObjectKey(key);
  return key;
}

/** ServiceEntry hash field holding the normalized ServiceEntry JSON (`NormalizedServiceEntry`). */
export const SERVICE_ENTRY_FIELD = 'se';
/** ServiceEntry hash field holding the revision of the last write (decimal). Written by the store only. */
export const REVISION_FIELD = 'rev';
/** Prefix of the ServiceEntry hash fields holding one `NormalizedEndpoint` JSON each. */
export const ENDPOINT_FIELD_PREFIX = 'ep:';

/**
 * The hash field of one endpoint: `ep:WorkloadEntry/<ns>/<name>` for a selected workload,
 * `ep:ServiceEntry/<ns>/<name>#<index>` for the `index`-th inline `spec.endpoints` entry.
 */
export function endpointField(source: EndpointSource): string {
  const base = `${ENDPOINT_FIELD_PREFIX}${source.kind}/${source.namespace}/${source.name}`;
  return source.kind === 'ServiceEntry' ? `${base}#${source.index}` : base;
}

/**
 * Prefix of the ServiceEntry hash fields holding one `NormalizedDestinationRule` JSON each: every rule
 * whose `spec.host` matches one of the ServiceEntry's hosts (the translator chooses which applies to
 * which proxy).
 */
export const DESTINATION_RULE_FIELD_PREFIX = 'dr:';

/** The hash field of one DestinationRule: `dr:<ns>/<name>`. */
export function destinationRuleField(key: ObjectKey): string {
  return `${DESTINATION_RULE_FIELD_PREFIX}${key.namespace}/${key.name}`;
}

/**
 * Prefix of the ServiceEntry hash fields holding one `NormalizedVirtualService` JSON each: every
 * VirtualService one of whose `spec.hosts` matches one of the ServiceEntry's hosts (the translator
 * chooses which applies to which proxy namespace).
 */
export const VIRTUAL_SERVICE_FIELD_PREFIX = 'vs:';

/** The hash field of one VirtualService: `vs:<ns>/<name>`. */
export function virtualServiceField(key: ObjectKey): string {
  return `${VIRTUAL_SERVICE_FIELD_PREFIX}${key.namespace}/${key.name}`;
}

const hasPrefixAndMore = (field: string, prefix: string): boolean => field.startsWith(prefix) && field.length > prefix.length;

/**
 * Prefix of the ServiceEntry hash fields holding its siblings: the other ServiceEntries of its
 * namespace that share one of its hosts, and their endpoints. istiod keeps one endpoint shard per
 * host and namespace, filled by every ServiceEntry of that namespace with that host
 * (`pilot/pkg/serviceregistry/serviceentry/conversion.go` `mergeServicesInstancesByNamespaceHost`),
 * so the clusters of one entry carry the others' endpoints and service accounts: the translator
 * needs them beside the entry. `sib:<name>` holds the sibling's `NormalizedServiceEntry` JSON,
 * `sib:<name>:ep:...` one endpoint it has (the field the sibling's own hash gives it).
 */
export const SIBLING_FIELD_PREFIX = 'sib:';

/** The hash field of a sibling ServiceEntry `name` of the same namespace: `sib:<name>`. */
export function siblingField(name: string): string {
  return `${SIBLING_FIELD_PREFIX}${name}`;
}

/** The hash field of an endpoint of the sibling `name`: `sib:<name>:` then the endpoint's own field. */
export function siblingEndpointField(name: string, endpoint: string): string {
  return `${SIBLING_FIELD_PREFIX}${name}:${endpoint}`;
}

/**
 * A sibling field read back: the sibling's name, and the endpoint field it carries (undefined for
 * the sibling's ServiceEntry itself). Kubernetes names have no `:`, so the first one ends the name.
 */
export function parseSiblingField(field: string): { readonly name: string; readonly endpoint: string | undefined } | undefined {
  if (!hasPrefixAndMore(field, SIBLING_FIELD_PREFIX)) return undefined;
  const rest = field.slice(SIBLING_FIELD_PREFIX.length);
  const colon = rest.indexOf(':');
  if (colon === -1) return { name: rest, endpoint: undefined };
  const endpoint = rest.slice(colon + 1);
  if (colon === 0 || !hasPrefixAndMore(endpoint, ENDPOINT_FIELD_PREFIX)) return undefined;
  return { name: rest.slice(0, colon), endpoint };
}

/** True for the fields a caller may write: `se`, `ep:...`, `dr:...`, `vs:...` and `sib:...` (never `rev`). */
export function isWritableField(field: string): boolean {
  return (
    field === SERVICE_ENTRY_FIELD ||
    hasPrefixAndMore(field, ENDPOINT_FIELD_PREFIX) ||
    hasPrefixAndMore(field, DESTINATION_RULE_FIELD_PREFIX) ||
    hasPrefixAndMore(field, VIRTUAL_SERVICE_FIELD_PREFIX) ||
    parseSiblingField(field) !== undefined
  );
}

// ---------------------------------------------------------------------------------------------------
// Lease and fencing

/**
 * A granted writer lease. `token` is the fencing token: it only grows (a takeover always gets a larger
 * one, also after the store restarted empty, because a fresh counter starts from the store's clock in
 * milliseconds), and every fenced write names the lease it holds, so a writer that lost the lease
 * cannot write. See https://martin.kleppmann.com/2016/02/08/how-to-do-distributed-locking.html.
 */
export interface LeaseGrant {
  readonly holder: string;
  readonly token: number;
}

/** What the store keeps under the lease key: `<token>|<holder>`. Writes compare it atomically. */
export function leaseValue(grant: LeaseGrant): string {
  return `${grant.token}|${grant.holder}`;
}

/** Inverse of `leaseValue`. */
export function parseLeaseValue(value: string): LeaseGrant {
  const bar = value.indexOf('|');
  const token = Number(value.slice(0, bar));
  if (bar <= 0 || !Number.isSafeInteger(token)) throw new StoreError('corrupt', `not a lease value: ${JSON.stringify(value)}`);
  return { token, holder: value.slice(bar + 1) };
}

/** The current lease as seen by anyone (`Lease.current`). */
export interface LeaseState extends LeaseGrant {
  /** Milliseconds until it expires unless renewed. */
  readonly remainingMs: number;
}

/**
 * The writer lease: exactly one watcher writes ServiceEntry hashes at a time.
 * Holder ids must be unique per process (e.g. pod name plus a random suffix).
 */
export interface Lease {
  /** A new grant with a larger token, or `null` while anyone (the caller included) holds the lease. */
  acquire(holder: string, ttlMs: number): Promise<LeaseGrant | null>;
  /** Extends the lease to `ttlMs` from now; false if `grant` is no longer the lease (expired or taken over). */
  renew(grant: LeaseGrant, ttlMs: number): Promise<boolean>;
  /** Gives the lease up; false if `grant` was no longer the lease. */
  release(grant: LeaseGrant): Promise<boolean>;
  current(): Promise<LeaseState | null>;
}

// ---------------------------------------------------------------------------------------------------
// ServiceEntry hashes

/**
 * A change to one ServiceEntry hash: fields to set (field -> JSON text) and fields to delete. Fields are
 * `se`, `ep:...` or `dr:...`; `se` may not be deleted (delete the ServiceEntry instead), and a new hash needs `se`.
 * Values are compared with what is stored: equal values are not written.
 */
export interface ServiceEntryDiff {
  readonly set: Readonly<Record<string, string>>;
  readonly delete: readonly string[];
}

export interface WriteOptions {
  /** Trace context (e.g. a W3C `traceparent`) carried by the change-log entry. */
  readonly trace?: string;
}

export type WriteResult =
  /** The diff changed the hash: it has a new revision and a change-log entry. */
  | { readonly status: 'written'; readonly revision: number; readonly logId: string; readonly changedFields: readonly string[]; readonly epoch: string }
  /** Every value was already stored (or the diff was empty): no revision, no log entry. */
  | { readonly status: 'unchanged'; readonly revision: number; readonly epoch: string | null };

export type DeleteResult =
  | { readonly status: 'deleted'; readonly revision: number; readonly logId: string; readonly epoch: string }
  | { readonly status: 'absent'; readonly epoch: string | null };

/** A ServiceEntry hash as stored: raw JSON text per field, plus its revision. */
export interface StoredServiceEntry {
  readonly key: ObjectKey;
  readonly revision: number;
  /** Every field except `rev`. */
  readonly fields: Readonly<Record<string, string>>;
}

/** One ServiceEntry's part of a batch (`ServiceEntryWriter.writeMany`): a diff to apply, or its deletion. */
export type ServiceEntryChange =
  | { readonly key: ObjectKey; readonly diff: ServiceEntryDiff; readonly trace?: string }
  | { readonly key: ObjectKey; readonly delete: true; readonly trace?: string };

/** What one change of a batch did: a `WriteResult` for a diff, a `DeleteResult` for a deletion. */
export type ServiceEntryChangeResult = WriteResult | DeleteResult;

/** Reading ServiceEntry hashes (translators). */
export interface ServiceEntryReader {
  read(key: ObjectKey): Promise<StoredServiceEntry | null>;
  /** Every ServiceEntry that has a hash (the watcher converges against it). */
  list(): Promise<ObjectKey[]>;
}

/** Writing ServiceEntry hashes (the watcher). Every write is fenced and atomic with its change-log entry. */
export interface ServiceEntryWriter extends ServiceEntryReader {
  /** Applies `diff`; throws `FencedError` (changing nothing) unless `fence` is the current lease. */
  write(key: ObjectKey, diff: ServiceEntryDiff, fence: LeaseGrant, options?: WriteOptions): Promise<WriteResult>;
  /** Deletes the hash and logs the deletion; throws `FencedError` (changing nothing) unless `fence` is the current lease. */
  delete(key: ObjectKey, fence: LeaseGrant, options?: WriteOptions): Promise<DeleteResult>;
  /**
   * Applies the changes of several ServiceEntries (each at most once) in one step, with one fence check:
   * each hash changes as `write` or `delete` would change it, with its own revision and change-log entry,
   * in the order given; results come back in that order. Throws `FencedError` or
   * `StoreError('invalid-argument')` having changed nothing. A store spread over shards takes each
   * shard's part in one step (the parts are independent).
   */
  writeMany(changes: readonly ServiceEntryChange[], fence: LeaseGrant): Promise<ServiceEntryChangeResult[]>;
}

// ---------------------------------------------------------------------------------------------------
// Change log

/** Name of the translators' consumer group on the change log. */
export const CHANGE_LOG_GROUP = 'translators';

/** Stream entry fields: `se` (id), `op`, `rev`, and `trace` when given. */
export const ChangeLogFields = { serviceEntry: 'se', op: 'op', revision: 'rev', trace: 'trace' } as const;

export type ChangeOp = 'upsert' | 'delete';

/** One change-log entry: a key and a revision, never the content (readers re-read the hash). */
export interface ChangeLogEntry {
  /** Stream id (`<ms>-<n>`), what `ack` takes. */
  readonly id: string;
  readonly serviceEntry: ObjectKey;
  readonly op: ChangeOp;
  readonly revision: number;
  readonly trace?: string;
}

/**
 * All entries of one batch for one ServiceEntry, coalesced: ten changes waiting in the log are one
 * build. `op` and `revision` are the latest entry's; `ids` must all be acked once the build is stored.
 */
export interface CoalescedChange {
  readonly serviceEntry: ObjectKey;
  readonly op: ChangeOp;
  readonly revision: number;
  readonly ids: readonly string[];
  readonly traces: readonly string[];
}

export interface ReadOptions {
  /** Most entries to take (before coalescing). */
  readonly count: number;
  /** How long to wait for a first entry; 0 returns at once. */
  readonly blockMs: number;
}

export interface PendingSummary {
  /** Entries delivered to a consumer and not acknowledged. */
  readonly count: number;
  readonly perConsumer: Readonly<Record<string, number>>;
}

/**
 * The change log as a consumer group (Redis Streams semantics): at-least-once; an entry read by a
 * consumer stays pending until acked, and another consumer takes it over with `claimStale` once it has
 * been idle long enough (its consumer died). The log is trimmed to about `changeLogMaxLength` entries,
 * so a consumer that falls further behind must resynchronise from `ServiceEntryReader.list`.
 */
export interface ChangeLog {
  /** New entries (never delivered to the group before), assigned to `consumer`, coalesced per ServiceEntry. */
  read(consumer: string, options: ReadOptions): Promise<CoalescedChange[]>;
  /** Acknowledges entries; returns how many were pending. */
  ack(ids: readonly string[]): Promise<number>;
  /** Takes over entries pending for at least `minIdleMs` (any consumer's), coalesced. Trimmed entries are dropped. */
  claimStale(consumer: string, minIdleMs: number, count?: number): Promise<CoalescedChange[]>;
  pending(): Promise<PendingSummary>;
  /**
   * Whether the log holds an entry not yet delivered to the group (Redis: the stream's last id is past
   * the group's last delivered id). With `pending()` it says whether the translators have built
   * everything written so far.
   */
  hasUndelivered(): Promise<boolean>;
  /** Entries currently retained. */
  length(): Promise<number>;
}

// ---------------------------------------------------------------------------------------------------
// Resources

/**
 * Identifies one built resource within its owner: the xDS type URL, the resource name, and the
 * variant (output flavour or naming mode, e.g. `envoy`, `grpc`), since one ServiceEntry yields the
 * same cluster name in several flavours.
 */
export interface ResourceId {
  readonly typeUrl: string;
  readonly name: string;
  readonly variant: string;
}

/** A resource id with its version (a content hash of the bytes). */
export interface ResourceRef extends ResourceId {
  readonly version: string;
}

/** A built xDS resource: the serialized protobuf and its version. */
export interface BuiltResource extends ResourceRef {
  /**
   * Never modified once built: the in-memory store keeps the array its writer hands over and gives
   * every reader that same array (Redis, of course, copies).
   */
  readonly bytes: Uint8Array;
}

/**
 * The field of a resource's bytes in its owner's hash: `b:<variant> <typeUrl> <name>` (variant and
 * type URL have no spaces; names may contain anything, e.g. `outbound|80||a.example.com`).
 * The resource Lua script in `redis-scripts.ts` builds the same string.
 */
export function resourceKey(id: ResourceId): string {
  return `${id.variant} ${id.typeUrl} ${id.name}`;
}

/** Throws `StoreError('invalid-argument')` unless `id` can be stored. */
export function checkResourceId(id: ResourceId): void {
  if (id.variant === '' || /\s/.test(id.variant) || id.typeUrl === '' || /\s/.test(id.typeUrl) || id.name === '') {
    throw new StoreError('invalid-argument', `invalid resource id ${JSON.stringify(id)}: variant and typeUrl must be non-empty without spaces, name non-empty`);
  }
}

/** What a gateway needs to decide who may see a ServiceEntry's resources. */
export interface Visibility {
  readonly namespace: string;
  readonly name: string;
  /** As in the ServiceEntry (empty: the mesh default). */
  readonly exportTo: readonly string[];
  /** Milliseconds since the epoch: the oldest ServiceEntry wins a host claimed twice. */
  readonly creationTime: number;
  readonly hosts: readonly string[];
  /**
   * The ServiceEntry's ports, for the debug endpoints (`/debug/registryz` ports, `/debug/endpointz`
   * `ServicePortName`); not part of visibility. Absent in records written before it existed.
   */
  readonly ports?: readonly ServicePort[];
  /** The ServiceEntry's resolution (`NONE`, `STATIC`, `DNS`, `DNS_ROUND_ROBIN`, `DYNAMIC_DNS`). */
  readonly resolution?: string;
  /**
   * What istiod compares, besides the namespace, resolution and exportTo, before it merges the ports
   * of a later ServiceEntry of the same host and namespace into the first one (`canMergeServices`,
   * `pilot/pkg/model/sidecar.go`): metadata labels and workloadSelector labels, as one canonical text
   * (`sameHostMergeKey` in @skiff/translator-core). Absent, with `resolution`, in records written
   * before they existed; the gateway then chooses among owners per resource name.
   */
  readonly mergeKey?: string;
  /**
   * Which DestinationRule policy scope each proxy gets (`policyScopeFor`): absent when no rule applies
   * to any proxy, and in records written before rules were stored; then every proxy gets the plain
   * variants.
   */
  readonly policyScopes?: PolicyScopes;
}

/**
 * The DestinationRule outcomes of one ServiceEntry over every proxy. The rules a proxy gets depend on its
 * namespace and, for rules with a workloadSelector, on its labels (`pilot/pkg/model/push_context.go`
 * `destinationRule`, `pilot/pkg/model/sidecar.go` `SidecarScope.DestinationRule`); proxies with the same
 * outcome share a scope, and the translator builds the resources once per scope, under the variant
 * `scopedVariant(variant, scope)`.
 */
export interface PolicyScopes {
  /** The namespaces whose choice differs from `otherNamespaces`. */
  readonly namespaces: Readonly<Record<string, ScopeChoice>>;
  /** The choice in every namespace not listed. */
  readonly otherNamespaces: ScopeChoice;
}

/** The scope of a proxy in one namespace, by which of the namespace's rule selectors its labels contain. */
export interface ScopeChoice {
  /** `workloadSelector.matchLabels` of the namespace's rules that have one (at most `MAX_SCOPE_SELECTORS`). */
  readonly selectors: readonly Readonly<Record<string, string>>[];
  /**
   * The scope per class: bit `i` of a proxy's class is set when its labels contain `selectors[i]`
   * (`2 ** selectors.length` entries). `''` is the default scope: the plain variant, no rule.
   */
  readonly scopes: readonly string[];
}

/** Most selectors one namespace's choice considers (the classes double with each). */
export const MAX_SCOPE_SELECTORS = 8;

/** The variant tag of a scope's resources: the plain variant for the default scope `''`, else `<variant>.<scope>`. */
export function scopedVariant(variant: string, scope: string): string {
  return scope === '' ? variant : `${variant}.${scope}`;
}

/**
 * The variant tag of resources only proxies in `namespace` get in place of the same name under `tag`
 * (a gRPC route whose host is `NAME.NS.svc.cluster.local` also matches `NAME` for clients in NS):
 * `<tag>.ns-<namespace>`. A namespace is a DNS label, so the tag has no space.
 */
export function namespacedVariant(tag: string, namespace: string): string {
  return `${tag}.ns-${namespace}`;
}

/** The base variant of a (possibly scoped) variant tag. */
export function baseVariant(variant: string): string {
  const dot = variant.indexOf('.');
  return dot === -1 ? variant : variant.slice(0, dot);
}

/** The scope a proxy in `namespace` with `labels` gets from an owner's record (`''` without scopes). */
export function policyScopeFor(scopes: PolicyScopes | undefined, namespace: string, labels: Readonly<Record<string, string>>): string {
  return policyScopeWhere(scopes, namespace, (selector) => Object.keys(selector).every((key) => labels[key] === selector[key]));
}

/** The choice that applies to proxies in `namespace`. */
export function scopeChoiceFor(scopes: PolicyScopes, namespace: string): ScopeChoice {
  return Object.hasOwn(scopes.namespaces, namespace) ? scopes.namespaces[namespace]! : scopes.otherNamespaces;
}

/** `policyScopeFor` with the selector test given (a gateway view knows which selectors its proxies' labels contain). */
export function policyScopeWhere(scopes: PolicyScopes | undefined, namespace: string, selects: (selector: Readonly<Record<string, string>>) => boolean): string {
  if (scopes === undefined) return '';
  const choice = scopeChoiceFor(scopes, namespace);
  let selectorClass = 0;
  choice.selectors.forEach((selector, index) => {
    if (selects(selector)) selectorClass |= 1 << index;
  });
  return choice.scopes[selectorClass] ?? '';
}

/** A ServiceEntry port as the debug endpoints show it (istiod's `model.Port`). */
export interface ServicePort {
  readonly name: string;
  readonly number: number;
  readonly protocol: string;
}

/** The ownership record of one ServiceEntry: its visibility and the resources it owns, with versions. */
export interface OwnershipRecord extends Visibility {
  /** The ServiceEntry revision these resources were built from. */
  readonly revision: number;
  /** Sorted by `resourceKey`. */
  readonly resources: readonly ResourceRef[];
}

/** An owner's record with (some of) its resources. */
export interface OwnedResources {
  readonly record: OwnershipRecord;
  readonly resources: readonly BuiltResource[];
}

export interface ResourceSnapshot {
  /**
   * The invalidation sequence read before any resource: every write with a larger sequence number may
   * or may not be in `owners`, so a gateway subscribes first, loads, then applies messages with a larger
   * sequence number (`Subscription.rebase(seq)`).
   */
  readonly seq: number;
  /** Sorted by namespace, then name. */
  readonly owners: readonly OwnedResources[];
}

export interface ReplaceResources {
  readonly visibility: Visibility;
  /** The ServiceEntry revision the resources were built from; an older build than the stored one is refused. */
  readonly revision: number;
  /** The complete set: resources not named here are removed. */
  readonly resources: readonly BuiltResource[];
  readonly trace?: string;
}

export type ReplaceOutcome =
  /** Something changed; the invalidation with `seq` was published. */
  | { readonly status: 'applied'; readonly invalidation: Invalidation }
  /** Same visibility and versions as stored: nothing published. */
  | { readonly status: 'unchanged' }
  /** The store holds a build (or a deletion) of a newer revision: nothing written. */
  | { readonly status: 'stale'; readonly storedRevision: number };

/** Reading built resources (gateways). */
export interface ResourceReader {
  loadAll(): Promise<ResourceSnapshot>;
  /** The owner's record and its resources (all, or those named by `ids` that exist); null if none. */
  readOwner(owner: ObjectKey, ids?: readonly ResourceId[]): Promise<OwnedResources | null>;
  listOwners(): Promise<ObjectKey[]>;
}

/**
 * Writing built resources (translators). Each call replaces one owner's resources and record
 * atomically, takes the next invalidation sequence number in the same step and publishes the
 * invalidation, so sequence order is write order.
 */
export interface ResourceWriter extends ResourceReader {
  replace(input: ReplaceResources): Promise<ReplaceOutcome>;
  /**
   * Removes every resource of `owner` and publishes it; leaves a tombstone with `revision` for a while
   * (`tombstoneTtlMs`) so a build of an older revision finishing late cannot bring them back.
   */
  deleteOwner(owner: ObjectKey, options: { readonly revision: number; readonly trace?: string }): Promise<ReplaceOutcome>;
}

// ---------------------------------------------------------------------------------------------------
// Invalidations

/**
 * One invalidation: what changed for one owner, with versions, never bytes. `seq` grows by one per
 * message, so a subscriber that sees a jump missed something.
 */
export interface Invalidation {
  readonly seq: number;
  readonly owner: ObjectKey;
  /**
   * `Sidecar` (or `Gateway`) when `owner` names a Sidecar (or Gateway) that was written or deleted
   * (`changed` and `removed` are then empty: the gateway re-reads it from the store's `sidecars` or
   * `gateways`); absent for a ServiceEntry's resources.
   */
  readonly kind?: InvalidationKind;
  readonly op: ChangeOp;
  /** The visibility record changed (or the owner appeared or was deleted). */
  readonly ownerChanged: boolean;
  readonly changed: readonly ResourceRef[];
  /** Removed resources with the last version they had. */
  readonly removed: readonly ResourceRef[];
  readonly trace?: string;
}

/** Why a subscriber may have missed invalidations and must reconcile from `ResourceReader`. */
export type GapEvent =
  /** A message skipped sequence numbers. */
  | { readonly reason: 'sequence'; readonly expected: number; readonly received: number }
  /** The sequence went backwards: the store restarted empty. */
  | { readonly reason: 'reset'; readonly lastReceived: number; readonly received: number }
  /** The subscription was re-established after a connection loss; messages in between are lost. */
  | { readonly reason: 'reconnect' }
  /** A message could not be understood. */
  | { readonly reason: 'malformed'; readonly detail: string };

export interface InvalidationListener {
  onInvalidation(message: Invalidation): void;
  onGap(event: GapEvent): void;
}

export interface Subscription {
  /**
   * Declares the state the subscriber holds is complete up to `seq` (from `loadAll` or `currentSeq`):
   * later messages with `seq` or lower are skipped, and the next one expected is `seq + 1`.
   */
  rebase(seq: number): void;
  /** Highest sequence number received so far (0 before any). */
  readonly lastReceived: number;
  close(): Promise<void>;
}

/**
 * The invalidation channel. Delivery is at-most-once (pub/sub): the sequence number and the
 * reconnect signal tell a subscriber when to reconcile. Listener exceptions are caught and counted.
 */
export interface InvalidationBus {
  /**
   * Resolves once the subscription is active, so a load started afterwards misses nothing.
   * `afterSeq` is an initial `rebase`.
   */
  subscribe(listener: InvalidationListener, options?: { readonly afterSeq?: number }): Promise<Subscription>;
  /** The sequence number of the last invalidation (0 for an empty store). */
  currentSeq(): Promise<number>;
}

/** What an invalidation is about besides a ServiceEntry's resources. */
export type InvalidationKind = ScopeKind;

/** The kinds that scope what proxies see without changing a resource: Sidecars and Gateways. */
export type ScopeKind = 'Sidecar' | 'Gateway';

/** The JSON published on the channel (the Redis script writes the same shape). */
export interface InvalidationMessage {
  readonly seq: number;
  readonly owner: ServiceEntryId;
  readonly kind?: InvalidationKind;
  readonly op: ChangeOp;
  readonly ownerChanged: boolean;
  readonly changed: readonly ResourceRef[];
  readonly removed: readonly ResourceRef[];
  readonly trace?: string;
}

// ---------------------------------------------------------------------------------------------------
// Sidecars

/**
 * A stored Sidecar: its normalized JSON (`NormalizedSidecar`) and the revision of its last write.
 * Sidecars scope which of the built resources a proxy sees; they change no resource, so they bypass
 * the change log and the translators and go straight to the gateways.
 */
export interface StoredSidecar {
  readonly key: ObjectKey;
  readonly revision: number;
  readonly json: string;
}

export type SidecarWriteResult =
  /** The JSON differed: new revision, and the invalidation (`kind: 'Sidecar'`) was published. */
  | { readonly status: 'written'; readonly revision: number; readonly invalidation: Invalidation }
  /** The same JSON was stored: nothing published. */
  | { readonly status: 'unchanged'; readonly revision: number };

export type SidecarDeleteResult = { readonly status: 'deleted'; readonly invalidation: Invalidation } | { readonly status: 'absent' };

/** Reading Sidecars (gateways). */
export interface SidecarReader {
  get(key: ObjectKey): Promise<StoredSidecar | null>;
  /** Every stored Sidecar, sorted by namespace, then name. */
  list(): Promise<StoredSidecar[]>;
}

/**
 * Writing Sidecars (the watcher). A write is fenced by the writer lease like a ServiceEntry write,
 * takes the next invalidation sequence number and publishes the invalidation in the same step, so
 * gateways order it with resource changes and detect a missed one as a sequence gap.
 */
export interface SidecarWriter extends SidecarReader {
  /** Stores `json` for `key`; throws `FencedError` (changing nothing) unless `fence` is the current lease. */
  put(key: ObjectKey, json: string, fence: LeaseGrant, options?: WriteOptions): Promise<SidecarWriteResult>;
  /** Removes `key`; throws `FencedError` (changing nothing) unless `fence` is the current lease. */
  delete(key: ObjectKey, fence: LeaseGrant, options?: WriteOptions): Promise<SidecarDeleteResult>;
}

/**
 * Gateways (`networking.istio.io` Gateway, normalized as `NormalizedGateway`) are stored like
 * Sidecars: they decide which router proxies get istiod's sni-dnat clusters, change no resource, and
 * go straight to the gateways with a `kind: 'Gateway'` invalidation.
 */
export type StoredGateway = StoredSidecar;
export type GatewayReader = SidecarReader;
export type GatewayWriter = SidecarWriter;

// ---------------------------------------------------------------------------------------------------
// Fleet

/** One gateway replica's report: opaque JSON (its connected proxies and their sync state). */
export interface FleetReport {
  readonly replica: string;
  /**
   * Names this version of the report: a publish gives a new one, a refresh keeps it. Null when the
   * store holds the report without one (a replica that published before revisions were recorded):
   * such a report is sent in full every time.
   */
  readonly revision: string | null;
  /** The report's text; null when the caller said it holds this revision already (`list`'s `known`). */
  readonly report: string | null;
}

/** Throws `StoreError('invalid-argument')` unless `replica` can be used in a key. */
export function checkReplicaId(replica: string): void {
  if (replica === '' || FORBIDDEN_IN_NAMES.test(replica)) {
    throw new StoreError('invalid-argument', `invalid replica id ${JSON.stringify(replica)}: must be non-empty without '/', '{', '}', '|' or spaces`);
  }
}

/**
 * Where gateway replicas publish what they serve, so any replica's debug endpoints show the whole
 * fleet. A report lives until its TTL passes: a replica that dies stops heartbeating and drops out.
 */
export interface FleetRegistry {
  /** Replaces `replica`'s report; it expires after `ttlMs` unless published again. */
  publish(replica: string, report: string, ttlMs: number): Promise<void>;
  /**
   * Keeps `replica`'s live report for another `ttlMs` without sending it again (a report of ten
   * thousand proxies is about 10 MB). False when there is no live report to keep (it expired, was
   * removed, or the store lost its data): the caller publishes it in full.
   */
  refresh(replica: string, ttlMs: number): Promise<boolean>;
  /**
   * Every live report, sorted by replica id; without `except`'s own, which its replica has already.
   * `known` holds the revision of each report the caller has: those still current are listed with
   * `report: null` and their text is not read (replicas heartbeat every few seconds, and a quiet
   * replica's report of ten thousand proxies is 10 MB that every other replica would read each time).
   */
  list(except?: string, known?: ReadonlyMap<string, string>): Promise<FleetReport[]>;
  /** Drops `replica`'s report at once (a replica shutting down). */
  remove(replica: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------
// Connection health

export type ConnectionState = 'connecting' | 'ready' | 'reconnecting' | 'closed';

/** One connection of a store (`commands`, `blocking` for change-log reads, `subscriber`). */
export interface ConnectionHealth {
  readonly name: string;
  readonly state: ConnectionState;
  /** Times the connection became ready again after having been ready. */
  readonly reconnects: number;
  /** Connection attempts that were retries. */
  readonly reconnectAttempts: number;
  readonly errors: number;
  readonly lastError?: string;
}

export interface StoreHealth {
  /** State of the command connection. */
  readonly state: ConnectionState;
  readonly reconnects: number;
  readonly errors: number;
  readonly connections: readonly ConnectionHealth[];
  /** Invalidation listener calls that threw (caught and counted; delivery goes on). */
  readonly listenerErrors: number;
  /** Change-log entries and invalidations dropped because they could not be parsed. */
  readonly malformed: number;
}

export interface ConnectionStateEvent {
  readonly connection: string;
  readonly state: ConnectionState;
  /**
   * Why a connection that is not ready failed (`connect ECONNREFUSED 127.0.0.1:6379`): sent with the
   * first failure of each outage and whenever the reason changes, so the cause is known at once rather
   * than when a call gives up.
   */
  readonly error?: string;
}

// ---------------------------------------------------------------------------------------------------
// The store

/** The whole store. Each service takes only its facets (`WatcherStore`, `TranslatorStore`, `GatewayStore`). */
export interface Store {
  readonly serviceEntries: ServiceEntryWriter;
  readonly sidecars: SidecarWriter;
  readonly gateways: GatewayWriter;
  readonly changeLog: ChangeLog;
  readonly resources: ResourceWriter;
  readonly invalidations: InvalidationBus;
  readonly lease: Lease;
  readonly fleet: FleetRegistry;
  /**
   * The id created by the first mutation of an empty store (a lease acquisition, a ServiceEntry or a
   * resource write), or null while the store is empty. A watcher remembers it after converging; a
   * different value (or null) means the store restarted empty and must be converged again. Every
   * ServiceEntry write result carries it too.
   */
  epoch(): Promise<string | null>;
  /** Resolves when the store answers. */
  ping(): Promise<void>;
  health(): StoreHealth;
  /** Calls `listener` on every connection state change; returns the function that removes it. */
  onStateChange(listener: (event: ConnectionStateEvent) => void): () => void;
  close(): Promise<void>;
}

/** What the watcher uses. */
export type WatcherStore = Pick<Store, 'serviceEntries' | 'sidecars' | 'gateways' | 'lease' | 'epoch' | 'health' | 'onStateChange'>;
/** What a translator uses. */
export interface TranslatorStore extends Pick<Store, 'changeLog' | 'resources' | 'health' | 'onStateChange'> {
  readonly serviceEntries: ServiceEntryReader;
}
/** What a gateway uses. */
export interface GatewayStore extends Pick<Store, 'invalidations' | 'fleet' | 'health' | 'onStateChange'> {
  readonly resources: ResourceReader;
  readonly sidecars: SidecarReader;
  readonly gateways: GatewayReader;
}

/** Options both implementations take. */
export interface StoreOptions {
  /** Key prefix (the hash tag); default `skiff`. */
  readonly keyPrefix?: string;
  /** The change log is trimmed to about this many entries (at least this many are kept); default 100 000. */
  readonly changeLogMaxLength?: number;
  /** How long a deleted owner's tombstone refuses older builds; default 10 minutes. */
  readonly tombstoneTtlMs?: number;
}

export const DEFAULT_CHANGE_LOG_MAX_LENGTH = 100_000;
export const DEFAULT_TOMBSTONE_TTL_MS = 10 * 60_000;

// ---------------------------------------------------------------------------------------------------
// Errors

export type StoreErrorCode =
  /** The store cannot be reached (connection down past the retries). */
  | 'unavailable'
  /** The store refused a command. */
  | 'command'
  /** A fenced write named a lease that is not the current one. */
  | 'fenced'
  /** The caller passed something the contract does not allow. */
  | 'invalid-argument'
  /** Stored data does not have the shape the contract promises. */
  | 'corrupt'
  /** The store was closed. */
  | 'closed';

/** The one error type of the store; `cause` keeps the underlying error. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[${code}] ${message}`, options);
    this.code = code;
  }
}

/** A fenced write with a lease that is no longer current; nothing was written. */
export class FencedError extends StoreError {
  override readonly name: string = 'FencedError';
  /** The lease the write named. */
  readonly fence: LeaseGrant;
  /** The lease in the store (null: none). */
  readonly current: LeaseGrant | null;

  constructor(fence: LeaseGrant, current: LeaseGrant | null) {
    super('fenced', `write with lease ${leaseValue(fence)} refused: the current lease is ${current === null ? 'none' : leaseValue(current)}`);
    this.fence = fence;
    this.current = current;
  }
}
