import { describe, expect, test } from 'vitest';
import { hostsMatch, isMoreSpecificHost, resolveShortnameToFqdn } from './hosts.js';

describe('hostsMatch (pkg/config/host/name.go Name.Matches)', () => {
  test.each([
    ['a.example.com', 'a.example.com', true],
    ['a.example.com', 'b.example.com', false],
    ['*.example.com', 'a.example.com', true],
    ['a.example.com', '*.example.com', true],
    ['*.example.com', '*.a.example.com', true],
    ['*.a.example.com', '*.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*', 'anything.at.all', true],
    ['*.example.com', '*.example.org', false],
  ])('%s ~ %s is %s', (a, b, expected) => {
    expect(hostsMatch(a, b)).toBe(expected);
  });
});

describe('isMoreSpecificHost (pkg/config/host/names.go MoreSpecific)', () => {
  test('non-wildcards first, then longer, then alphabetical', () => {
    expect(isMoreSpecificHost('a.com', '*.a.example.com')).toBe(true);
    expect(isMoreSpecificHost('*.a.example.com', '*.example.com')).toBe(true);
    expect(isMoreSpecificHost('*.example.com', '*.a.example.com')).toBe(false);
    expect(isMoreSpecificHost('a.com', 'b.com')).toBe(true);
  });
});

describe('resolveShortnameToFqdn (pilot/pkg/model/config.go ResolveShortnameToFQDN)', () => {
  test('a short name gets the namespace and svc.<domain>; FQDNs, wildcards and IPs are kept', () => {
    expect(resolveShortnameToFqdn('reviews', 'shop', 'cluster.local')).toBe('reviews.shop.svc.cluster.local');
    expect(resolveShortnameToFqdn('reviews', 'shop', '')).toBe('reviews.shop');
    expect(resolveShortnameToFqdn('reviews.example.com', 'shop', 'cluster.local')).toBe('reviews.example.com');
    expect(resolveShortnameToFqdn('*', 'shop', 'cluster.local')).toBe('*');
    expect(resolveShortnameToFqdn('::1', 'shop', 'cluster.local')).toBe('::1');
  });
});
