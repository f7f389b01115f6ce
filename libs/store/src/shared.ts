/**
 * Logic both store implementations share, so they cannot drift apart: argument checks, ownership
 * records, change-log coalescing, the invalidation wire format, and a subscription's gap detection.
 */
import type { ObjectKey } from '@skiff/model';
import {
  ChangeLogFields,
  checkObjectKey,
  checkResourceId,
  isWritableField,
  parseServiceEntryId,
  resourceKey,
  SERVICE_ENTRY_FIELD,
  StoreError,
  type ChangeLogEntry,
  type ChangeOp,
  type CoalescedChange,
  type GapEvent,
  type Invalidation,
  type InvalidationListener,
  type InvalidationMessage,
  type OwnershipRecord,
  type ReplaceResources,
  type ResourceRef,
  type ServiceEntryDiff,
  type Subscription,
  type Visibility,
} from './contract.js';

// ---------------------------------------------------------------------------------------------------
// Argument checks

/** Throws `StoreError('invalid-argument')` for a diff the contract does not allow. */
export function checkDiff(diff: ServiceEntryDiff): void {
  for (const field of Object.keys(diff.set)) {
    if (!isWritableField(field)) throw new StoreError('invalid-argument', `field ${JSON.stringify(field)} is not writable (only 'se' and 'ep:...')`);
  }
  for (const field of diff.delete) {
    if (!isWritableField(field) || field === SERVICE_ENTRY_FIELD) {
      throw new StoreError('invalid-argument', `field ${JSON.stringify(field)} cannot be deleted (delete the ServiceEntry to remove 'se')`);
    }
    if (Object.hasOwn(diff.set, field)) throw new StoreError('invalid-argument', `field ${JSON.stringify(field)} is both set and deleted`);
  }
}

export function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new StoreError('invalid-argument', `lease TTL must be a positive integer of milliseconds, got ${ttlMs}`);
}

export function checkHolder(holder: string): void {
  if (holder === '') throw new StoreError('invalid-argument', 'lease holder must be non-empty');
}

export function checkRevision(revision: number): void {
  if (!Number.isSafeInteger(revision) || revision < 0) throw new StoreError('invalid-argument', `revision must be a non-negative integer, got ${revision}`);
}

/** An empty trace is the same as none. */
export function traceOf(options: { readonly trace?: string } | undefined): string {
  return options?.trace ?? '';
}

// ---------------------------------------------------------------------------------------------------
// Ownership records

/** The visibility part in a fixed field order, so equal visibility is equal text. */
export function visibilityJson(visibility: Visibility): string {
  const { namespace, name, exportTo, creationTime, hosts } = visibility;
  return JSON.stringify({ namespace, name, exportTo, creationTime, hosts });
}

export function compareResourceKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A validated replace, ready for either implementation. */
export interface PreparedReplace {
  readonly owner: ObjectKey;
  readonly visibilityJson: string;
  readonly record: OwnershipRecord;
  readonly recordJson: string;
  /** Sorted by key. */
  readonly resources: readonly { readonly key: string; readonly ref: ResourceRef; readonly refJson: string; readonly bytes: Uint8Array }[];
}

export function prepareReplace(input: ReplaceResources): PreparedReplace {
  const owner = { namespace: input.visibility.namespace, name: input.visibility.name };
  checkObjectKey(owner);
  checkRevision(input.revision);
  const seen = new Set<string>();
  const resources = input.resources
    .map((resource) => {
      checkResourceId(resource);
      if (resource.version === '') throw new StoreError('invalid-argument', `resource ${resourceKey(resource)} has no version`);
      const key = resourceKey(resource);
      if (seen.has(key)) throw new StoreError('invalid-argument', `resource ${key} is listed twice`);
      seen.add(key);
      const ref: ResourceRef = { typeUrl: resource.typeUrl, name: resource.name, variant: resource.variant, version: resource.version };
      return { key, ref, refJson: JSON.stringify(ref), bytes: resource.bytes };
    })
    .sort((a, b) => compareResourceKeys(a.key, b.key));
  const { namespace, name, exportTo, creationTime, hosts, ports } = input.visibility;
  const record: OwnershipRecord = {
    namespace,
    name,
    exportTo: [...exportTo],
    creationTime,
    hosts: [...hosts],
    ...(ports === undefined ? {} : { ports: ports.map((port) => ({ name: port.name, number: port.number, protocol: port.protocol })) }),
    revision: input.revision,
    resources: resources.map((r) => r.ref),
  };
  return { owner, visibilityJson: visibilityJson(input.visibility), record, recordJson: JSON.stringify(record), resources };
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

function isResourceRef(value: unknown): value is ResourceRef {
  if (typeof value !== 'object' || value === null) return false;
  const ref = value as Record<string, unknown>;
  return typeof ref['typeUrl'] === 'string' && typeof ref['name'] === 'string' && typeof ref['variant'] === 'string' && typeof ref['version'] === 'string';
}

function isServicePort(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const port = value as Record<string, unknown>;
  return typeof port['name'] === 'string' && typeof port['number'] === 'number' && typeof port['protocol'] === 'string';
}

/** Parses a stored ownership record; throws `StoreError('corrupt')` if it is not one. */
export function parseOwnershipRecord(json: string): OwnershipRecord {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (cause) {
    throw new StoreError('corrupt', 'ownership record is not JSON', { cause });
  }
  const record = value as Record<string, unknown> | null;
  if (
    typeof record !== 'object' ||
    record === null ||
    typeof record['namespace'] !== 'string' ||
    typeof record['name'] !== 'string' ||
    !isStringArray(record['exportTo']) ||
    typeof record['creationTime'] !== 'number' ||
    !isStringArray(record['hosts']) ||
    (record['ports'] !== undefined && !(Array.isArray(record['ports']) && record['ports'].every(isServicePort))) ||
    typeof record['revision'] !== 'number' ||
    !Array.isArray(record['resources']) ||
    !record['resources'].every(isResourceRef)
  ) {
    throw new StoreError('corrupt', `not an ownership record: ${json.slice(0, 200)}`);
  }
  return record as unknown as OwnershipRecord;
}

export function compareObjectKeys(a: ObjectKey, b: ObjectKey): number {
  return compareResourceKeys(a.namespace, b.namespace) || compareResourceKeys(a.name, b.name);
}

// ---------------------------------------------------------------------------------------------------
// Change log

/** Parses the flat field list of a stream entry; null if it is not a change-log entry. */
export function parseChangeLogEntry(id: string, fields: Readonly<Record<string, string>>): ChangeLogEntry | null {
  const se = fields[ChangeLogFields.serviceEntry];
  const op = fields[ChangeLogFields.op];
  const revision = Number(fields[ChangeLogFields.revision]);
  if (se === undefined || (op !== 'upsert' && op !== 'delete') || !Number.isSafeInteger(revision)) return null;
  let serviceEntry: ObjectKey;
  try {
    serviceEntry = parseServiceEntryId(se);
  } catch {
    return null;
  }
  const trace = fields[ChangeLogFields.trace];
  return trace === undefined || trace === '' ? { id, serviceEntry, op, revision } : { id, serviceEntry, op, revision, trace };
}

/**
 * Groups entries per ServiceEntry in order of first appearance; the entry with the highest revision
 * (the latest write) gives the group's `op` and `revision`.
 */
export function coalesce(entries: readonly ChangeLogEntry[]): CoalescedChange[] {
  const groups = new Map<string, { serviceEntry: ObjectKey; op: ChangeOp; revision: number; ids: string[]; traces: string[] }>();
  for (const entry of entries) {
    const id = `${entry.serviceEntry.namespace}/${entry.serviceEntry.name}`;
    let group = groups.get(id);
    if (group === undefined) {
      group = { serviceEntry: entry.serviceEntry, op: entry.op, revision: entry.revision, ids: [], traces: [] };
      groups.set(id, group);
    }
    group.ids.push(entry.id);
    if (entry.trace !== undefined) group.traces.push(entry.trace);
    if (entry.revision >= group.revision) {
      group.op = entry.op;
      group.revision = entry.revision;
    }
  }
  return [...groups.values()];
}

/** Stream ids `<ms>-<n>` in numeric order. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('-').map(Number);
  const [bm = 0, bn = 0] = b.split('-').map(Number);
  return am - bm || an - bn;
}

// ---------------------------------------------------------------------------------------------------
// Invalidations

export function encodeInvalidation(message: InvalidationMessage): string {
  return JSON.stringify(message);
}

/** Parses a message from the channel; throws `StoreError('corrupt')` if it is not an invalidation. */
export function decodeInvalidation(text: string): Invalidation {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new StoreError('corrupt', 'invalidation is not JSON', { cause });
  }
  const message = value as Record<string, unknown> | null;
  if (
    typeof message !== 'object' ||
    message === null ||
    !Number.isSafeInteger(message['seq']) ||
    typeof message['owner'] !== 'string' ||
    (message['op'] !== 'upsert' && message['op'] !== 'delete') ||
    typeof message['ownerChanged'] !== 'boolean' ||
    !Array.isArray(message['changed']) ||
    !message['changed'].every(isResourceRef) ||
    !Array.isArray(message['removed']) ||
    !message['removed'].every(isResourceRef) ||
    (message['trace'] !== undefined && typeof message['trace'] !== 'string')
  ) {
    throw new StoreError('corrupt', `not an invalidation: ${text.slice(0, 200)}`);
  }
  const owner = parseServiceEntryId(message['owner']);
  const base = {
    seq: message['seq'] as number,
    owner,
    op: message['op'] as ChangeOp,
    ownerChanged: message['ownerChanged'],
    changed: message['changed'].map(pickRef),
    removed: message['removed'].map(pickRef),
  };
  const trace = message['trace'];
  return typeof trace === 'string' && trace !== '' ? { ...base, trace } : base;
}

function pickRef(ref: ResourceRef): ResourceRef {
  return { typeUrl: ref.typeUrl, name: ref.name, variant: ref.variant, version: ref.version };
}

/** Counters a store keeps about its listeners and the data it had to drop. */
export interface DeliveryCounters {
  listenerErrors: number;
  malformed: number;
}

/**
 * One subscriber's view of the sequence: decides which messages to deliver and when to signal a gap.
 * - after `rebase(s)`, messages with `seq <= s` are already reflected in the subscriber's state;
 * - a jump past the next expected number is a `sequence` gap;
 * - a number at or below the last one received means the store's counter restarted: a `reset`;
 * - a reconnect forgets everything until the next `rebase`.
 */
export class SubscriptionState implements Subscription {
  private baseline: number | null;
  private received = 0;
  private closed = false;

  constructor(
    private readonly listener: InvalidationListener,
    afterSeq: number | undefined,
    private readonly counters: DeliveryCounters,
    private readonly onClose: (state: SubscriptionState) => Promise<void>,
  ) {
    this.baseline = afterSeq ?? null;
  }

  get lastReceived(): number {
    return this.received;
  }

  rebase(seq: number): void {
    this.baseline = seq;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.onClose(this);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A message on the channel could not be parsed (the caller counts it once). */
  malformed(detail: string): void {
    this.gap({ reason: 'malformed', detail });
  }

  receive(message: Invalidation): void {
    if (this.closed) return;
    const { seq } = message;
    const previous = this.received;
    if (previous > 0 && seq <= previous) {
      this.received = seq;
      this.baseline = null;
      this.gap({ reason: 'reset', lastReceived: previous, received: seq });
      this.deliver(message);
      return;
    }
    this.received = seq;
    if (this.baseline !== null && seq <= this.baseline) return;
    const expected = Math.max(this.baseline ?? 0, previous) + 1;
    if ((this.baseline !== null || previous > 0) && seq > expected) this.gap({ reason: 'sequence', expected, received: seq });
    this.deliver(message);
  }

  /** The subscription was re-established after a connection loss. */
  reconnected(): void {
    if (this.closed) return;
    this.baseline = null;
    this.received = 0;
    this.gap({ reason: 'reconnect' });
  }

  private deliver(message: Invalidation): void {
    try {
      this.listener.onInvalidation(message);
    } catch {
      this.counters.listenerErrors++;
    }
  }

  private gap(event: GapEvent): void {
    if (this.closed) return;
    try {
      this.listener.onGap(event);
    } catch {
      this.counters.listenerErrors++;
    }
  }
}
