export { serveControl, type ControlOptions } from './control.js';
export { LoadGenerator, type LoadGeneratorOptions, type LoadStatus } from './generator.js';
export { DEFAULT_CLUSTER_ID, LOADGEN_USER_AGENT, PROXY_FLAVORS, proxyAddress, proxyPodName, simulatedNode, type ProxyFlavor, type SimulatedNodeArgs } from './node.js';
export { ClusterSpecError, parseClusterSpec, planProxies, readClusterSpec, type PlanArgs, type ProxyGroup, type ProxyPlan } from './plan.js';
export { DELTA_METHOD_PATH, LoadCounters, shortTypeName, SimulatedProxy, SOTW_METHOD_PATH, type SimulatedProxyOptions } from './proxy.js';
export { ArrivalRecorder, type ArrivalQuery, type VersionSpread } from './recorder.js';
export { fingerprint, readDeltaDiscoveryResponse, readDiscoveryResponse, resourceMessageName, type ReceivedResource, type ReceivedResponse } from './response.js';
export { distributionOf, epochNow, percentile, type Distribution } from './stats.js';
export { buildSummary, formatSummary, type LoadSummary, type SummaryInputs } from './summary.js';
