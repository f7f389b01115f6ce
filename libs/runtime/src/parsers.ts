/**
 * Value parsers for command-line flags and environment variables. Each takes the raw text and returns
 * the typed value, or throws a `ConfigValueError` whose message completes the sentence
 * "invalid --flag value "raw": <message>". They are used by `parseCommandLine`, and are exported so
 * services and tests can parse the same syntax elsewhere (a debug query, a config file).
 */
import { isIP } from 'node:net';

/** A value that does not parse; the message says what was expected, without repeating the value. */
export class ConfigValueError extends Error {
  override readonly name = 'ConfigValueError';
}

/** A parser from raw flag or environment text to a typed value. */
export type ValueParser<T> = (raw: string) => T;

/** Milliseconds per unit of the duration syntax. */
const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_TERM = /(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)/y;

/**
 * Parses a duration in Go's `time.ParseDuration` syntax, the one istiod's flags use, restricted to
 * the units a control plane needs (`ms`, `s`, `m`, `h`): `10ms`, `30s`, `1.5s`, `1h30m`, or `0`.
 * Returns milliseconds. Negative durations are rejected: every Skiff duration is a timeout or an interval.
 */
export function parseDuration(raw: string): number {
  const text = raw.trim();
  if (text === '0') return 0;
  if (text === '') throw new ConfigValueError('expected a duration such as 10ms, 30s, 5m or 1h');
  let total = 0;
  DURATION_TERM.lastIndex = 0;
  while (DURATION_TERM.lastIndex < text.length) {
    const start = DURATION_TERM.lastIndex;
    const match = DURATION_TERM.exec(text);
    if (match === null || match.index !== start) {
      throw new ConfigValueError('expected a duration such as 10ms, 30s, 5m or 1h (units: ms, s, m, h)');
    }
    const [, amount = '', unit = ''] = match;
    total += Number(amount) * (DURATION_UNITS[unit] ?? Number.NaN);
  }
  if (!Number.isFinite(total)) throw new ConfigValueError('duration is out of range');
  return total;
}

/** Formats milliseconds in the syntax `parseDuration` reads, using the largest exact unit (`90000` -> `90s`). */
export function formatDuration(milliseconds: number): string {
  if (milliseconds === 0) return '0';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (milliseconds % size === 0) return `${milliseconds / size}${unit}`;
  }
  return `${milliseconds}ms`;
}

/** A listen or dial address. `host` is `''` for "all interfaces" (the `:port` form). */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** DNS name: dot-separated labels of letters, digits and inner hyphens (RFC 1123). */
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * Parses `host:port` the way Go's `net.SplitHostPort` reads istiod's `--monitoringAddr` and
 * `--grpcAddr`: `:15014` (all interfaces), `0.0.0.0:15010`, `localhost:8080`, `[::1]:15010`.
 * An IPv6 host must be bracketed. Port 0 asks the kernel for a free port.
 */
export function parseHostPort(raw: string): HostPort {
  const text = raw.trim();
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') {
      throw new ConfigValueError('expected [ipv6]:port, for example [::1]:15010');
    }
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (isIP(host) !== 6) throw new ConfigValueError(`"${host}" in brackets is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) throw new ConfigValueError('expected host:port or :port, for example :15014 or 127.0.0.1:15010');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) throw new ConfigValueError('an IPv6 host must be in brackets, for example [::1]:15010');
    if (host !== '' && isIP(host) === 0 && !DNS_NAME.test(host)) {
      throw new ConfigValueError(`"${host}" is neither an IP address nor a host name`);
    }
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65_535) {
    throw new ConfigValueError(`port "${portText}" must be a number from 0 to 65535`);
  }
  return { host, port: Number(portText) };
}

/** Formats a `HostPort` back to the flag syntax (`:15014`, `127.0.0.1:80`, `[::1]:80`). */
export function formatHostPort(address: HostPort): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}

/** pino's level names, most to least severe, plus `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Parses a log level name, case-insensitively. */
export function parseLogLevel(raw: string): LogLevel {
  const text = raw.trim().toLowerCase();
  const level = LOG_LEVELS.find((candidate) => candidate === text);
  if (level === undefined) throw new ConfigValueError(`expected one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

/** Parses a comma-separated list; items are trimmed and empty items dropped (`a, b,,c` -> `[a, b, c]`). */
export function parseCommaList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** A comma-separated list whose items go through `parseItem`; the error names the bad item. */
export function commaListOf<T>(parseItem: ValueParser<T>): ValueParser<T[]> {
  return (raw) =>
    parseCommaList(raw).map((item) => {
      try {
        return parseItem(item);
      } catch (error) {
        throw new ConfigValueError(`item "${item}": ${messageOf(error)}`, { cause: error });
      }
    });
}

/** Parses a positive integer (1, 2, ...), as used for concurrency limits and batch sizes. */
export function parsePositiveInteger(raw: string): number {
  const text = raw.trim();
  if (!/^\d+$/.test(text)) throw new ConfigValueError('expected a positive integer');
  const value = Number(text);
  if (value < 1 || !Number.isSafeInteger(value)) throw new ConfigValueError('expected a positive integer');
  return value;
}

/** Parses `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), as environment variables spell switches. */
export function parseBoolean(raw: string): boolean {
  const text = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(text)) return true;
  if (['false', '0', 'no', 'off'].includes(text)) return false;
  throw new ConfigValueError('expected true or false');
}

/** A parser that accepts exactly one of `choices` (case-sensitive, as the values are identifiers). */
export function oneOf<const T extends string>(choices: readonly T[]): ValueParser<T> {
  return (raw) => {
    const text = raw.trim();
    const choice = choices.find((candidate) => candidate === text);
    if (choice === undefined) throw new ConfigValueError(`expected one of ${choices.join(', ')}`);
    return choice;
  };
}

/**
 * A parser for absolute URLs whose scheme is one of `schemes` (written with the colon, as
 * `URL.protocol` has it: `['redis:', 'rediss:']`). Returns the text unchanged, since clients such as
 * ioredis parse it themselves and `URL` re-encoding could alter a password.
 */
export function urlWithSchemes(schemes: readonly string[]): ValueParser<string> {
  return (raw) => {
    const text = raw.trim();
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new ConfigValueError(`expected a URL such as ${schemes[0] ?? 'scheme:'}//host:port`);
    }
    if (!schemes.includes(url.protocol)) {
      throw new ConfigValueError(`scheme must be ${schemes.map((scheme) => `${scheme}//`).join(' or ')}`);
    }
    if (url.hostname === '') throw new ConfigValueError('URL has no host');
    return text;
  };
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
