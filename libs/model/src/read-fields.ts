/**
 * Structural reading of untrusted JSON (parsed YAML) into typed values, recording a finding for every
 * value of the wrong type instead of throwing. These checks stand in for the CRD's OpenAPI schema, which
 * the Kubernetes API server applies before istiod's webhook sees an object; their messages are Skiff's.
 *
 * `null` reads as "not set", as the API server prunes nulls in non-nullable CRD fields.
 */
import type { FieldIssues } from './field-error.js';

export type JsonObject = Readonly<Record<string, unknown>>;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `base.name`, or `name` at the root. */
export function fieldPath(base: string, name: string): string {
  return base === '' ? name : `${base}.${name}`;
}

export function indexPath(base: string, index: number): string {
  return `${base}[${index}]`;
}

/** `base.key` for identifier-like map keys, `base["app.kubernetes.io/name"]` otherwise. */
export function keyPath(base: string, key: string): string {
  return IDENTIFIER.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

/** Describes a value for a message: `a string ("80")`, `a list`, `an object`, `a number (2.5)`. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)})`;
    case 'number':
      return `a number (${value})`;
    case 'boolean':
      return `a boolean (${value})`;
    case 'object':
      return value === null ? 'null' : 'an object';
    default:
      return typeof value;
  }
}

function wrongType(issues: FieldIssues, at: string, expected: string, value: unknown): undefined {
  issues.error(at, `must be ${expected}, not ${describeValue(value)}`);
  return undefined;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function readObject(value: unknown, at: string, issues: FieldIssues): JsonObject | undefined {
  if (value === undefined || value === null) return undefined;
  return isJsonObject(value) ? value : wrongType(issues, at, 'an object', value);
}

export function readList(value: unknown, at: string, issues: FieldIssues): readonly unknown[] | undefined {
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value : wrongType(issues, at, 'a list', value);
}

export function readString(value: unknown, at: string, issues: FieldIssues): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : wrongType(issues, at, 'a string', value);
}

export function readBoolean(value: unknown, at: string, issues: FieldIssues): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'boolean' ? value : wrongType(issues, at, 'a boolean', value);
}

export function readNumber(value: unknown, at: string, issues: FieldIssues): number | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'number' && Number.isFinite(value) ? value : wrongType(issues, at, 'a number', value);
}

export interface IntegerRange {
  readonly min: number;
  readonly max: number;
}

/** proto `uint32` (ports, weights, wrappers). */
export const UINT32: IntegerRange = { min: 0, max: 4294967295 };
/** proto `int32` (counters and thresholds that istiod checks for negatives itself). */
export const INT32: IntegerRange = { min: -2147483648, max: 2147483647 };

export function readInteger(value: unknown, at: string, issues: FieldIssues, range: IntegerRange): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) return wrongType(issues, at, 'an integer', value);
  if (value < range.min || value > range.max) {
    issues.error(at, `must be an integer between ${range.min} and ${range.max}, not ${value}`);
    return undefined;
  }
  return value;
}

/** A list of strings; missing reads as empty. Items of the wrong type are reported and skipped. */
export function readStringList(value: unknown, at: string, issues: FieldIssues): string[] {
  const list = readList(value, at, issues);
  if (list === undefined) return [];
  const out: string[] = [];
  list.forEach((item, index) => {
    if (typeof item === 'string') out.push(item);
    else wrongType(issues, indexPath(at, index), 'a string', item);
  });
  return out;
}

/** A `map<string, string>`; missing reads as empty. */
export function readStringMap(value: unknown, at: string, issues: FieldIssues): Record<string, string> {
  const object = readObject(value, at, issues);
  const out: Record<string, string> = {};
  if (object === undefined) return out;
  for (const key in object) {
    const item = object[key];
    if (typeof item === 'string') out[key] = item;
    else wrongType(issues, keyPath(at, key), 'a string', item);
  }
  return out;
}

/** A `map<string, integer>` (WorkloadEntry ports); missing reads as `undefined`. */
export function readIntegerMap(
  value: unknown,
  at: string,
  issues: FieldIssues,
  range: IntegerRange,
): Record<string, number> | undefined {
  const object = readObject(value, at, issues);
  if (object === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const key in object) {
    const item = object[key];
    // The path is built only for a finding: this runs for every port of every WorkloadEntry.
    if (typeof item === 'number' && Number.isInteger(item) && item >= range.min && item <= range.max) {
      out[key] = item;
      continue;
    }
    const number = readInteger(item, keyPath(at, key), issues, range);
    if (number !== undefined) out[key] = number;
  }
  return out;
}

/**
 * A proto enum written by name. `unsupported` gives the message for an unknown name (istiod's wording
 * where it has one).
 */
export function readEnum<T extends string>(
  value: unknown,
  at: string,
  issues: FieldIssues,
  allowed: readonly T[],
  unsupported: (name: string) => string = (name) => `unsupported value ${JSON.stringify(name)}: must be one of ${allowed.join(', ')}`,
): T | undefined {
  const name = readString(value, at, issues);
  if (name === undefined) return undefined;
  if ((allowed as readonly string[]).includes(name)) return name as T;
  issues.error(at, unsupported(name));
  return undefined;
}

/** A proto duration: a Go duration string such as `10s`, `1m30s`, `8ms`; returns nanoseconds. */
export function readDuration(value: unknown, at: string, issues: FieldIssues): bigint | undefined {
  const text = readString(value, at, issues);
  if (text === undefined) return undefined;
  const nanos = parseGoDuration(text);
  if (nanos === undefined) issues.error(at, `invalid duration ${JSON.stringify(text)}: expected a duration such as "10s", "1m30s" or "250ms"`);
  return nanos;
}

/**
 * Reports fields Skiff does not know as warnings: Kubernetes prunes unknown fields of a structural CRD,
 * so they never reach istiod; keeping quiet about them would hide typos such as `endpoint:`.
 */
export function warnUnknownFields(object: JsonObject, known: readonly string[], at: string, issues: FieldIssues): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) issues.warning(keyPath(at, key), 'unknown field, ignored');
  }
}

/** Whether a field is set as protobuf decodes it: present, not null, and not an empty list (a nil slice). */
export function isSet(object: JsonObject, name: string): boolean {
  const value = object[name];
  return value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);
}

/** A proto `oneof`: at most one of `names` may be set. */
export function checkOneOf(object: JsonObject, names: readonly string[], at: string, issues: FieldIssues): void {
  const set = names.filter((name) => object[name] !== undefined && object[name] !== null);
  if (set.length > 1) issues.error(at, `only one of ${names.join(', ')} may be set, found ${set.join(' and ')}`);
}

const DURATION_UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const DURATION_PART = /^(\d*)(?:\.(\d*))?([a-zµμ]+)/;
const MAX_INT64 = (1n << 63n) - 1n;

/**
 * Go's `time.ParseDuration` (the decoder istiod's conversion uses for proto durations): optional sign,
 * then one or more `<decimal><unit>` parts. Returns nanoseconds, or `undefined` when Go would fail.
 */
export function parseGoDuration(text: string): bigint | undefined {
  let rest = text;
  let negative = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest.startsWith('-');
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n;
  if (rest === '') return undefined;
  let total = 0n;
  while (rest !== '') {
    const match = DURATION_PART.exec(rest);
    if (match === null) return undefined;
    const [whole, integer = '', fraction = '', unitName = ''] = match;
    if (integer === '' && fraction === '') return undefined;
    const unit = DURATION_UNITS[unitName];
    if (unit === undefined) return undefined;
    let nanos = BigInt(integer === '' ? '0' : integer) * unit;
    if (fraction !== '') {
      const scale = 10n ** BigInt(fraction.length);
      nanos += (BigInt(fraction) * unit) / scale;
    }
    total += nanos;
    if (total > MAX_INT64 + (negative ? 1n : 0n)) return undefined;
    rest = rest.slice(whole.length);
  }
  return negative ? -total : total;
}
