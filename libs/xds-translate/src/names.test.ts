import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildDnsSrvSubsetKey,
  buildOutboundClusterName,
  buildSubsetKey,
  isDnsSrvSubsetKey,
  joinHostPort,
  parseSubsetKey,
  type SubsetKey,
} from './names.js';

describe('cluster names', () => {
  it('spells default and subset keys like istiod BuildSubsetKey', () => {
    expect(buildSubsetKey({ direction: 'outbound', port: 80, subset: '', hostname: 'foo.example.com' })).toBe('outbound|80||foo.example.com');
    expect(buildSubsetKey({ direction: 'outbound', port: 80, subset: 'v1', hostname: 'foo.example.com' })).toBe('outbound|80|v1|foo.example.com');
  });

  it('spells the DNS-SRV form like istiod BuildDNSSrvSubsetKey', () => {
    expect(buildDnsSrvSubsetKey({ direction: 'outbound', port: 80, subset: '', hostname: 'foo.example.com' })).toBe('outbound_.80_._.foo.example.com');
    expect(buildDnsSrvSubsetKey({ direction: 'outbound', port: 80, subset: 'v1', hostname: 'foo.example.com' })).toBe(
      'outbound_.80_.v1_.foo.example.com',
    );
  });

  it('names the seed clusters per naming mode', () => {
    expect(buildOutboundClusterName('sidecar', 'example-app', 8080)).toBe('outbound|8080||example-app');
    expect(buildOutboundClusterName('sni-dnat', 'example-app', 8080)).toBe('outbound_.8080_._.example-app');
  });

  it('recognises the DNS-SRV prefixes istiod recognises', () => {
    expect(isDnsSrvSubsetKey('outbound_.80_._.a')).toBe(true);
    expect(isDnsSrvSubsetKey('inbound_.80_._.a')).toBe(true);
    expect(isDnsSrvSubsetKey('outbound|80||a')).toBe(false);
    expect(isDnsSrvSubsetKey('example-app:8080')).toBe(false);
  });

  it('parses both forms back, including wildcard hosts', () => {
    expect(parseSubsetKey('outbound|443||*.example.com')).toEqual({ direction: 'outbound', port: 443, subset: '', hostname: '*.example.com' });
    expect(parseSubsetKey('outbound_.80_.v1_.foo.example.com')).toEqual({ direction: 'outbound', port: 80, subset: 'v1', hostname: 'foo.example.com' });
    expect(parseSubsetKey('inbound|9080||')).toBeUndefined();
  });

  it.each([
    'example-app:8080',
    'outbound|80|',
    'outbound|80||a|b',
    'sideways|80||a',
    'outbound|0||a',
    'outbound|65536||a',
    'outbound|08||a',
    'outbound|http||a',
    'outbound_.80_._.a_.b',
  ])('rejects %s', (name) => {
    expect(parseSubsetKey(name)).toBeUndefined();
  });

  it('round-trips every valid key in both spellings', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
    const key = fc.record<SubsetKey>({
      direction: fc.constantFrom('outbound', 'inbound'),
      port: fc.integer({ min: 1, max: 65535 }),
      subset: fc.oneof(fc.constant(''), label),
      hostname: fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.')),
    });
    fc.assert(
      fc.property(key, (k) => {
        expect(parseSubsetKey(buildSubsetKey(k))).toEqual(k);
        expect(parseSubsetKey(buildDnsSrvSubsetKey(k))).toEqual(k);
      }),
    );
  });

  it('joins host and port like net.JoinHostPort', () => {
    expect(joinHostPort('example-app', 8080)).toBe('example-app:8080');
    expect(joinHostPort('2001:db8::1', 443)).toBe('[2001:db8::1]:443');
  });
});
