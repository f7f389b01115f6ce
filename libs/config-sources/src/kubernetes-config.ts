/**
 * Connecting to the API server: loading a kubeconfig (a file, the in-cluster service account, the
 * default loading rules, or a KubeConfig built by the caller) and per-request options for the
 * generated API clients.
 */
import { KubeConfig, Observable } from '@kubernetes/client-node';
import type { ConfigurationOptions, ObservableMiddleware, RequestContext, ResponseContext } from '@kubernetes/client-node';
import { KubernetesError } from './kubernetes-error.js';

export interface KubeConfigOptions {
  /**
   * A kubeconfig file's path, or a KubeConfig the caller loaded. Without it: the in-cluster service
   * account when `inCluster` is set, otherwise the default loading rules ($KUBECONFIG, ~/.kube/config,
   * then in-cluster).
   */
  readonly kubeconfig?: string | KubeConfig;
  /** Use the pod's service account (token file, CA, KUBERNETES_SERVICE_HOST/PORT). */
  readonly inCluster?: boolean;
}

export function loadKubeConfig(options: KubeConfigOptions): KubeConfig {
  if (options.inCluster === true && options.kubeconfig !== undefined) {
    throw new KubernetesError('invalid-options', 'give either a kubeconfig or inCluster, not both');
  }
  if (options.kubeconfig instanceof KubeConfig) return requireCluster(options.kubeconfig, 'the given KubeConfig');
  const config = new KubeConfig();
  if (typeof options.kubeconfig === 'string') {
    try {
      config.loadFromFile(options.kubeconfig);
    } catch (err) {
      throw new KubernetesError('config', `cannot load kubeconfig ${options.kubeconfig}: ${String(err)}`, { cause: err });
    }
    return requireCluster(config, `kubeconfig ${options.kubeconfig}`);
  }
  if (options.inCluster === true) {
    // loadFromCluster does not check that it runs in a pod; without these it would build "https://undefined:undefined".
    if (!process.env['KUBERNETES_SERVICE_HOST'] || !process.env['KUBERNETES_SERVICE_PORT']) {
      throw new KubernetesError('config', 'not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set');
    }
    config.loadFromCluster();
    return config;
  }
  try {
    config.loadFromDefault();
  } catch (err) {
    throw new KubernetesError('config', `cannot load the default kubeconfig: ${String(err)}`, { cause: err });
  }
  return requireCluster(config, 'the default kubeconfig');
}

function requireCluster(config: KubeConfig, what: string): KubeConfig {
  if (config.getCurrentCluster() === null) {
    throw new KubernetesError('config', `${what} has no current cluster`);
  }
  return config;
}

/**
 * Per-call options that tie a generated API call to an AbortSignal, so `close()` and request deadlines
 * can cancel it (the generated clients take no signal parameter, only middleware).
 */
export function abortableRequest(signal: AbortSignal): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre(context: RequestContext): Observable<RequestContext> {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post(context: ResponseContext): Observable<ResponseContext> {
      return new Observable(Promise.resolve(context));
    },
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}
