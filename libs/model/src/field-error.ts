/**
 * Validation findings. Each names the object (`ServiceEntry ns/name`), the field as a path in the
 * object's JSON names (`spec.ports[1].number`) and the reason: istiod's webhook message where istiod has
 * a rule (`pkg/config/validation/validation.go`), otherwise a structural message of Skiff's own.
 */

export interface FieldError {
  /** `Kind namespace/name`. */
  readonly object: string;
  /** Path in JSON names, e.g. `spec.hosts[0]`; empty when the finding is about the whole object. */
  readonly field: string;
  readonly reason: string;
}

/** `ServiceEntry ns/name: spec.hosts[0]: invalid host *` (the field is left out when empty). */
export function formatFieldError(error: FieldError): string {
  return error.field === '' ? `${error.object}: ${error.reason}` : `${error.object}: ${error.field}: ${error.reason}`;
}

/** The `Kind namespace/name` label used in every finding. */
export function objectLabel(kind: string, namespace: string, name: string): string {
  // Objects without a namespace (a file in analyze's output) read `File examples/a.yaml`, not `File /examples/a.yaml`.
  return namespace === '' ? `${kind} ${name}` : `${kind} ${namespace}/${name}`;
}

/** Collects the errors and warnings of one object; validation never stops at the first. */
export class FieldIssues {
  readonly errors: FieldError[] = [];
  readonly warnings: FieldError[] = [];

  constructor(readonly object: string) {}

  error(field: string, reason: string): void {
    this.errors.push({ object: this.object, field, reason });
  }

  warning(field: string, reason: string): void {
    this.warnings.push({ object: this.object, field, reason });
  }
}
