export {
  connectAds,
  DEFAULT_RESPONSE_TIMEOUT_MS,
  DEFAULT_TEST_NODE,
  DeltaAdsStream,
  ProtocolViolation,
  resourceNameOf,
  SotwAdsStream,
  type ConnectAdsOptions,
  type DeltaRequestInit,
  type DeltaResponse,
  type NodeInit,
  type SotwRequestInit,
  type SotwResponse,
  type StreamEnd,
} from './client.js';
export { clientConfigsOf, ISTIOCTL_NODE, istioctlDebugRequest, type IstioctlRequestOptions } from './istioctl.js';
export { edsNameOf, testCluster, testListener, testLoadAssignment, testRouteConfiguration, type ConformanceResource } from './resources.js';
export { describeAdsConformance, UNKNOWN_TYPE_URL, type ConformanceControls, type ConformanceOptions, type ConformanceTarget } from './suite.js';
