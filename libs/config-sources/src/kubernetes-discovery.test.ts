import { describe, expect, it } from 'vitest';
import { chooseServedKind } from './kubernetes-discovery.js';

const se = (name = 'serviceentries') => ({ kind: 'ServiceEntry', name, namespaced: true });

describe('chooseServedKind', () => {
  it('prefers v1, then v1beta1, then v1alpha3', () => {
    const all = new Map([
      ['v1alpha3', [se()]],
      ['v1beta1', [se()]],
      ['v1', [se()]],
    ]);
    expect(chooseServedKind('networking.istio.io', 'ServiceEntry', all)?.version).toBe('v1');
    all.delete('v1');
    expect(chooseServedKind('networking.istio.io', 'ServiceEntry', all)?.version).toBe('v1beta1');
    all.delete('v1beta1');
    expect(chooseServedKind('networking.istio.io', 'ServiceEntry', all)).toEqual({
      group: 'networking.istio.io',
      version: 'v1alpha3',
      kind: 'ServiceEntry',
      plural: 'serviceentries',
      namespaced: true,
    });
  });

  it('ignores subresources and versions outside the preference', () => {
    const served = new Map([
      ['v1', [se('serviceentries/status')]],
      ['v2', [se()]],
    ]);
    expect(chooseServedKind('networking.istio.io', 'ServiceEntry', served)).toBeUndefined();
  });
});
