/**
 * The `--xds-token-review` authenticator: Kubernetes TokenReview through `@skiff/config-sources`,
 * loaded only when the option is on, so a gateway that does not review tokens never loads the
 * Kubernetes client.
 */
import type { BearerTokenAuthenticator } from '@skiff/ads-server';
import type { TokenReviewSettings } from './command-line.js';

export async function createTokenAuthenticator(settings: TokenReviewSettings): Promise<BearerTokenAuthenticator> {
  const { TokenReviewAuthenticator } = await import('@skiff/config-sources/kubernetes');
  return new TokenReviewAuthenticator({
    audiences: settings.audiences,
    trustDomain: settings.trustDomain,
    ...(settings.kubeconfig === undefined ? {} : { kubeconfig: settings.kubeconfig }),
  });
}
