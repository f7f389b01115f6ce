/**
 * Objects by the hosts they name, answering "which objects name a host that matches this one" with
 * Istio's host matching (`pkg/config/host/name.go` `Name.Matches`: exact, and `*.suffix` wildcards in
 * both directions) without visiting every object: the watcher uses one for ServiceEntry hosts and one
 * for DestinationRule hosts and one for VirtualService hosts, so a rule change finds its ServiceEntries
 * and a ServiceEntry its rules.
 *
 * Every host is filed under its domain suffixes (`a.b.c` under `.b.c`, `.c` and ``; `*.b.c` under
 * `.b.c`, `.c` and ``), and literally under itself. Then for a query host `q`:
 * - an exact host equal to `q`, or a wildcard `*s` whose `s` is a suffix of `q`, is found by looking
 *   `q` and `*` + each suffix of `q` up literally;
 * - when `q` is a wildcard `*s`, hosts ending in `s` (exact ones, and wildcards at least as narrow)
 *   are found under the suffix `s`.
 */
import { hostsMatch, isWildcardHost } from '@skiff/model';

/** The domain suffixes of a host, longest first: `a.b.c` -> `.b.c`, `.c`, ``; `*.b.c` -> `.b.c`, `.c`, ``. */
function domainSuffixes(host: string): string[] {
  const suffixes: string[] = [];
  const start = isWildcardHost(host) ? 1 : 0;
  for (let dot = host.indexOf('.', start); dot !== -1; dot = host.indexOf('.', dot + 1)) suffixes.push(host.slice(dot));
  suffixes.push('');
  return suffixes;
}

export class HostIndex<Id> {
  private readonly hostsOf = new Map<Id, readonly string[]>();
  /** Host as written -> ids naming it. */
  private readonly byHost = new Map<string, Set<Id>>();
  /** Domain suffix -> ids naming a host under it. */
  private readonly bySuffix = new Map<string, Set<Id>>();

  /** Files `id` under `hosts`, replacing what it was filed under before. */
  set(id: Id, hosts: readonly string[]): void {
    this.delete(id);
    this.hostsOf.set(id, hosts);
    for (const host of hosts) {
      add(this.byHost, host, id);
      for (const suffix of domainSuffixes(host)) add(this.bySuffix, suffix, id);
    }
  }

  delete(id: Id): void {
    const hosts = this.hostsOf.get(id);
    if (hosts === undefined) return;
    this.hostsOf.delete(id);
    for (const host of hosts) {
      remove(this.byHost, host, id);
      for (const suffix of domainSuffixes(host)) remove(this.bySuffix, suffix, id);
    }
  }

  hosts(id: Id): readonly string[] | undefined {
    return this.hostsOf.get(id);
  }

  /** The ids with a host that matches one of `hosts`. */
  matching(hosts: readonly string[]): Set<Id> {
    const found = new Set<Id>();
    for (const query of hosts) {
      const consider = (ids: Iterable<Id> | undefined): void => {
        for (const id of ids ?? []) {
          if (found.has(id)) continue;
          if ((this.hostsOf.get(id) ?? []).some((host) => hostsMatch(host, query))) found.add(id);
        }
      };
      consider(this.byHost.get(query));
      // Wildcards covering the query: `*` + each of its suffixes.
      for (const suffix of domainSuffixes(query)) consider(this.byHost.get(`*${suffix}`));
      // Hosts the wildcard query covers (a mesh-wide wildcard covers every entry: no spread).
      if (isWildcardHost(query)) consider(this.bySuffix.get(query.slice(1)));
    }
    return found;
  }
}

function add<K, Id>(map: Map<K, Set<Id>>, key: K, id: Id): void {
  let ids = map.get(key);
  if (ids === undefined) {
    ids = new Set();
    map.set(key, ids);
  }
  ids.add(id);
}

function remove<K, Id>(map: Map<K, Set<Id>>, key: K, id: Id): void {
  const ids = map.get(key);
  if (ids === undefined) return;
  ids.delete(id);
  if (ids.size === 0) map.delete(key);
}
