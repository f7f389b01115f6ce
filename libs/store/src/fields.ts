/**
 * Normalized entries <-> ServiceEntry hash fields. The watcher turns the desired state of one
 * ServiceEntry into fields and writes only the difference; a translator decodes a hash back into
 * checked normalized entries. JSON text is canonical (object keys sorted), so the same entry is always
 * the same text and "changed" means changed.
 */
import {
  checkNormalizedDestinationRule,
  checkNormalizedEndpoint,
  checkNormalizedServiceEntry,
  type NormalizedDestinationRule,
  type NormalizedEndpoint,
  type NormalizedServiceEntry,
  type ObjectKey,
} from '@skiff/model';
import {
  DESTINATION_RULE_FIELD_PREFIX,
  destinationRuleField,
  ENDPOINT_FIELD_PREFIX,
  SERVICE_ENTRY_FIELD,
  StoreError,
  endpointField,
  type ServiceEntryDiff,
  type StoredServiceEntry,
} from './contract.js';
import { configure } from 'safe-stable-stringify';

/**
 * `safe-stable-stringify` writes object keys sorted as it goes, where a `JSON.stringify` replacer had to
 * build a sorted copy of every object first: the watcher encodes every endpoint of the mesh on a cold
 * sync, and the copies cost time and garbage collections.
 */
const stableStringify = configure({ deterministic: true, circularValue: TypeError });

/** JSON with object keys in sorted order at every level (arrays keep their order), as `JSON.stringify` writes the rest. */
export function canonicalJson(value: unknown): string {
  const text = stableStringify(value);
  if (text === undefined) throw new StoreError('invalid-argument', 'not a JSON value');
  return text;
}

/**
 * How normalized entries become hash fields: the text of an entry is its `canonicalJson`, the field of
 * an endpoint is `endpointField(endpoint.source)`, of a DestinationRule `destinationRuleField`. A caller that keeps the entries it encoded can pass
 * an encoding that remembers both (the watcher rebuilds a ServiceEntry's fields on every change of one
 * of its workloads, and most of them are the same objects as last time).
 */
export interface FieldEncoding {
  serviceEntry(serviceEntry: NormalizedServiceEntry): string;
  endpoint(endpoint: NormalizedEndpoint): { readonly field: string; readonly text: string };
  destinationRule(rule: NormalizedDestinationRule): { readonly field: string; readonly text: string };
}

/** Encodes every entry afresh. */
export const FRESH_FIELD_ENCODING: FieldEncoding = {
  serviceEntry: (serviceEntry) => canonicalJson(serviceEntry),
  endpoint: (endpoint) => ({ field: endpointField(endpoint.source), text: canonicalJson(endpoint) }),
  destinationRule: (rule) => ({ field: destinationRuleField(rule), text: canonicalJson(rule) }),
};

/**
 * The complete field set of one ServiceEntry hash: `se`, one `ep:...` field per endpoint and one
 * `dr:...` field per DestinationRule whose host matches one of the ServiceEntry's hosts.
 */
export function serviceEntryFields(
  serviceEntry: NormalizedServiceEntry,
  endpoints: readonly NormalizedEndpoint[],
  encoding: FieldEncoding = FRESH_FIELD_ENCODING,
  destinationRules: readonly NormalizedDestinationRule[] = [],
): Record<string, string> {
  const fields: Record<string, string> = { [SERVICE_ENTRY_FIELD]: encoding.serviceEntry(serviceEntry) };
  for (const endpoint of endpoints) {
    const { field, text } = encoding.endpoint(endpoint);
    if (Object.hasOwn(fields, field)) throw new StoreError('invalid-argument', `two endpoints map to field ${field}`);
    fields[field] = text;
  }
  for (const rule of destinationRules) {
    const { field, text } = encoding.destinationRule(rule);
    if (Object.hasOwn(fields, field)) throw new StoreError('invalid-argument', `two DestinationRules map to field ${field}`);
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
  /** The DestinationRules stored beside it, in field order (sorted). */
  readonly destinationRules: readonly NormalizedDestinationRule[];
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
  const destinationRules: NormalizedDestinationRule[] = [];
  for (const field of Object.keys(stored.fields).sort()) {
    if (field.startsWith(ENDPOINT_FIELD_PREFIX)) {
      const endpoint = checkNormalizedEndpoint(parse(field));
      if (!endpoint.valid) throw new StoreError('corrupt', `${id} field ${field}: ${endpoint.errors.join('; ')}`);
      endpoints.push(endpoint.value);
    } else if (field.startsWith(DESTINATION_RULE_FIELD_PREFIX)) {
      const rule = checkNormalizedDestinationRule(parse(field));
      if (!rule.valid) throw new StoreError('corrupt', `${id} field ${field}: ${rule.errors.join('; ')}`);
      destinationRules.push(rule.value);
    }
  }
  return { key: stored.key, revision: stored.revision, serviceEntry: checked.value, endpoints, destinationRules };
}
