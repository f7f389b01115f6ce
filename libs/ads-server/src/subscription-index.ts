/**
 * Who subscribes to what, across every stream of a server: per type, the sessions on the wildcard and
 * the sessions per explicit name. A change reaches only the sessions that subscribe to one of its
 * names, at the cost of one lookup per name, whatever the number of connected proxies.
 *
 * Sessions are filed by their set of names, not name by name: subscriptions with the same names share
 * one set object (`Subscription`), and sidecars of a namespace ask for the same hundreds of endpoint
 * names, so an entry per session and name cost every stream a few kilobytes for what its neighbours
 * were filed under too. Each name leads to the groups of sessions whose set holds it.
 */
import type { SubscriptionChange } from './subscription.js';

/** The sessions subscribed to one set of names. */
interface NameGroup<S> {
  readonly names: ReadonlySet<string>;
  readonly sessions: Set<S>;
}

interface TypeIndex<S> {
  readonly wildcard: Set<S>;
  /** By name, the groups whose names hold it. */
  readonly byName: Map<string, Set<NameGroup<S>>>;
  /** By set of names (the shared object). */
  readonly groups: Map<ReadonlySet<string>, NameGroup<S>>;
}

export class SubscriptionIndex<S> {
  private readonly types = new Map<string, TypeIndex<S>>();

  /** Applies one subscription change of `session`. */
  update(session: S, typeUrl: string, change: SubscriptionChange): void {
    const index = this.typeIndex(typeUrl);
    if (change.wildcardAfter) index.wildcard.add(session);
    else index.wildcard.delete(session);
    if (change.namesBefore === change.namesAfter) return;
    this.leave(index, session, change.namesBefore);
    this.join(index, session, change.namesAfter);
  }

  /** Forgets `session` entirely (its stream closed). */
  remove(session: S, subscriptions: Iterable<[string, { readonly wildcard: boolean; readonly names: ReadonlySet<string> }]>): void {
    for (const [typeUrl, subscription] of subscriptions) {
      const index = this.types.get(typeUrl);
      if (index === undefined) continue;
      index.wildcard.delete(session);
      this.leave(index, session, subscription.names);
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
      const groups = index.byName.get(name);
      if (groups === undefined) continue;
      for (const group of groups) {
        for (const session of group.sessions) {
          if (index.wildcard.has(session)) continue;
          const list = named.get(session);
          if (list === undefined) named.set(session, [name]);
          else list.push(name);
        }
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
      for (const group of index.groups.values()) size += group.sessions.size * group.names.size;
    }
    return size;
  }

  /** Names filed and groups of sessions, over every type, for tests and debug: both drop to 0 when the last session leaves. */
  get filed(): { readonly names: number; readonly groups: number } {
    let names = 0;
    let groups = 0;
    for (const index of this.types.values()) {
      names += index.byName.size;
      groups += index.groups.size;
    }
    return { names, groups };
  }

  private typeIndex(typeUrl: string): TypeIndex<S> {
    let index = this.types.get(typeUrl);
    if (index === undefined) this.types.set(typeUrl, (index = { wildcard: new Set(), byName: new Map(), groups: new Map() }));
    return index;
  }

  /** Files `session` with the sessions subscribed to `names`; the first of them files the names. */
  private join(index: TypeIndex<S>, session: S, names: ReadonlySet<string>): void {
    if (names.size === 0) return;
    let group = index.groups.get(names);
    if (group === undefined) {
      group = { names, sessions: new Set() };
      index.groups.set(names, group);
      for (const name of names) {
        const groups = index.byName.get(name);
        if (groups === undefined) index.byName.set(name, new Set([group]));
        else groups.add(group);
      }
    }
    group.sessions.add(session);
  }

  /** Takes `session` out of the group of `names`; the last to leave unfiles the names. */
  private leave(index: TypeIndex<S>, session: S, names: ReadonlySet<string>): void {
    const group = index.groups.get(names);
    if (group === undefined || !group.sessions.delete(session) || group.sessions.size > 0) return;
    index.groups.delete(names);
    for (const name of names) {
      const groups = index.byName.get(name);
      groups?.delete(group);
      if (groups?.size === 0) index.byName.delete(name);
    }
  }
}
