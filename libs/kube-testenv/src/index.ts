export {
  ADMIN_USER,
  CommandError,
  KubeControlPlane,
  SERVICE_ACCOUNT_ISSUER,
  type CommandResult,
  type ControlPlaneOptions,
  type KubectlOptions,
} from './control-plane.js';
export { ISTIO_CRD_NAMES, ISTIO_CRDS_DIRECTORY, installIstioCrds, istioCrdManifests } from './istio-crds.js';
export {
  ETCD_VERSION,
  KUBE_TOOLS_BUILD_COMMAND,
  KUBERNETES_VERSION,
  KubeToolsNotFoundError,
  findKubeTools,
  kubeToolsDirectory,
  type KubeTools,
} from './tools.js';
export { HELM_INSTALL_COMMAND, Helm, HelmCommandError, HelmNotFoundError, findHelm } from './helm.js';
export type { HelmResult, LintOptions, TemplateOptions } from './helm.js';
export { TcpProxy } from './tcp-proxy.js';
export {
  installGatewayIdentity,
  installWatcherIdentity,
  type ChartIdentity,
  type GatewayIdentityOptions,
  type WatcherIdentity,
  type WatcherIdentityOptions,
} from './chart-rbac.js';
