/**
 * Normalized entries <-> ServiceEntry hash fields. The watcher turns the desired state of one
 * ServiceEntry into fields and writes only the difference; a translator decodes a hash back into
 * checked normalized entries. JSON text is canonical (object keys sorted), so the same entry is always
 * the same text and "changed" means changed.
 */
import {
  checkNormalizedEndpoint,
  checkNormalizedServiceEntry,
  type NormalizedEndpoint,
  type NormalizedServiceEntry,
  type ObjectKey,
} from '@skiff/model';
import { ENDPOINT_FIELD_PREFIX, SERVICE_ENTRY_FIELD, StoreError, endpointField, type ServiceEntryDiff, type StoredServiceEntry } from './contract.js';

/**
 * JSON with object keys in sorted order at every level (arrays keep their order): the text
 * `JSON.stringify` gives once every object's keys are sorted, written directly rather than through a
 * replacer that copies each object into a sorted one (a third of a cold sync's CPU went there). Values
 * follow `JSON.stringify`'s rules: `toJSON` first, `undefined`, functions and symbols skipped in
 * objects and `null` in arrays, non-finite numbers `null`, bigints refused.
 */
export function canonicalJson(value: unknown): string {
  return writeCanonical(value, '') as string;
}

function writeCanonical(value: unknown, key: string): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(key: string): unknown }).toJSON(key);
  }
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      // undefined, functions and symbols have no JSON text; a bigint throws, as in JSON.stringify.
      return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) text += ',';
      text += writeCanonical(value[i], String(i)) ?? 'null';
    }
    return `${text}]`;
  }
  const record = value as Record<string, unknown>;
  let text = '{';
  for (const field of sortedKeys(record)) {
    const item = writeCanonical(record[field], field);
    if (item === undefined) continue;
    if (text.length > 1) text += ',';
    text += `${JSON.stringify(field)}:${item}`;
  }
  return `${text}}`;
}

/** Canonical numeric strings below 2^32 - 1: the keys JavaScript objects enumerate first, in numeric order. */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;
const isArrayIndex = (key: string): boolean => ARRAY_INDEX.test(key) && Number(key) < 4_294_967_295;

/**
 * The keys in the order the stored text has always had them: an object rebuilt with sorted keys, as
 * `JSON.stringify` then enumerates it, lists array-index keys first in numeric order
 * (https://tc39.es/ecma262/#sec-ordinaryownpropertykeys), then the others sorted. `Object.keys`
 * already returns the index keys first and in that order, so only the rest is sorted.
 */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  let indexKeys = 0;
  while (indexKeys < keys.length && isArrayIndex(keys[indexKeys] as string)) indexKeys++;
  if (indexKeys === 0) return keys.sort();
  return [...keys.slice(0, indexKeys), ...keys.slice(indexKeys).sort()];
}

/**
 * How normalized entries become hash fields: the text of an entry is its `canonicalJson`, the field of
 * an endpoint is `endpointField(endpoint.source)`. A caller that keeps the entries it encoded can pass
 * an encoding that remembers both (the watcher rebuilds a ServiceEntry's fields on every change of one
 * of its workloads, and most of them are the same objects as last time).
 */
export interface FieldEncoding {
  serviceEntry(serviceEntry: NormalizedServiceEntry): string;
  endpoint(endpoint: NormalizedEndpoint): { readonly field: string; readonly text: string };
}

/** Encodes every entry afresh. */
export const FRESH_FIELD_ENCODING: FieldEncoding = {
  serviceEntry: (serviceEntry) => canonicalJson(serviceEntry),
  endpoint: (endpoint) => ({ field: endpointField(endpoint.source), text: canonicalJson(endpoint) }),
};

/** The complete field set of one ServiceEntry hash: `se` plus one `ep:...` field per endpoint. */
export function serviceEntryFields(
  serviceEntry: NormalizedServiceEntry,
  endpoints: readonly NormalizedEndpoint[],
  encoding: FieldEncoding = FRESH_FIELD_ENCODING,
): Record<string, string> {
  const fields: Record<string, string> = { [SERVICE_ENTRY_FIELD]: encoding.serviceEntry(serviceEntry) };
  for (const endpoint of endpoints) {
    const { field, text } = encoding.endpoint(endpoint);
    if (Object.hasOwn(fields, field)) throw new StoreError('invalid-argument', `two endpoints map to field ${field}`);
    fields[field] = text;
  }
  return fields;
}

/** What turns `current` (null: no hash) into `desired`: the fields whose text differs, and those to drop. */
export function diffFields(current: Readonly<Record<string, string>> | null, desired: Readonly<Record<string, string>>): ServiceEntryDiff {
  if (!Object.hasOwn(desired, SERVICE_ENTRY_FIELD)) throw new StoreError('invalid-argument', `the desired fields have no ${SERVICE_ENTRY_FIELD} field`);
  // Object.keys, not Object.entries: no pair array per field (the watcher diffs on every change).
  const set: Record<string, string> = {};
  for (const field of Object.keys(desired)) {
    const value = desired[field] as string;
    if (current?.[field] !== value) set[field] = value;
  }
  const remove: string[] = [];
  if (current !== null) for (const field of Object.keys(current)) if (!Object.hasOwn(desired, field)) remove.push(field);
  return { set, delete: remove };
}

/** True when applying `diff` changes nothing. */
export function isEmptyDiff(diff: ServiceEntryDiff): boolean {
  return diff.delete.length === 0 && Object.keys(diff.set).length === 0;
}

export interface DecodedServiceEntry {
  readonly key: ObjectKey;
  readonly revision: number;
  readonly serviceEntry: NormalizedServiceEntry;
  /** In field order (sorted), so a build from the same hash is the same build. */
  readonly endpoints: readonly NormalizedEndpoint[];
}

/** Decodes and schema-checks a stored hash; throws `StoreError('corrupt')` naming the bad field. */
export function decodeServiceEntry(stored: StoredServiceEntry): DecodedServiceEntry {
  const id = `${stored.key.namespace}/${stored.key.name}`;
  const parse = (field: string): unknown => {
    try {
      return JSON.parse(stored.fields[field] ?? '');
    } catch (cause) {
      throw new StoreError('corrupt', `${id} field ${field} is not JSON`, { cause });
    }
  };
  if (!Object.hasOwn(stored.fields, SERVICE_ENTRY_FIELD)) throw new StoreError('corrupt', `${id} has no ${SERVICE_ENTRY_FIELD} field`);
  const checked = checkNormalizedServiceEntry(parse(SERVICE_ENTRY_FIELD));
  if (!checked.valid) throw new StoreError('corrupt', `${id} field ${SERVICE_ENTRY_FIELD}: ${checked.errors.join('; ')}`);
  const endpoints: NormalizedEndpoint[] = [];
  for (const field of Object.keys(stored.fields).sort()) {
    if (!field.startsWith(ENDPOINT_FIELD_PREFIX)) continue;
    const endpoint = checkNormalizedEndpoint(parse(field));
    if (!endpoint.valid) throw new StoreError('corrupt', `${id} field ${field}: ${endpoint.errors.join('; ')}`);
    endpoints.push(endpoint.value);
  }
  return { key: stored.key, revision: stored.revision, serviceEntry: checked.value, endpoints };
}
