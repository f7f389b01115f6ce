/**
 * The Redis store's invalidation bus: pub/sub on one channel, on its own connection (created on
 * first use); sharded pub/sub (`SSUBSCRIBE`) on Redis Cluster (`RedisContext.publishTarget` says why). Pub/sub loses what is published while a subscriber is disconnected, so the connection
 * does not resubscribe on its own (`autoResubscribe: false`): on every reconnect the bus subscribes
 * again and only then tells each subscription `reconnect`, so a reconcile started from that signal
 * cannot miss a message published before the subscription was back.
 */
import type { RedisOptions } from 'ioredis';
import type { InvalidationBus, InvalidationListener, Subscription } from './contract.js';
import { decodeInvalidation, SubscriptionState } from './invalidation-codec.js';
import type { RedisContext } from './redis-context.js';
import { errorMessage, type RedisClient, type TrackedConnection } from './redis-connection.js';

export type ConnectFunction = (name: string, extra: Partial<RedisOptions>, onReady: (afterReconnect: boolean) => void) => TrackedConnection;

export class RedisInvalidations implements InvalidationBus {
  /** The contract's plain object of functions (the store's `invalidations`), spreadable like the other facets. */
  facet(): InvalidationBus {
    return { subscribe: (listener, options) => this.subscribe(listener, options), currentSeq: () => this.currentSeq() };
  }

  private subscriber: TrackedConnection | null = null;
  private channelSubscribed: Promise<void> | null = null;
  private readonly subscriptions = new Set<SubscriptionState>();
  private closed = false;

  constructor(
    private readonly ctx: RedisContext,
    private readonly connect: ConnectFunction,
  ) {}

  subscribe(listener: InvalidationListener, options?: { readonly afterSeq?: number }): Promise<Subscription> {
    return this.ctx.run('subscribe', async () => {
      const state = new SubscriptionState(listener, options?.afterSeq, this.ctx.counters, async (closing) => this.unsubscribe(closing));
      this.subscriptions.add(state);
      try {
        await this.ensureChannel();
      } catch (error) {
        this.subscriptions.delete(state);
        throw error;
      }
      return state;
    });
  }

  currentSeq(): Promise<number> {
    return this.ctx.run('read sequence', async () => Number((await this.ctx.client.get(this.ctx.keys.sequence)) ?? 0));
  }

  /** The subscriber connection, once one was needed (for health and close). */
  get connection(): TrackedConnection | null {
    return this.subscriber;
  }

  /** Ends every subscription; the store closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
  }

  private subscriberConnection(): TrackedConnection {
    if (this.subscriber !== null) return this.subscriber;
    const connection = this.connect('subscriber', { autoResubscribe: false }, (afterReconnect) => {
      if (afterReconnect) this.resubscribe(connection);
    });
    connection.client.on(this.ctx.shardedPubSub ? 'smessage' : 'message', (channel: string, text: string) => {
      if (channel === this.ctx.keys.invalidationChannel) this.dispatch(text);
    });
    this.subscriber = connection;
    return connection;
  }

  private ensureChannel(): Promise<void> {
    if (this.channelSubscribed !== null) return this.channelSubscribed;
    const client = this.subscriberConnection().client;
    const subscribed = this.subscribeChannel(client);
    this.channelSubscribed = subscribed;
    subscribed.catch(() => {
      if (this.channelSubscribed === subscribed) this.channelSubscribed = null;
    });
    return subscribed;
  }

  private async subscribeChannel(client: RedisClient): Promise<void> {
    const channel = this.ctx.keys.invalidationChannel;
    await (this.ctx.shardedPubSub ? client.ssubscribe(channel) : client.subscribe(channel));
  }

  /** After a reconnect: subscribe again, then tell every subscription it may have missed messages. */
  private resubscribe(connection: TrackedConnection): void {
    if (this.subscriptions.size === 0 || this.closed) return;
    const subscribed = this.subscribeChannel(connection.client);
    this.channelSubscribed = subscribed;
    subscribed.then(
      () => {
        for (const subscription of this.subscriptions) subscription.reconnected();
      },
      () => {
        // The connection dropped again before the subscription was confirmed; the next 'ready' retries.
        if (this.channelSubscribed === subscribed) this.channelSubscribed = null;
      },
    );
  }

  private dispatch(text: string): void {
    let message;
    try {
      message = decodeInvalidation(text);
    } catch (error) {
      this.ctx.counters.malformed++;
      for (const subscription of this.subscriptions) subscription.malformed(errorMessage(error));
      return;
    }
    for (const subscription of this.subscriptions) subscription.receive(message);
  }

  private async unsubscribe(state: SubscriptionState): Promise<void> {
    this.subscriptions.delete(state);
    if (this.subscriptions.size > 0 || this.subscriber === null || this.closed) return;
    this.channelSubscribed = null;
    try {
      const channel = this.ctx.keys.invalidationChannel;
      await (this.ctx.shardedPubSub ? this.subscriber.client.sunsubscribe(channel) : this.subscriber.client.unsubscribe(channel));
    } catch {
      // Not subscribed any more either way: a reconnect does not resubscribe without subscriptions.
    }
  }
}
