/**
 * `@skiff/xds-cache`: the gateway's resource cache. `GatewayCache` is the ADS server's
 * `ResourceProvider`: resources in memory, filled from the store and kept fresh by invalidations,
 * each version's `Any` encoded once, and per-proxy views that apply exportTo and duplicate-host rules.
 */
export { CachedResource } from './cached-resource.js';
export {
  GatewayCache,
  type CacheStore,
  type GatewayCacheOptions,
  type GatewayCacheStatus,
  type ReconcileReason,
  type ReconcileReport,
  type VariantsOnRequest,
} from './gateway-cache.js';
export { LocalityVariants, LocalityView } from './locality-variants.js';
export { DEFAULT_PROXY_NAMESPACE, labelsOf, namespaceFromNodeId, proxyProfileOf, SNI_DNAT_VARIANT, variantOf, type GatewayProxyProfile } from './profile.js';
export { exportTier, hostPortOfName, ResourceTable, selectWinner, type CachedOwner, type ChangedName, type WinnerSelector } from './resource-table.js';
export { DEFAULT_ROOT_NAMESPACE, hostSubsetOf, SidecarIndex, SidecarScope, SidecarViews, type ScopeTarget } from './sidecar-scope.js';
export { AutoPassthroughIndex, type AutoPassthroughOptions, type RouterTarget } from './auto-passthrough.js';
