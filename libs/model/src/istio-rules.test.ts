import { describe, expect, test } from 'vitest';
import {
  goQuote,
  isDNS1123Label,
  isIPPrefix,
  utf8Length,
  validateDuration,
  validateExportTo,
  validateFQDN,
  validateIPSubnet,
  validateLabels,
  validatePartialWildcard,
  validatePort,
  validatePortName,
  validateSelectorLabels,
  validateUnixAddress,
  validateWildcardDomain,
} from './istio-rules.js';
import { parseGoDuration } from './read-fields.js';

describe('goQuote (Go %q)', () => {
  test.each([
    ['a', '"a"'],
    ['say "hi"', '"say \\"hi\\""'],
    ['back\\slash', '"back\\\\slash"'],
    ['tab\tnew\n', '"tab\\tnew\\n"'],
    ['\u0001', '"\\x01"'],
    ['héllo', '"héllo"'],
  ])('%j -> %s', (input, quoted) => expect(goQuote(input)).toBe(quoted));
});

test('utf8Length counts bytes as Go len does', () => {
  expect(utf8Length('abc')).toBe(3);
  expect(utf8Length('é')).toBe(2);
  expect(utf8Length('€')).toBe(3);
  expect(utf8Length('😀')).toBe(4);
});

describe('ports', () => {
  test.each([1, 80, 65535])('%i is a port', (port) => expect(validatePort(port)).toBeUndefined());
  test.each([0, 65536, 99999])('%i is not', (port) => expect(validatePort(port)).toBe(`port number ${port} must be in the range 1..65535`));
  test('port names are DNS-1123 labels, upper case allowed', () => {
    expect(validatePortName('http-web')).toBeUndefined();
    expect(validatePortName('HTTP')).toBeUndefined();
    expect(validatePortName('')).toBe('invalid port name: ');
    expect(validatePortName('-http')).toBe('invalid port name: -http');
    expect(validatePortName('a'.repeat(64))).toBe(`invalid port name: ${'a'.repeat(64)}`);
    expect(isDNS1123Label('a'.repeat(63))).toBe(true);
  });
});

describe('hostnames', () => {
  test.each(['example.com', 'foo', '*.example.com', '*', '*foo.com', '*-foo.com', 'istio.io.', 'UPPER.example.com'])('%s is a wildcard domain', (host) =>
    expect(validateWildcardDomain(host)).toBeUndefined(),
  );
  test.each([
    ['', 'empty domain name not allowed'],
    ['foo.*.com', 'domain name "*.com" invalid (label "*" invalid)'],
    ['foo*.com', 'domain name "foo*.com" invalid (label "foo*" invalid)'],
    ['foo..com', 'domain name ".com" invalid (label "" invalid)'],
    ['example.123', 'domain name "123" invalid (top level domain "123" cannot be all-numeric)'],
    ['-bad.com', 'domain name "-bad.com" invalid (label "-bad" invalid)'],
    [`${'a'.repeat(250)}.com.x`, `domain name ${JSON.stringify(`${'a'.repeat(250)}.com.x`)} too long (max 255)`],
  ])('%s: %s', (host, reason) => expect(validateWildcardDomain(host)).toBe(reason));

  test('FQDNs may not be wildcards; all-numeric TLDs follow Go Atoi (signs, 64-bit range)', () => {
    expect(validateFQDN('a.example.com')).toBeUndefined();
    expect(validateFQDN('*.example.com')).toBe('domain name "*.example.com" invalid (label "*" invalid)');
    expect(validateFQDN('1.2.3.4')).toBe('domain name "1.2.3.4" invalid (top level domain "4" cannot be all-numeric)');
    expect(validateFQDN('foo.99999999999999999999')).toBeUndefined();
  });

  test('partial wildcards are only warned about', () => {
    expect(validatePartialWildcard('*x')).toBe('partial wildcard "*x" not allowed');
    expect(validatePartialWildcard('*.x.com')).toBeUndefined();
    expect(validatePartialWildcard('*')).toBeUndefined();
    expect(validatePartialWildcard('x.com')).toBeUndefined();
  });
});

describe('addresses', () => {
  test.each(['1.2.3.4', '001:db8::', '::1', 'fe80::1%eth0', '10.0.0.0/8', '1.1.1.1/32', '2001:db8::/32', '0.0.0.0/0'])('%s is valid', (address) =>
    expect(validateIPSubnet(address)).toBeUndefined(),
  );
  test.each([
    ['1.2.3.4/33', '1.2.3.4/33 is not a valid CIDR block'],
    ['1.2.3.4/99', '1.2.3.4/99 is not a valid CIDR block'],
    ['1.2.3.4/08', '1.2.3.4/08 is not a valid CIDR block'],
    ['fe80::1%eth0/64', 'fe80::1%eth0/64 is not a valid CIDR block'],
    ['example.com', 'example.com is not a valid IP'],
    ['01.2.3.4', '01.2.3.4 is not a valid IP'],
    ['1.2.3.4/8/8', '1.2.3.4/8/8 is not a valid IP'],
  ])('%s: %s', (address, reason) => expect(validateIPSubnet(address)).toBe(reason));
  test('IPv6 prefixes go to 128 bits', () => {
    expect(isIPPrefix('::/128')).toBe(true);
    expect(isIPPrefix('::/129')).toBe(false);
  });
});

test('unix socket paths are absolute file paths or abstract sockets', () => {
  expect(validateUnixAddress('/var/run/sock')).toBeUndefined();
  expect(validateUnixAddress('@abstract')).toBeUndefined();
  expect(validateUnixAddress('')).toBe('unix address must not be empty');
  expect(validateUnixAddress('relative')).toBe('relative is not an absolute path to a file');
  expect(validateUnixAddress('/dir/')).toBe('/dir/ is not an absolute path to a file');
});

describe('labels', () => {
  test('valid keys and values', () => {
    expect(validateLabels({ app: 'web', 'app.kubernetes.io/name': 'reviews', version: '', 'a_b.c-d': 'x.Y_z-1' })).toEqual([]);
  });
  test('each bad key and value is named', () => {
    expect(validateLabels({ '@': 'v', k: '-bad', 'x/': 'v' })).toEqual([
      { key: '@', reason: 'invalid tag key: "@"' },
      { key: 'k', reason: 'invalid tag value: "-bad"' },
      { key: 'x/', reason: 'invalid tag key: "x/"' },
    ]);
  });
  test('length limits on the prefix and the name', () => {
    const longName = 'n'.repeat(64);
    const longPrefix = `${['a', 'b', 'c', 'd', 'e'].map((c) => c.repeat(60)).join('.')}/x`;
    expect(validateLabels({ ['n'.repeat(63)]: 'v', [`${'p'.repeat(253)}/${'n'.repeat(63)}`]: 'v' })).toEqual([]);
    expect(validateLabels({ [longName]: 'v' })).toEqual([{ key: longName, reason: `invalid tag key: "${longName}" (name is too long)` }]);
    expect(validateLabels({ [longPrefix]: 'v' })).toEqual([{ key: longPrefix, reason: `invalid tag key: "${longPrefix}" (DNS prefix is too long)` }]);
  });
  test('selectors reject empty keys and wildcards', () => {
    expect(validateSelectorLabels({ app: 'web' })).toEqual([]);
    expect(validateSelectorLabels({ '': 'v', 'k*': 'v', k: '*' })).toEqual([
      { key: '', reason: 'empty key is not supported in selector: "=v"' },
      { key: 'k*', reason: 'wildcard is not supported in selector: "k*=v"' },
      { key: 'k', reason: 'wildcard is not supported in selector: "k=*"' },
    ]);
  });
});

describe('exportTo', () => {
  test('accepted forms', () => {
    expect(validateExportTo('ns', ['*'], false, false)).toEqual([]);
    expect(validateExportTo('ns', ['.', 'other'], false, false)).toEqual([]);
    expect(validateExportTo('ns', ['~'], true, false)).toEqual([]);
    expect(validateExportTo('ns', [], false, false)).toEqual([]);
  });
  test.each<[string, readonly string[], boolean, { index?: number; reason: string }[]]>([
    ['bad entry', ['Not_A_Label'], true, [{ index: 0, reason: 'only .,*, or a valid DNS 1123 label is allowed as exportTo entry' }]],
    ['~ on a non-ServiceEntry', ['~'], false, [{ index: 0, reason: 'exportTo ~ (none) is not allowed for Istio configuration objects' }]],
    ['duplicate', ['a', 'a'], true, [{ index: 1, reason: 'duplicate entries in exportTo for entry a' }]],
    ['. and own namespace', ['ns', '.'], true, [{ index: 1, reason: 'duplicate entries in exportTo: . and current namespace ns' }]],
    ['* with others', ['*', 'a'], true, [{ reason: 'cannot have both public (*) and non-public exportTo values for a resource' }]],
    ['~ with others', ['~', 'a'], true, [{ reason: 'cannot export service entry to no one (~) and someone' }]],
  ])('%s', (_name, exportTo, isServiceEntry, expected) => expect(validateExportTo('ns', exportTo, isServiceEntry, false)).toEqual(expected));
  test('a DestinationRule with a workload selector stays in its namespace', () => {
    expect(validateExportTo('ns', ['.'], false, true)).toEqual([]);
    expect(validateExportTo('ns', ['other'], false, true)).toEqual([
      { reason: 'destination rule with workload selector cannot have exportTo beyond current namespace' },
    ]);
    expect(validateExportTo('ns', ['.', 'other'], false, true)).toEqual([
      { reason: 'destination rule with workload selector cannot have multiple entries in exportTo' },
    ]);
  });
});

describe('durations (Go time.ParseDuration)', () => {
  test.each([
    ['10s', 10_000_000_000n],
    ['1m30s', 90_000_000_000n],
    ['8ms', 8_000_000n],
    ['1.5s', 1_500_000_000n],
    ['.5s', 500_000_000n],
    ['1h', 3_600_000_000_000n],
    ['2us', 2_000n],
    ['2µs', 2_000n],
    ['-1s', -1_000_000_000n],
    ['0', 0n],
  ])('%s', (text, nanos) => expect(parseGoDuration(text)).toBe(nanos));
  test.each(['', '10', 's', '1x', '1 s', '.s', '9999999999999999999h'])('%j is not a duration', (text) => expect(parseGoDuration(text)).toBeUndefined());
  test('proto durations must be whole milliseconds of at least 1ms', () => {
    expect(validateDuration(1_000_000n)).toBeUndefined();
    expect(validateDuration(999_999n)).toBe('duration must be greater than 1ms');
    expect(validateDuration(1_500_000n)).toBe('only durations to ms precision are supported');
  });
});
