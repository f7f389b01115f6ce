/**
 * Kubernetes Secrets for SDS, read the way istiod's credentials controller reads them
 * (`pilot/pkg/credentials/kube/secrets.go`): one cluster-wide watch of Secrets, leaving out Helm
 * releases and service-account tokens (`SecretsFieldSelector`, the two big kinds of Secret that never
 * hold a certificate), kept in memory only, and a SubjectAccessReview asking whether a proxy's service
 * account may list Secrets in its namespace (`Authorize`). Structurally the `@skiff/gateway`
 * `SecretSource` and `SecretAccessReviewer`.
 */
import { AuthorizationV1Api, type KubernetesObject, type V1SubjectAccessReview } from '@kubernetes/client-node';
import { resolveBackoff, type BackoffPolicy } from '@skiff/runtime';
import { abortableRequest, loadKubeConfig, type KubeConfigOptions } from './kubernetes-config.js';
import { describeKubernetesError } from './kubernetes-error.js';
import { RestartingInformer } from './kubernetes-informer.js';
import { DEFAULT_KUBERNETES_BACKOFF, DEFAULT_LIST_PAGE_SIZE } from './kubernetes-source.js';

/** istiod's `SecretsFieldSelector`. */
export const SECRETS_FIELD_SELECTOR = 'type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token';

/** A Secret as served: its keys with their decoded values. */
export interface WatchedSecret {
  readonly namespace: string;
  readonly name: string;
  readonly data: Readonly<Record<string, Uint8Array>>;
}

export interface KubernetesSecretSourceOptions extends KubeConfigOptions {
  readonly backoff?: Partial<BackoffPolicy>;
  readonly listPageSize?: number;
  /** Told when the watch fails and restarts (the gateway logs it). */
  readonly onProblem?: (message: string, cause: unknown) => void;
}

interface SecretObject extends KubernetesObject {
  readonly data?: Record<string, string>;
}

type SecretRef = { readonly namespace: string; readonly name: string };

export class KubernetesSecretSource {
  private readonly secrets = new Map<string, WatchedSecret>();
  private readonly listeners = new Set<(secrets: readonly SecretRef[]) => void>();
  private readonly informer: RestartingInformer;
  private synced = false;

  constructor(options: KubernetesSecretSourceOptions = {}) {
    this.informer = new RestartingInformer({
      config: loadKubeConfig(options),
      target: { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, namespace: undefined, fieldSelector: SECRETS_FIELD_SELECTOR },
      backoff: resolveBackoff({ ...DEFAULT_KUBERNETES_BACKOFF, ...options.backoff }),
      pageSize: options.listPageSize ?? DEFAULT_LIST_PAGE_SIZE,
      events: {
        upsert: (object) => this.upsert(object as SecretObject),
        remove: (object) => this.remove(object),
        listed: () => {
          this.synced = true;
        },
        failed: (message, cause, delayMs) => options.onProblem?.(`${message}; restarting in ${delayMs} ms`, cause),
      },
    });
  }

  /** Starts the watch; the first list lands in the cache in the background (`isSynced`). */
  async start(): Promise<void> {
    await this.informer.start();
  }

  async close(): Promise<void> {
    await this.informer.stop();
  }

  isSynced(): boolean {
    return this.synced;
  }

  get(namespace: string, name: string): WatchedSecret | undefined {
    return this.secrets.get(`${namespace}/${name}`);
  }

  onChange(listener: (secrets: readonly SecretRef[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private upsert(object: SecretObject): void {
    const ref = refOf(object);
    if (ref === undefined) return;
    const data: Record<string, Uint8Array> = {};
    for (const [key, value] of Object.entries(object.data ?? {})) data[key] = Buffer.from(value, 'base64');
    this.secrets.set(`${ref.namespace}/${ref.name}`, { ...ref, data });
    this.notify(ref);
  }

  private remove(object: KubernetesObject): void {
    const ref = refOf(object);
    if (ref === undefined || !this.secrets.delete(`${ref.namespace}/${ref.name}`)) return;
    this.notify(ref);
  }

  private notify(ref: SecretRef): void {
    for (const listener of this.listeners) listener([ref]);
  }
}

function refOf(object: KubernetesObject): SecretRef | undefined {
  const namespace = object.metadata?.namespace;
  const name = object.metadata?.name;
  return namespace === undefined || name === undefined ? undefined : { namespace, name };
}

export interface SubjectAccessReviewerOptions extends KubeConfigOptions {
  /** Default 5 s. */
  readonly requestTimeoutMs?: number;
}

/**
 * istiod's `Authorize`: a SubjectAccessReview for `system:serviceaccount:<namespace>:<name>`, verb
 * `list`, resource `secrets`, in the namespace. Rejects with istiod's text when it is not allowed;
 * a failed review is a refusal too (istiod caches the error the same way).
 */
export class SubjectAccessReviewer {
  private readonly api: AuthorizationV1Api;
  private readonly requestTimeoutMs: number;

  constructor(options: SubjectAccessReviewerOptions = {}) {
    this.api = loadKubeConfig(options).makeApiClient(AuthorizationV1Api);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
  }

  async authorize(serviceAccount: string, namespace: string): Promise<void> {
    let review: V1SubjectAccessReview;
    try {
      review = await this.api.createSubjectAccessReview(
        {
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: { resourceAttributes: { namespace, verb: 'list', resource: 'secrets' }, user: `system:serviceaccount:${namespace}:${serviceAccount}` },
          },
        },
        abortableRequest(AbortSignal.timeout(this.requestTimeoutMs)),
      );
    } catch (err) {
      throw new Error(describeKubernetesError(err), { cause: err });
    }
    if (review.status?.allowed !== true) throw new Error(`${serviceAccount}/${namespace} is not authorized to read secrets: ${review.status?.reason ?? ''}`);
  }
}
