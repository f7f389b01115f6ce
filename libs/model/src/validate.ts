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
import { validateGateway } from './validate-gateway.js';
import { readMetadata, validateMetadataAnnotations } from './validate-metadata.js';
import { readServiceEntrySpec, validateServiceEntrySpec, type ServiceEntryValidationOptions } from './validate-service-entry.js';
import { validateSidecar } from './validate-sidecar.js';
import { validateVirtualService } from './validate-virtual-service.js';
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
  const { apiVersion, status, source } = parsed;
  let object: IstioConfigObject;
  switch (parsed.kind) {
    case 'ServiceEntry': {
      // A missing spec reads as an empty one, which istiod rejects for its missing hosts.
      const spec = readServiceEntrySpec(readObject(parsed.spec, 'spec', issues) ?? {}, issues);
      validateServiceEntrySpec(spec, metadata, issues, options);
      object = { apiVersion, kind: 'ServiceEntry', metadata, spec, status, source };
      break;
    }
    case 'WorkloadEntry':
      object = { apiVersion, kind: 'WorkloadEntry', metadata, spec: validateWorkloadEntry(parsed.spec, issues), status, source };
      break;
    case 'WorkloadGroup':
      object = { apiVersion, kind: 'WorkloadGroup', metadata, spec: validateWorkloadGroup(parsed.spec, issues), status, source };
      break;
    case 'DestinationRule':
      object = { apiVersion, kind: 'DestinationRule', metadata, spec: validateDestinationRule(parsed.spec, metadata, issues), status, source };
      break;
    case 'Sidecar':
      object = { apiVersion, kind: 'Sidecar', metadata, spec: validateSidecar(parsed.spec, metadata, issues), status, source };
      break;
    case 'Gateway':
      object = { apiVersion, kind: 'Gateway', metadata, spec: validateGateway(parsed.spec, metadata, issues), status, source };
      break;
    case 'VirtualService':
      object = { apiVersion, kind: 'VirtualService', metadata, spec: validateVirtualService(parsed.spec, metadata, issues), status, source };
      break;
  }
  if (issues.errors.length > 0) return { valid: false, errors: issues.errors, warnings: issues.warnings };
  return { valid: true, object, warnings: issues.warnings };
}
