/**
 * The Redis store's change log: a stream read through one consumer group. Blocking reads use their
 * own connection (`XREADGROUP ... BLOCK` holds it); entries that are not change-log entries are acked
 * and counted, never retried forever.
 */
import type { RedisClient } from './redis-connection.js';
import { CHANGE_LOG_GROUP, type ChangeLog, type ChangeLogEntry, type CoalescedChange, type PendingSummary, type ReadOptions } from './contract.js';
import { coalesce, compareStreamIds, parseChangeLogEntry } from './change-log-entries.js';
import type { RedisContext } from './redis-context.js';
import { errorMessage, isNoGroup, isReplyError } from './redis-connection.js';

type StreamItem = [id: string, fields: string[] | null];

function asStreamItems(value: unknown): StreamItem[] {
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is StreamItem => Array.isArray(item) && typeof item[0] === 'string' && (item[1] === null || Array.isArray(item[1])));
}

function fieldsOf(flat: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
  return fields;
}

export class RedisChangeLog implements ChangeLog {
  /**
   * The contract's plain object of functions (the store's `changeLog`), so callers can spread it to
   * wrap one call, as they can the other facets.
   */
  facet(): ChangeLog {
    return {
      read: (consumer, options) => this.read(consumer, options),
      ack: (ids) => this.ack(ids),
      claimStale: (consumer, minIdleMs, count) => this.claimStale(consumer, minIdleMs, count),
      pending: () => this.pending(),
      hasUndelivered: () => this.hasUndelivered(),
      length: () => this.length(),
    };
  }

  private groupReady = false;

  constructor(
    private readonly ctx: RedisContext,
    /** The connection for blocking reads, created on first use. */
    private readonly blockingClient: () => RedisClient,
  ) {}

  /** A server that came back may have lost the consumer group; recreate it before the next call. */
  groupLost(): void {
    this.groupReady = false;
  }

  read(consumer: string, options: ReadOptions): Promise<CoalescedChange[]> {
    return this.ctx.run('read change log', () => this.readLog(consumer, options));
  }

  ack(ids: readonly string[]): Promise<number> {
    return this.ctx.run('ack change log', async () => {
      if (ids.length === 0) return 0;
      return Number(await this.withGroup(() => this.ctx.client.call('XACK', [this.ctx.keys.changeLog, CHANGE_LOG_GROUP, ...ids])));
    });
  }

  claimStale(consumer: string, minIdleMs: number, count?: number): Promise<CoalescedChange[]> {
    return this.ctx.run('claim change log', () => this.claim(consumer, minIdleMs, count ?? 100));
  }

  pending(): Promise<PendingSummary> {
    return this.ctx.run('pending change log', async () => {
      const reply = (await this.withGroup(() => this.ctx.client.call('XPENDING', [this.ctx.keys.changeLog, CHANGE_LOG_GROUP]))) as unknown[];
      const perConsumer: Record<string, number> = {};
      if (Array.isArray(reply[3])) for (const [consumer, count] of reply[3] as [string, string][]) perConsumer[consumer] = Number(count);
      return { count: Number(reply[0]), perConsumer };
    });
  }

  hasUndelivered(): Promise<boolean> {
    return this.ctx.run('undelivered change log', async () => {
      // Not the group's `lag`: once the log is trimmed past the group, Redis keeps counting the trimmed
      // entries in it, even after the group has read everything retained. The log is only ever trimmed
      // from its start, so its last id is its newest entry's.
      const groups = (await this.withGroup(() => this.ctx.client.call('XINFO', ['GROUPS', this.ctx.keys.changeLog]))) as unknown[][];
      const group = groups.map(infoFieldsOf).find((fields) => fields.get('name') === CHANGE_LOG_GROUP);
      const stream = infoFieldsOf((await this.ctx.client.call('XINFO', ['STREAM', this.ctx.keys.changeLog])) as unknown[]);
      const delivered = String(group?.get('last-delivered-id') ?? '0-0');
      return compareStreamIds(String(stream.get('last-generated-id') ?? '0-0'), delivered) > 0;
    });
  }

  length(): Promise<number> {
    return this.ctx.run('change log length', () => this.ctx.client.xlen(this.ctx.keys.changeLog));
  }

  /** Runs `body` with the consumer group in place; a server that restarted empty gets it recreated once. */
  private async withGroup<T>(body: () => Promise<T>): Promise<T> {
    if (!this.groupReady) await this.createGroup();
    try {
      return await body();
    } catch (error) {
      if (!isNoGroup(error)) throw error;
      this.groupReady = false;
      await this.createGroup();
      return await body();
    }
  }

  /** The group starts at the beginning of the log, so it sees every entry still retained. */
  private async createGroup(): Promise<void> {
    try {
      await this.ctx.client.call('XGROUP', ['CREATE', this.ctx.keys.changeLog, CHANGE_LOG_GROUP, '0', 'MKSTREAM']);
    } catch (error) {
      if (!isReplyError(error) || !errorMessage(error).startsWith('BUSYGROUP')) throw error;
    }
    this.groupReady = true;
  }

  private async readLog(consumer: string, options: ReadOptions): Promise<CoalescedChange[]> {
    const block = options.blockMs > 0 ? ['BLOCK', options.blockMs] : [];
    const client = options.blockMs > 0 ? this.blockingClient() : this.ctx.client;
    const reply = await this.withGroup(() =>
      client.call('XREADGROUP', ['GROUP', CHANGE_LOG_GROUP, consumer, 'COUNT', options.count, ...block, 'STREAMS', this.ctx.keys.changeLog, '>']),
    );
    if (!Array.isArray(reply) || reply.length === 0) return [];
    const stream = reply[0] as unknown[];
    return coalesce(await this.parseEntries(asStreamItems(stream[1])));
  }

  /** Parses stream items; entries that are not change-log entries are acked and counted. */
  private async parseEntries(items: readonly StreamItem[]): Promise<ChangeLogEntry[]> {
    const entries: ChangeLogEntry[] = [];
    const malformed: string[] = [];
    for (const [id, flat] of items) {
      if (flat === null) continue;
      const entry = parseChangeLogEntry(id, fieldsOf(flat));
      if (entry === null) malformed.push(id);
      else entries.push(entry);
    }
    if (malformed.length > 0) {
      this.ctx.counters.malformed += malformed.length;
      await this.ctx.client.call('XACK', [this.ctx.keys.changeLog, CHANGE_LOG_GROUP, ...malformed]);
    }
    return entries;
  }

  private async claim(consumer: string, minIdleMs: number, count: number): Promise<CoalescedChange[]> {
    const claimed: StreamItem[] = [];
    let cursor = '0-0';
    do {
      const reply = (await this.withGroup(() =>
        this.ctx.client.call('XAUTOCLAIM', [this.ctx.keys.changeLog, CHANGE_LOG_GROUP, consumer, minIdleMs, cursor, 'COUNT', count - claimed.length]),
      )) as unknown[];
      cursor = String(reply[0]);
      // Redis 7 drops trimmed entries from the pending list and reports them apart (reply[2]); 6.2 returns them with null fields.
      // eslint-disable-next-line no-restricted-syntax -- at most `count` items (XAUTOCLAIM ... COUNT), the read batch size
      claimed.push(...asStreamItems(reply[1]).filter(([, fields]) => fields !== null));
    } while (cursor !== '0-0' && claimed.length < count);
    return coalesce(await this.parseEntries(claimed));
  }
}

/** A flat `XINFO` reply (`name value name value ...`) as a map. */
function infoFieldsOf(reply: unknown[]): Map<string, unknown> {
  const fields = new Map<string, unknown>();
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1]);
  return fields;
}
