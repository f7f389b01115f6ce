import { isIP as nodeIsIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isIP, isIPv4, isIPv6 } from './net.js';

describe('address literals', () => {
  it.each(['1.2.3.4', '0.0.0.0', '255.255.255.255', '::', '::1', '2001:db8::1', 'fe80::1%eth0', '::ffff:10.0.0.1', '1:2:3:4:5:6:7:8'])('accepts %s', (a) => {
    expect(isIP(a)).toBe(true);
  });
  it.each(['', '1.2.3', '256.1.1.1', '01.2.3.4', 'a.b.c.d', ':::', '1:2:3:4:5:6:7:8:9', '1::2::3', 'example.com', 'unix:///var/run/s.sock', '1.2.3.4:80', 'fe80::1%'])('rejects %s', (a) => {
    expect(isIP(a)).toBe(false);
  });
  it('agrees with node:net on generated IPv4 and IPv6 literals', () => {
    fc.assert(fc.property(fc.ipV4(), (a) => isIPv4(a) && isIP(a) === (nodeIsIP(a) !== 0)));
    fc.assert(fc.property(fc.ipV6(), (a) => isIPv6(a) === (nodeIsIP(a) === 6)));
    fc.assert(fc.property(fc.string(), (a) => isIP(a) === (nodeIsIP(a) !== 0)));
  });
});
