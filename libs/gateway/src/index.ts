export { buildConfigDump, DUMP_TYPE_URLS, parseDumpTypes, subscribedResources, type DumpType } from './config-dump.js';
export { PROXY_ID_REQUIRED, PROXY_NOT_CONNECTED, registerGatewayDebug, type GatewayDebugOptions } from './debug.js';
export { DEBUG_CONFIG_DUMP_TYPE, DEBUG_SYNCZ_TYPE, DEBUG_TYPE, Gateway, type FleetReplicaReport, type GatewayOptions, type GatewaySecrets } from './gateway.js';
export {
  AUTHORIZATION_ALLOWED_TTL_MS,
  AUTHORIZATION_DENIED_TTL_MS,
  SecretServingProvider,
  type SecretAccessReviewer,
  type SecretServingOptions,
  type SecretSource,
} from './secret-provider.js';
export {
  buildCaSecret,
  buildTlsCertificateSecret,
  certificateProblem,
  CROSS_NAMESPACE_REFUSAL,
  extractCertInfo,
  extractRoot,
  parseSecretResourceName,
  relatedSecretResourceNames,
  SDS_CA_SUFFIX,
  secretAccess,
  type CertInfo,
  type KubernetesSecret,
  type SecretAccess,
  type SecretReference,
  type SecretResourceType,
} from './sds.js';
export { createKubernetesSecrets } from './sds-kubernetes.js';
export { grpcCodeName, istioXdsCallbacks, MAX_VERSION_LABELS, metricTypeOf } from './istio-metrics.js';
export { clientConfigOf, DEBUG_TYPE_PREFIX, isDebugClient, proxySyncStatus, type ProxySyncStatus, type TypeSyncState } from './sync-status.js';
export {
  DEFAULT_DEBUG_AUTH_POLICY,
  DEFAULT_SYSTEM_NAMESPACE,
  DebugAuthorizer,
  debugCallerOf,
  NAMESPACE_DEBUG_ENDPOINTS,
  type DebugAuthPolicy,
  type DebugCaller,
  type DebugDecision,
  type DebugScope,
} from './debug-auth.js';
export { GATEWAY_SECURITY_OPTIONS, gatewaySecurityFromCommandLine, type GatewaySecuritySettings, type GatewaySecurityValues, type SdsSecretsSettings, type TokenReviewSettings } from './command-line.js';
export { createTokenAuthenticator } from './token-review.js';
export type { BearerTokenAuthenticator } from '@skiff/ads-server';
