/**
 * Who subscribes to what, across every stream of a server: per type, the sessions on the wildcard and
 * the sessions per explicit name. A change reaches only the sessions that subscribe to one of its
 * names, at the cost of one lookup per name, whatever the number of connected proxies.
 */
import type { SubscriptionChange } from './subscription.js';

interface TypeIndex<S> {
  readonly wildcard: Set<S>;
  readonly byName: Map<string, Set<S>>;
}

export class SubscriptionIndex<S> {
  private readonly types = new Map<string, TypeIndex<S>>();

  /** Applies one subscription change of `session`. */
  update(session: S, typeUrl: string, change: SubscriptionChange): void {
    const index = this.typeIndex(typeUrl);
    if (change.wildcardAfter) index.wildcard.add(session);
    else index.wildcard.delete(session);
    for (const name of change.added) {
      let sessions = index.byName.get(name);
      if (sessions === undefined) index.byName.set(name, (sessions = new Set()));
      sessions.add(session);
    }
    for (const name of change.removed) this.removeName(index, session, name);
  }

  /** Forgets `session` entirely (its stream closed). */
  remove(session: S, subscriptions: Iterable<[string, { readonly wildcard: boolean; readonly names: ReadonlySet<string> }]>): void {
    for (const [typeUrl, subscription] of subscriptions) {
      const index = this.types.get(typeUrl);
      if (index === undefined) continue;
      index.wildcard.delete(session);
      for (const name of subscription.names) this.removeName(index, session, name);
    }
  }

  /** The sessions that care about some of `names`, each with the names it cares about. */
  interested(typeUrl: string, names: readonly string[]): Map<S, readonly string[]> {
    const result = new Map<S, readonly string[]>();
    const index = this.types.get(typeUrl);
    if (index === undefined) return result;
    // Wildcard sessions care about every name; they share the caller's list.
    for (const session of index.wildcard) result.set(session, names);
    const named = new Map<S, string[]>();
    for (const name of names) {
      const sessions = index.byName.get(name);
      if (sessions === undefined) continue;
      for (const session of sessions) {
        if (index.wildcard.has(session)) continue;
        const list = named.get(session);
        if (list === undefined) named.set(session, [name]);
        else list.push(name);
      }
    }
    for (const [session, list] of named) result.set(session, list);
    return result;
  }

  /** Number of (session, name) entries plus wildcard sessions, for tests and debug. */
  get size(): number {
    let size = 0;
    for (const index of this.types.values()) {
      size += index.wildcard.size;
      for (const sessions of index.byName.values()) size += sessions.size;
    }
    return size;
  }

  private typeIndex(typeUrl: string): TypeIndex<S> {
    let index = this.types.get(typeUrl);
    if (index === undefined) this.types.set(typeUrl, (index = { wildcard: new Set(), byName: new Map() }));
    return index;
  }

  private removeName(index: TypeIndex<S>, session: S, name: string): void {
    const sessions = index.byName.get(name);
    if (sessions === undefined) return;
    sessions.delete(session);
    if (sessions.size === 0) index.byName.delete(name);
  }
}
