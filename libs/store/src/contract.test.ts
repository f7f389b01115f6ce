import { describe, expect, it } from 'vitest';
import {
  FencedError,
  StoreError,
  destinationRuleField,
  endpointField,
  isWritableField,
  parseSiblingField,
  siblingEndpointField,
  siblingField,
  leaseValue,
  parseLeaseValue,
  parseServiceEntryId,
  policyScopeFor,
  baseVariant,
  scopedVariant,
  resourceKey,
  serviceEntryId,
  virtualServiceField,
} from './contract.js';
import { keyLayout } from './redis-keys.js';

describe('store contract names', () => {
  it('puts every key and the channel under the prefix hash tag', () => {
    const layout = keyLayout('mesh1');
    const names = [
      layout.serviceEntry('ns/name'),
      layout.serviceEntryIndex,
      layout.revisionCounter,
      layout.changeLog,
      layout.resources('ns/name'),
      layout.resourceIndex,
      layout.sidecars,
      layout.gateways,
      layout.sequence,
      layout.epoch,
      layout.lease,
      layout.leaseTokenCounter,
      layout.invalidationChannel,
    ];
    expect(names.every((name) => name.startsWith('{mesh1}:'))).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    expect(layout.serviceEntry('ns/name')).toBe('{mesh1}:se:ns/name');
    expect(keyLayout().hashTag).toBe('{skiff}');
  });

  it('refuses prefixes that would break the hash tag or the cleanup pattern', () => {
    for (const prefix of ['', 'a{b', 'a}b', 'a b', 'a*', 'a?', 'a[1]', 'a\\b']) {
      expect(() => keyLayout(prefix)).toThrow(StoreError);
    }
  });

  it('names ServiceEntries namespace/name and refuses parts that would be ambiguous', () => {
    expect(serviceEntryId({ namespace: 'ns', name: 'a.b-c' })).toBe('ns/a.b-c');
    expect(parseServiceEntryId('ns/a.b-c')).toEqual({ namespace: 'ns', name: 'a.b-c' });
    for (const key of [{ namespace: '', name: 'a' }, { namespace: 'ns', name: '' }, { namespace: 'n/s', name: 'a' }, { namespace: 'ns', name: 'a}' }, { namespace: 'ns', name: 'a b' }]) {
      expect(() => serviceEntryId(key)).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
    }
    expect(() => parseServiceEntryId('no-slash')).toThrow(expect.objectContaining({ code: 'corrupt' }));
    expect(() => parseServiceEntryId('/name')).toThrow(expect.objectContaining({ code: 'corrupt' }));
  });

  it('names endpoint fields after their source', () => {
    expect(endpointField({ kind: 'WorkloadEntry', namespace: 'ns', name: 'vm-1' })).toBe('ep:WorkloadEntry/ns/vm-1');
    expect(endpointField({ kind: 'ServiceEntry', namespace: 'ns', name: 'se', index: 2 })).toBe('ep:ServiceEntry/ns/se#2');
    expect(isWritableField('se')).toBe(true);
    expect(isWritableField('ep:WorkloadEntry/ns/vm-1')).toBe(true);
    expect(isWritableField('ep:')).toBe(false);
    expect(isWritableField('rev')).toBe(false);
  });

  it('names DestinationRule fields dr:<namespace>/<name>', () => {
    expect(destinationRuleField({ namespace: 'ns', name: 'reviews' })).toBe('dr:ns/reviews');
    expect(isWritableField('dr:ns/reviews')).toBe(true);
    expect(isWritableField('dr:')).toBe(false);
  });

  it('names VirtualService fields vs:<namespace>/<name>', () => {
    expect(virtualServiceField({ namespace: 'ns', name: 'reviews' })).toBe('vs:ns/reviews');
    expect(isWritableField('vs:ns/reviews')).toBe(true);
    expect(isWritableField('vs:')).toBe(false);
  });

  it('names sibling fields sib:<name> and sib:<name>:<endpoint field>, and reads them back', () => {
    expect(siblingField('legacy')).toBe('sib:legacy');
    expect(siblingEndpointField('legacy', 'ep:WorkloadEntry/ns/vm-1')).toBe('sib:legacy:ep:WorkloadEntry/ns/vm-1');
    expect(parseSiblingField('sib:legacy')).toEqual({ name: 'legacy', endpoint: undefined });
    expect(parseSiblingField('sib:legacy:ep:ServiceEntry/ns/legacy#0')).toEqual({ name: 'legacy', endpoint: 'ep:ServiceEntry/ns/legacy#0' });
    for (const field of ['sib:', 'sib::ep:x', 'sib:legacy:dr:ns/r', 'sib:legacy:ep:', 'ep:x']) expect(parseSiblingField(field), field).toBeUndefined();
    expect(isWritableField('sib:legacy')).toBe(true);
    expect(isWritableField('sib:legacy:ep:WorkloadEntry/ns/vm-1')).toBe(true);
    expect(isWritableField('sib:legacy:se')).toBe(false);
  });

  it('keys resources by variant, type URL and a name that may contain anything', () => {
    expect(resourceKey({ variant: 'grpc', typeUrl: 'type.googleapis.com/x', name: 'outbound|80||a b' })).toBe('grpc type.googleapis.com/x outbound|80||a b');
  });

  it('round-trips lease values, holders with bars included', () => {
    const grant = { token: 1_700_000_000_123, holder: 'pod-1|x' };
    expect(leaseValue(grant)).toBe('1700000000123|pod-1|x');
    expect(parseLeaseValue(leaseValue(grant))).toEqual(grant);
    expect(() => parseLeaseValue('holder-only')).toThrow(expect.objectContaining({ code: 'corrupt' }));
  });

  it('gives store errors a code, a cause, and fenced errors both leases', () => {
    const cause = new Error('socket closed');
    const error = new StoreError('unavailable', 'read failed', { cause });
    expect(error).toMatchObject({ name: 'StoreError', code: 'unavailable', cause, message: '[unavailable] read failed' });
    const fenced = new FencedError({ token: 1, holder: 'a' }, { token: 2, holder: 'b' });
    expect(fenced).toBeInstanceOf(StoreError);
    expect(fenced).toMatchObject({ name: 'FencedError', code: 'fenced', fence: { token: 1, holder: 'a' }, current: { token: 2, holder: 'b' } });
    expect(fenced.message).toContain('2|b');
  });
});

describe('policy scopes', () => {
  const scopes = {
    namespaces: { shop: { selectors: [{ app: 'web' }, { tier: 'front' }], scopes: ['', 'pweb', 'pfront', 'pboth'] } },
    otherNamespaces: { selectors: [], scopes: ['pother'] },
  };

  it('chooses by namespace, then by which selectors the labels contain', () => {
    expect(policyScopeFor(scopes, 'shop', {})).toBe('');
    expect(policyScopeFor(scopes, 'shop', { app: 'web', x: 'y' })).toBe('pweb');
    expect(policyScopeFor(scopes, 'shop', { tier: 'front' })).toBe('pfront');
    expect(policyScopeFor(scopes, 'shop', { app: 'web', tier: 'front' })).toBe('pboth');
    expect(policyScopeFor(scopes, 'elsewhere', { app: 'web' })).toBe('pother');
    expect(policyScopeFor(undefined, 'shop', { app: 'web' })).toBe('');
  });

  it('tags a scope onto a variant and back', () => {
    expect(scopedVariant('envoy-sidecar', '')).toBe('envoy-sidecar');
    expect(scopedVariant('envoy-sidecar', 'pabc')).toBe('envoy-sidecar.pabc');
    expect(baseVariant('envoy-sidecar.pabc')).toBe('envoy-sidecar');
    expect(baseVariant('grpc')).toBe('grpc');
  });
});
