/**
 * The gateway's security and limit options, shared by every command that serves ADS (`skiff-gateway`
 * and the all-in-one `skiff`), with istiod's defaults and the istiod setting each one matches.
 */
import { commaListOf, DEBUG_ACCESS_OPTIONS, parseBoolean, parseDuration, parsePositiveInteger, type ValueOptionSpec } from '@skiff/runtime';
import { DEFAULT_ADS_LIMITS, type AdsLimits, type AdsServerTlsFiles } from '@skiff/ads-server';
import { DEFAULT_SYSTEM_NAMESPACE, type DebugAuthPolicy } from './debug-auth.js';

const path = (value: string): string => value;

export const GATEWAY_SECURITY_OPTIONS = {
  tlsCertFile: { flag: 'tls-cert-file', description: 'PEM certificate chain for the TLS ADS address; re-read when it changes (cert-manager renewals)', parse: path, valueName: 'path' },
  tlsKeyFile: { flag: 'tls-key-file', description: 'PEM private key for the TLS ADS address; re-read when it changes', parse: path, valueName: 'path' },
  tlsClientCaFile: {
    flag: 'tls-client-ca-file',
    description: "PEM CA bundle: TLS ADS clients must present a certificate it verifies, and their SPIFFE identity is checked against their node (istiod's 15012 with XDS_AUTH)",
    parse: path,
    valueName: 'path',
  },
  tlsRefreshInterval: { flag: 'tls-refresh-interval', description: 'how often the TLS certificate, key and CA files are checked for changes', parse: parseDuration, default: '10s', valueName: 'duration' },
  xdsTokenReview: {
    flag: 'xds-token-review',
    description:
      "authenticate TLS ADS clients that have no certificate by their Kubernetes service-account token (authorization: Bearer), checked with a TokenReview; their SPIFFE identity is then bound to their node like a certificate's (istiod: KubeJWTAuthenticator on 15012)",
    parse: parseBoolean,
    default: 'false',
    valueName: 'bool',
  },
  tokenAudiences: { flag: 'token-audiences', description: 'audiences a service-account token must carry for --xds-token-review (istiod: TOKEN_AUDIENCES)', parse: commaListOf(path), default: 'istio-ca', valueName: 'a,b' },
  trustDomain: { flag: 'trust-domain', description: 'trust domain of the SPIFFE identities --xds-token-review gives callers (istiod: the mesh trustDomain)', parse: path, default: 'cluster.local', valueName: 'domain' },
  tokenReviewKubeconfig: {
    flag: 'token-review-kubeconfig',
    description: 'kubeconfig of the API server that reviews tokens for --xds-token-review; default: in a pod its service account, else $KUBECONFIG or ~/.kube/config',
    parse: path,
    valueName: 'path',
  },
  sdsSecretsFromKubernetes: {
    flag: 'sds-secrets-from-kubernetes',
    description:
      "serve DestinationRule credentialName certificates (kubernetes://name, name-cacert) over ADS from Kubernetes Secrets, to TLS clients with a verified identity, as istiod's SDS does: a proxy reads Secrets of its own namespace, key and certificate only if its service account may list Secrets there (SubjectAccessReview); needs get/list/watch on Secrets and create on SubjectAccessReviews",
    parse: parseBoolean,
    default: 'false',
    valueName: 'bool',
  },
  sdsSecretsKubeconfig: {
    flag: 'sds-secrets-kubeconfig',
    description: 'kubeconfig of the API server whose Secrets --sds-secrets-from-kubernetes serves; default: in a pod its service account, else $KUBECONFIG or ~/.kube/config',
    parse: path,
    valueName: 'path',
  },
  xdsIdentityCheck: {
    flag: 'xds-identity-check',
    description: "refuse (PERMISSION_DENIED) a TLS client whose certificate identity is not in its node's NAMESPACE (and SERVICE_ACCOUNT when set) (istiod: PILOT_ENABLE_XDS_IDENTITY_CHECK)",
    parse: parseBoolean,
    default: 'true',
    valueName: 'bool',
  },
  maxRecvMsgSize: { flag: 'max-recv-msg-size', description: 'largest ADS request accepted, in bytes (istiod: ISTIO_GPRC_MAXRECVMSGSIZE)', parse: parsePositiveInteger, default: String(DEFAULT_ADS_LIMITS.maxReceiveMessageBytes), valueName: 'bytes' },
  maxStreamsPerConnection: { flag: 'max-streams-per-connection', description: 'ADS streams one connection may open at once', parse: parsePositiveInteger, default: String(DEFAULT_ADS_LIMITS.maxStreamsPerConnection), valueName: 'n' },
  maxConnections: { flag: 'max-connections', description: 'open connections per ADS address; more are closed on accept', parse: parsePositiveInteger, default: String(DEFAULT_ADS_LIMITS.maxConnections), valueName: 'n' },
  maxNamesPerRequest: { flag: 'max-names-per-request', description: 'resource names one ADS request may carry; more end the stream', parse: parsePositiveInteger, default: String(DEFAULT_ADS_LIMITS.maxNamesPerRequest), valueName: 'n' },
  maxRequestsPerSecond: { flag: 'max-requests-per-second', description: 'sustained ADS requests per second per stream; a faster stream is read more slowly', parse: parsePositiveInteger, default: String(DEFAULT_ADS_LIMITS.requestsPerSecond), valueName: 'n' },
  requestBurst: { flag: 'request-burst', description: 'ADS requests a stream may send at once above --max-requests-per-second', parse: parsePositiveInteger, default: String(DEFAULT_ADS_LIMITS.requestBurst), valueName: 'n' },
  maxErrorDetailSize: { flag: 'max-error-detail-size', description: 'bytes of a NACK error_detail kept, logged and reported; the rest is cut with a marker', parse: parsePositiveInteger, default: String(DEFAULT_ADS_LIMITS.maxErrorDetailBytes), valueName: 'bytes' },
  systemNamespace: { flag: 'system-namespace', description: "callers with an identity in this namespace see every proxy's debug information (istiod: the mesh root namespace)", parse: path, default: DEFAULT_SYSTEM_NAMESPACE, valueName: 'namespace' },
  debugAuthAllowedNamespaces: {
    flag: 'debug-auth-allowed-namespaces',
    description: 'more namespaces whose callers see every proxy (istiod: DEBUG_ENDPOINT_AUTH_ALLOWED_NAMESPACES)',
    parse: commaListOf(path),
    default: '',
    valueName: 'a,b',
  },
  ...DEBUG_ACCESS_OPTIONS,
} as const satisfies Record<string, ValueOptionSpec<unknown>>;

export interface GatewaySecurityValues {
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  readonly tlsClientCaFile: string | undefined;
  readonly tlsRefreshInterval: number;
  readonly xdsIdentityCheck: boolean;
  readonly xdsTokenReview: boolean;
  readonly tokenAudiences: readonly string[];
  readonly trustDomain: string;
  readonly tokenReviewKubeconfig: string | undefined;
  readonly sdsSecretsFromKubernetes: boolean;
  readonly sdsSecretsKubeconfig: string | undefined;
  readonly maxRecvMsgSize: number;
  readonly maxStreamsPerConnection: number;
  readonly maxConnections: number;
  readonly maxNamesPerRequest: number;
  readonly maxRequestsPerSecond: number;
  readonly requestBurst: number;
  readonly maxErrorDetailSize: number;
  readonly systemNamespace: string;
  readonly debugAuthAllowedNamespaces: readonly string[];
  readonly debugAuth: boolean;
}

export interface GatewaySecuritySettings {
  /** TLS from files, when a certificate and key are given. */
  readonly tls: AdsServerTlsFiles | undefined;
  readonly limits: AdsLimits;
  readonly identityCheck: boolean;
  /** Review TLS clients' service-account tokens (`--xds-token-review`); the app builds the authenticator. */
  readonly tokenReview: TokenReviewSettings | undefined;
  /** Serve Secrets from Kubernetes (`--sds-secrets-from-kubernetes`); the app builds the source. */
  readonly sdsSecrets: SdsSecretsSettings | undefined;
  readonly debugAuth: DebugAuthPolicy;
}

export interface SdsSecretsSettings {
  /** Absent: in a pod its service account, else the default kubeconfig loading rules. */
  readonly kubeconfig: string | undefined;
}

export interface TokenReviewSettings {
  readonly audiences: readonly string[];
  readonly trustDomain: string;
  /** Absent: in a pod its service account, else the default kubeconfig loading rules. */
  readonly kubeconfig: string | undefined;
}

/** Turns the option values into gateway settings, or a usage error (one line, without the program name). */
export function gatewaySecurityFromCommandLine(values: GatewaySecurityValues): GatewaySecuritySettings | { readonly error: string } {
  if ((values.tlsCertFile === undefined) !== (values.tlsKeyFile === undefined)) return { error: 'give both --tls-cert-file and --tls-key-file, or neither' };
  if (values.tlsClientCaFile !== undefined && values.tlsCertFile === undefined) return { error: '--tls-client-ca-file needs --tls-cert-file and --tls-key-file' };
  if (values.xdsTokenReview && values.tlsCertFile === undefined) return { error: '--xds-token-review needs --tls-cert-file and --tls-key-file: plaintext ADS is never authenticated' };
  // With a client CA the TLS handshake already demands a certificate, so a token could never be used.
  if (values.xdsTokenReview && values.tlsClientCaFile !== undefined) return { error: 'give --xds-token-review or --tls-client-ca-file, not both: with a client CA every client must present a certificate' };
  if (values.xdsTokenReview && values.trustDomain === '') return { error: '--trust-domain must not be empty' };
  // istiod's SecretGen answers only a proxy with a VerifiedIdentity, which only an authenticated TLS stream has.
  if (values.sdsSecretsFromKubernetes && values.tlsCertFile === undefined) return { error: '--sds-secrets-from-kubernetes needs --tls-cert-file and --tls-key-file: Secrets go only to authenticated proxies, and plaintext ADS is never authenticated' };
  if (values.sdsSecretsFromKubernetes && !values.xdsIdentityCheck) return { error: '--sds-secrets-from-kubernetes needs --xds-identity-check true: a Secret goes only to a proxy whose identity was bound to its namespace' };
  if (!values.sdsSecretsFromKubernetes && values.sdsSecretsKubeconfig !== undefined) return { error: '--sds-secrets-kubeconfig needs --sds-secrets-from-kubernetes true' };
  const tls: AdsServerTlsFiles | undefined =
    values.tlsCertFile === undefined || values.tlsKeyFile === undefined
      ? undefined
      : {
          certFile: values.tlsCertFile,
          keyFile: values.tlsKeyFile,
          refreshIntervalMs: values.tlsRefreshInterval,
          ...(values.tlsClientCaFile === undefined ? {} : { caFile: values.tlsClientCaFile }),
        };
  return {
    tls,
    limits: {
      maxReceiveMessageBytes: values.maxRecvMsgSize,
      maxStreamsPerConnection: values.maxStreamsPerConnection,
      maxConnections: values.maxConnections,
      maxNamesPerRequest: values.maxNamesPerRequest,
      requestsPerSecond: values.maxRequestsPerSecond,
      requestBurst: values.requestBurst,
      maxErrorDetailBytes: values.maxErrorDetailSize,
    },
    identityCheck: values.xdsIdentityCheck,
    tokenReview: values.xdsTokenReview ? { audiences: values.tokenAudiences, trustDomain: values.trustDomain, kubeconfig: values.tokenReviewKubeconfig } : undefined,
    sdsSecrets: values.sdsSecretsFromKubernetes ? { kubeconfig: values.sdsSecretsKubeconfig } : undefined,
    debugAuth: { enabled: values.debugAuth, systemNamespace: values.systemNamespace, allowedNamespaces: values.debugAuthAllowedNamespaces, trustLoopback: true },
  };
}
