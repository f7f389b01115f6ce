/**
 * The Kubernetes sources (`@skiff/config-sources/kubernetes`): informers of Istio objects, the Lease
 * elector, TokenReview and Secrets. Kept apart from the package's main entry because they load
 * `@kubernetes/client-node`.
 */
export {
  DEFAULT_KUBERNETES_BACKOFF,
  DEFAULT_KUBERNETES_KINDS,
  DEFAULT_LIST_PAGE_SIZE,
  DEFAULT_LOST_WATCH_GRACE_MS,
  KUBERNETES_ORIGIN,
  KubernetesSource,
  type KubernetesSourceOptions,
  type KubernetesWatchStatus,
} from './kubernetes-source.js';
export {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  KubernetesLeaseElector,
  type KubernetesLeaseElectorOptions,
  type LeaderElection,
  type LeadershipListener,
} from './kubernetes-lease.js';
export { KubernetesError, type KubernetesErrorCode } from './kubernetes-error.js';
export { loadKubeConfig, type KubeConfigOptions } from './kubernetes-config.js';
export { DEFAULT_TOKEN_AUDIENCES, serviceAccountOfReview, TokenReviewAuthenticator, type TokenReviewAuthenticatorOptions } from './kubernetes-token-review.js';
export { ISTIO_NETWORKING_GROUP, ISTIO_VERSION_PREFERENCE, type ServedKind } from './kubernetes-discovery.js';
export {
  KubernetesSecretSource,
  SECRETS_FIELD_SELECTOR,
  SubjectAccessReviewer,
  type KubernetesSecretSourceOptions,
  type SubjectAccessReviewerOptions,
  type WatchedSecret,
} from './kubernetes-secrets.js';
