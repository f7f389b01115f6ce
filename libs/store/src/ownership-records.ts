/** Ownership records (a ServiceEntry's visibility and the resources it owns): how a replace is prepared and how a stored record is read back, the same for both stores. */
import type { ObjectKey } from '@skiff/model';
import {
  checkObjectKey,
  checkResourceId,
  MAX_SCOPE_SELECTORS,
  resourceKey,
  StoreError,
  type OwnershipRecord,
  type PolicyScopes,
  type ReplaceResources,
  type ResourceRef,
  type Visibility,
} from './contract.js';
import { checkRevision } from './checks.js';

/**
 * The visibility part in a fixed field order, so equal visibility is equal text. Policy scopes are part
 * of it (a change of scopes changes which resources a proxy gets); without them the text is what it was
 * before they existed.
 */
export function visibilityJson(visibility: Visibility): string {
  const { namespace, name, exportTo, creationTime, hosts, ports, resolution, mergeKey, policyScopes } = visibility;
  // Ports and the merge key decide which owner of a host a proxy gets (`resource-table.ts` in @skiff/xds-cache).
  return JSON.stringify({
    namespace,
    name,
    exportTo,
    creationTime,
    hosts,
    ...(policyScopes === undefined ? {} : { policyScopes }),
    ...(ports === undefined ? {} : { portNumbers: ports.map((port) => port.number) }),
    ...(resolution === undefined ? {} : { resolution }),
    ...(mergeKey === undefined ? {} : { mergeKey }),
  });
}

export function compareResourceKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A validated replace, ready for either implementation. */
export interface PreparedReplace {
  readonly owner: ObjectKey;
  readonly visibilityJson: string;
  readonly record: OwnershipRecord;
  readonly recordJson: string;
  /** Sorted by key. */
  readonly resources: readonly { readonly key: string; readonly ref: ResourceRef; readonly bytes: Uint8Array }[];
}

export function prepareReplace(input: ReplaceResources): PreparedReplace {
  const owner = { namespace: input.visibility.namespace, name: input.visibility.name };
  checkObjectKey(owner);
  checkRevision(input.revision);
  const seen = new Set<string>();
  const resources = input.resources
    .map((resource) => {
      checkResourceId(resource);
      if (resource.version === '') throw new StoreError('invalid-argument', `resource ${resourceKey(resource)} has no version`);
      const key = resourceKey(resource);
      if (seen.has(key)) throw new StoreError('invalid-argument', `resource ${key} is listed twice`);
      seen.add(key);
      const ref: ResourceRef = { typeUrl: resource.typeUrl, name: resource.name, variant: resource.variant, version: resource.version };
      return { key, ref, bytes: resource.bytes };
    })
    .sort((a, b) => compareResourceKeys(a.key, b.key));
  const { namespace, name, exportTo, creationTime, hosts, ports, resolution, mergeKey, policyScopes } = input.visibility;
  if (policyScopes !== undefined && !isPolicyScopes(policyScopes)) throw new StoreError('invalid-argument', `invalid policy scopes for ${owner.namespace}/${owner.name}`);
  const record: OwnershipRecord = {
    namespace,
    name,
    exportTo: [...exportTo],
    creationTime,
    hosts: [...hosts],
    ...(ports === undefined ? {} : { ports: ports.map((port) => ({ name: port.name, number: port.number, protocol: port.protocol })) }),
    ...(resolution === undefined ? {} : { resolution }),
    ...(mergeKey === undefined ? {} : { mergeKey }),
    ...(policyScopes === undefined ? {} : { policyScopes: structuredClone(policyScopes) }),
    revision: input.revision,
    resources: resources.map((r) => r.ref),
  };
  return { owner, visibilityJson: visibilityJson(input.visibility), record, recordJson: JSON.stringify(record), resources };
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

export function isResourceRef(value: unknown): value is ResourceRef {
  if (typeof value !== 'object' || value === null) return false;
  const ref = value as Record<string, unknown>;
  return typeof ref['typeUrl'] === 'string' && typeof ref['name'] === 'string' && typeof ref['variant'] === 'string' && typeof ref['version'] === 'string';
}

function isServicePort(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const port = value as Record<string, unknown>;
  return typeof port['name'] === 'string' && typeof port['number'] === 'number' && typeof port['protocol'] === 'string';
}

const isStringMap = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((item) => typeof item === 'string');

function isScopeChoice(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const choice = value as Record<string, unknown>;
  const selectors = choice['selectors'];
  const scopes = choice['scopes'];
  return (
    Array.isArray(selectors) &&
    selectors.length <= MAX_SCOPE_SELECTORS &&
    selectors.every(isStringMap) &&
    isStringArray(scopes) &&
    scopes.length === 2 ** selectors.length &&
    scopes.every((scope) => !/[\s.]/.test(scope))
  );
}

/** A well-formed `PolicyScopes`: every choice has one scope per selector class, and scopes fit in a variant tag. */
export function isPolicyScopes(value: unknown): value is PolicyScopes {
  if (typeof value !== 'object' || value === null) return false;
  const scopes = value as Record<string, unknown>;
  const namespaces = scopes['namespaces'];
  return (
    isScopeChoice(scopes['otherNamespaces']) &&
    typeof namespaces === 'object' &&
    namespaces !== null &&
    !Array.isArray(namespaces) &&
    Object.values(namespaces).every(isScopeChoice)
  );
}

/** Parses a stored ownership record; throws `StoreError('corrupt')` if it is not one. */
export function parseOwnershipRecord(json: string): OwnershipRecord {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (cause) {
    throw new StoreError('corrupt', 'ownership record is not JSON', { cause });
  }
  const record = value as Record<string, unknown> | null;
  if (
    typeof record !== 'object' ||
    record === null ||
    typeof record['namespace'] !== 'string' ||
    typeof record['name'] !== 'string' ||
    !isStringArray(record['exportTo']) ||
    typeof record['creationTime'] !== 'number' ||
    !isStringArray(record['hosts']) ||
    (record['ports'] !== undefined && !(Array.isArray(record['ports']) && record['ports'].every(isServicePort))) ||
    (record['resolution'] !== undefined && typeof record['resolution'] !== 'string') ||
    (record['mergeKey'] !== undefined && typeof record['mergeKey'] !== 'string') ||
    (record['policyScopes'] !== undefined && !isPolicyScopes(record['policyScopes'])) ||
    typeof record['revision'] !== 'number' ||
    !Array.isArray(record['resources']) ||
    !record['resources'].every(isResourceRef)
  ) {
    throw new StoreError('corrupt', `not an ownership record: ${json.slice(0, 200)}`);
  }
  return record as unknown as OwnershipRecord;
}

export function compareObjectKeys(a: ObjectKey, b: ObjectKey): number {
  return compareResourceKeys(a.namespace, b.namespace) || compareResourceKeys(a.name, b.name);
}

