/**
 * Proxy identity: the `node` of the first request on a stream, as plain data, plus the two Istio
 * conventions the provider's `profileOf` needs to read it (node id fields and node metadata).
 */
import { isIP } from 'node:net';
import type { Node } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import type { ProxyNode, ProxyProfile } from './provider.js';

/** The node used when a stream's first request carries none (only the first request is checked for it). */
export const EMPTY_PROXY_NODE: ProxyNode = Object.freeze({
  id: '',
  cluster: '',
  metadata: Object.freeze({}),
  locality: Object.freeze({ region: '', zone: '', subZone: '' }),
  userAgentName: '',
  userAgentVersion: '',
  clientFeatures: Object.freeze([]) as readonly string[],
});

/** Plain data from a request's `node` (`envoy.config.core.v3.Node`); `undefined` gives `EMPTY_PROXY_NODE`. */
export function proxyNodeFromProto(node: Node | undefined): ProxyNode {
  if (node === undefined) return EMPTY_PROXY_NODE;
  const version = node.userAgentVersionType;
  let userAgentVersion = '';
  if (version.case === 'userAgentVersion') userAgentVersion = version.value;
  else if (version.case === 'userAgentBuildVersion') {
    const semantic = version.value.version;
    userAgentVersion = semantic === undefined ? '' : `${semantic.majorNumber}.${semantic.minorNumber}.${semantic.patch}`;
  }
  return {
    id: node.id,
    cluster: node.cluster,
    metadata: node.metadata ?? {},
    locality: { region: node.locality?.region ?? '', zone: node.locality?.zone ?? '', subZone: node.locality?.subZone ?? '' },
    userAgentName: node.userAgentName,
    userAgentVersion,
    clientFeatures: [...node.clientFeatures],
  };
}

/** Proxy types an Istio node id may start with (Istio `pkg/model/proxy.go` `NodeType`). */
export const ISTIO_NODE_TYPES = ['sidecar', 'router', 'waypoint', 'ztunnel'] as const;
export type IstioNodeType = (typeof ISTIO_NODE_TYPES)[number];

/** The four fields of an Istio node id `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`. */
export interface IstioNodeId {
  readonly type: IstioNodeType;
  readonly ipAddress: string;
  /** The third field, the proxy id: `<pod>.<namespace>` for sidecars. */
  readonly proxyId: string;
  /** The fourth field: `<namespace>.svc.cluster.local` for Kubernetes workloads. */
  readonly dnsDomain: string;
  /**
   * The DNS domain's first label when it has more than one, else `''`: the namespace istiod falls
   * back to when node metadata has no `NAMESPACE` (`pilot/pkg/model/context.go`
   * `GetProxyConfigNamespace`).
   */
  readonly namespace: string;
}

/**
 * Parses an Istio node id, or returns `undefined` when `id` is not one: not four `~`-separated
 * fields, an unknown proxy type, or a second field that is not an IP address (istiod rejects such
 * nodes in `pkg/model/proxy.go` `ParseServiceNodeWithMetadata`; here they are simply not Istio ids,
 * as with a proxyless gRPC client's free-form bootstrap id).
 */
export function parseIstioNodeId(id: string): IstioNodeId | undefined {
  const parts = id.split('~');
  if (parts.length !== 4) return undefined;
  const [type, ipAddress, proxyId, dnsDomain] = parts as [string, string, string, string];
  if (!(ISTIO_NODE_TYPES as readonly string[]).includes(type)) return undefined;
  if (isIP(ipAddress) === 0) return undefined;
  const labels = dnsDomain.split('.');
  return { type: type as IstioNodeType, ipAddress, proxyId, dnsDomain, namespace: labels.length > 1 ? labels[0]! : '' };
}

function metadataString(node: ProxyNode, key: string): string {
  const value = node.metadata[key];
  return typeof value === 'string' ? value : '';
}

/**
 * The profile Istio derives from a node: namespace from metadata `NAMESPACE`, else from the node id;
 * `grpc` flavour for metadata `GENERATOR: grpc` (`pilot/pkg/model/context.go` `IsProxylessGrpc`).
 * Metadata `ROUTER_MODE` (Istio <= 1.12's sni-dnat router mode) is ignored, as current istiod
 * ignores it. A provider's `profileOf` may use it as is.
 */
export function istioProxyProfile(node: ProxyNode): ProxyProfile {
  const namespace = metadataString(node, 'NAMESPACE') || (parseIstioNodeId(node.id)?.namespace ?? '');
  return {
    namespace,
    flavor: metadataString(node, 'GENERATOR') === 'grpc' ? 'grpc' : 'envoy',
  };
}
