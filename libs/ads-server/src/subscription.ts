/**
 * What one stream is subscribed to for one type: explicit names, the wildcard, and the legacy
 * wildcard rule (Envoy `xds_protocol.rst` "How the client specifies what resources to return"):
 * a stream that has never named a resource of a wildcard-capable type is subscribed to everything;
 * once it names one, an empty list means "nothing" (the proxyless gRPC client relies on that, see
 * docs/grpc-proxyless.md#protocol). `*` subscribes to everything explicitly, on any type.
 */
import { WILDCARD } from './resource-types.js';

/** How a request changed a subscription, for the subscription index and for resends. */
export interface SubscriptionChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly wildcardBefore: boolean;
  readonly wildcardAfter: boolean;
}

export class Subscription {
  private explicitWildcard = false;
  private namedAny = false;
  /** No request applied yet: subscribed to nothing, not even the legacy wildcard. */
  private requested = false;
  private readonly explicitNames = new Set<string>();

  constructor(private readonly legacyWildcard: boolean) {}

  get wildcard(): boolean {
    return this.explicitWildcard || (this.legacyWildcard && this.requested && !this.namedAny);
  }

  /** Explicitly subscribed names (without `*`). */
  get names(): ReadonlySet<string> {
    return this.explicitNames;
  }

  covers(name: string): boolean {
    return this.wildcard || this.explicitNames.has(name);
  }

  /** State of the world: the request's `resource_names` replace the subscription. */
  replace(requested: readonly string[]): SubscriptionChange {
    const wildcardBefore = this.wildcard;
    this.requested = true;
    if (requested.length > 0) this.namedAny = true;
    const next = new Set(requested);
    this.explicitWildcard = next.delete(WILDCARD);
    const added = [...next].filter((name) => !this.explicitNames.has(name));
    const removed = [...this.explicitNames].filter((name) => !next.has(name));
    for (const name of removed) this.explicitNames.delete(name);
    for (const name of added) this.explicitNames.add(name);
    return { added, removed, wildcardBefore, wildcardAfter: this.wildcard };
  }

  /**
   * Delta: `resource_names_subscribe` and `resource_names_unsubscribe` edit the subscription.
   * Unsubscribing a name that was never subscribed changes nothing (a phantom unsubscribe).
   */
  update(subscribe: readonly string[], unsubscribe: readonly string[]): SubscriptionChange {
    const wildcardBefore = this.wildcard;
    this.requested = true;
    if (subscribe.length > 0) this.namedAny = true;
    const added: string[] = [];
    const removed: string[] = [];
    for (const name of subscribe) {
      if (name === WILDCARD) this.explicitWildcard = true;
      else if (!this.explicitNames.has(name)) {
        this.explicitNames.add(name);
        added.push(name);
      }
    }
    for (const name of unsubscribe) {
      if (name === WILDCARD) {
        this.explicitWildcard = false;
        this.namedAny = true;
      } else if (this.explicitNames.delete(name)) {
        removed.push(name);
      }
    }
    return { added, removed, wildcardBefore, wildcardAfter: this.wildcard };
  }
}
