/**
 * The one-call loader used by skiffctl, the translation golden tests and the watcher's file source:
 * text in; normalized ServiceEntries and endpoints, and a report of every object, out. An invalid object
 * is reported and skipped; it never stops the rest of the batch.
 */
import { objectLabel, type FieldError } from './field-error.js';
import { normalizeGateway, normalizeServiceEntry, normalizeSidecar, normalizeWorkloadEntry } from './normalize.js';
import {
  checkNormalizedEndpoint,
  checkNormalizedGateway,
  checkNormalizedServiceEntry,
  checkNormalizedSidecar,
  type NormalizedEndpoint,
  type NormalizedGateway,
  type NormalizedServiceEntry,
  type NormalizedSidecar,
} from './normalized.js';
import type { IstioConfigObject, SourceRef } from './objects.js';
import { parseIstioObjects, type ParseError, type ParseOptions, type ParseResult } from './parse.js';
import { validateObject, type ValidationOptions } from './validate.js';

export interface LoadOptions extends ParseOptions, ValidationOptions {}

export interface LoadedServiceEntry {
  readonly serviceEntry: NormalizedServiceEntry;
  readonly inlineEndpoints: NormalizedEndpoint[];
  readonly warnings: FieldError[];
  readonly source: SourceRef;
}

export interface LoadedWorkloadEntry {
  readonly endpoint: NormalizedEndpoint;
  readonly warnings: FieldError[];
  readonly source: SourceRef;
}

export interface LoadedSidecar {
  readonly sidecar: NormalizedSidecar;
  readonly warnings: FieldError[];
  readonly source: SourceRef;
}

export interface LoadedGateway {
  readonly gateway: NormalizedGateway;
  readonly warnings: FieldError[];
  readonly source: SourceRef;
}

export interface AcceptedObject {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly source: SourceRef;
  readonly warnings: FieldError[];
  /** The validated, typed object (DestinationRule subsets, WorkloadGroup templates, ...). */
  readonly object: IstioConfigObject;
}

export interface RejectedObject {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly source: SourceRef;
  readonly errors: FieldError[];
}

export interface IgnoredEntry {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly source: SourceRef;
}

export interface LoadResult {
  readonly serviceEntries: LoadedServiceEntry[];
  readonly workloadEntries: LoadedWorkloadEntry[];
  readonly sidecars: LoadedSidecar[];
  readonly gateways: LoadedGateway[];
  /** Every valid object, of any kind Skiff validates. */
  readonly accepted: AcceptedObject[];
  readonly rejected: RejectedObject[];
  /** Real Istio objects of kinds Skiff does not serve. */
  readonly ignored: IgnoredEntry[];
  /** Documents that are not usable objects at all. */
  readonly errors: ParseError[];
}

/**
 * The normalized schema is the contract with the translator; an entry that fails it is a Skiff bug, not
 * a user error, but it is still reported against the object instead of being stored.
 */
function schemaErrors(object: IstioConfigObject, problems: readonly string[]): FieldError[] {
  const label = objectLabel(object.kind, object.metadata.namespace, object.metadata.name);
  return problems.map((problem) => ({ object: label, field: '', reason: `normalized entry does not match its schema: ${problem}` }));
}

/** Validates and normalizes already-parsed objects (the watcher's Kubernetes source builds these). */
export function loadParsedObjects(parsed: ParseResult, options: LoadOptions = {}): LoadResult {
  const result: LoadResult = {
    serviceEntries: [],
    workloadEntries: [],
    sidecars: [],
    gateways: [],
    accepted: [],
    rejected: [],
    ignored: parsed.ignored.map(({ kind, namespace, name, source }) => ({ kind, namespace, name, source })),
    errors: [...parsed.errors],
  };
  for (const parsedObject of parsed.objects) {
    const { kind, source } = parsedObject;
    const { namespace, name } = parsedObject.metadata;
    const validation = validateObject(parsedObject, options);
    if (!validation.valid) {
      result.rejected.push({ kind, namespace, name, source, errors: validation.errors });
      continue;
    }
    const { object, warnings } = validation;
    if (object.kind === 'ServiceEntry') {
      const { serviceEntry, inlineEndpoints } = normalizeServiceEntry(object);
      const problems = [checkNormalizedServiceEntry(serviceEntry), ...inlineEndpoints.map((endpoint) => checkNormalizedEndpoint(endpoint))].flatMap(
        (check) => (check.valid ? [] : check.errors),
      );
      if (problems.length > 0) {
        result.rejected.push({ kind, namespace, name, source, errors: schemaErrors(object, problems) });
        continue;
      }
      result.serviceEntries.push({ serviceEntry, inlineEndpoints, warnings, source });
    } else if (object.kind === 'WorkloadEntry') {
      const endpoint = normalizeWorkloadEntry(object);
      const check = checkNormalizedEndpoint(endpoint);
      if (!check.valid) {
        result.rejected.push({ kind, namespace, name, source, errors: schemaErrors(object, check.errors) });
        continue;
      }
      result.workloadEntries.push({ endpoint, warnings, source });
    } else if (object.kind === 'Sidecar') {
      const sidecar = normalizeSidecar(object);
      const check = checkNormalizedSidecar(sidecar);
      if (!check.valid) {
        result.rejected.push({ kind, namespace, name, source, errors: schemaErrors(object, check.errors) });
        continue;
      }
      result.sidecars.push({ sidecar, warnings, source });
    } else if (object.kind === 'Gateway') {
      const gateway = normalizeGateway(object);
      const check = checkNormalizedGateway(gateway);
      if (!check.valid) {
        result.rejected.push({ kind, namespace, name, source, errors: schemaErrors(object, check.errors) });
        continue;
      }
      result.gateways.push({ gateway, warnings, source });
    }
    result.accepted.push({ kind, namespace, name, source, warnings, object });
  }
  return result;
}

/** Parses, validates and normalizes the Istio YAML or JSON `text` read from `file`. */
export function loadIstioConfig(text: string, file: string, options: LoadOptions = {}): LoadResult {
  return loadParsedObjects(parseIstioObjects(text, file, options), options);
}
