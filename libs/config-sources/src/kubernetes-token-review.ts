/**
 * Service-account tokens checked by the API server, as istiod's `KubeJWTAuthenticator` checks the
 * token istio-agent sends on 15012 (`security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go`,
 * `security/pkg/k8s/tokenreview/k8sauthn.go` `ValidateK8sJwt`): a TokenReview with the expected
 * audiences, then the review must be authenticated, its user in `system:serviceaccounts`, and its
 * name `system:serviceaccount:<namespace>:<name>`; the caller is
 * `spiffe://<trust-domain>/ns/<namespace>/sa/<name>`. Every stream costs one review, as in istiod.
 * Structurally an `@skiff/ads-server` `BearerTokenAuthenticator`.
 */
import { AuthenticationV1Api, type V1TokenReview } from '@kubernetes/client-node';
import { abortableRequest, loadKubeConfig, type KubeConfigOptions } from './kubernetes-config.js';
import { describeKubernetesError } from './kubernetes-error.js';

/** istiod's `TOKEN_AUDIENCES` default. */
export const DEFAULT_TOKEN_AUDIENCES: readonly string[] = Object.freeze(['istio-ca']);

export interface TokenReviewAuthenticatorOptions extends KubeConfigOptions {
  /** The audiences a token must carry (istiod: `TOKEN_AUDIENCES`, default `istio-ca`); empty: the API server's own. */
  readonly audiences?: readonly string[];
  /** The mesh's trust domain for the SPIFFE identity. Default `cluster.local`. */
  readonly trustDomain?: string;
  /**
   * The cluster this API server is (istiod: `CLUSTER_ID`); a token that names another cluster in its
   * `clusterid` header is refused, as istiod refuses a cluster it has no client for. Default: accept any.
   */
  readonly clusterId?: string;
  /** Default 5 s. */
  readonly requestTimeoutMs?: number;
}

const SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts';

/** The review's verdict as istiod reads it (`getTokenReviewResult`): the namespace and service account, or why not. */
export function serviceAccountOfReview(review: V1TokenReview): { readonly namespace: string; readonly serviceAccount: string } {
  const status = review.status;
  if (status?.error !== undefined && status.error !== '') throw new Error(`the service account authentication returns an error: ${status.error}`);
  if (status?.authenticated !== true) throw new Error('the token is not authenticated');
  if (!(status.user?.groups ?? []).includes(SERVICE_ACCOUNTS_GROUP)) throw new Error('the token is not a service account');
  const parts = (status.user?.username ?? '').split(':');
  if (parts.length !== 4) throw new Error('invalid username field in the token review result');
  const [, , namespace, serviceAccount] = parts as [string, string, string, string];
  if (serviceAccount === '') throw new Error('failed to parse the JWT; service account required');
  if (namespace === '') throw new Error('failed to parse the JWT; namespace required');
  return { namespace, serviceAccount };
}

export class TokenReviewAuthenticator {
  readonly name = 'KubeJWTAuthenticator';
  private readonly api: AuthenticationV1Api;
  private readonly audiences: readonly string[];
  private readonly trustDomain: string;
  private readonly clusterId: string | undefined;
  private readonly requestTimeoutMs: number;

  constructor(options: TokenReviewAuthenticatorOptions = {}) {
    this.api = loadKubeConfig(options).makeApiClient(AuthenticationV1Api);
    this.audiences = options.audiences ?? DEFAULT_TOKEN_AUDIENCES;
    this.trustDomain = options.trustDomain ?? 'cluster.local';
    this.clusterId = options.clusterId;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
  }

  async authenticate(token: string, context: { readonly clusterId: string }): Promise<readonly string[]> {
    if (this.clusterId !== undefined && context.clusterId !== '' && context.clusterId !== this.clusterId) {
      throw new Error(`client claims to be in cluster "${context.clusterId}", but we only know about local cluster "${this.clusterId}"`);
    }
    let review: V1TokenReview;
    try {
      review = await this.api.createTokenReview(
        { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(this.audiences.length === 0 ? {} : { audiences: [...this.audiences] }) } } },
        abortableRequest(AbortSignal.timeout(this.requestTimeoutMs)),
      );
    } catch (err) {
      throw new Error(`failed to validate the JWT: ${describeKubernetesError(err)}`, { cause: err });
    }
    const { namespace, serviceAccount } = serviceAccountOfReview(review);
    return [`spiffe://${this.trustDomain}/ns/${namespace}/sa/${serviceAccount}`];
  }
}
