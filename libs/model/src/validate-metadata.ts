/**
 * Object metadata checks shared by every kind: what the API server enforces on names and labels, plus
 * istiod's own metadata rules (`validateMetadata` and `checkDryRunAnnotation` in
 * `pkg/config/validation/validation.go`).
 */
import type { FieldIssues } from './field-error.js';
import { goQuote, validateLabels } from './istio-rules.js';
import type { ObjectMeta, ParsedMetadata } from './objects.js';
import { keyPath, readInteger, readString, readStringMap } from './read-fields.js';

/** Annotation only AuthorizationPolicy may carry (`annotation.IoIstioDryRun`). */
const DRY_RUN_ANNOTATION = 'istio.io/dry-run';
/** Internal annotations istiod refuses from users (`pkg/config/constants/constants.go`). */
const ALWAYS_REJECT_ANNOTATION = 'internal.istio.io/webhook-always-reject';
const INTERNAL_PARENT_NAMESPACE_ANNOTATION = 'internal.istio.io/parent-namespace';
const INTERNAL_PARENT_NAMES_ANNOTATION = 'internal.istio.io/parents';

/** Kubernetes object names: a lowercase RFC 1123 subdomain of at most 253 characters. */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Kubernetes namespaces: a lowercase RFC 1123 label of at most 63 characters. */
const DNS1123_LOWERCASE_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** RFC 3339 date-time as the API server writes it (`2024-05-01T10:00:00Z`, fractions and offsets allowed). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function readMetadata(metadata: ParsedMetadata, issues: FieldIssues): ObjectMeta {
  const { name, namespace } = metadata;
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    issues.error('metadata.name', `invalid name ${JSON.stringify(name)}: must be a lowercase RFC 1123 subdomain of at most 253 characters`);
  }
  if (namespace.length > 63 || !DNS1123_LOWERCASE_LABEL.test(namespace)) {
    issues.error('metadata.namespace', `invalid namespace ${JSON.stringify(namespace)}: must be a lowercase RFC 1123 label of at most 63 characters`);
  }
  const labels = readStringMap(metadata['labels'], 'metadata.labels', issues);
  for (const { key, reason } of validateLabels(labels)) issues.error(keyPath('metadata.labels', key), reason);
  const annotations = readStringMap(metadata['annotations'], 'metadata.annotations', issues);

  const creationTimestamp = readString(metadata['creationTimestamp'], 'metadata.creationTimestamp', issues);
  if (creationTimestamp !== undefined && (!RFC3339.test(creationTimestamp) || Number.isNaN(Date.parse(creationTimestamp)))) {
    issues.error('metadata.creationTimestamp', `invalid timestamp ${JSON.stringify(creationTimestamp)}: expected RFC 3339, e.g. 2024-05-01T10:00:00Z`);
  }
  const resourceVersion = readString(metadata['resourceVersion'], 'metadata.resourceVersion', issues);
  const uid = readString(metadata['uid'], 'metadata.uid', issues);
  const generation = readInteger(metadata['generation'], 'metadata.generation', issues, { min: 0, max: Number.MAX_SAFE_INTEGER });
  const meta: { -readonly [K in keyof ObjectMeta]: ObjectMeta[K] } = { name, namespace, labels, annotations };
  if (creationTimestamp !== undefined) meta.creationTimestamp = creationTimestamp;
  if (resourceVersion !== undefined) meta.resourceVersion = resourceVersion;
  if (uid !== undefined) meta.uid = uid;
  if (generation !== undefined) meta.generation = generation;
  return meta;
}

/** istiod's annotation rules, applied to every kind before its spec is checked. */
export function validateMetadataAnnotations(metadata: ObjectMeta, issues: FieldIssues): void {
  const { annotations } = metadata;
  if (annotations[DRY_RUN_ANNOTATION] !== undefined) {
    issues.error(
      keyPath('metadata.annotations', DRY_RUN_ANNOTATION),
      `${metadata.namespace}/${metadata.name} has unsupported annotation ${DRY_RUN_ANNOTATION}, please remove the annotation`,
    );
  }
  if (annotations[ALWAYS_REJECT_ANNOTATION] !== undefined) {
    issues.error(keyPath('metadata.annotations', ALWAYS_REJECT_ANNOTATION), `${goQuote(ALWAYS_REJECT_ANNOTATION)} annotation found, rejecting`);
  }
  for (const internal of [INTERNAL_PARENT_NAMESPACE_ANNOTATION, INTERNAL_PARENT_NAMES_ANNOTATION]) {
    if (annotations[internal] !== undefined) {
      issues.error(keyPath('metadata.annotations', internal), `${goQuote(internal)} annotation found, this may not be set by users`);
    }
  }
}
