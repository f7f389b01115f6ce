export { HELM_INSTALL_COMMAND, Helm, HelmCommandError, HelmNotFoundError, findHelm } from './helm.js';
export type { HelmResult, LintOptions, TemplateOptions } from './helm.js';
export { at, containers, isRecord, objectId, parseManifests, podSpecs } from './manifests.js';
export type { ContainerOf, KubernetesObject, PodSpecOf } from './manifests.js';
export {
  ALLOWED_CLUSTER_GRANTS,
  ALLOWED_NAMESPACE_GRANTS,
  MONITORING_PORT,
  MONITORING_PORT_NAME,
  containerPolicyViolations,
  rbacViolations,
  serviceAccountTokenViolations,
} from './policy.js';
export type { ContainerPolicyOptions } from './policy.js';
export {
  CHART_CASES_DIRECTORY,
  CHART_DIRECTORY,
  DOCKERFILE,
  INSTALL_GUIDE,
  REPOSITORY_ROOT,
  chartCases,
  dockerfileArgList,
  dockerfileCmd,
  workspaceBins,
} from './repository.js';
export type { ChartCase, WorkspaceBin } from './repository.js';
