/**
 * Upstream TLS of an Envoy cluster as istiod 1.30 builds it (`pilot/pkg/networking/core/cluster_tls.go`
 * `buildUpstreamTLSSettings`, `applyUpstreamTLSSettings`, `buildUpstreamClusterTLSContext`,
 * `constructUpstreamTLS`, `setAutoSniAndAutoSanValidation`; `pilot/pkg/security/model/authentication.go`
 * `ApplyCustomSDSToClientCommonTLSContext`, `ConstructSdsSecretConfigForCredential`;
 * `pilot/pkg/model/credentials/resource.go` `ToResourceName`): auto-mTLS without a rule, and a
 * DestinationRule's DISABLE, SIMPLE, MUTUAL and ISTIO_MUTUAL settings.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack, anyUnpack, DurationSchema } from '@bufbuild/protobuf/wkt';
import type { NormalizedServiceEntry } from '@skiff/model';
import { Cluster_DiscoveryType, Cluster_TransportSocketMatchSchema, type Cluster, type Cluster_TransportSocketMatch } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { TransportSocketSchema, type TransportSocket } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import { ClusterConfigSchema } from '@skiff/protos/gen/envoy/extensions/clusters/dynamic_forward_proxy/v3/cluster_pb.js';
import { ApiConfigSource_ApiType, ApiVersion } from '@skiff/protos/gen/envoy/config/core/v3/config_source_pb.js';
import { UpstreamHttpProtocolOptionsSchema } from '@skiff/protos/gen/envoy/config/core/v3/protocol_pb.js';
import { ProxyProtocolConfig_Version } from '@skiff/protos/gen/envoy/config/core/v3/proxy_protocol_pb.js';
import { ProxyProtocolUpstreamTransportSchema } from '@skiff/protos/gen/envoy/extensions/transport_sockets/proxy_protocol/v3/upstream_proxy_protocol_pb.js';
import { RawBufferSchema } from '@skiff/protos/gen/envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer_pb.js';
import { CertificateValidationContextSchema, TlsParameters_TlsProtocol } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js';
import { SdsSecretConfigSchema, type SdsSecretConfig } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import {
  CommonTlsContext_CombinedCertificateValidationContextSchema,
  CommonTlsContextSchema,
  UpstreamTlsContextSchema,
  type UpstreamTlsContext,
} from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { HttpProtocolOptionsSchema } from '@skiff/protos/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import type { ClusterDiscovery } from './cluster.js';
import { discoveryTypeOf, isHttp2Cluster, type ClusterWrapper } from './cluster-traffic-policy.js';
import type { ClientTlsJson, TrafficPolicyJson } from './destination-rule.js';
import { ISTIO_MUTUAL_TLS_MODE } from './instances.js';
import type { ClusterNaming } from './names.js';
import { sharedMessage } from './shared-message.js';

/** `wellknown.TransportSocketTLS`, `wellknown.TransportSocketRawBuffer`. */
export const TLS_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.tls';
export const RAW_BUFFER_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.raw_buffer';
/** `wellknown.TransportSocketPROXY`: the upstream PROXY protocol socket. */
export const PROXY_PROTOCOL_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.upstream_proxy_protocol';
/** SDS: the proxy agent's cluster and the two secrets every sidecar has (`pkg/model/authentication.go`). */
export const SDS_CLUSTER_NAME = 'sds-grpc';
export const SDS_DEFAULT_RESOURCE_NAME = 'default';
export const SDS_ROOT_RESOURCE_NAME = 'ROOTCA';
/** `credentials.SdsCaSuffix`: the CA half of a `credentialName` secret. */
const SDS_CA_SUFFIX = '-cacert';

/**
 * An SDS secret served by the proxy agent (`pkg/model/authentication.go` `ConstructSdsSecretConfig`):
 * the two built-in secrets wait for nothing (`initial_fetch_timeout: 0s`); file secrets
 * (`file-cert:`, `file-root:`) keep Envoy's default fetch timeout.
 */
function createSdsSecretConfig(name: string): SdsSecretConfig {
  return create(SdsSecretConfigSchema, {
    name,
    sdsConfig: {
      configSourceSpecifier: {
        case: 'apiConfigSource',
        value: {
          apiType: ApiConfigSource_ApiType.GRPC,
          setNodeOnFirstMessageOnly: true,
          transportApiVersion: ApiVersion.V3,
          grpcServices: [{ targetSpecifier: { case: 'envoyGrpc', value: { clusterName: SDS_CLUSTER_NAME } } }],
        },
      },
      ...(name === SDS_DEFAULT_RESOURCE_NAME || name === SDS_ROOT_RESOURCE_NAME ? { initialFetchTimeout: create(DurationSchema) } : {}),
      resourceApiVersion: ApiVersion.V3,
    },
  });
}

/** The built-in secrets, in every Istio mTLS socket: shared (`sharedMessage`). */
const SDS_DEFAULT_SECRET = sharedMessage(createSdsSecretConfig(SDS_DEFAULT_RESOURCE_NAME));
const SDS_ROOT_SECRET = sharedMessage(createSdsSecretConfig(SDS_ROOT_RESOURCE_NAME));

function buildSdsSecretConfig(name: string): SdsSecretConfig {
  if (name === SDS_DEFAULT_RESOURCE_NAME) return SDS_DEFAULT_SECRET;
  if (name === SDS_ROOT_RESOURCE_NAME) return SDS_ROOT_SECRET;
  return createSdsSecretConfig(name);
}

export interface IstioMutualTlsArgs {
  readonly subjectAltNames: readonly string[];
  readonly sni: string;
  readonly http2: boolean;
  readonly metadataExchange: boolean;
}

/**
 * The ISTIO_MUTUAL upstream TLS socket (`buildUpstreamClusterTLSContext`): TLS 1.2-1.3, the
 * workload certificate and root CA from the proxy agent over SDS, SANs matched exactly, SNI the
 * DNS-SRV cluster key, and ALPN `istio-peer-exchange, istio` (+ `h2` on HTTP/2 clusters; without
 * metadata exchange the `istio-peer-exchange` entry is left out).
 */
export function buildIstioMutualTransportSocket(args: IstioMutualTlsArgs): TransportSocket {
  const alpnProtocols = [...(args.metadataExchange ? ['istio-peer-exchange'] : []), 'istio', ...(args.http2 ? ['h2'] : [])];
  const context = create(UpstreamTlsContextSchema, {
    commonTlsContext: {
      tlsParams: {
        tlsMinimumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_2,
        tlsMaximumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_3,
      },
      tlsCertificateSdsSecretConfigs: [buildSdsSecretConfig(SDS_DEFAULT_RESOURCE_NAME)],
      validationContextType: {
        case: 'combinedValidationContext',
        value: {
          defaultValidationContext: {
            matchSubjectAltNames: args.subjectAltNames.map((san) => ({ matchPattern: { case: 'exact' as const, value: san } })),
          },
          validationContextSdsSecretConfig: buildSdsSecretConfig(SDS_ROOT_RESOURCE_NAME),
        },
      },
      alpnProtocols,
    },
    sni: args.sni,
  });
  return create(TransportSocketSchema, {
    name: TLS_TRANSPORT_SOCKET_NAME,
    configType: { case: 'typedConfig', value: anyPack(UpstreamTlsContextSchema, context) },
  });
}

/** Plain text (`xdsfilters.RawBufferTransportSocket`): shared (`sharedMessage`). */
const RAW_BUFFER_TRANSPORT_SOCKET: TransportSocket = sharedMessage(
  create(TransportSocketSchema, {
    name: RAW_BUFFER_TRANSPORT_SOCKET_NAME,
    configType: { case: 'typedConfig', value: anyPack(RawBufferSchema, create(RawBufferSchema)) },
  }),
);

/**
 * Auto-mTLS as a pair of matches (`applyUpstreamTLSSettings`, `defaultTransportSocketMatch`):
 * endpoints whose metadata says `tlsMode: istio` get Istio mTLS, all others plain text.
 */
function buildAutoMtlsTransportSocketMatches(mtls: TransportSocket): Cluster_TransportSocketMatch[] {
  return [
    create(Cluster_TransportSocketMatchSchema, { name: `tlsMode-${ISTIO_MUTUAL_TLS_MODE}`, match: { tlsMode: ISTIO_MUTUAL_TLS_MODE }, transportSocket: mtls }),
    create(Cluster_TransportSocketMatchSchema, { name: 'tlsMode-disabled', match: {}, transportSocket: RAW_BUFFER_TRANSPORT_SOCKET }),
  ];
}

/**
 * How the cluster talks TLS upstream with no DestinationRule (`buildUpstreamTLSSettings`,
 * `BestEffortInferServiceMTLSMode`): never for MESH_EXTERNAL services, never with auto-mTLS off,
 * never on sni-dnat clusters (istiod applies no TLS settings to them). MESH_INTERNAL ORIGINAL_DST
 * clusters get a plain mTLS socket, and only when every endpoint of the port speaks Istio mTLS;
 * other MESH_INTERNAL clusters get the auto-mTLS matches.
 */
export function selectUpstreamTls(args: {
  readonly location: NormalizedServiceEntry['location'];
  readonly discovery: ClusterDiscovery;
  readonly naming: ClusterNaming;
  readonly enableAutoMtls: boolean;
  readonly instanceTlsModes: readonly string[];
}): 'none' | 'transport-socket' | 'transport-socket-matches' {
  if (args.naming === 'sni-dnat') return 'none';
  const passthrough = args.discovery === 'ORIGINAL_DST';
  if (!autoMtlsApplies({ meshExternal: args.location === 'MESH_EXTERNAL', enableAutoMtls: args.enableAutoMtls, passthrough, instanceTlsModes: args.instanceTlsModes })) return 'none';
  return passthrough ? 'transport-socket' : 'transport-socket-matches';
}

/**
 * Whether auto-mTLS applies (`buildUpstreamTLSSettings` without TLS settings, and
 * `BestEffortInferServiceMTLSMode` with no PeerAuthentication: PERMISSIVE): not for MESH_EXTERNAL
 * services or with auto-mTLS off, and for passthrough traffic (resolution NONE, or a PASSTHROUGH
 * load balancer in the rule) only when every endpoint of the port speaks Istio mTLS.
 */
function autoMtlsApplies(args: { readonly meshExternal: boolean; readonly enableAutoMtls: boolean; readonly passthrough: boolean; readonly instanceTlsModes: readonly string[] }): boolean {
  if (args.meshExternal || !args.enableAutoMtls) return false;
  if (args.passthrough) return args.instanceTlsModes.length > 0 && args.instanceTlsModes.every((mode) => mode !== 'disabled');
  return true;
}

const TLS_1_2_TO_1_3 = { tlsMinimumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_2, tlsMaximumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_3 };

function exactSanMatchers(subjectAltNames: readonly string[]) {
  return subjectAltNames.map((san) => ({ matchPattern: { case: 'exact' as const, value: san } }));
}

/**
 * `credentials.ToResourceName`: `builtin://` is the workload certificate, explicit `kubernetes://`,
 * `kubernetes-gateway://` and `configmap://` names stay, anything else is a Kubernetes Secret.
 */
function credentialResourceName(name: string): string {
  if (name.startsWith('builtin://')) return SDS_DEFAULT_RESOURCE_NAME;
  if (name.startsWith('invalid://')) return 'invalid://';
  if (name.startsWith('configmap://') || name.startsWith('kubernetes://') || name.startsWith('kubernetes-gateway://')) return name;
  return `kubernetes://${name}`;
}

/**
 * `ConstructSdsSecretConfigForCredential` for a proxy without a credential socket: the built-in
 * workload secrets from the agent, everything else over ADS (istiod serves the Secret). An
 * `sds://` name with no socket and no SDS extension provider falls back to ADS with the prefix cut.
 */
function buildCredentialSdsSecretConfig(credentialName: string): SdsSecretConfig {
  if (credentialName === 'builtin://') return buildSdsSecretConfig(SDS_DEFAULT_RESOURCE_NAME);
  if (credentialName === `builtin://${SDS_CA_SUFFIX}`) return buildSdsSecretConfig(SDS_ROOT_RESOURCE_NAME);
  const name = credentialName.startsWith('sds://') ? credentialName.slice('sds://'.length) : credentialName;
  return create(SdsSecretConfigSchema, {
    name: credentialResourceName(name),
    sdsConfig: { configSourceSpecifier: { case: 'ads', value: {} }, resourceApiVersion: ApiVersion.V3 },
  });
}

function tlsTransportSocket(context: UpstreamTlsContext): TransportSocket {
  return create(TransportSocketSchema, { name: TLS_TRANSPORT_SOCKET_NAME, configType: { case: 'typedConfig', value: anyPack(UpstreamTlsContextSchema, context) } });
}

/**
 * `setAutoSniAndAutoSanValidation`: without an `sni` Envoy takes the SNI from the request's host
 * (`auto_sni`). A cluster built from a service then, with no SANs to check and verification on,
 * checks the certificate against that host (`auto_san_validation`); a dynamic forward proxy cluster
 * always does unless verification is off, and where it cannot check the host (verification off, or
 * an `sni` set) its cluster config must allow insecure options (`allow_insecure_cluster_options`).
 */
function setAutoSniAndSanValidation(wrapper: ClusterWrapper, tls: ClientTlsJson): void {
  const insecure = tls.insecureSkipVerify === true;
  const autoSni = (tls.sni ?? '') === '';
  const autoSan = (wrapper.dynamicForwardProxy === true || (autoSni && (tls.subjectAltNames ?? []).length === 0)) && !insecure;
  if (wrapper.dynamicForwardProxy === true && (insecure || !autoSni || !autoSan)) allowInsecureClusterOptions(wrapper.cluster);
  if (!autoSni && !autoSan) return;
  wrapper.httpProtocolOptions ??= create(HttpProtocolOptionsSchema);
  const upstream = (wrapper.httpProtocolOptions.upstreamHttpProtocolOptions ??= create(UpstreamHttpProtocolOptionsSchema));
  if (autoSni) upstream.autoSni = true;
  if (autoSan) upstream.autoSanValidation = true;
}

/** Sets `allow_insecure_cluster_options` in a dynamic forward proxy cluster's config. */
function allowInsecureClusterOptions(cluster: Cluster): void {
  const type = cluster.clusterDiscoveryType;
  if (type.case !== 'clusterType' || type.value.typedConfig === undefined) return;
  const config = anyUnpack(type.value.typedConfig, ClusterConfigSchema);
  if (config === undefined) return;
  config.allowInsecureClusterOptions = true;
  type.value.typedConfig = anyPack(ClusterConfigSchema, config);
}

/**
 * SIMPLE and MUTUAL origination (`constructUpstreamTLS`): certificates from `credentialName` over
 * SDS, or else the rule's files served by the agent (`file-cert:CERT~KEY`, `file-root:CA`, the CA
 * defaulting to the system roots). A ServiceEntry's SANs (its `subjectAltNames` and workload
 * identities) stand in when the rule names none. HTTP/2 clusters advertise only `h2`.
 */
function buildOriginationContext(wrapper: ClusterWrapper, tls: ClientTlsJson, serviceAccounts: readonly string[], mutual: boolean): UpstreamTlsContext {
  const common = create(CommonTlsContextSchema, { tlsParams: TLS_1_2_TO_1_3 });
  setAutoSniAndSanValidation(wrapper, tls);
  const subjectAltNames = (tls.subjectAltNames ?? []).length === 0 ? serviceAccounts : (tls.subjectAltNames ?? []);
  const insecure = tls.insecureSkipVerify === true;
  const credentialName = tls.credentialName ?? '';
  if (credentialName !== '') {
    if (mutual) common.tlsCertificateSdsSecretConfigs = [buildCredentialSdsSecretConfig(credentialName)];
    if (!insecure) {
      common.validationContextType = {
        case: 'combinedValidationContext',
        value: create(CommonTlsContext_CombinedCertificateValidationContextSchema, {
          defaultValidationContext: { matchSubjectAltNames: exactSanMatchers(subjectAltNames) },
          validationContextSdsSecretConfig: buildCredentialSdsSecretConfig(`${credentialName}${SDS_CA_SUFFIX}`),
        }),
      };
    }
  } else {
    if (mutual) common.tlsCertificateSdsSecretConfigs = [buildSdsSecretConfig(`file-cert:${tls.clientCertificate ?? ''}~${tls.privateKey ?? ''}`)];
    const caCertificates = (tls.caCertificates ?? '') === '' ? 'system' : (tls.caCertificates ?? '');
    const caCrl = tls.caCrl ?? '';
    common.validationContextType = insecure
      ? { case: 'validationContext', value: create(CertificateValidationContextSchema) }
      : {
          case: 'combinedValidationContext',
          value: create(CommonTlsContext_CombinedCertificateValidationContextSchema, {
            defaultValidationContext: {
              matchSubjectAltNames: exactSanMatchers(subjectAltNames),
              ...(caCrl === '' ? {} : { crl: { specifier: { case: 'filename' as const, value: caCrl } } }),
            },
            validationContextSdsSecretConfig: buildSdsSecretConfig(`file-root:${caCertificates}`),
          }),
        };
  }
  if (isHttp2Cluster(wrapper)) common.alpnProtocols = ['h2'];
  return create(UpstreamTlsContextSchema, { commonTlsContext: common, sni: tls.sni ?? '' });
}

/** The TLS settings a cluster uses and whether istiod inferred them (auto-mTLS) or the rule supplied them. */
interface UpstreamTlsSettings {
  readonly tls: ClientTlsJson & { readonly subjectAltNames: readonly string[]; readonly sni: string };
  readonly autoDetected: boolean;
}

export interface UpstreamTlsArgs {
  /** The resolved policy's `tls`, if any. */
  readonly tls: ClientTlsJson | undefined;
  /** SANs of the service: the entry's `subjectAltNames` plus its workloads' identities. */
  readonly serviceAccounts: readonly string[];
  /** The DNS-SRV key of the cluster, Istio mTLS's SNI. */
  readonly istioMtlsSni: string;
  readonly meshExternal: boolean;
  readonly enableAutoMtls: boolean;
  /** Resolution NONE, or a PASSTHROUGH load balancer in the rule's (or subset's) own policy. */
  readonly passthrough: boolean;
  readonly instanceTlsModes: readonly string[];
  /** The rule has a `workloadSelector` (a `credentialName` is only honoured then on sidecars). */
  readonly ruleWithSelector: boolean;
  readonly metadataExchange: boolean;
}

/** `buildUpstreamTLSSettings` for a proxy without metadata certificates. */
function upstreamTlsSettings(args: UpstreamTlsArgs): UpstreamTlsSettings | undefined {
  const { tls } = args;
  if (tls !== undefined) {
    const mode = tls.mode ?? 'DISABLE';
    if (mode !== 'ISTIO_MUTUAL') return { tls: { ...tls, subjectAltNames: tls.subjectAltNames ?? [], sni: tls.sni ?? '' }, autoDetected: false };
    const subjectAltNames = (tls.subjectAltNames ?? []).length === 0 ? args.serviceAccounts : (tls.subjectAltNames ?? []);
    const sni = (tls.sni ?? '') === '' ? args.istioMtlsSni : (tls.sni ?? '');
    return { tls: { mode, subjectAltNames, sni, ...(tls.insecureSkipVerify === undefined ? {} : { insecureSkipVerify: tls.insecureSkipVerify }) }, autoDetected: false };
  }
  if (!autoMtlsApplies(args)) return undefined;
  return { tls: { mode: 'ISTIO_MUTUAL', subjectAltNames: args.serviceAccounts, sni: args.istioMtlsSni }, autoDetected: true };
}

/**
 * `applyUpstreamTLSSettings` on a sidecar cluster: the TLS socket the settings call for, or, for
 * auto-detected Istio mTLS on anything but an ORIGINAL_DST cluster, the `tlsMode-istio` /
 * `tlsMode-disabled` matches. A SIMPLE or MUTUAL `credentialName` (other than `configmap://`) of a
 * rule without `workloadSelector` gets no TLS at all: istiod will not hand a Secret to every sidecar.
 */
export function applyUpstreamTls(wrapper: ClusterWrapper, args: UpstreamTlsArgs): void {
  const settings = upstreamTlsSettings(args);
  if (settings === undefined) return;
  const { tls } = settings;
  const mode = tls.mode ?? 'DISABLE';
  const credentialName = tls.credentialName ?? '';
  const privileged = credentialName !== '' && !credentialName.startsWith('configmap://');
  if (privileged && !args.ruleWithSelector && (mode === 'SIMPLE' || mode === 'MUTUAL')) return;
  let socket: TransportSocket;
  switch (mode) {
    case 'DISABLE':
      return;
    case 'ISTIO_MUTUAL':
      // A dynamic forward proxy cluster has no SNI of its own: Envoy sends the request's host.
      socket = buildIstioMutualTransportSocket({
        subjectAltNames: tls.subjectAltNames,
        sni: tls.sni === '' && wrapper.dynamicForwardProxy !== true ? wrapper.cluster.name : tls.sni,
        http2: isHttp2Cluster(wrapper),
        metadataExchange: args.metadataExchange,
      });
      if (wrapper.dynamicForwardProxy === true) setAutoSniAndSanValidation(wrapper, tls);
      break;
    case 'SIMPLE':
    case 'MUTUAL':
      socket = tlsTransportSocket(buildOriginationContext(wrapper, tls, args.serviceAccounts, mode === 'MUTUAL'));
      break;
  }
  if (settings.autoDetected && discoveryTypeOf(wrapper.cluster) !== Cluster_DiscoveryType.ORIGINAL_DST) {
    wrapper.cluster.transportSocketMatches = buildAutoMtlsTransportSocketMatches(socket);
  } else {
    wrapper.cluster.transportSocket = socket;
  }
}

/**
 * The gRPC generator's ISTIO_MUTUAL socket (`grpcgen/grpcgen.go` `buildCommonTLSContext`): the
 * certificate and CA from the client's `default` certificate provider instance, in both the current
 * fields and the deprecated ones older clients read, and the service's SANs matched exactly.
 */
export function buildGrpcIstioMutualTransportSocket(subjectAltNames: readonly string[]): TransportSocket {
  const context = create(UpstreamTlsContextSchema, {
    commonTlsContext: {
      tlsCertificateProviderInstance: { instanceName: 'default', certificateName: SDS_DEFAULT_RESOURCE_NAME },
      tlsCertificateCertificateProviderInstance: { instanceName: 'default', certificateName: SDS_DEFAULT_RESOURCE_NAME },
      validationContextType: {
        case: 'combinedValidationContext',
        value: {
          validationContextCertificateProviderInstance: { instanceName: 'default', certificateName: SDS_ROOT_RESOURCE_NAME },
          defaultValidationContext: {
            matchSubjectAltNames: exactSanMatchers(subjectAltNames),
            caCertificateProviderInstance: { instanceName: 'default', certificateName: SDS_ROOT_RESOURCE_NAME },
          },
        },
      },
    },
  });
  return tlsTransportSocket(context);
}

/** A socket that sends the PROXY protocol header (`version`) and then hands the connection to `inner`. */
function proxyProtocolSocket(version: ProxyProtocolConfig_Version, inner: TransportSocket | undefined): TransportSocket {
  const transport = create(ProxyProtocolUpstreamTransportSchema, { config: { version }, ...(inner === undefined ? {} : { transportSocket: inner }) });
  return create(TransportSocketSchema, {
    name: PROXY_PROTOCOL_TRANSPORT_SOCKET_NAME,
    configType: { case: 'typedConfig', value: anyPack(ProxyProtocolUpstreamTransportSchema, transport) },
  });
}

/**
 * `applyUpstreamProxyProtocol` (`cluster_traffic_policy.go`), run after the TLS settings: the
 * cluster's transport socket, or each of its transport socket matches, is wrapped in the upstream
 * PROXY protocol socket; a cluster with neither wraps plain text. istiod calls it for every cluster
 * it applies TLS settings to (not sni-dnat ones).
 */
export function applyUpstreamProxyProtocol(cluster: Cluster, proxyProtocol: TrafficPolicyJson['proxyProtocol'] | null | undefined): void {
  if (proxyProtocol === undefined || proxyProtocol === null) return;
  // The API's enum and Envoy's have the same values (V1 = 0, V2 = 1).
  const version = proxyProtocol.version === 'V2' ? ProxyProtocolConfig_Version.V2 : ProxyProtocolConfig_Version.V1;
  if (cluster.transportSocket === undefined && cluster.transportSocketMatches.length === 0) {
    // Plain text named `raw_buffer` here (`util.RawBufferTransport`), not by its extension name.
    const rawBuffer = create(TransportSocketSchema, { name: 'raw_buffer', configType: { case: 'typedConfig', value: anyPack(RawBufferSchema, create(RawBufferSchema)) } });
    cluster.transportSocket = proxyProtocolSocket(version, rawBuffer);
    return;
  }
  if (cluster.transportSocket !== undefined) cluster.transportSocket = proxyProtocolSocket(version, cluster.transportSocket);
  for (const match of cluster.transportSocketMatches) match.transportSocket = proxyProtocolSocket(version, match.transportSocket);
}
