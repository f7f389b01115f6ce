export {
  buildAltStatName,
  buildCluster,
  buildGrpcEdsCluster,
  buildHttpProtocolOptions,
  buildMetadataExchangeFilter,
  durationFromMs,
  HTTP_PROTOCOL_OPTIONS_KEY,
  isHttp2Protocol,
} from './cluster.js';
export type { ClusterArgs, ClusterDiscovery, ClusterRule, GrpcClusterPolicy } from './cluster.js';
export { buildDefaultCircuitBreakers } from './cluster-traffic-policy.js';
export { buildIstioMutualTransportSocket, selectUpstreamTls } from './cluster-tls.js';
export type { IstioMutualTlsArgs, UpstreamTlsArgs } from './cluster-tls.js';
export { destinationRuleConfigPath, mergeSubsetTrafficPolicy, portLevelTrafficPolicy } from './destination-rule.js';
export type { AppliedDestinationRule, LocalityLbSettingJson, ResolvedTrafficPolicy, TrafficPolicyJson, ZoneAwareLbSettingJson } from './destination-rule.js';
export {
  buildClusterLoadAssignment,
  buildEndpointAddress,
  buildLbEndpoint,
  buildLocalityLbEndpoints,
  buildWorkloadMetadata,
  convertLocality,
  edsInstances,
  fitLocalityWeights,
  grpcInstances,
  withAddress,
} from './endpoint.js';
export type { DroppedEndpointReporter, LocalityGroupingOptions } from './endpoint.js';
export { TRANSLATE_ERROR_MESSAGES, TranslateError } from './errors.js';
export type { TranslateErrorCode, TranslateErrorInit } from './errors.js';
export { buildServiceInstances, canonicalEndpoints, spiffeIdentity } from './instances.js';
export type { ServiceInstance, ServiceInstancesArgs } from './instances.js';
export { translateResultToJson } from './json.js';
export { buildGrpcListener, selectListenerAddress } from './listener.js';
export type { GrpcListenerArgs } from './listener.js';
export { DEFAULT_MESH_SETTINGS, isVisibleTo, serviceVisibility, supportsUnhealthyEndpoints, withMeshDefaults } from './mesh.js';
export { ISTIOD_FLAGS, meshSettingsFromEnvironment } from './istiod-flags.js';
export { MESH_CONFIG_FIELDS_READ, MeshConfigError, meshSettingsFromMeshConfig, meshSettingsFromMeshConfigYaml, type MeshConfigResult } from './mesh-config.js';
export type { IstiodFlag } from './istiod-flags.js';
export type { DnsLookupFamily, MeshSettings, ServiceVisibility } from './mesh.js';
export {
  buildDnsSrvSubsetKey,
  buildOutboundClusterName,
  buildSubsetKey,
  isDnsSrvSubsetKey,
  joinHostPort,
  parseSubsetKey,
} from './names.js';
export type { ClusterNaming, SubsetKey, TrafficDirection } from './names.js';
export { buildGrpcRouteConfiguration, kubernetesNamespaceOf } from './route.js';
export { buildVirtualServiceRoutes, untranslatedVirtualServiceFields } from './virtual-service.js';
export type { AppliedVirtualService, HttpRouteJson, VirtualServiceRouteArgs } from './virtual-service.js';
export type { GrpcRouteArgs } from './route.js';
export { translateServiceEntry } from './translate.js';
export type { Flavor, LocalityLbPolicyEntry, NamespaceRoute, SiblingInput, TranslateInput, TranslateOptions, TranslateResult } from './translate.js';
export { EndpointBytesCache, EndpointBytesScope, FIRST_BUILD_KEEPS_FROM } from './endpoint-bytes.js';
export { encodeNamespaceRoutes, encodeResource, encodeResources } from './version.js';
export type { EncodedResource } from './version.js';
export { translateConfig } from './translate-config.js';
export type { ConfigToTranslate, ConfigTranslation, DuplicateResource } from './translate-config.js';
export {
  chooseDestinationRule,
  chooseForLabels,
  DEFAULT_DESTINATION_RULE_LOOKUP_OPTIONS,
  DestinationRuleIndex,
  lookupDestinationRule,
} from './destination-rule-lookup.js';
export type { DestinationRuleClient, DestinationRuleLookupOptions, DestinationRuleTarget } from './destination-rule-lookup.js';
export {
  applyLocalityLbPolicy,
  applyLocalityLbPolicyToCluster,
  augmentLabels,
  decodeLocalityLbPolicy,
  effectiveLbSetting,
  encodeLocalityLbPolicy,
  INLINE_LOCALITY_LB_POLICY_TYPE_URL,
  LOCALITY_LB_POLICY_TYPE_URL,
  localityLbPolicyOf,
  localityMatch,
  localityProxyOf,
  localityToString,
  localityVariantKey,
  splitLocalityLabel,
} from './locality-lb.js';
export type { EffectiveLbSetting, LocalityLbPolicy, LocalityProxy, MeshLbSettings, ProxyLocality } from './locality-lb.js';
export { applyVirtualService, chooseVirtualServices, isBoundToMesh, visibleVirtualServices } from './virtual-service-lookup.js';
export type { VirtualServiceClient, VirtualServiceLookupOptions } from './virtual-service-lookup.js';
