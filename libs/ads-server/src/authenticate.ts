/**
 * Who a TLS client is when it has no client certificate: istio-agent (and any xDS client configured
 * like it) sends the pod's Kubernetes service-account token as `authorization: Bearer <jwt>` on every
 * stream, and istiod's `KubeJWTAuthenticator` turns it into a SPIFFE identity with a TokenReview
 * (`security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go`). Authenticators are tried only on
 * TLS connections, as istiod's `security.Authenticate` does (`pkg/security/authentication.go`:
 * plaintext 15010 is not authenticated); a TLS stream no authenticator accepts ends with
 * UNAUTHENTICATED "authentication failure".
 */
import type { Metadata } from '@grpc/grpc-js';

/** Checks a bearer token; the Kubernetes implementation asks the API server (TokenReview). */
export interface BearerTokenAuthenticator {
  /** Named in logs, e.g. `KubeJWTAuthenticator`. */
  readonly name: string;
  /**
   * Resolves with the caller's SPIFFE identities, or rejects with why the token is refused (logged,
   * never sent to the client). `clusterId` is the `clusterid` request header, empty when absent.
   */
  authenticate(token: string, context: { readonly clusterId: string }): Promise<readonly string[]>;
}

const BEARER_PREFIX = 'Bearer ';

/**
 * The token of the first `authorization: Bearer ...` header (`pkg/security` `ExtractBearerToken`:
 * the scheme is matched case-sensitively, as istiod does), or why there is none.
 */
export function bearerTokenOf(metadata: Metadata): { readonly token: string } | { readonly error: string } {
  const values = metadata.get('authorization');
  if (values.length === 0) return { error: 'no HTTP authorization header exists' };
  for (const value of values) {
    const text = typeof value === 'string' ? value : value.toString('utf8');
    if (text.startsWith(BEARER_PREFIX)) return { token: text.slice(BEARER_PREFIX.length) };
  }
  return { error: 'no bearer token exists in HTTP authorization header' };
}

/** The `clusterid` header the agent sends with its token (`kubeauth.ExtractClusterID`); one value or none. */
export function clusterIdOf(metadata: Metadata): string {
  const values = metadata.get('clusterid');
  if (values.length !== 1) return '';
  const value = values[0]!;
  return typeof value === 'string' ? value : value.toString('utf8');
}
