/**
 * `validateObject`: istiod's validating-webhook rules for the kinds Skiff reads, plus the structural
 * checks the CRD schema would have made first. Every error of an object is collected (istiod sometimes
 * stops at the first); warnings are kept apart, as the webhook returns them apart. Nothing here throws
 * on user data.
 */
import { FieldIssues, objectLabel, type FieldError } from './field-error.js';
import type { IstioConfigObject, ParsedObject } from './objects.js';
import { readObject } from './read-fields.js';
import { validateDestinationRule } from './validate-destination-rule.js';
import { readMetadata, validateMetadataAnnotations } from './validate-metadata.js';
import { readServiceEntrySpec, validateServiceEntrySpec, type ServiceEntryValidationOptions } from './validate-service-entry.js';
import { validateWorkloadEntry, validateWorkloadGroup } from './validate-workload.js';

export type { FieldError } from './field-error.js';
export { formatFieldError, objectLabel } from './field-error.js';
export { ENABLE_AUTOALLOCATE_IP_LABEL } from './validate-service-entry.js';

export type ValidationOptions = ServiceEntryValidationOptions;

export type ValidationResult =
  | { readonly valid: true; readonly object: IstioConfigObject; readonly warnings: FieldError[] }
  | { readonly valid: false; readonly errors: FieldError[]; readonly warnings: FieldError[] };

/** Validates a parsed object and, when it is valid, returns it typed. */
export function validateObject(parsed: ParsedObject, options: ValidationOptions = {}): ValidationResult {
  const issues = new FieldIssues(objectLabel(parsed.kind, parsed.metadata.namespace, parsed.metadata.name));
  const metadata = readMetadata(parsed.metadata, issues);
  validateMetadataAnnotations(metadata, issues);
  const base = { apiVersion: parsed.apiVersion, metadata, status: parsed.status, source: parsed.source };
  let object: IstioConfigObject;
  switch (parsed.kind) {
    case 'ServiceEntry': {
      // A missing spec reads as an empty one, which istiod rejects for its missing hosts.
      const spec = readServiceEntrySpec(readObject(parsed.spec, 'spec', issues) ?? {}, issues);
      validateServiceEntrySpec(spec, metadata, issues, options);
      object = { ...base, kind: 'ServiceEntry', spec };
      break;
    }
    case 'WorkloadEntry':
      object = { ...base, kind: 'WorkloadEntry', spec: validateWorkloadEntry(parsed.spec, issues) };
      break;
    case 'WorkloadGroup':
      object = { ...base, kind: 'WorkloadGroup', spec: validateWorkloadGroup(parsed.spec, issues) };
      break;
    case 'DestinationRule':
      object = { ...base, kind: 'DestinationRule', spec: validateDestinationRule(parsed.spec, metadata, issues) };
      break;
  }
  if (issues.errors.length > 0) return { valid: false, errors: issues.errors, warnings: issues.warnings };
  return { valid: true, object, warnings: issues.warnings };
}
