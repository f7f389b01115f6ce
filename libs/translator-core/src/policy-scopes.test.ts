import { NORMALIZED_SCHEMA_VERSION, type NormalizedDestinationRule, type NormalizedVirtualService } from '@skiff/model';
import { policyScopeFor } from '@skiff/store';
import { normalizedDestinationRule, normalizedServiceEntry } from '@skiff/testing';
import { lookupDestinationRule } from '@skiff/xds-translate';
import { describe, expect, it } from 'vitest';
import { policyScopesOf } from './policy-scopes.js';

const serviceEntry = normalizedServiceEntry({ namespace: 'svc', name: 'api', hosts: ['api.example.com', 'api.internal'] });
const rule = (namespace: string, name: string, overrides: Partial<NormalizedDestinationRule> = {}) =>
  normalizedDestinationRule({ namespace, name, host: 'api.example.com', ...overrides });

/** Every proxy class the scopes distinguish must get, per host, what the lookup gives that proxy. */
function expectScopesAgreeWithLookup(rules: readonly NormalizedDestinationRule[], proxies: readonly { namespace: string; labels: Record<string, string> }[]) {
  const result = policyScopesOf(serviceEntry, rules);
  for (const proxy of proxies) {
    const scope = policyScopeFor(result.table, proxy.namespace, proxy.labels);
    const applied = result.scopes.get(scope);
    expect(applied, `scope ${scope} of ${proxy.namespace}`).toBeDefined();
    for (const host of serviceEntry.hosts) {
      expect(applied?.get(host), `${host} for ${JSON.stringify(proxy)}`).toEqual(lookupDestinationRule(rules, proxy, { host, namespace: serviceEntry.namespace }));
    }
  }
  return result;
}

const proxies = ['svc', 'client', 'other', 'third', 'istio-system', 'nowhere'].flatMap((namespace) => [
  { namespace, labels: {} },
  { namespace, labels: { app: 'web' } },
  { namespace, labels: { app: 'web', tier: 'front' } },
  { namespace, labels: { tier: 'front' } },
]);

describe('policyScopesOf', () => {
  it('without rules, or with rules no proxy gets, there is no table and one default scope', () => {
    expect(policyScopesOf(serviceEntry, [])).toEqual({ table: undefined, scopes: new Map([['', new Map()]]), routes: new Map(), problems: [] });
    // A rule of a namespace that is neither the service's nor the root's, exported only elsewhere: a proxy
    // in `client` does not consult `third`, and `third` does not keep it (not exported to itself).
    const unused = policyScopesOf(serviceEntry, [rule('third', 'r', { exportTo: ['client'] })]);
    expect(unused.table).toBeUndefined();
    expect([...unused.scopes.keys()]).toEqual(['']);
  });

  it('a public rule in the service namespace: one scope for every namespace', () => {
    const result = expectScopesAgreeWithLookup([rule('svc', 'r')], proxies);
    expect(result.table?.namespaces).toEqual({});
    expect(result.table?.otherNamespaces.selectors).toEqual([]);
    expect(result.table?.otherNamespaces.scopes).toHaveLength(1);
    expect(result.table?.otherNamespaces.scopes[0]).toMatch(/^p[0-9a-f]{12}$/);
    expect([...result.scopes.keys()]).toEqual(result.table?.otherNamespaces.scopes);
  });

  it('a private rule: its namespace gets a scope, every other namespace the default', () => {
    const result = expectScopesAgreeWithLookup([rule('svc', 'r', { exportTo: ['.'] })], proxies);
    expect(Object.keys(result.table?.namespaces ?? {})).toEqual(['svc']);
    expect(result.table?.otherNamespaces).toEqual({ selectors: [], scopes: [''] });
    expect([...result.scopes.keys()].sort()).toEqual(['', result.table!.namespaces['svc']!.scopes[0]].sort());
  });

  it('rules per host, exportTo naming namespaces, root namespace rules and a local override', () => {
    const rules = [
      rule('svc', 'named', { exportTo: ['client'] }),
      rule('istio-system', 'root', { host: '*.internal' }),
      rule('other', 'local', { host: 'api.internal' }),
    ];
    const result = expectScopesAgreeWithLookup(rules, proxies);
    expect(Object.keys(result.table?.namespaces ?? {}).sort()).toEqual(['client', 'other']);
  });

  it('workload selectors split a namespace into classes by the selectors the labels contain', () => {
    const rules = [
      rule('client', 'plain'),
      rule('client', 'web', { workloadSelector: { app: 'web' } }),
      rule('client', 'front', { workloadSelector: { tier: 'front' }, creationTime: 5 }),
    ];
    const result = expectScopesAgreeWithLookup(rules, proxies);
    const client = result.table?.namespaces['client'];
    expect(client?.selectors).toEqual([{ app: 'web' }, { tier: 'front' }]);
    expect(client?.scopes).toHaveLength(4);
    // Both selectors: the oldest selector rule wins, so the class of both equals the class of app=web alone.
    expect(client?.scopes[3]).toBe(client?.scopes[1]);
    expect(new Set(client?.scopes).size).toBe(3);
  });

  it('selectors that change nothing leave the namespace out', () => {
    const rules = [rule('svc', 'public'), rule('client', 'web', { workloadSelector: { app: 'web' }, host: 'unrelated.example.com' })];
    const result = expectScopesAgreeWithLookup(rules, proxies);
    expect(result.table?.namespaces).toEqual({});
  });

  it('more selectors than a namespace can tell apart: reported, the first ones used', () => {
    const rules = Array.from({ length: 10 }, (_, i) => rule('client', `s${i}`, { workloadSelector: { n: String(i) } }));
    const result = policyScopesOf(serviceEntry, rules);
    expect(result.problems).toEqual([expect.stringContaining('namespace client: 10 DestinationRule workload selectors')]);
    expect(result.table?.namespaces['client']?.selectors).toHaveLength(8);
    expect(result.table?.namespaces['client']?.scopes).toHaveLength(256);
  });
});

const virtualService = (namespace: string, name: string, overrides: Partial<NormalizedVirtualService> = {}): NormalizedVirtualService => ({
  schemaVersion: NORMALIZED_SCHEMA_VERSION,
  namespace,
  name,
  creationTime: 0,
  hosts: ['api.example.com'],
  gateways: [],
  exportTo: [],
  http: [{ route: [{ destination: { host: 'api.example.com', subset: name } }] }],
  ...overrides,
});

describe('policyScopesOf with VirtualServices', () => {
  const routesFor = (result: ReturnType<typeof policyScopesOf>, namespace: string, labels: Record<string, string> = {}) =>
    result.routes.get(policyScopeFor(result.table, namespace, labels))?.get('api.example.com')?.map((applied) => `${applied.namespace}/${applied.name}`) ?? [];

  it('a VirtualService private to its namespace comes first there; elsewhere only the public one', () => {
    const result = policyScopesOf(serviceEntry, [], {}, [virtualService('svc', 'public'), virtualService('client', 'own', { exportTo: ['.'] })]);
    expect(routesFor(result, 'client')).toEqual(['client/own', 'svc/public']);
    expect(routesFor(result, 'other')).toEqual(['svc/public']);
    // The host without a VirtualService keeps the default route in every scope.
    expect([...result.routes.values()].every((routes) => !routes.has('api.internal'))).toBe(true);
  });

  it('matches apply by source namespace and source labels; a route none of whose matches applies is left out', () => {
    const http = [
      { match: [{ sourceNamespace: 'client' }], route: [{ destination: { host: 'api.example.com', subset: 'for-client' } }] },
      { match: [{ sourceLabels: { app: 'web' } }], route: [{ destination: { host: 'api.example.com', subset: 'for-web' } }] },
      { route: [{ destination: { host: 'api.example.com', subset: 'rest' } }] },
    ];
    const result = policyScopesOf(serviceEntry, [], {}, [virtualService('svc', 'split', { http })]);
    const subsets = (namespace: string, labels: Record<string, string>) =>
      result.routes
        .get(policyScopeFor(result.table, namespace, labels))
        ?.get('api.example.com')?.[0]
        ?.http.map((route) => ((route['route'] as { destination: { subset: string } }[])[0]!.destination.subset)) ?? [];
    expect(subsets('client', {})).toEqual(['for-client', 'rest']);
    expect(subsets('client', { app: 'web', tier: 'front' })).toEqual(['for-client', 'for-web', 'rest']);
    expect(subsets('other', { app: 'web' })).toEqual(['for-web', 'rest']);
    expect(subsets('other', {})).toEqual(['rest']);
  });

  it('a VirtualService bound only to gateways gives sidecars nothing', () => {
    const result = policyScopesOf(serviceEntry, [], {}, [virtualService('svc', 'edge', { gateways: ['svc/ingress'] })]);
    expect(result.table).toBeUndefined();
    expect(result.routes.size).toBe(0);
  });
});
