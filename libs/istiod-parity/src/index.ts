export { compareProxy, diffJson, formatDifferences, isServiceCluster, type Comparison, type Difference } from './compare.js';
export { CORPUS_SOURCES, defaultProxies, grpcTargetsOf, loadCorpus, namespacesOf, parityCase, type ParityCase } from './corpus.js';
export { PARITY_LOCALITY, PARITY_PROXY_ISTIO_VERSION, parityProxy, type ParityLocality, type ParityProxy, type ProxyKind, type ProxyOptions } from './proxies.js';
export { queryAsProxy, type AdsRequester } from './query.js';
export {
  istioTools,
  REFERENCE_SOURCE_DIR,
  runReference,
  type IstioTools,
  type ReferenceCase,
  type ReferenceCaseResult,
  type ReferenceOutput,
  type ReferenceProxyResult,
  type ReferenceRejection,
} from './reference.js';
export { canonicalJson, emptyResources, jsonOfBinary, RESOURCE_KINDS, resourceName, TYPE_URL_OF, type ResourceKind, type ServedResources } from './resources.js';
export { runSkiff, type SkiffCase, type SkiffCaseResult, type SkiffProxyResult, type SkiffRejection } from './skiff.js';
export { compareCase, served, type CaseReport } from './parity.js';
export { generatedCase, generatedMesh, meshYaml, MESH_NAMESPACES, type GeneratedMesh } from './generate.js';
export { DEVIATIONS, grpcClientRefusal, rewriteRefusedAnswers, type AppliedDeviation, type Deviation } from './deviations.js';
export { expectIstiodGolden, FLAG_SETTINGS, GOLDEN_DIR, goldenPathOf, OPEN_CASES, readIstiodGolden, stableReferenceResult, type FlagSetting } from './goldens.js';
