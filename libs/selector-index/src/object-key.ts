import type { ObjectKey } from '@skiff/model';

/** `namespace/name`: unambiguous because Kubernetes namespaces and object names cannot contain `/`. */
export function objectKeyId(key: ObjectKey): string {
  return `${key.namespace}/${key.name}`;
}

/**
 * Orders keys by namespace, then name, comparing UTF-16 code units (not the locale), so the order is
 * the same on every machine (istiod sorts selected workloads by namespace and name before building
 * instances: `pilot/pkg/serviceregistry/serviceentry/conversion.go`).
 */
export function compareObjectKeys(a: ObjectKey, b: ObjectKey): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return 0;
}
