import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  commaListOf,
  ConfigValueError,
  formatDuration,
  formatHostPort,
  oneOf,
  parseBoolean,
  parseCommaList,
  parseDuration,
  parseHostPort,
  parseLogLevel,
  parsePositiveInteger,
  urlWithSchemes,
} from './parsers.js';

describe('parseDuration', () => {
  it.each([
    ['10ms', 10],
    ['30s', 30_000],
    ['30m', 1_800_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['.5s', 500],
    ['1h30m', 5_400_000],
    ['2m5s250ms', 125_250],
    ['0', 0],
    ['0s', 0],
    [' 30s ', 30_000],
  ])('reads %s as %d ms', (raw, expected) => {
    expect(parseDuration(raw)).toBe(expected);
  });

  it.each(['', '10', 's', '10 s', '-1s', '1d', '10sec', '1h 30m', '1.2.3s', '5mm', 'ms'])('rejects %j', (raw) => {
    expect(() => parseDuration(raw)).toThrow(ConfigValueError);
  });

  it('reads back every duration it formats', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 3_600_000 }), (milliseconds) => {
        expect(parseDuration(formatDuration(milliseconds))).toBe(milliseconds);
      }),
    );
  });

  it('formats with the largest exact unit', () => {
    expect([0, 250, 1000, 90_000, 1_800_000, 7_200_000].map(formatDuration)).toEqual(['0', '250ms', '1s', '90s', '30m', '2h']);
  });
});

describe('parseHostPort', () => {
  it.each([
    [':15014', '', 15014],
    ['0.0.0.0:15010', '0.0.0.0', 15010],
    ['127.0.0.1:0', '127.0.0.1', 0],
    ['localhost:8080', 'localhost', 8080],
    ['istiod.istio-system.svc:15012', 'istiod.istio-system.svc', 15012],
    ['[::1]:15010', '::1', 15010],
    ['[::]:65535', '::', 65535],
  ])('reads %s', (raw, host, port) => {
    expect(parseHostPort(raw)).toEqual({ host, port });
  });

  it.each([
    ['15014', 'expected host:port'],
    ['::1:15010', 'IPv6 host must be in brackets'],
    ['[::1]15010', 'expected [ipv6]:port'],
    ['[127.0.0.1]:80', 'not an IPv6 address'],
    [':65536', 'from 0 to 65535'],
    [':http', 'must be a number'],
    ['host:', 'must be a number'],
    ['bad_host:80', 'neither an IP address nor a host name'],
    ['-x:80', 'neither an IP address nor a host name'],
  ])('rejects %s', (raw, message) => {
    expect(() => parseHostPort(raw)).toThrow(message);
  });

  it('formats back to the flag syntax', () => {
    for (const text of [':15014', '127.0.0.1:80', '[::1]:15010', 'example.com:443']) {
      expect(formatHostPort(parseHostPort(text))).toBe(text);
    }
  });
});

describe('parseLogLevel', () => {
  it('accepts pino levels in any case', () => {
    expect(parseLogLevel('debug')).toBe('debug');
    expect(parseLogLevel('WARN')).toBe('warn');
    expect(parseLogLevel('silent')).toBe('silent');
  });

  it('rejects other words with the list of levels', () => {
    expect(() => parseLogLevel('verbose')).toThrow('expected one of fatal, error, warn, info, debug, trace, silent');
  });
});

describe('comma lists', () => {
  it('trims items and drops empty ones', () => {
    expect(parseCommaList(' a, b,,c ,')).toEqual(['a', 'b', 'c']);
    expect(parseCommaList('')).toEqual([]);
  });

  it('parses each item and names the bad one', () => {
    const parsePorts = commaListOf(parsePositiveInteger);
    expect(parsePorts('80, 443')).toEqual([80, 443]);
    expect(() => parsePorts('80,http')).toThrow('item "http": expected a positive integer');
  });
});

describe('parsePositiveInteger', () => {
  it('accepts 1 and up', () => {
    expect(parsePositiveInteger('1')).toBe(1);
    expect(parsePositiveInteger(' 64 ')).toBe(64);
  });

  it.each(['0', '-1', '1.5', '1e3', 'four', '', '99999999999999999999'])('rejects %j', (raw) => {
    expect(() => parsePositiveInteger(raw)).toThrow('expected a positive integer');
  });
});

describe('parseBoolean', () => {
  it('reads the spellings environment variables use', () => {
    expect(['true', 'TRUE', '1', 'yes', 'on'].map(parseBoolean)).toEqual([true, true, true, true, true]);
    expect(['false', '0', 'no', 'off'].map(parseBoolean)).toEqual([false, false, false, false]);
    expect(() => parseBoolean('maybe')).toThrow('expected true or false');
  });
});

describe('oneOf', () => {
  it('accepts only the listed choices', () => {
    const parseFormat = oneOf(['json', 'pretty']);
    expect(parseFormat('pretty')).toBe('pretty');
    expect(() => parseFormat('xml')).toThrow('expected one of json, pretty');
  });
});

describe('urlWithSchemes', () => {
  const parseRedisUrl = urlWithSchemes(['redis:', 'rediss:']);

  it('accepts the allowed schemes and returns the text unchanged', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(parseRedisUrl('rediss://user:p%40ss@redis.example:6380/2')).toBe('rediss://user:p%40ss@redis.example:6380/2');
  });

  it('rejects other schemes, non-URLs and URLs without a host', () => {
    expect(() => parseRedisUrl('http://127.0.0.1:6379')).toThrow('scheme must be redis:// or rediss://');
    expect(() => parseRedisUrl('127.0.0.1:6379')).toThrow(ConfigValueError);
    expect(() => parseRedisUrl('not a url')).toThrow('expected a URL such as redis://host:port');
    expect(() => parseRedisUrl('redis://')).toThrow('URL has no host');
  });
});
