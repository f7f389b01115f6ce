/**
 * Test helpers: build parsed objects from plain JSON and run validation on them. Kept out of the
 * package build (see tsconfig `exclude`).
 */
import type { ParsedObject, SkiffKind } from '../objects.js';
import { readIstioObject } from '../parse.js';
import { validateObject, type ValidationOptions, type ValidationResult } from '../validate.js';

export const TEST_SOURCE = { file: 'test.yaml', document: 1, line: 1 } as const;

/** A parsed object of `kind` in namespace `default` named `test` unless `metadata` says otherwise. */
export function parsedObject(kind: SkiffKind, spec: unknown, metadata: Record<string, unknown> = {}, status?: unknown): ParsedObject {
  const read = readIstioObject(
    { apiVersion: 'networking.istio.io/v1', kind, metadata: { name: 'test', ...metadata }, spec, ...(status === undefined ? {} : { status }) },
    TEST_SOURCE,
  );
  if (read.type !== 'object') throw new Error(`test object did not parse: ${JSON.stringify(read)}`);
  return read.object;
}

export function validate(kind: SkiffKind, spec: unknown, metadata: Record<string, unknown> = {}, options: ValidationOptions = {}): ValidationResult {
  return validateObject(parsedObject(kind, spec, metadata), options);
}

/** `[field, reason]` pairs, the compact form rule tests compare. */
export interface Findings {
  readonly errors: [string, string][];
  readonly warnings: [string, string][];
}

export function findings(kind: SkiffKind, spec: unknown, metadata: Record<string, unknown> = {}, options: ValidationOptions = {}): Findings {
  const result = validate(kind, spec, metadata, options);
  return {
    errors: result.valid ? [] : result.errors.map((e) => [e.field, e.reason]),
    warnings: result.warnings.map((w) => [w.field, w.reason]),
  };
}
