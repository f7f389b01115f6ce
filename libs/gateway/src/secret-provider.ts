/**
 * Serving `credentialName` Secrets over ADS, as istiod's `SecretGen` does (`pilot/pkg/xds/sds.go`): a
 * `ResourceProvider` that answers the Secret type from a Secret source (the Kubernetes watch, never the
 * store: secrets do not go to Redis) and delegates every other type to the resource cache.
 *
 * Only a stream with a verified identity gets Secrets; `kubernetes://name` is read in that identity's
 * namespace; a Secret of another namespace is refused; a key-and-certificate Secret also needs the
 * proxy's service account to be allowed to list Secrets in its namespace, asked once with a
 * SubjectAccessReview and remembered as istiod remembers it (`pilot/pkg/credentials/kube/secrets.go`
 * `Authorize`: a yes for five minutes, a no for one). A refused, missing or malformed Secret is left
 * out of the response and logged with istiod's words; it never ends the stream.
 */
import { toBinary } from '@bufbuild/protobuf';
import type { Counter, Meter } from '@opentelemetry/api';
import { servedResource, type ProxyCaller, type ProxyNode, type ProxyProfile, type ProxyResourceView, type ResourceChange, type ResourceProvider, type ServedResource, type SpiffeIdentity } from '@skiff/ads-server';
import { TypeUrl } from '@skiff/protos';
import { SecretSchema } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import type { Logger } from '@skiff/runtime';
import {
  buildCaSecret,
  buildTlsCertificateSecret,
  certificateProblem,
  extractCertInfo,
  extractRoot,
  parseSecretResourceName,
  relatedSecretResourceNames,
  SDS_CA_SUFFIX,
  secretAccess,
  type KubernetesSecret,
  type SecretReference,
} from './sds.js';

/** Where Secrets come from: a cache kept by a watch. */
export interface SecretSource {
  get(namespace: string, name: string): KubernetesSecret | undefined;
  /** Calls `listener` with the Secrets that were added, changed or deleted. Returns the function that removes it. */
  onChange(listener: (secrets: readonly { readonly namespace: string; readonly name: string }[]) => void): () => void;
  /** True once the first list is in the cache. */
  isSynced(): boolean;
}

/** istiod's `Authorize`: may this service account list Secrets in its namespace? */
export interface SecretAccessReviewer {
  /** Resolves when allowed; rejects with the reason when not (or when the review could not be made). */
  authorize(serviceAccount: string, namespace: string): Promise<void>;
}

export interface SecretServingOptions {
  readonly source: SecretSource;
  readonly reviewer: SecretAccessReviewer;
  readonly logger: Logger;
  readonly meter?: Meter;
  /** Epoch milliseconds; for tests. */
  readonly now?: () => number;
}

/** istiod's authorization cache lifetimes (`cacheTTL`: one minute, a success five times longer). */
export const AUTHORIZATION_DENIED_TTL_MS = 60_000;
export const AUTHORIZATION_ALLOWED_TTL_MS = 5 * 60_000;
/** Resource names remembered per reviewed identity, to push them when the review's answer arrives or changes. */
const MAX_NAMES_PER_REVIEW = 1024;

interface Review {
  /** undefined until the first answer; then true or istiod's error text. */
  result: true | string | undefined;
  expiresAt: number;
  inFlight: boolean;
  readonly names: Set<string>;
}

const EMPTY: ReadonlyMap<string, ServedResource> = new Map();

export class SecretServingProvider implements ResourceProvider {
  private readonly inner: ResourceProvider;
  private readonly options: SecretServingOptions;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly listeners = new Set<(changes: readonly ResourceChange[]) => void>();
  private readonly reviews = new Map<string, Review>();
  /** Resources built from one version of a Secret object, by resource name; null for a Secret that cannot serve it. */
  private readonly built = new WeakMap<KubernetesSecret, Map<string, ServedResource | null>>();
  private readonly errors: Counter | undefined;
  private readonly stopWatching: () => void;

  constructor(inner: ResourceProvider, options: SecretServingOptions) {
    this.inner = inner;
    this.options = options;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.errors = options.meter?.createCounter('pilot_sds_certificate_errors_total', { description: 'Total number of failures to fetch SDS key and certificate.' });
    this.stopWatching = options.source.onChange((secrets) => {
      const names = new Set<string>();
      for (const { namespace, name } of secrets) for (const resourceName of relatedSecretResourceNames(namespace, name)) names.add(resourceName);
      this.announce([...names]);
    });
  }

  profileOf(node: ProxyNode): ProxyProfile {
    return this.inner.profileOf(node);
  }

  viewFor(profile: ProxyProfile, caller?: ProxyCaller): ProxyResourceView {
    const inner = this.inner.viewFor(profile, caller);
    return {
      all: (typeUrl) => (typeUrl === TypeUrl.Secret ? EMPTY : inner.all(typeUrl)),
      get: (typeUrl, name) => (typeUrl === TypeUrl.Secret ? this.secretFor(caller, name) : inner.get(typeUrl, name)),
    };
  }

  onChange(listener: (changes: readonly ResourceChange[]) => void): () => void {
    const removeInner = this.inner.onChange(listener);
    this.listeners.add(listener);
    return () => {
      removeInner();
      this.listeners.delete(listener);
    };
  }

  /** Ready when the cache is and the Secrets are listed: a push before that could miss a Secret that exists. */
  isReady(profile?: ProxyProfile): boolean {
    return this.inner.isReady(profile) && this.options.source.isSynced();
  }

  /** Starts the review of a verified identity before its first Secret request (istiod reviews on the first one). */
  prepare(identity: SpiffeIdentity | undefined): void {
    if (identity !== undefined) this.reviewed(identity, undefined);
  }

  close(): void {
    this.stopWatching();
  }

  /** The Secret `resourceName` for this caller, or undefined (refused, missing, malformed, or its review pending). */
  private secretFor(caller: ProxyCaller | undefined, resourceName: string): ServedResource | undefined {
    const identity = caller?.verifiedIdentity;
    const proxyId = caller?.node.id ?? '';
    if (identity === undefined) {
      this.logger.warn({ proxy: proxyId, resource: resourceName }, `proxy ${proxyId} is not authorized to receive credscontroller. Ensure you are connecting over TLS port and are authenticated.`);
      return undefined;
    }
    const reference = parseSecretResourceName(resourceName, identity.namespace);
    if ('error' in reference) {
      this.failed({ proxy: proxyId, resource: resourceName }, `error parsing resource name: ${reference.error}`);
      return undefined;
    }
    const access = secretAccess(reference, identity);
    if (access.allowed === 'review') {
      const review = this.reviewed(identity, resourceName);
      if (review === undefined) return undefined; // asked; the answer pushes the name
      if (review !== true) {
        this.refused(proxyId, reference, review);
        return undefined;
      }
    } else if (!access.allowed) {
      if (access.reason !== '') this.refused(proxyId, reference, access.reason);
      return undefined;
    }
    return this.build(reference);
  }

  private refused(proxyId: string, reference: SecretReference, reason: string): void {
    this.failed(
      { proxy: proxyId, resource: reference.resourceName, secret: `${reference.namespace}/${reference.name}`, reason },
      `proxy ${proxyId} attempted to access unauthorized certificates ${reference.name}: ${reason}`,
    );
  }

  private failed(fields: Record<string, string>, message: string): void {
    this.errors?.add(1);
    this.logger.warn(fields, message);
  }

  /**
   * The review's answer for `identity` (true, or istiod's error text), or undefined while the first one
   * is asked. An expired answer is still used while it is asked again, so a stream is never told that
   * a Secret it holds is gone only because a review is being renewed.
   */
  private reviewed(identity: SpiffeIdentity, resourceName: string | undefined): true | string | undefined {
    const user = `system:serviceaccount:${identity.namespace}:${identity.serviceAccount}`;
    let review = this.reviews.get(user);
    if (review === undefined) {
      review = { result: undefined, expiresAt: 0, inFlight: false, names: new Set() };
      this.reviews.set(user, review);
    }
    if (resourceName !== undefined && review.names.size < MAX_NAMES_PER_REVIEW) review.names.add(resourceName);
    if (!review.inFlight && (review.result === undefined || review.expiresAt <= this.now())) this.ask(identity, review);
    return review.result;
  }

  private ask(identity: SpiffeIdentity, review: Review): void {
    review.inFlight = true;
    const settle = (result: true | string): void => {
      const changed = review.result !== result;
      review.inFlight = false;
      review.result = result;
      review.expiresAt = this.now() + (result === true ? AUTHORIZATION_ALLOWED_TTL_MS : AUTHORIZATION_DENIED_TTL_MS);
      if (result !== true) this.logger.debug({ serviceAccount: identity.serviceAccount, namespace: identity.namespace, reason: result }, 'secret access review refused');
      if (changed) this.announce([...review.names]);
    };
    let pending: Promise<void>;
    try {
      pending = this.options.reviewer.authorize(identity.serviceAccount, identity.namespace);
    } catch (error) {
      pending = Promise.reject(error as Error);
    }
    pending.then(
      () => settle(true),
      (error: unknown) => settle(error instanceof Error ? error.message : String(error)),
    );
  }

  /** The resource for an allowed reference, built once per Secret version; undefined (logged) when it cannot be. */
  private build(reference: SecretReference): ServedResource | undefined {
    if (reference.type === 'configmap') {
      this.failed({ resource: reference.resourceName }, `failed to fetch ca certificate for ${reference.resourceName}: configmap credentials are not served; only Kubernetes Secrets are watched`);
      return undefined;
    }
    const { source } = this.options;
    const caOnly = reference.name.endsWith(SDS_CA_SUFFIX);
    // `GetCaCert`: the `-cacert` Secret if it exists, else the Secret without the suffix.
    const strippedName = caOnly ? reference.name.slice(0, -SDS_CA_SUFFIX.length) : reference.name;
    const secret = source.get(reference.namespace, reference.name) ?? (caOnly ? source.get(reference.namespace, strippedName) : undefined);
    const what = caOnly ? 'ca certificate' : 'key and certificate';
    if (secret === undefined) {
      this.failed({ resource: reference.resourceName }, `failed to fetch ${what} for ${reference.resourceName}: secret ${reference.namespace}/${strippedName} not found`);
      return undefined;
    }
    let byName = this.built.get(secret);
    if (byName === undefined) this.built.set(secret, (byName = new Map()));
    const cached = byName.get(reference.resourceName);
    if (cached !== undefined) return cached ?? undefined;
    const info = caOnly ? extractRoot(secret.data) : extractCertInfo(secret.data);
    const object = `${secret.namespace}/${secret.name}`;
    if ('error' in info) {
      this.failed({ resource: reference.resourceName, secret: object, reason: info.error }, `failed to fetch ${what} for ${reference.resourceName}: ${info.error}`);
      byName.set(reference.resourceName, null);
      return undefined;
    }
    const problem = certificateProblem(info.cert, new Date(this.now()));
    if (problem !== undefined) this.failed({ resource: reference.resourceName, secret: object, reason: problem }, `invalid certificates: ${object} "${reference.resourceName}": ${problem}`);
    const message = caOnly ? buildCaSecret(reference.resourceName, info) : buildTlsCertificateSecret(reference.resourceName, info);
    const resource = servedResource(TypeUrl.Secret, reference.resourceName, toBinary(SecretSchema, message));
    byName.set(reference.resourceName, resource);
    return resource;
  }

  private announce(names: readonly string[]): void {
    if (names.length === 0) return;
    const changes: ResourceChange[] = [{ typeUrl: TypeUrl.Secret, names, since: performance.now() }];
    for (const listener of this.listeners) listener(changes);
  }
}
