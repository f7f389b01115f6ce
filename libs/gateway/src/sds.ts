/**
 * istiod's SDS over ADS, the pure part: what a Secret resource name means, which Kubernetes Secret keys
 * hold a certificate, a key and a CA, the `envoy.extensions.transport_sockets.tls.v3.Secret` built from
 * them, and who may read what. The facts come from `pilot/pkg/model/credentials/resource.go`
 * (`ParseResourceName`), `pilot/pkg/credentials/kube/secrets.go` (`ExtractCertInfo`, `ExtractRoot`)
 * and `pilot/pkg/xds/sds.go` (`filterAuthorizedResources`, `toEnvoyTLSSecret`, `toEnvoyCaSecret`,
 * `ValidateCertificate`, `relatedConfigs`); the error texts are istiod's.
 */
import { X509Certificate } from 'node:crypto';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { SpiffeIdentity } from '@skiff/ads-server';
import type { DataSourceSchema } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import { SecretSchema, type Secret } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';

/** The suffix of a CA-only resource name (`pilot/pkg/model/credentials` `SdsCaSuffix`). */
export const SDS_CA_SUFFIX = '-cacert';

/** The credential types istiod parses (`credentials.KubernetesSecretType`, ...). */
export type SecretResourceType = 'kubernetes' | 'kubernetes-gateway' | 'configmap' | 'invalid';

/** A parsed Secret resource name (istiod's `credentials.SecretResource`). */
export interface SecretReference {
  readonly type: SecretResourceType;
  /** The Secret (or ConfigMap) name, `-cacert` included when the name has it. */
  readonly name: string;
  /** Resolved: the proxy's namespace for `kubernetes://name`. Empty for `invalid://`. */
  readonly namespace: string;
  /** The resource name as requested. */
  readonly resourceName: string;
}

/** A Kubernetes Secret as the gateway keeps it: its keys with their decoded values. */
export interface KubernetesSecret {
  readonly namespace: string;
  readonly name: string;
  readonly data: Readonly<Record<string, Uint8Array>>;
}

/** Certificate material read from a Secret (istiod's `credentials.CertInfo`). */
export interface CertInfo {
  readonly cert: Uint8Array;
  readonly key?: Uint8Array;
  readonly staple?: Uint8Array;
  readonly crl?: Uint8Array;
}

/**
 * `ParseResourceName`: `kubernetes://name` (the proxy's namespace) or `kubernetes://namespace/name`;
 * `configmap://` and `kubernetes-gateway://` need both; `invalid://...`; anything else is an error.
 */
export function parseSecretResourceName(resourceName: string, proxyNamespace: string): SecretReference | { readonly error: string } {
  if (resourceName.startsWith('kubernetes://')) {
    const split = resourceName.slice('kubernetes://'.length).split('/');
    const [namespace, name] = split.length > 1 ? [split[0] as string, split[1] as string] : [proxyNamespace, split[0] as string];
    return { type: 'kubernetes', name, namespace, resourceName };
  }
  for (const type of ['configmap', 'kubernetes-gateway'] as const) {
    const prefix = `${type}://`;
    if (!resourceName.startsWith(prefix)) continue;
    const split = resourceName.slice(prefix.length).split('/');
    if (split.length <= 1) return { error: `invalid resource name "${resourceName}". Expected namespace and name` };
    const [namespace, name] = split as [string, string];
    if (namespace === '') return { error: `invalid resource name "${resourceName}". Expected namespace` };
    if (name === '') return { error: `invalid resource name "${resourceName}". Expected name` };
    return { type, name, namespace, resourceName };
  }
  if (resourceName.startsWith('invalid://')) return { type: 'invalid', name: '', namespace: '', resourceName };
  return { error: `unknown resource type: ${resourceName}` };
}

function hasValue(data: KubernetesSecret['data'], ...keys: string[]): boolean {
  return keys.every((key) => (data[key]?.length ?? 0) > 0);
}

function hasKeys(data: KubernetesSecret['data'], ...keys: string[]): boolean {
  return keys.every((key) => Object.hasOwn(data, key));
}

/** istiod's `truncatedKeysMessage`: the sorted keys, at most three named. */
function truncatedKeysMessage(data: KubernetesSecret['data']): string {
  const keys = Object.keys(data).sort();
  if (keys.length < 3) return keys.join(', ');
  return `${keys.slice(0, 3).join(', ')}, and ${keys.length - 3} more...`;
}

/**
 * `ExtractCertInfo`: a generic Secret's `cert`/`key` (and `crl`) win over a TLS Secret's
 * `tls.crt`/`tls.key` (and `tls.ocsp-staple`, `ca.crl`); otherwise istiod's error.
 */
export function extractCertInfo(data: KubernetesSecret['data']): CertInfo | { readonly error: string } {
  if (hasValue(data, 'cert', 'key')) return withOptional({ cert: data['cert']!, key: data['key']! }, { crl: data['crl'] });
  if (hasValue(data, 'tls.crt', 'tls.key')) return withOptional({ cert: data['tls.crt']!, key: data['tls.key']! }, { staple: data['tls.ocsp-staple'], crl: data['ca.crl'] });
  if (hasKeys(data, 'cert', 'key')) return { error: 'found keys "cert" and "key", but they were empty' };
  if (hasKeys(data, 'tls.crt', 'tls.key')) return { error: 'found keys "tls.crt" and "tls.key", but they were empty' };
  return { error: `found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); found: ${truncatedKeysMessage(data)}` };
}

/** `ExtractRoot`: `cacert` (and `crl`) win over `ca.crt` (and `ca.crl`); otherwise istiod's error. */
export function extractRoot(data: KubernetesSecret['data']): CertInfo | { readonly error: string } {
  if (hasValue(data, 'cacert')) return withOptional({ cert: data['cacert']! }, { crl: data['crl'] });
  if (hasValue(data, 'ca.crt')) return withOptional({ cert: data['ca.crt']! }, { crl: data['ca.crl'] });
  if (hasKeys(data, 'cacert')) return { error: 'found key "cacert", but it was empty' };
  if (hasKeys(data, 'ca.crt')) return { error: 'found key "ca.crt", but it was empty' };
  return { error: `found secret, but didn't have expected keys cacert or ca.crt; found: ${truncatedKeysMessage(data)}` };
}

function withOptional(info: CertInfo, extra: { readonly staple?: Uint8Array | undefined; readonly crl?: Uint8Array | undefined }): CertInfo {
  // istiod keeps a present but empty CRL or staple out of the Secret (a nil slice in Go).
  const staple = extra.staple === undefined || extra.staple.length === 0 ? {} : { staple: extra.staple };
  const crl = extra.crl === undefined || extra.crl.length === 0 ? {} : { crl: extra.crl };
  return { ...info, ...staple, ...crl };
}

const inline = (bytes: Uint8Array): MessageInitShape<typeof DataSourceSchema> => ({ specifier: { case: 'inlineBytes', value: bytes } });

/** `toEnvoyTLSSecret` (no private key provider): the chain, the key and the OCSP staple, inline. */
export function buildTlsCertificateSecret(resourceName: string, info: CertInfo): Secret {
  return create(SecretSchema, {
    name: resourceName,
    type: {
      case: 'tlsCertificate',
      value: {
        certificateChain: inline(info.cert),
        privateKey: inline(info.key ?? new Uint8Array()),
        ...(info.staple === undefined ? {} : { ocspStaple: inline(info.staple) }),
      },
    },
  });
}

/** `toEnvoyCaSecret`: the CA bundle (and CRL) as a validation context. */
export function buildCaSecret(resourceName: string, info: CertInfo): Secret {
  return create(SecretSchema, {
    name: resourceName,
    type: { case: 'validationContext', value: { trustedCa: inline(info.cert), ...(info.crl === undefined ? {} : { crl: inline(info.crl) }) } },
  });
}

const PEM_BLOCK = /-----BEGIN ([^-]+)-----[\s\S]*?-----END \1-----/;

/**
 * `ValidateCertificate`: the first PEM block must be a certificate valid now. istiod only logs a
 * failure ("invalid certificates") and still serves the Secret; so does the gateway.
 */
export function certificateProblem(pem: Uint8Array, now: Date): string | undefined {
  const block = PEM_BLOCK.exec(Buffer.from(pem).toString('latin1'));
  if (block === null) return 'pem decode failed';
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(block[0]);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  if (now > new Date(certificate.validTo) || now < new Date(certificate.validFrom)) return 'certificate is expired or not yet valid';
  return undefined;
}

/** Whether a proxy may read a reference: yes, no (with istiod's reason), or only if a SubjectAccessReview says so. */
export type SecretAccess = { readonly allowed: true } | { readonly allowed: false; readonly reason: string } | { readonly allowed: 'review' };

/** istiod's message when nothing else explains a refusal. */
export const CROSS_NAMESPACE_REFUSAL = 'cross namespace secret reference requires ReferenceGrant';

/**
 * `filterAuthorizedResources` for one reference: a `kubernetes://` Secret must be in the proxy's own
 * (verified) namespace, and, unless it is CA-only (`-cacert`, public information), the proxy's service
 * account must be allowed to list Secrets there (a SubjectAccessReview: `review`). A
 * `kubernetes-gateway://` reference needs a Gateway's verified certificate references, which Skiff
 * has none of; `configmap://` is allowed (only its CA is ever read); `invalid://` yields nothing.
 */
export function secretAccess(reference: SecretReference, identity: SpiffeIdentity): SecretAccess {
  switch (reference.type) {
    case 'kubernetes': {
      if (reference.namespace !== identity.namespace) return { allowed: false, reason: CROSS_NAMESPACE_REFUSAL };
      return reference.name.endsWith(SDS_CA_SUFFIX) ? { allowed: true } : { allowed: 'review' };
    }
    case 'kubernetes-gateway':
      return { allowed: false, reason: CROSS_NAMESPACE_REFUSAL };
    case 'configmap':
      return { allowed: true };
    case 'invalid':
      return { allowed: false, reason: '' };
  }
}

/**
 * The resource names a change of Secret `namespace/name` may affect (`relatedConfigs`: a Secret and
 * its `-cacert` twin go together), in both the implicit and the explicit namespace forms.
 */
export function relatedSecretResourceNames(namespace: string, name: string): string[] {
  const base = name.endsWith(SDS_CA_SUFFIX) ? name.slice(0, -SDS_CA_SUFFIX.length) : name;
  return [`kubernetes://${base}`, `kubernetes://${base}${SDS_CA_SUFFIX}`, `kubernetes://${namespace}/${base}`, `kubernetes://${namespace}/${base}${SDS_CA_SUFFIX}`];
}
