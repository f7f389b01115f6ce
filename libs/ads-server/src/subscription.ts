/**
 * What one stream is subscribed to for one type: explicit names, the wildcard, and the legacy
 * wildcard rule (Envoy `xds_protocol.rst` "How the client specifies what resources to return"):
 * a stream that has never named a resource of a wildcard-capable type is subscribed to everything;
 * once it names one, an empty list means "nothing" (the proxyless gRPC client relies on that, see
 * docs/grpc-proxyless.md#protocol). `*` subscribes to everything explicitly, on any type.
 */
import { hash } from 'node:crypto';
import { WILDCARD } from './resource-types.js';

/** How a request changed a subscription, for the subscription index and for resends. */
export interface SubscriptionChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly wildcardBefore: boolean;
  readonly wildcardAfter: boolean;
}

const NO_NAMES: ReadonlySet<string> = new Set();

/** Keys of longer name sets are hashed, so that the table never keeps a large string. */
const MAX_PLAIN_KEY_LENGTH = 256;

/**
 * Explicit name sets by content, while a subscription holds them. Sidecars of one namespace ask for
 * the same clusters' endpoints: one set of a few hundred names, each name a string decoded from the
 * sidecar's request, cost every stream kilobytes for what its neighbours held too. A subscription
 * whose names change takes the set another stream already holds with the same names, and the
 * strings of its own request are left to the collector.
 */
const sharedNameSets = new Map<string, WeakRef<ReadonlySet<string>>>();
const forgetNameSet = new FinalizationRegistry<string>((key) => {
  if (sharedNameSets.get(key)?.deref() === undefined) sharedNameSets.delete(key);
});

/** The set holding the same names as `names` that a subscription already holds, or `names` itself (then shared from now on). */
function sharedNames(names: Set<string>): ReadonlySet<string> {
  if (names.size === 0) return NO_NAMES;
  // Length-prefixed, so that no two sets have one key; sorted, so that the order names came in does not matter.
  let key = '';
  for (const name of [...names].sort()) key += `${name.length}:${name}`;
  if (key.length > MAX_PLAIN_KEY_LENGTH) key = hash('sha256', key, 'base64');
  const known = sharedNameSets.get(key)?.deref();
  if (known !== undefined) return known;
  sharedNameSets.set(key, new WeakRef(names));
  forgetNameSet.register(names, key);
  return names;
}

export class Subscription {
  private explicitWildcard = false;
  private namedAny = false;
  /** No request applied yet: subscribed to nothing, not even the legacy wildcard. */
  private requested = false;
  /** Never changed in place: it may be shared with other subscriptions (`sharedNames`). */
  private explicitNames = NO_NAMES;

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
    // An ACK repeats the names: the set is looked up only when they changed.
    if (added.length > 0 || removed.length > 0) this.explicitNames = sharedNames(next);
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
    /** A copy of the names, made at the first change. */
    let names: Set<string> | undefined;
    for (const name of subscribe) {
      if (name === WILDCARD) this.explicitWildcard = true;
      else if (!(names ?? this.explicitNames).has(name)) {
        names ??= new Set(this.explicitNames);
        names.add(name);
        added.push(name);
      }
    }
    for (const name of unsubscribe) {
      if (name === WILDCARD) {
        this.explicitWildcard = false;
        this.namedAny = true;
      } else if ((names ?? this.explicitNames).has(name)) {
        names ??= new Set(this.explicitNames);
        names.delete(name);
        removed.push(name);
      }
    }
    if (names !== undefined) this.explicitNames = sharedNames(names);
    return { added, removed, wildcardBefore, wildcardAfter: this.wildcard };
  }
}
