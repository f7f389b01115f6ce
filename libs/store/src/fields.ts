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
  checkNormalizedVirtualService,
  type NormalizedDestinationRule,
  type NormalizedEndpoint,
  type NormalizedServiceEntry,
  type NormalizedValidation,
  type NormalizedVirtualService,
  type ObjectKey,
} from '@skiff/model';
import {
  DESTINATION_RULE_FIELD_PREFIX,
  destinationRuleField,
  ENDPOINT_FIELD_PREFIX,
  SERVICE_ENTRY_FIELD,
  StoreError,
  VIRTUAL_SERVICE_FIELD_PREFIX,
  virtualServiceField,
  endpointField,
  parseSiblingField,
  siblingEndpointField,
  siblingField,
  type ServiceEntryDiff,
  type StoredServiceEntry,
} from './contract.js';
import { configure } from 'safe-stable-stringify';
import { canonicalEndpointJson } from './endpoint-json.js';

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
  virtualService(virtualService: NormalizedVirtualService): { readonly field: string; readonly text: string };
}

/** Encodes every entry afresh. */
export const FRESH_FIELD_ENCODING: FieldEncoding = {
  serviceEntry: (serviceEntry) => canonicalJson(serviceEntry),
  endpoint: (endpoint) => ({ field: endpointField(endpoint.source), text: canonicalEndpointJson(endpoint) }),
  destinationRule: (rule) => ({ field: destinationRuleField(rule), text: canonicalJson(rule) }),
  virtualService: (virtualService) => ({ field: virtualServiceField(virtualService), text: canonicalJson(virtualService) }),
};

/**
 * An empty record of hash fields. Field names are unique across the mesh (one per workload), and V8
 * gives an ordinary object a new hidden class for every new property name it is given: a cold sync
 * of 200,000 workloads made as many classes, costing time and collections. An object without a
 * prototype starts as a dictionary, which is what a record keyed by data is.
 */
export function fieldRecord(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}

/** Another ServiceEntry of the same namespace sharing a host, with its endpoints (`SIBLING_FIELD_PREFIX`). */
export interface SiblingEntry {
  readonly serviceEntry: NormalizedServiceEntry;
  readonly endpoints: readonly NormalizedEndpoint[];
}

/**
 * The complete field set of one ServiceEntry hash: `se`, one `ep:...` field per endpoint, one
 * `dr:...` field per DestinationRule whose host matches one of the ServiceEntry's hosts, and for each
 * sibling (`SIBLING_FIELD_PREFIX`) a `sib:<name>` field and one `sib:<name>:ep:...` per endpoint,
 * and one `vs:...` field per VirtualService one of whose hosts matches one of the ServiceEntry's.
 */
export function serviceEntryFields(
  serviceEntry: NormalizedServiceEntry,
  endpoints: readonly NormalizedEndpoint[],
  encoding: FieldEncoding = FRESH_FIELD_ENCODING,
  destinationRules: readonly NormalizedDestinationRule[] = [],
  siblings: readonly SiblingEntry[] = [],
  virtualServices: readonly NormalizedVirtualService[] = [],
): Record<string, string> {
  const fields = fieldRecord();
  fields[SERVICE_ENTRY_FIELD] = encoding.serviceEntry(serviceEntry);
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
  for (const sibling of siblings) {
    const { name, namespace } = sibling.serviceEntry;
    if (namespace !== serviceEntry.namespace || name === serviceEntry.name) {
      throw new StoreError('invalid-argument', `${namespace}/${name} is not a sibling of ${serviceEntry.namespace}/${serviceEntry.name}`);
    }
    const entryField = siblingField(name);
    if (Object.hasOwn(fields, entryField)) throw new StoreError('invalid-argument', `two siblings map to field ${entryField}`);
    fields[entryField] = encoding.serviceEntry(sibling.serviceEntry);
    for (const endpoint of sibling.endpoints) {
      const { field, text } = encoding.endpoint(endpoint);
      const ownField = siblingEndpointField(name, field);
      if (Object.hasOwn(fields, ownField)) throw new StoreError('invalid-argument', `two endpoints map to field ${ownField}`);
      fields[ownField] = text;
    }
  }
  for (const virtualService of virtualServices) {
    const { field, text } = encoding.virtualService(virtualService);
    if (Object.hasOwn(fields, field)) throw new StoreError('invalid-argument', `two VirtualServices map to field ${field}`);
    fields[field] = text;
  }
  return fields;
}

/** What turns `current` (null: no hash) into `desired`: the fields whose text differs, and those to drop. */
export function diffFields(current: Readonly<Record<string, string>> | null, desired: Readonly<Record<string, string>>): ServiceEntryDiff {
  if (!Object.hasOwn(desired, SERVICE_ENTRY_FIELD)) throw new StoreError('invalid-argument', `the desired fields have no ${SERVICE_ENTRY_FIELD} field`);
  // Object.keys, not Object.entries: no pair array per field (the watcher diffs on every change).
  const set = fieldRecord();
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
  /** The VirtualServices stored beside it, in field order (sorted). */
  readonly virtualServices: readonly NormalizedVirtualService[];
  /** Its siblings (`SIBLING_FIELD_PREFIX`) by name, each with its endpoints in field order. */
  readonly siblings: readonly SiblingEntry[];
}

/** A field's text and what it decoded to. */
interface DecodedField {
  readonly text: string;
  readonly value: unknown;
}

/**
 * The entries each ServiceEntry hash's fields decoded to at its latest decoding, with the text of
 * each: a field whose text has not changed decodes to the same object again, without parsing and
 * checking it. That saves the work (a rebuild re-reads every field of the hash, and most are
 * unchanged), and it hands the translator the same endpoint object for an unchanged workload, which
 * is what its kept service instances are found by (`EndpointBytesCache` in `@skiff/xds-translate`).
 * Decoded entries are never modified, so sharing them is safe. Holds the fields of the latest
 * decoding of each hash only.
 */
export class DecodedFieldCache {
  /** By ServiceEntry id; undefined: decoded once, nothing kept (`keepFromSecondDecoding`). */
  private readonly byServiceEntry = new Map<string, Map<string, DecodedField> | undefined>();

  /**
   * `keepFromSecondDecoding`: a hash's first decoding keeps nothing, its later ones do, as the
   * translator's `EndpointBytesCache` keeps nothing from a ServiceEntry's first build: a cold start
   * decodes every hash once, and most may never change.
   */
  constructor(private readonly options: { readonly keepFromSecondDecoding?: boolean } = {}) {}

  /** The fields the previous decoding of `id` kept, if any. */
  fieldsOf(id: string): ReadonlyMap<string, DecodedField> | undefined {
    return this.byServiceEntry.get(id);
  }

  /** Whether a decoding of `id` now keeps its fields. */
  keeps(id: string): boolean {
    return this.options.keepFromSecondDecoding !== true || this.byServiceEntry.has(id);
  }

  /** Replaces what is kept of `id` by its latest decoding's fields (undefined: it kept none). */
  keep(id: string, fields: Map<string, DecodedField> | undefined): void {
    this.byServiceEntry.set(id, fields);
  }

  /** Drops a ServiceEntry's fields (its hash was deleted). */
  forget(id: string): void {
    this.byServiceEntry.delete(id);
  }

  /** Fields held, over every ServiceEntry. */
  get size(): number {
    let size = 0;
    for (const fields of this.byServiceEntry.values()) size += fields?.size ?? 0;
    return size;
  }
}

/**
 * Decodes and schema-checks a stored hash; throws `StoreError('corrupt')` naming the bad field. With
 * `kept`, fields whose text is the one the hash's previous decoding read are that decoding's objects
 * (`DecodedFieldCache`); a hash that does not decode leaves `kept` as it was.
 */
export function decodeServiceEntry(stored: StoredServiceEntry, kept?: DecodedFieldCache): DecodedServiceEntry {
  const id = `${stored.key.namespace}/${stored.key.name}`;
  const previous = kept?.fieldsOf(id);
  const decoded = kept?.keeps(id) === true ? new Map<string, DecodedField>() : undefined;
  const decode = <T>(field: string, check: (value: unknown) => NormalizedValidation<T>): T => {
    const text = stored.fields[field] ?? '';
    const found = previous?.get(field);
    if (found !== undefined && found.text === text) {
      decoded?.set(field, found);
      return found.value as T;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new StoreError('corrupt', `${id} field ${field} is not JSON`, { cause });
    }
    const checked = check(parsed);
    if (!checked.valid) throw new StoreError('corrupt', `${id} field ${field}: ${checked.errors.join('; ')}`);
    decoded?.set(field, { text, value: checked.value });
    return checked.value;
  };
  if (!Object.hasOwn(stored.fields, SERVICE_ENTRY_FIELD)) throw new StoreError('corrupt', `${id} has no ${SERVICE_ENTRY_FIELD} field`);
  const serviceEntry = decode(SERVICE_ENTRY_FIELD, checkNormalizedServiceEntry);
  const endpoints: NormalizedEndpoint[] = [];
  const destinationRules: NormalizedDestinationRule[] = [];
  const virtualServices: NormalizedVirtualService[] = [];
  const siblings = new Map<string, { serviceEntry?: NormalizedServiceEntry; readonly endpoints: NormalizedEndpoint[] }>();
  const siblingNamed = (name: string) => {
    let sibling = siblings.get(name);
    if (sibling === undefined) {
      sibling = { endpoints: [] };
      siblings.set(name, sibling);
    }
    return sibling;
  };
  for (const field of Object.keys(stored.fields).sort()) {
    if (field.startsWith(ENDPOINT_FIELD_PREFIX)) endpoints.push(decode(field, checkNormalizedEndpoint));
    else if (field.startsWith(DESTINATION_RULE_FIELD_PREFIX)) destinationRules.push(decode(field, checkNormalizedDestinationRule));
    else if (field.startsWith(VIRTUAL_SERVICE_FIELD_PREFIX)) virtualServices.push(decode(field, checkNormalizedVirtualService));
    else {
      const sibling = parseSiblingField(field);
      if (sibling === undefined) continue;
      if (sibling.endpoint === undefined) siblingNamed(sibling.name).serviceEntry = decode(field, checkNormalizedServiceEntry);
      else siblingNamed(sibling.name).endpoints.push(decode(field, checkNormalizedEndpoint));
    }
  }
  const decodedSiblings: SiblingEntry[] = [];
  for (const [name, sibling] of siblings) {
    // The watcher writes a sibling's entry and endpoints in one change: endpoints alone are a damaged hash.
    if (sibling.serviceEntry === undefined) throw new StoreError('corrupt', `${id} has endpoints of sibling ${name} without its ${siblingField(name)} field`);
    decodedSiblings.push({ serviceEntry: sibling.serviceEntry, endpoints: sibling.endpoints });
  }
  kept?.keep(id, decoded);
  return { key: stored.key, revision: stored.revision, serviceEntry, endpoints, destinationRules, virtualServices, siblings: decodedSiblings };
}
