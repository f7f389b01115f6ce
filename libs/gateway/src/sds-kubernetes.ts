/**
 * The `--sds-secrets-from-kubernetes` Secret source and reviewer, through `@skiff/config-sources`,
 * loaded only when the option is on, so a gateway that serves no Secrets never loads the Kubernetes
 * client (nor holds any Secret).
 */
import type { Logger } from '@skiff/runtime';
import type { SdsSecretsSettings } from './command-line.js';
import type { GatewaySecrets } from './gateway.js';

export async function createKubernetesSecrets(settings: SdsSecretsSettings, logger: Logger): Promise<GatewaySecrets> {
  const { KubernetesSecretSource, SubjectAccessReviewer } = await import('@skiff/config-sources/kubernetes');
  const kubeconfig = settings.kubeconfig === undefined ? {} : { kubeconfig: settings.kubeconfig };
  return {
    source: new KubernetesSecretSource({ ...kubeconfig, onProblem: (message, cause) => logger.warn({ err: cause }, `secrets watch: ${message}`) }),
    reviewer: new SubjectAccessReviewer(kubeconfig),
  };
}
