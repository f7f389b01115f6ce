export type { ProxyCaller, ProxyNode, ProxyProfile, ProxyResourceView, ResourceChange, ResourceProvider, ServedResource } from './provider.js';
export { AdsServer, adsServiceDefinition, isLoopbackPeer, type AdsServerOptions, type AdsServerTls, type AdsServerTlsBytes, type AdsServerTlsFiles } from './grpc-server.js';
export { bearerTokenOf, clusterIdOf, type BearerTokenAuthenticator } from './authenticate.js';
export { checkConnectionIdentity, formatSpiffeIdentity, parseSpiffeIdentity, uriSansOf, type SpiffeIdentity } from './identity.js';
export { ADS_REFUSAL_REASONS, AdsRefusalError, DEFAULT_ADS_LIMITS, TokenBucket, truncateUtf8, type AdsLimits, type AdsRefusalReason } from './limits.js';
export { SessionRegistry } from './registry.js';
export {
  AdsSession,
  GrpcStatus,
  type AdsSessionOptions,
  type ResponseSink,
  type SessionHost,
  type SessionSettings,
} from './session.js';
export {
  syncStatusOf,
  type AdsAckEvent,
  type AdsCallbacks,
  type AdsMode,
  type AdsNackEvent,
  type AdsRefusalEvent,
  type AdsRequestEvent,
  type AdsRequestKind,
  type AdsResponseEvent,
  type AdsSessionInfo,
  type AdsSessionStatus,
  type AdsTypeStatus,
  type NackRecord,
  type SyncStatus,
  type TypeHandler,
  type TypeHandlerRequest,
} from './events.js';
export { systemClock, type Clock } from './clock.js';
export {
  EMPTY_PROXY_NODE,
  ISTIO_NODE_TYPES,
  istioProxyProfile,
  parseIstioNodeId,
  proxyNodeFromProto,
  type IstioNodeId,
  type IstioNodeType,
} from './node.js';
export { allowsLegacyWildcard, PUSH_ORDER, requiresFullStateInSotw, shortTypeName, WILDCARD } from './resource-types.js';
export { servedResource } from './served-resource.js';
export { releaseDecodedChunks } from './stream-decoder-release.js';
export { StaticResourceProvider, type StaticResource, type StaticResourceProviderOptions } from './static-provider.js';
export { Subscription, type SubscriptionChange } from './subscription.js';
export { SubscriptionIndex } from './subscription-index.js';
export {
  DeltaResponse,
  encodeAny,
  encodeDeltaDiscoveryResponse,
  encodeDiscoveryResponse,
  encodeResponse,
  SotwResponse,
  type DeltaResourceParts,
  type DeltaResponseParts,
  type OutgoingResponse,
  type SotwResponseParts,
} from './wire.js';
