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

/** JSON with object keys in sorted order at every level (arrays keep their order). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(item).sort()) sorted[key] = (item as Record<string, unknown>)[key];
    return sorted;
  });
}

/** The complete field set of one ServiceEntry hash: `se` plus one `ep:...` field per endpoint. */
export function serviceEntryFields(serviceEntry: NormalizedServiceEntry, endpoints: readonly NormalizedEndpoint[]): Record<string, string> {
  const fields: Record<string, string> = { [SERVICE_ENTRY_FIELD]: canonicalJson(serviceEntry) };
  for (const endpoint of endpoints) {
    const field = endpointField(endpoint.source);
    if (Object.hasOwn(fields, field)) throw new StoreError('invalid-argument', `two endpoints map to field ${field}`);
    fields[field] = canonicalJson(endpoint);
  }
  return fields;
}

/** What turns `current` (null: no hash) into `desired`: the fields whose text differs, and those to drop. */
export function diffFields(current: Readonly<Record<string, string>> | null, desired: Readonly<Record<string, string>>): ServiceEntryDiff {
  if (!Object.hasOwn(desired, SERVICE_ENTRY_FIELD)) throw new StoreError('invalid-argument', `the desired fields have no ${SERVICE_ENTRY_FIELD} field`);
  const set: Record<string, string> = {};
  for (const [field, value] of Object.entries(desired)) if (current?.[field] !== value) set[field] = value;
  const remove = current === null ? [] : Object.keys(current).filter((field) => !Object.hasOwn(desired, field));
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
