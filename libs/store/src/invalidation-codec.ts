/** The invalidation wire format, and a subscription's sequence tracking and gap detection, the same for both stores. */
import {
  parseServiceEntryId,
  StoreError,
  type ChangeOp,
  type GapEvent,
  type Invalidation,
  type InvalidationListener,
  type InvalidationMessage,
  type ResourceRef,
  type ScopeKind,
  type Subscription,
} from './contract.js';
import { isResourceRef } from './ownership-records.js';

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
    (message['trace'] !== undefined && typeof message['trace'] !== 'string') ||
    (message['kind'] !== undefined && message['kind'] !== 'Sidecar' && message['kind'] !== 'Gateway')
  ) {
    throw new StoreError('corrupt', `not an invalidation: ${text.slice(0, 200)}`);
  }
  const owner = parseServiceEntryId(message['owner']);
  const base = {
    seq: message['seq'] as number,
    owner,
    ...(message['kind'] === 'Sidecar' || message['kind'] === 'Gateway' ? { kind: message['kind'] as ScopeKind } : {}),
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
