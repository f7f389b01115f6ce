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
  /** The explicit names before and after, as shared sets: the same object for the same names (`SubscriptionIndex` groups streams by it). */
  readonly namesBefore: ReadonlySet<string>;
  readonly namesAfter: ReadonlySet<string>;
}

/** A set of explicit names, shared by the subscriptions that hold the same names. */
interface SharedNames {
  readonly names: ReadonlySet<string>;
  /** The names sorted, made when first asked for (every stream's status lists them). */
  sorted: readonly string[] | undefined;
  /**
   * The names' fields as a state-of-the-world request that asked for exactly these names, without
   * `*`, sent them (`requestedNames`, one character per byte): a request with the same bytes asks
   * for the same names.
   */
  requested: string | undefined;
}

const NO_NAMES: SharedNames = { names: new Set(), sorted: Object.freeze([]), requested: undefined };

/** Keys of longer name sets are hashed, so that the table never keeps a large string. */
const MAX_PLAIN_KEY_LENGTH = 256;

/**
 * Explicit name sets by content, while a subscription holds them. Sidecars of one namespace ask for
 * the same clusters' endpoints: one set of a few hundred names, each name a string decoded from the
 * sidecar's request, cost every stream kilobytes for what its neighbours held too. A subscription
 * whose names change takes the set another stream already holds with the same names, and the
 * strings of its own request are left to the collector.
 */
const sharedNameSets = new Map<string, WeakRef<SharedNames>>();
const forgetNameSet = new FinalizationRegistry<string>((key) => {
  if (sharedNameSets.get(key)?.deref() === undefined) sharedNameSets.delete(key);
});

/**
 * The shared set holding the same names as `names`, made from `names` if no subscription holds one.
 * `requested`: the bytes of the request's names, if it asked for exactly these names without `*`.
 */
function sharedNames(names: Set<string>, requested: string | undefined): SharedNames {
  if (names.size === 0) return NO_NAMES;
  // Length-prefixed, so that no two sets have one key; sorted, so that the order names came in does not matter.
  let key = '';
  for (const name of [...names].sort()) key += `${name.length}:${name}`;
  if (key.length > MAX_PLAIN_KEY_LENGTH) key = hash('sha256', key, 'base64');
  let shared = sharedNameSets.get(key)?.deref();
  if (shared === undefined) {
    shared = { names, sorted: undefined, requested: undefined };
    sharedNameSets.set(key, new WeakRef(shared));
    forgetNameSet.register(shared, key);
  }
  shared.requested ??= requested;
  return shared;
}

export class Subscription {
  private explicitWildcard = false;
  private namedAny = false;
  /** No request applied yet: subscribed to nothing, not even the legacy wildcard. */
  private requested = false;
  /** Never changed in place: it may be shared with other subscriptions (`sharedNames`). */
  private explicit = NO_NAMES;

  constructor(private readonly legacyWildcard: boolean) {}

  get wildcard(): boolean {
    return this.explicitWildcard || (this.legacyWildcard && this.requested && !this.namedAny);
  }

  /** Explicitly subscribed names (without `*`). */
  get names(): ReadonlySet<string> {
    return this.explicit.names;
  }

  /** The explicit names sorted: one array for every subscription that shares them, not to be changed. */
  get sortedNames(): readonly string[] {
    this.explicit.sorted ??= Object.freeze([...this.explicit.names].sort());
    return this.explicit.sorted;
  }

  covers(name: string): boolean {
    return this.wildcard || this.explicit.names.has(name);
  }

  /**
   * State of the world, for a request whose names came as `fields` (`requestedNames`): what
   * `replace(names())` does, without reading the names when they are those of the request the
   * subscription's set was made from (an ACK repeating them). Then nothing changes: that request
   * had no `*` and this subscription has none either, and it already named something.
   */
  replaceRequested(fields: string, names: () => readonly string[]): SubscriptionChange {
    if (!this.explicitWildcard && this.explicit.requested === fields) {
      const wildcard = this.wildcard;
      const names = this.explicit.names;
      return { added: [], removed: [], wildcardBefore: wildcard, wildcardAfter: wildcard, namesBefore: names, namesAfter: names };
    }
    return this.replace(names(), fields);
  }

  /**
   * State of the world: the request's `resource_names` replace the subscription. `fields`: the names as
   * the request sent them (`requestedNames`), kept with the set (once per set) for `replaceRequested`.
   */
  replace(requested: readonly string[], fields?: string): SubscriptionChange {
    const wildcardBefore = this.wildcard;
    this.requested = true;
    if (requested.length > 0) this.namedAny = true;
    const next = new Set(requested);
    this.explicitWildcard = next.delete(WILDCARD);
    const current = this.explicit.names;
    const added = [...next].filter((name) => !current.has(name));
    const removed = [...current].filter((name) => !next.has(name));
    const exact = this.explicitWildcard ? undefined : fields;
    // An ACK repeats the names: the set is looked up only when they changed, or to keep their bytes.
    if (added.length > 0 || removed.length > 0 || (exact !== undefined && this.explicit.requested === undefined)) this.explicit = sharedNames(next, exact);
    return { added, removed, wildcardBefore, wildcardAfter: this.wildcard, namesBefore: current, namesAfter: this.explicit.names };
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
    const namesBefore = this.explicit.names;
    /** A copy of the names, made at the first change. */
    let names: Set<string> | undefined;
    for (const name of subscribe) {
      if (name === WILDCARD) this.explicitWildcard = true;
      else if (!(names ?? this.explicit.names).has(name)) {
        names ??= new Set(this.explicit.names);
        names.add(name);
        added.push(name);
      }
    }
    for (const name of unsubscribe) {
      if (name === WILDCARD) {
        this.explicitWildcard = false;
        this.namedAny = true;
      } else if ((names ?? this.explicit.names).has(name)) {
        names ??= new Set(this.explicit.names);
        names.delete(name);
        removed.push(name);
      }
    }
    if (names !== undefined) this.explicit = sharedNames(names, undefined);
    return { added, removed, wildcardBefore, wildcardAfter: this.wildcard, namesBefore, namesAfter: this.explicit.names };
  }
}
