import type { NormalizedDestinationRule } from '@skiff/model';
import { normalizedDestinationRule } from '@skiff/testing';
import { describe, expect, test } from 'vitest';
import { DestinationRuleIndex, lookupDestinationRule } from './destination-rule-lookup.js';

function rule(namespace: string, name: string, overrides: Partial<NormalizedDestinationRule> = {}): NormalizedDestinationRule {
  return normalizedDestinationRule({ namespace, name, host: 'api.example.com', ...overrides });
}

const subset = (name: string, version = name) => ({ name, labels: { version }, trafficPolicy: null });
const proxy = (namespace: string, labels: Record<string, string> = {}) => ({ namespace, labels });
const api = { host: 'api.example.com', namespace: 'svc' };
const fromOf = (rules: readonly NormalizedDestinationRule[], namespace: string, target = api, labels: Record<string, string> = {}) =>
  lookupDestinationRule(rules, proxy(namespace, labels), target)?.from.map((key) => `${key.namespace}/${key.name}`);

describe('host match (pilot/pkg/model/config.go MostSpecificHostMatch)', () => {
  test('an exact host wins over a wildcard covering it', () => {
    const rules = [rule('svc', 'wild', { host: '*.example.com' }), rule('svc', 'exact')];
    expect(fromOf(rules, 'client')).toEqual(['svc/exact']);
  });

  test('the longest covering wildcard wins (host.MoreSpecific)', () => {
    const rules = [rule('svc', 'com', { host: '*.com' }), rule('svc', 'example', { host: '*.example.com' }), rule('svc', 'all', { host: '*' })];
    expect(fromOf(rules, 'client')).toEqual(['svc/example']);
  });

  test('a wildcard service host takes the rule for that exact wildcard, else a wider wildcard; never a narrower host', () => {
    const wildService = { host: '*.example.com', namespace: 'svc' };
    expect(fromOf([rule('svc', 'narrow', { host: 'a.example.com' })], 'client', wildService)).toBeUndefined();
    expect(fromOf([rule('svc', 'wide', { host: '*.com' }), rule('svc', 'same', { host: '*.example.com' })], 'client', wildService)).toEqual(['svc/same']);
    expect(fromOf([rule('svc', 'wide', { host: '*.com' })], 'client', wildService)).toEqual(['svc/wide']);
  });

  test('a rule for another host does not apply', () => {
    expect(fromOf([rule('svc', 'other', { host: 'other.example.com' })], 'client')).toBeUndefined();
  });

  test('a short host is completed with the rule namespace and domain suffix (ResolveShortnameToFQDN)', () => {
    const short = [rule('svc', 'short', { host: 'api' })];
    expect(fromOf(short, 'client', { host: 'api.svc.svc.cluster.local', namespace: 'svc' })).toEqual(['svc/short']);
    const fromFiles = lookupDestinationRule(short, proxy('client'), { host: 'api.svc', namespace: 'svc' }, { domainSuffix: '' });
    expect(fromFiles?.rule.host).toBe('api.svc');
  });
});

describe('lookup order (pilot/pkg/model/push_context.go destinationRule)', () => {
  test("the proxy namespace's rule wins over the service namespace's and the root namespace's", () => {
    const rules = [rule('istio-system', 'root'), rule('svc', 'service'), rule('client', 'local')];
    expect(fromOf(rules, 'client')).toEqual(['client/local']);
    expect(fromOf(rules, 'elsewhere')).toEqual(['svc/service']);
    expect(fromOf(rules.slice(0, 1), 'elsewhere')).toEqual(['istio-system/root']);
  });

  test("a less specific host in the proxy's namespace still wins over an exact host elsewhere", () => {
    const rules = [rule('client', 'wild', { host: '*.example.com' }), rule('svc', 'exact')];
    expect(fromOf(rules, 'client')).toEqual(['client/wild']);
  });

  test("a private (exportTo: .) rule applies only in its own namespace", () => {
    const rules = [rule('svc', 'private', { exportTo: ['.'] })];
    expect(fromOf(rules, 'svc')).toEqual(['svc/private']);
    expect(fromOf(rules, 'client')).toBeUndefined();
  });

  test('exportTo naming namespaces: those namespaces and the rule own namespace (getExportedDestinationRuleFromNamespace)', () => {
    const rules = [rule('svc', 'named', { exportTo: ['client', 'svc'] })];
    expect(fromOf(rules, 'client')).toEqual(['svc/named']);
    expect(fromOf(rules, 'svc')).toEqual(['svc/named']);
    expect(fromOf(rules, 'other')).toBeUndefined();
  });

  test('a rule exported only to another namespace does not apply in its own (setDestinationRules namespaceLocal)', () => {
    const rules = [rule('svc', 'away', { exportTo: ['client'] })];
    expect(fromOf(rules, 'client')).toEqual(['svc/away']);
    expect(fromOf(rules, 'svc')).toBeUndefined();
  });

  test('a rule in a third namespace that is neither the proxy, service nor root namespace is never used', () => {
    expect(fromOf([rule('third', 'public', { exportTo: ['*'] })], 'client')).toBeUndefined();
  });

  test('defaultDestinationRuleExportTo "." makes a rule without exportTo private', () => {
    const rules = [rule('svc', 'plain')];
    expect(lookupDestinationRule(rules, proxy('client'), api, { defaultDestinationRuleExportTo: ['.'] })).toBeUndefined();
    expect(lookupDestinationRule(rules, proxy('svc'), api, { defaultDestinationRuleExportTo: ['.'] })?.rule.name).toBe('plain');
  });

  test('a proxy in the root namespace takes the root private rule first, then the service namespace, then the exported root rule', () => {
    const privateRoot = rule('istio-system', 'private', { exportTo: ['.'] });
    const publicRoot = rule('istio-system', 'public', { creationTime: 5 });
    const service = rule('svc', 'service');
    expect(fromOf([privateRoot, publicRoot, service], 'istio-system')).toEqual(['istio-system/private']);
    expect(fromOf([publicRoot, service], 'istio-system')).toEqual(['svc/service']);
    expect(fromOf([publicRoot], 'istio-system')).toEqual(['istio-system/public']);
  });

  test('a custom root namespace', () => {
    const rules = [rule('mesh-root', 'root')];
    expect(lookupDestinationRule(rules, proxy('client'), api, { rootNamespace: 'mesh-root' })?.rule.name).toBe('root');
    expect(lookupDestinationRule(rules, proxy('client'), api)).toBeUndefined();
  });
});

describe('merging (pilot/pkg/model/destination_rule.go mergeDestinationRule)', () => {
  test('rules of one namespace for one host: subsets concatenated, a repeated subset name keeps the first, oldest policy wins', () => {
    const rules = [
      rule('svc', 'newer', { creationTime: 20, subsets: [subset('v2'), subset('v1', 'other')], trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }),
      rule('svc', 'older', { creationTime: 10, subsets: [subset('v1')], trafficPolicy: { tls: { mode: 'SIMPLE' } } }),
    ];
    const result = lookupDestinationRule(rules, proxy('client'), api);
    expect(result?.from).toEqual([{ namespace: 'svc', name: 'older' }, { namespace: 'svc', name: 'newer' }]);
    expect(result?.rule.name).toBe('older');
    expect(result?.rule.subsets).toEqual([subset('v1'), subset('v2')]);
    expect(result?.rule.trafficPolicy).toEqual({ tls: { mode: 'SIMPLE' } });
  });

  test("the first rule without a policy takes the next rule's", () => {
    const rules = [rule('svc', 'a', { subsets: [subset('v1')] }), rule('svc', 'b', { trafficPolicy: { tls: { mode: 'SIMPLE' } } })];
    expect(lookupDestinationRule(rules, proxy('client'), api)?.rule).toMatchObject({ name: 'a', trafficPolicy: { tls: { mode: 'SIMPLE' } } });
  });

  test('same creation time: ordered by name (sortConfigBySelectorAndCreationTime)', () => {
    const rules = [rule('svc', 'b', { trafficPolicy: { tls: { mode: 'SIMPLE' } } }), rule('svc', 'a', { trafficPolicy: { tls: { mode: 'DISABLE' } } })];
    expect(lookupDestinationRule(rules, proxy('client'), api)?.rule.trafficPolicy).toEqual({ tls: { mode: 'DISABLE' } });
  });

  test('a rule whose exportTo is a superset of an older one merges into it and, both without selector, is not kept alone', () => {
    const narrow = rule('svc', 'narrow', { exportTo: ['client'], subsets: [subset('v1')] });
    const wide = rule('svc', 'wide', { creationTime: 1, exportTo: ['client', 'other'], subsets: [subset('v2')] });
    const index = new DestinationRuleIndex([narrow, wide]);
    expect(index.candidates('client', api).map((c) => c.from.map((k) => k.name))).toEqual([['narrow', 'wide']]);
    // The merged rule keeps the first rule's exportTo, so `other` gets nothing (istiod's enhanced merge).
    expect(fromOf([narrow, wide], 'other')).toBeUndefined();
  });

  test('a plain rule whose exportTo is a superset of a selector rule merges into it and is also kept alone', () => {
    const selected = rule('client', 'selected', { workloadSelector: { app: 'web' }, subsets: [subset('v1')] });
    const plain = rule('client', 'plain', { exportTo: ['.', 'other'], subsets: [subset('v2')] });
    const index = new DestinationRuleIndex([plain, selected]);
    expect(index.candidates('client', api).map((c) => c.from.map((k) => k.name))).toEqual([['selected', 'plain'], ['plain']]);
    expect(lookupDestinationRule([plain, selected], proxy('client', { app: 'web' }), api)?.rule.subsets).toEqual([subset('v1'), subset('v2')]);
    expect(fromOf([plain, selected], 'client', api, { app: 'db' })).toEqual(['client/plain']);
  });

  test('rules with disjoint exportTo stay apart', () => {
    const a = rule('svc', 'a', { exportTo: ['one'] });
    const b = rule('svc', 'b', { exportTo: ['two'] });
    expect(fromOf([a, b], 'one')).toEqual(['svc/a']);
    expect(fromOf([a, b], 'two')).toEqual(['svc/b']);
  });

  test('different hosts are not merged, even when one covers the other', () => {
    const rules = [rule('svc', 'wild', { host: '*.example.com', subsets: [subset('v1')] }), rule('svc', 'exact', { subsets: [subset('v2')] })];
    expect(lookupDestinationRule(rules, proxy('client'), api)?.rule.subsets).toEqual([subset('v2')]);
  });

  test('the merged rule is a copy: the rules given are left as they were', () => {
    const first = rule('svc', 'a', { subsets: [subset('v1')] });
    lookupDestinationRule([first, rule('svc', 'b', { subsets: [subset('v2')] })], proxy('client'), api);
    expect(first.subsets).toEqual([subset('v1')]);
  });
});

describe('workloadSelector (pilot/pkg/model/sidecar.go SidecarScope.DestinationRule)', () => {
  const selected = rule('client', 'selected', { workloadSelector: { app: 'web' }, subsets: [subset('v1')] });
  const plain = rule('client', 'plain', { subsets: [subset('v2')] });

  test('a proxy whose labels contain the selector gets the selector rule; others the rule without selector', () => {
    expect(fromOf([plain, selected], 'client', api, { app: 'web', extra: 'x' })).toEqual(['client/selected']);
    expect(fromOf([plain, selected], 'client', api, { app: 'db' })).toEqual(['client/plain']);
  });

  test('a selector rule is private to its namespace even with exportTo naming others', () => {
    const exported = rule('svc', 'sel', { workloadSelector: { app: 'web' }, exportTo: ['*'] });
    expect(fromOf([exported], 'client', api, { app: 'web' })).toBeUndefined();
    expect(fromOf([exported], 'svc', api, { app: 'web' })).toEqual(['svc/sel']);
  });

  test('without a matching selector and without a plain rule in the namespace, no rule (the service namespace is not consulted)', () => {
    expect(fromOf([selected, rule('svc', 'service')], 'client', api, { app: 'db' })).toBeUndefined();
  });

  test('two selector rules with the same selector merge; different selectors stay apart, the oldest matching first', () => {
    const a = rule('client', 'a', { creationTime: 1, workloadSelector: { app: 'web' }, subsets: [subset('v1')] });
    const b = rule('client', 'b', { creationTime: 2, workloadSelector: { app: 'web' }, subsets: [subset('v2')] });
    const c = rule('client', 'c', { creationTime: 3, workloadSelector: { tier: 'front' } });
    expect(lookupDestinationRule([c, b, a], proxy('client', { app: 'web', tier: 'front' }), api)?.from.map((k) => k.name)).toEqual(['a', 'b']);
    expect(lookupDestinationRule([c, b, a], proxy('client', { tier: 'front' }), api)?.from.map((k) => k.name)).toEqual(['c']);
  });

  test('an empty selector selects every proxy of the namespace', () => {
    const all = rule('client', 'all', { workloadSelector: {} });
    expect(fromOf([all, plain], 'client', api, {})).toEqual(['client/all']);
  });

  test('a plain rule with exportTo "." merges into the selector rule of its namespace (same exportTo set), as istiod does', () => {
    const privatePlain = rule('client', 'private', { exportTo: ['.'], subsets: [subset('v2')] });
    const index = new DestinationRuleIndex([privatePlain, selected]);
    expect(index.candidates('client', api).map((c) => c.from.map((k) => k.name))).toEqual([['selected', 'private']]);
    expect(fromOf([privatePlain, selected], 'client', api, { app: 'db' })).toBeUndefined();
  });
});
