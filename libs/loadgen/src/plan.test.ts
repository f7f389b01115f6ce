import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClusterSpecError, parseClusterSpec, planProxies, readClusterSpec } from './plan.js';

describe('parseClusterSpec', () => {
  it('reads an inline list into one group of the default namespace', () => {
    expect(parseClusterSpec('outbound|80||a.ns.svc, outbound|80||b.ns.svc,,', 'default')).toEqual([{ namespace: 'default', clusters: ['outbound|80||a.ns.svc', 'outbound|80||b.ns.svc'] }]);
    expect(parseClusterSpec('', 'shop')).toEqual([{ namespace: 'shop', clusters: [] }]);
  });

  it('reads a file with comments and [namespace] groups', () => {
    const text = ['# shared', 'x', '', '[shop]', 'a # the storefront', 'b,c', '[empty]', '[pay]', 'd'].join('\n');
    expect(parseClusterSpec(text, 'default')).toEqual([
      { namespace: 'default', clusters: ['x'] },
      { namespace: 'shop', clusters: ['a', 'b', 'c'] },
      { namespace: 'empty', clusters: [] },
      { namespace: 'pay', clusters: ['d'] },
    ]);
  });

  it('rejects a header that is not a namespace name', () => {
    expect(() => parseClusterSpec('a\n[Not_A_Namespace]\nb', 'default')).toThrow(new ClusterSpecError('line 2: "Not_A_Namespace" is not a namespace name'));
  });
});

describe('readClusterSpec', () => {
  it('reads a file when the value names one, and the value itself otherwise', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loadgen-plan-'));
    try {
      const file = join(dir, 'clusters.txt');
      writeFileSync(file, '[shop]\na\nb\n');
      expect(readClusterSpec(file, 'default')).toEqual([{ namespace: 'shop', clusters: ['a', 'b'] }]);
      expect(readClusterSpec(join(dir, 'missing'), 'default')).toEqual([{ namespace: 'default', clusters: [join(dir, 'missing')] }]);
      expect(readClusterSpec('a,b', 'default')).toEqual([{ namespace: 'default', clusters: ['a', 'b'] }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('planProxies', () => {
  const groups = [
    { namespace: 'shop', clusters: ['a', 'b', 'c', 'd', 'e'] },
    { namespace: 'pay', clusters: ['p'] },
  ];

  it('deals proxies to groups in turn and gives each member the next window of its group', () => {
    const plans = planProxies({ proxies: 7, groups, clustersPerProxy: 2, flavor: 'envoy' });
    expect(plans.map((plan) => [plan.namespace, plan.clusters.join('')])).toEqual([
      ['shop', 'ab'],
      ['pay', 'p'],
      ['shop', 'cd'],
      ['pay', 'p'],
      ['shop', 'ea'],
      ['pay', 'p'],
      ['shop', 'bc'],
    ]);
    expect(plans.map((plan) => plan.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('gives every proxy all of its group by default', () => {
    expect(planProxies({ proxies: 2, groups, flavor: 'envoy' }).map((plan) => plan.clusters)).toEqual([['a', 'b', 'c', 'd', 'e'], ['p']]);
  });

  it('lets Envoy proxies take the CDS wildcard alone, but not proxyless gRPC clients', () => {
    const empty = [{ namespace: 'shop', clusters: [] }];
    expect(planProxies({ proxies: 1, groups: empty, flavor: 'envoy' })).toEqual([{ index: 0, namespace: 'shop', clusters: [] }]);
    expect(() => planProxies({ proxies: 1, groups: empty, flavor: 'grpc' })).toThrow('the proxies of namespace shop have no clusters');
  });

  it('rejects impossible sizes', () => {
    expect(() => planProxies({ proxies: 0, groups, flavor: 'envoy' })).toThrow(ClusterSpecError);
    expect(() => planProxies({ proxies: 1, groups, clustersPerProxy: -1, flavor: 'envoy' })).toThrow(ClusterSpecError);
    expect(() => planProxies({ proxies: 1, groups: [], flavor: 'envoy' })).toThrow(ClusterSpecError);
  });
});
