export * from './normalized.js';
export * from './net.js';
export * from './selection.js';
export * from './hosts.js';
export type * from './objects.js';
export { classifyKind, NETWORKING_GROUP, SKIFF_KINDS, SUPPORTED_VERSIONS, type KindClass } from './kinds.js';
export {
  DEFAULT_NAMESPACE,
  formatParseError,
  formatSourceRef,
  parseIstioObjects,
  readIstioObject,
  type IgnoredObject,
  type ParseError,
  type ParseOptions,
  type ParseResult,
  type ReadObjectResult,
} from './parse.js';
export {
  ENABLE_AUTOALLOCATE_IP_LABEL,
  formatFieldError,
  objectLabel,
  validateObject,
  type FieldError,
  type ValidationOptions,
  type ValidationResult,
} from './validate.js';
export { isHttpProtocol, isTcpProtocol, isTlsProtocol, parseProtocol, type KnownProtocol } from './protocol.js';
export {
  AUTO_REGISTRATION_GROUP_ANNOTATION,
  creationTimeMillis,
  HEALTH_CHECKS_ENABLED_ANNOTATION,
  isWorkloadEntryHealthy,
  LEGACY_LOCALITY_LABEL,
  localityOf,
  normalizeDestinationRule,
  normalizeGateway,
  normalizeServiceEntry,
  normalizeSidecar,
  normalizeVirtualService,
  normalizeWorkloadEntry,
  sanitizeLocalityLabel,
  TLS_MODE_LABEL,
  tlsModeOf,
  TOPOLOGY_LOCALITY_LABEL,
  WORKLOAD_NAME_LABEL,
  type NormalizedServiceEntryResult,
} from './normalize.js';
export {
  loadIstioConfig,
  loadParsedObjects,
  type AcceptedObject,
  type IgnoredEntry,
  type LoadedGateway,
  type LoadedServiceEntry,
  type LoadedSidecar,
  type LoadedWorkloadEntry,
  type LoadOptions,
  type LoadResult,
  type RejectedObject,
} from './load.js';
export { normalizedJsonSchemas, renderJsonSchema, type JsonSchemaDocument } from './json-schemas.js';
export { parseGoDuration } from './read-fields.js';
export { validateSidecarEgressHost } from './validate-sidecar.js';
export { GATEWAY_TLS_MODES, validateGatewayServerHost } from './validate-gateway.js';
export { GRPC_STATUS_CODES, HTTP_STATUS_CODES, isAuthorityHeader, isInternalHeader, isJwtClaimHeader, MESH_GATEWAY } from './validate-virtual-service.js';
