/**
 * Who sees which resource (docs/istio-behaviour.md#visibility): exportTo visibility per namespace, and which ServiceEntry wins a
 * name several of them build, checked as a matrix, plus views that follow changes name by name.
 */
/* eslint-disable no-restricted-syntax -- `owner()` returns the two arguments of `setOwner` as a tuple */
import { describe, expect, it } from 'vitest';
import { ResourceTable, selectWinner, type CachedOwner } from './resource-table.js';
import { TypeUrl } from '@skiff/protos';
import { namespacedVariant, type Visibility } from '@skiff/store';
import { built, CDS, EDS, owner, visibility } from './test-support/fixtures.js';

const CLUSTER = 'outbound|80||shared.example.com';

/** A table where each listed owner builds the same cluster name, with its own version. */
function contested(...owners: { ns: string; name: string; exportTo?: string[]; created?: number }[]): ResourceTable {
  const table = new ResourceTable(['*']);
  for (const o of owners) {
    table.setOwner(...owner(visibility(o.ns, o.name, { exportTo: o.exportTo ?? [], creationTime: o.created ?? 1_000, hosts: ['shared.example.com'] }), [built(CLUSTER, `${o.ns}/${o.name}`)]));
  }
  return table;
}

/** The version (= `ns/name` of the owner) a proxy in `namespace` gets, or null. */
function seenBy(table: ResourceTable, namespace: string): string | null {
  const view = table.view('envoy-sidecar', namespace);
  const viaGet = view.get(CDS, CLUSTER)?.version ?? null;
  const viaAll = view.all(CDS).get(CLUSTER)?.version ?? null;
  expect(viaAll).toBe(viaGet);
  return viaGet;
}

describe('exportTo visibility', () => {
  const cases: { exportTo: string[]; visibleIn: string[]; hiddenIn: string[] }[] = [
    { exportTo: [], visibleIn: ['own', 'other', 'third'], hiddenIn: [] },
    { exportTo: ['*'], visibleIn: ['own', 'other'], hiddenIn: [] },
    { exportTo: ['.'], visibleIn: ['own'], hiddenIn: ['other'] },
    { exportTo: ['own'], visibleIn: ['own'], hiddenIn: ['other'] },
    { exportTo: ['other'], visibleIn: ['other'], hiddenIn: ['own', 'third'] },
    { exportTo: ['.', 'other'], visibleIn: ['own', 'other'], hiddenIn: ['third'] },
    { exportTo: ['~'], visibleIn: [], hiddenIn: ['own', 'other'] },
    // `*` anywhere makes the service public; otherwise `~` hides it (push_context.go initServiceRegistry).
    { exportTo: ['other', '*'], visibleIn: ['own', 'other', 'third'], hiddenIn: [] },
  ];
  it.each(cases)('exportTo $exportTo: visible in $visibleIn, hidden in $hiddenIn', ({ exportTo, visibleIn, hiddenIn }) => {
    const table = contested({ ns: 'own', name: 'se', exportTo });
    for (const ns of visibleIn) expect(seenBy(table, ns), ns).toBe('own/se');
    for (const ns of hiddenIn) expect(seenBy(table, ns), ns).toBeNull();
  });

  it('applies the mesh default to ServiceEntries without exportTo', () => {
    const table = new ResourceTable(['.']);
    table.setOwner(...owner(visibility('own', 'se', { hosts: ['shared.example.com'] }), [built(CLUSTER, 'own/se')]));
    expect(seenBy(table, 'own')).toBe('own/se');
    expect(seenBy(table, 'other')).toBeNull();
  });
});

describe('a name built by several ServiceEntries', () => {
  it("goes to the oldest among public ones, unless the proxy's namespace has one", () => {
    const table = contested({ ns: 'b', name: 'newer', created: 2_000 }, { ns: 'a', name: 'older', created: 1_000 });
    for (const ns of ['a', 'c']) expect(seenBy(table, ns)).toBe('a/older');
    expect(seenBy(table, 'b')).toBe('b/newer');
  });

  it("goes to one of the proxy's namespace, then one exported to it (private to it or listing it, oldest first), then public ones", () => {
    const table = contested(
      { ns: 'pub', name: 'oldest-public', created: 1_000 },
      { ns: 'lister', name: 'lists-b', exportTo: ['b', 'c', 'd'], created: 2_000 },
      { ns: 'd', name: 'public-d', created: 2_500 },
      { ns: 'b', name: 'private-b', exportTo: ['.'], created: 3_000 },
      { ns: 'c', name: 'private-c', exportTo: ['.'], created: 1_500 },
    );
    expect(seenBy(table, 'b')).toBe('b/private-b');
    expect(seenBy(table, 'c')).toBe('c/private-c');
    expect(seenBy(table, 'd')).toBe('d/public-d');
    expect(seenBy(table, 'e')).toBe('pub/oldest-public');
    expect(seenBy(table, 'lister')).toBe('pub/oldest-public');
    expect(seenBy(table, 'elsewhere')).toBe('pub/oldest-public');
  });

  it("prefers a public ServiceEntry of the proxy's namespace to an older public one (an egress listener imports the host from the proxy's namespace)", () => {
    const table = contested({ ns: 'mine', name: 'mine-public', created: 5_000 }, { ns: 'theirs', name: 'old-public', created: 1_000 });
    expect(seenBy(table, 'mine')).toBe('mine/mine-public');
    expect(seenBy(table, 'elsewhere')).toBe('theirs/old-public');
  });

  it('in one namespace goes to the oldest, then breaks ties by namespace and name', () => {
    expect(seenBy(contested({ ns: 'a', name: 'y', created: 2_000 }, { ns: 'a', name: 'z', created: 1_000 }), 'a')).toBe('a/z');
    expect(seenBy(contested({ ns: 'a', name: 'z' }, { ns: 'a', name: 'y' }), 'a')).toBe('a/y');
    expect(seenBy(contested({ ns: 'b', name: 'a' }, { ns: 'a', name: 'z' }), 'c')).toBe('a/z');
  });

  it('ignores owners the proxy may not see, even older ones', () => {
    const table = contested({ ns: 'a', name: 'hidden', exportTo: ['~'], created: 1 }, { ns: 'a', name: 'private', exportTo: ['.'], created: 2 }, { ns: 'z', name: 'public', created: 3 });
    expect(seenBy(table, 'a')).toBe('a/private');
    expect(seenBy(table, 'b')).toBe('z/public');
  });

  it('is decided per name: a port only the newer ServiceEntry declares is served from it', () => {
    const table = new ResourceTable(['*']);
    table.setOwner(...owner(visibility('a', 'old', { creationTime: 1 }), [built('outbound|80||h', 'old-80')]));
    table.setOwner(...owner(visibility('a', 'new', { creationTime: 2 }), [built('outbound|80||h', 'new-80'), built('outbound|443||h', 'new-443')]));
    const all = table.view('envoy-sidecar', 'a').all(CDS);
    expect(Object.fromEntries([...all].map(([name, r]) => [name, r.version]))).toEqual({ 'outbound|80||h': 'old-80', 'outbound|443||h': 'new-443' });
  });

  it('selectWinner agrees with a brute-force order over every combination of three owners', () => {
    const namespaces = ['a', 'b'];
    const exports = [[], ['.'], ['b'], ['~'], ['a', 'b']];
    const owners: CachedOwner[] = [];
    for (const ns of namespaces) {
      for (const [i, exportTo] of exports.entries()) {
        const table = new ResourceTable(['*']);
        table.setOwner(...owner(visibility(ns, `se${i}`, { exportTo, creationTime: (i * 7 + ns.length) % 4 }), [built(CLUSTER, `${ns}/se${i}`)]));
        owners.push(table.owner(`${ns}/se${i}`)!);
      }
    }
    const tierOf = (o: CachedOwner, proxyNs: string): number | null => {
      const list = o.record.exportTo.length === 0 ? ['*'] : o.record.exportTo;
      if (list.includes('*')) return 1;
      if (list.includes('~')) return null;
      const targets = list.map((e) => (e === '.' ? o.record.namespace : e));
      // Private to the proxy's namespace and exported to it by name are one list in istiod (`exportedToNamespace`).
      return targets.includes(proxyNs) ? 0 : null;
    };
    for (let i = 0; i < owners.length; i++) {
      for (let j = i + 1; j < owners.length; j++) {
        for (let k = j + 1; k < owners.length; k++) {
          const trio = [owners[i]!, owners[j]!, owners[k]!];
          for (const proxyNs of ['a', 'b', 'c']) {
            const own = (o: CachedOwner): number => (o.record.namespace === proxyNs ? 0 : 1);
            const ranked = trio
              .filter((o) => tierOf(o, proxyNs) !== null)
              .sort((x, y) => own(x) - own(y) || tierOf(x, proxyNs)! - tierOf(y, proxyNs)! || x.record.creationTime - y.record.creationTime || x.record.namespace.localeCompare(y.record.namespace) || x.record.name.localeCompare(y.record.name));
            expect(selectWinner(trio, proxyNs)?.id).toBe(ranked[0]?.id);
          }
        }
      }
    }
  });
});

describe('views', () => {
  it('follow changes name by name and report the names that changed', () => {
    const table = new ResourceTable(['*']);
    table.setOwner(...owner(visibility('a', 'old', { creationTime: 1 }), [built('c1', 'old-1'), built('c1', 'old-1e', 'envoy-sidecar', EDS)]));
    const viewA = table.view('envoy-sidecar', 'a');
    const clusters = viewA.all(CDS);
    expect([...clusters.values()].map((r) => r.version)).toEqual(['old-1']);

    // A newer private owner takes c1 over for namespace a only; the map handed out before follows.
    const changed = table.setOwner(...owner(visibility('a', 'new', { creationTime: 2, exportTo: ['.'] }), [built('c1', 'new-1'), built('c2', 'new-2')]));
    expect(changed.map((c) => `${c.variant} ${c.typeUrl} ${c.name}`).sort()).toEqual([`envoy-sidecar ${CDS} c1`, `envoy-sidecar ${CDS} c2`]);
    expect(Object.fromEntries([...clusters].map(([n, r]) => [n, r.version]))).toEqual({ c1: 'new-1', c2: 'new-2' });
    expect(table.view('envoy-sidecar', 'b').get(CDS, 'c1')?.version).toBe('old-1');
    expect(table.view('envoy-sidecar', 'b').get(CDS, 'c2')).toBeUndefined();
    expect(viewA.get(EDS, 'c1')?.version).toBe('old-1e');

    // The private owner leaves: the old one is back, c2 is gone.
    const removed = table.removeOwner('a/new');
    expect(removed.map((c) => c.name).sort()).toEqual(['c1', 'c2']);
    expect(Object.fromEntries([...clusters].map(([n, r]) => [n, r.version]))).toEqual({ c1: 'old-1' });
    expect(table.view('envoy-sidecar', 'a')).toBe(viewA);
  });

  it('decide a name asked for alone once, and again after every change to it', () => {
    const table = new ResourceTable(['*']);
    table.setOwner(...owner(visibility('a', 'old', { creationTime: 1 }), [built('c1', 'old-1e', 'envoy-sidecar', EDS)]));
    const view = table.view('envoy-sidecar', 'a');
    const first = view.get(EDS, 'c1');
    expect(first?.version).toBe('old-1e');
    expect(view.get(EDS, 'c1')).toBe(first);
    expect(view.get(EDS, 'c2')).toBeUndefined();

    // A newer private owner takes c1 over and builds c2; another namespace's view keeps the old owner's.
    table.setOwner(...owner(visibility('a', 'new', { creationTime: 2, exportTo: ['.'] }), [built('c1', 'new-1e', 'envoy-sidecar', EDS), built('c2', 'new-2e', 'envoy-sidecar', EDS)]));
    expect(view.get(EDS, 'c1')?.version).toBe('new-1e');
    expect(view.get(EDS, 'c2')?.version).toBe('new-2e');
    expect(table.view('envoy-sidecar', 'b').get(EDS, 'c1')?.version).toBe('old-1e');

    // A new version of the same owner, then the owner gone: each is what the next lookup sees.
    table.setOwner(...owner(visibility('a', 'new', { creationTime: 2, exportTo: ['.'] }), [built('c1', 'new-1e-v2', 'envoy-sidecar', EDS)], 2));
    expect(view.get(EDS, 'c1')?.version).toBe('new-1e-v2');
    expect(view.get(EDS, 'c2')).toBeUndefined();
    table.removeOwner('a/new');
    expect(view.get(EDS, 'c1')?.version).toBe('old-1e');

    // Once asked for whole, the type is held whole and agrees with the names decided alone.
    expect(Object.fromEntries([...view.all(EDS)].map(([n, r]) => [n, r.version]))).toEqual({ c1: 'old-1e' });
  });

  it('reports only what differs when an owner is set again, and everything when its visibility changes', () => {
    const table = new ResourceTable(['*']);
    const vis = visibility('a', 'se');
    table.setOwner(...owner(vis, [built('c1', 'v1'), built('c2', 'v1')]));
    expect(table.setOwner(...owner(vis, [built('c1', 'v1'), built('c2', 'v2'), built('c3', 'v1')], 2)).map((c) => c.name).sort()).toEqual(['c2', 'c3']);
    expect(table.setOwner(...owner(vis, [built('c1', 'v1'), built('c3', 'v1')], 3)).map((c) => c.name)).toEqual(['c2']);
    expect(table.setOwner(...owner({ ...vis, exportTo: ['.'] }, [built('c1', 'v1'), built('c3', 'v1')], 4)).map((c) => c.name).sort()).toEqual(['c1', 'c3']);
    expect(table.view('envoy-sidecar', 'b').all(CDS).size).toBe(0);
    expect(table.size).toBe(2);
    expect(table.ownerCount).toBe(1);
  });

  it('keep variants apart', () => {
    const table = new ResourceTable(['*']);
    table.setOwner(...owner(visibility('a', 'se'), [built('outbound|80||h', 'sidecar'), built('outbound_.80_._.h', 'dnat', 'envoy-sni-dnat'), built('outbound|80||h', 'grpc', 'grpc')]));
    expect([...table.view('envoy-sidecar', 'a').all(CDS).keys()]).toEqual(['outbound|80||h']);
    expect([...table.view('envoy-sni-dnat', 'a').all(CDS).keys()]).toEqual(['outbound_.80_._.h']);
    expect(table.view('grpc', 'a').get(CDS, 'outbound|80||h')?.version).toBe('grpc');
  });
});

describe('one host several ServiceEntries define: chosen per host, as istiod', () => {
  const ports = (...numbers: number[]) => numbers.map((number) => ({ name: `p${number}`, number, protocol: 'HTTP' }));
  const entry = (ns: string, name: string, created: number, portNumbers: number[], overrides: Partial<Visibility> = {}) =>
    visibility(ns, name, { hosts: ['h'], creationTime: created, ports: ports(...portNumbers), resolution: 'STATIC', mergeKey: '{}', ...overrides });
  const versions = (table: ResourceTable, namespace: string, typeUrl: string = CDS, variant = 'envoy-sidecar') =>
    Object.fromEntries([...table.view(variant, namespace).all(typeUrl)].map(([name, r]) => [name, r.version]));

  it("serves nothing for a port whose owner built nothing, even when a later entry built it (a DNS entry without endpoints)", () => {
    const table = new ResourceTable(['*']);
    table.setOwner(...owner(entry('a', 'dns', 1, [9000, 8080], { resolution: 'DNS' }), []));
    table.setOwner(...owner(entry('a', 'none', 2, [8080], { resolution: 'NONE' }), [built('outbound|8080||h', 'none-8080')]));
    expect(versions(table, 'a')).toEqual({});
  });

  it("serves the host's service alone, even when it built nothing for the port: its build holds every entry's endpoints of the host", () => {
    const table = new ResourceTable(['*']);
    table.setOwner(...owner(entry('a', 'selects-nothing', 1, [1234], { resolution: 'DNS', exportTo: ['.'] }), []));
    table.setOwner(...owner(entry('a', 'inline', 2, [1234], { resolution: 'DNS' }), [built('outbound|1234||h', 'inline-1234')]));
    expect(versions(table, 'a')).toEqual({});
  });

  it('takes the ports the first lacks from a later mergeable entry of its namespace, and no port from any other', () => {
    const table = new ResourceTable(['*']);
    table.setOwner(...owner(entry('a', 'first', 1, [80]), [built('outbound|80||h', 'first-80')]));
    table.setOwner(...owner(entry('a', 'merged', 2, [80, 443]), [built('outbound|80||h', 'merged-80'), built('outbound|443||h', 'merged-443')]));
    table.setOwner(...owner(entry('a', 'other-resolution', 3, [9000], { resolution: 'DNS' }), [built('outbound|9000||h', 'dns-9000')]));
    table.setOwner(...owner(entry('a', 'other-export', 4, [9001], { exportTo: ['*'] }), [built('outbound|9001||h', 'export-9001')]));
    table.setOwner(...owner(entry('b', 'other-namespace', 5, [9002]), [built('outbound|9002||h', 'b-9002')]));
    expect(versions(table, 'a')).toEqual({ 'outbound|80||h': 'first-80', 'outbound|443||h': 'merged-443' });
    // b imports the host from its own namespace, though a's entries are older.
    expect(versions(table, 'b')).toEqual({ 'outbound|9002||h': 'b-9002' });
    expect(versions(table, 'c')).toEqual({ 'outbound|80||h': 'first-80', 'outbound|443||h': 'merged-443' });
  });

  it("builds a proxyless gRPC route from the last entry with the port, as istiod's sidecar route builder does", () => {
    const table = new ResourceTable(['*']);
    const route = (version: string) => built('outbound|8080||h', version, 'grpc', TypeUrl.RouteConfiguration);
    table.setOwner(...owner(entry('a', 'first', 1, [8080], { resolution: 'DNS' }), [route('first'), built('outbound|8080||h', 'first', 'grpc')]));
    table.setOwner(...owner(entry('a', 'second', 2, [8080], { resolution: 'NONE' }), [route('second'), built('outbound|8080||h', 'second', 'grpc')]));
    table.setOwner(...owner(entry('a', 'third', 3, [80], { resolution: 'NONE' }), [built('outbound|80||h', 'third', 'grpc', TypeUrl.RouteConfiguration)]));
    expect(versions(table, 'a', TypeUrl.RouteConfiguration, 'grpc')).toEqual({ 'outbound|8080||h': 'second', 'outbound|80||h': 'third' });
    expect(versions(table, 'a', CDS, 'grpc')).toEqual({ 'outbound|8080||h': 'first' });
  });

  it("re-decides the other owners' names when an owner of the host comes or goes", () => {
    const table = new ResourceTable(['*']);
    table.setOwner(...owner(entry('a', 'later', 2, [8080], { resolution: 'NONE' }), [built('outbound|8080||h', 'later-8080')]));
    const view = table.view('envoy-sidecar', 'a');
    expect(view.all(CDS).get('outbound|8080||h')?.version).toBe('later-8080');
    const changed = table.setOwner(...owner(entry('a', 'earlier', 1, [8080], { resolution: 'DNS' }), []));
    expect(changed.map((c) => c.name)).toEqual(['outbound|8080||h']);
    expect(view.all(CDS).get('outbound|8080||h')).toBeUndefined();
    expect(table.removeOwner('a/earlier').map((c) => c.name)).toEqual(['outbound|8080||h']);
    expect(view.all(CDS).get('outbound|8080||h')?.version).toBe('later-8080');
  });
});

describe('DestinationRule policy scopes', () => {
  const HOST = 'h.example.com';
  const DEFAULT = `outbound|80||${HOST}`;
  const SUBSET = `outbound|80|v1|${HOST}`;
  /** An owner built in the default scope and in `pweb` (where a rule adds a subset and changes the cluster). */
  const scopedOwner = (policyScopes: Visibility['policyScopes']) =>
    owner(visibility('apps', 'se', { hosts: [HOST], ...(policyScopes === undefined ? {} : { policyScopes }) }), [
      built(DEFAULT, 'plain'),
      built(DEFAULT, 'ruled', 'envoy-sidecar.pweb'),
      built(SUBSET, 'subset', 'envoy-sidecar.pweb'),
      built(DEFAULT, 'grpc-plain', 'grpc'),
    ]);
  const versions = (view: ReturnType<ResourceTable['view']>) => Object.fromEntries([...view.all(CDS)].map(([name, resource]) => [name, resource.version]));

  it('a namespace scope: its proxies get the scope, names only that scope has included; other namespaces the plain build', () => {
    const table = new ResourceTable(['*']);
    table.setOwner(...scopedOwner({ namespaces: { apps: { selectors: [], scopes: ['pweb'] } }, otherNamespaces: { selectors: [], scopes: [''] } }));
    expect(versions(table.view('envoy-sidecar', 'apps'))).toEqual({ [DEFAULT]: 'ruled', [SUBSET]: 'subset' });
    expect(table.view('envoy-sidecar', 'apps').get(CDS, SUBSET)?.version).toBe('subset');
    expect(versions(table.view('envoy-sidecar', 'other'))).toEqual({ [DEFAULT]: 'plain' });
    expect(table.view('envoy-sidecar', 'other').get(CDS, SUBSET)).toBeUndefined();
    // Another variant without scoped resources falls to nothing in the scope (the translator builds every variant per scope).
    expect(versions(table.view('grpc', 'other'))).toEqual({ [DEFAULT]: 'grpc-plain' });
  });

  it('selectors split a namespace by labels; views are per namespace until an owner has a selector there', () => {
    const table = new ResourceTable(['*']);
    const before = table.view('envoy-sidecar', 'apps', { app: 'web' });
    expect(table.view('envoy-sidecar', 'apps', {})).toBe(before);
    table.setOwner(...scopedOwner({ namespaces: { apps: { selectors: [{ app: 'web' }], scopes: ['', 'pweb'] } }, otherNamespaces: { selectors: [], scopes: [''] } }));
    const web = table.view('envoy-sidecar', 'apps', { app: 'web', pod: 'x' });
    const plain = table.view('envoy-sidecar', 'apps', { app: 'db' });
    expect(web).not.toBe(plain);
    expect(table.view('envoy-sidecar', 'apps', { app: 'web', pod: 'y' })).toBe(web);
    expect(versions(web)).toEqual({ [DEFAULT]: 'ruled', [SUBSET]: 'subset' });
    expect(versions(plain)).toEqual({ [DEFAULT]: 'plain' });
    // Labels matter only in the namespace of the selector.
    expect(table.view('envoy-sidecar', 'other', { app: 'web' })).toBe(table.view('envoy-sidecar', 'other', {}));
  });

  it('a view follows a change of scopes, and forgets selectors no owner uses any more', () => {
    const table = new ResourceTable(['*']);
    table.setOwner(...scopedOwner({ namespaces: { apps: { selectors: [{ app: 'web' }], scopes: ['', 'pweb'] } }, otherNamespaces: { selectors: [], scopes: [''] } }));
    const web = table.view('envoy-sidecar', 'apps', { app: 'web' });
    expect(versions(web)).toEqual({ [DEFAULT]: 'ruled', [SUBSET]: 'subset' });
    // The rule is gone: same resources, no scopes. The live view drops the subset and serves the plain cluster.
    const changed = table.setOwner(...scopedOwner(undefined));
    expect(changed.map((c) => `${c.variant} ${c.name}`)).toContain(`envoy-sidecar ${SUBSET}`);
    expect(versions(web)).toEqual({ [DEFAULT]: 'plain' });
    expect(table.view('envoy-sidecar', 'apps', { app: 'web' })).toBe(table.view('envoy-sidecar', 'apps', {}));
    table.removeOwner('apps/se');
    expect(versions(web)).toEqual({});
  });
});

describe('routes built for one namespace', () => {
  const HOST = 'api.shop.svc.cluster.local';
  const ROUTE = `outbound|80||${HOST}`;
  const RDS = TypeUrl.RouteConfiguration;
  const routes = (view: ReturnType<ResourceTable['view']>) => Object.fromEntries([...view.all(RDS)].map(([name, resource]) => [name, resource.version]));

  it("replace the shared route in that namespace's views only, in the scope the namespace gets", () => {
    const table = new ResourceTable(['*']);
    table.setOwner(
      ...owner(visibility('shop', 'api', { hosts: [HOST], policyScopes: { namespaces: { shop: { selectors: [], scopes: ['pweb'] } }, otherNamespaces: { selectors: [], scopes: [''] } } }), [
        built(ROUTE, 'shared', 'grpc', RDS),
        built(ROUTE, 'shop-plain', namespacedVariant('grpc', 'shop'), RDS),
        built(ROUTE, 'shared-ruled', 'grpc.pweb', RDS),
        built(ROUTE, 'shop-ruled', namespacedVariant('grpc.pweb', 'shop'), RDS),
        // Only routes are taken per namespace.
        built(`outbound|80||${HOST}`, 'cluster', 'grpc'),
        built(`outbound|80||${HOST}`, 'cluster-for-shop', namespacedVariant('grpc', 'other')),
      ]),
    );
    expect(routes(table.view('grpc', 'shop'))).toEqual({ [ROUTE]: 'shop-ruled' });
    expect(table.view('grpc', 'shop').get(RDS, ROUTE)?.version).toBe('shop-ruled');
    expect(routes(table.view('grpc', 'other'))).toEqual({ [ROUTE]: 'shared' });
    expect(table.view('grpc', 'other').get(CDS, `outbound|80||${HOST}`)?.version).toBe('cluster');
    // Without the scope, the namespace's plain route.
    table.setOwner(...owner(visibility('shop', 'api', { hosts: [HOST] }), [built(ROUTE, 'shared', 'grpc', RDS), built(ROUTE, 'shop-plain', namespacedVariant('grpc', 'shop'), RDS)]));
    expect(routes(table.view('grpc', 'shop'))).toEqual({ [ROUTE]: 'shop-plain' });
    expect(routes(table.view('grpc', 'other'))).toEqual({ [ROUTE]: 'shared' });
  });
});
