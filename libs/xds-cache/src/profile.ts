/**
 * Which resources a proxy gets: its namespace (for exportTo and duplicate hosts), Istio's generator
 * (Envoy or proxyless gRPC) and the cluster naming, read from the node the way istiod reads it, and
 * the stored variant that serves that profile.
 */
import type { ProxyNode, ProxyProfile } from '@skiff/ads-server';
import { localityProxyOf, type LocalityProxy } from '@skiff/xds-translate';

/** The namespace of a proxy that names none (Kubernetes' default namespace). */
export const DEFAULT_PROXY_NAMESPACE = 'default';

function metadataString(node: ProxyNode, key: string): string {
  const value = node.metadata[key];
  return typeof value === 'string' ? value : '';
}

/**
 * The namespace a node id carries: the first label of the fourth field (`ns.svc.cluster.local`), as
 * istiod falls back to when node metadata has no `NAMESPACE` (`pilot/pkg/model/context.go`
 * `GetProxyConfigNamespace`); else the part after the pod name in the third field (`pod.ns`); else `''`.
 */
export function namespaceFromNodeId(id: string): string {
  const fields = id.split('~');
  if (fields.length !== 4) return '';
  const domainLabels = (fields[3] ?? '').split('.');
  if (domainLabels.length > 1 && domainLabels[0] !== '') return domainLabels[0]!;
  const proxyId = fields[2] ?? '';
  const dot = proxyId.indexOf('.');
  if (dot > 0 && dot < proxyId.length - 1) return proxyId.slice(dot + 1).split('.')[0]!;
  return '';
}

/** A proxy's profile as the gateway reads it: also whether it is a gateway, which no Sidecar scopes. */
export interface GatewayProxyProfile extends ProxyProfile {
  readonly labels: Readonly<Record<string, string>>;
  /** An Istio node id of type `router` (`pilot/pkg/model/context.go` `Router`). */
  readonly router: boolean;
  /** The locality and topology-augmented labels locality load balancing reads (`localityProxyOf`). */
  readonly localityProxy: LocalityProxy;
}

/** Node metadata `LABELS` (`NodeMetadata.Labels`): the string values of the map, others ignored. */
export function labelsOf(node: ProxyNode): Record<string, string> {
  const value = node.metadata['LABELS'];
  const labels: Record<string, string> = {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return labels;
  for (const [key, item] of Object.entries(value)) if (typeof item === 'string') labels[key] = item;
  return labels;
}

/**
 * The profile of a proxy: namespace from metadata `NAMESPACE`, else from the Istio node id, else
 * `default`; the `grpc` flavour for metadata `GENERATOR: grpc` (`pilot/pkg/model/context.go`
 * `IsProxylessGrpc`), else `envoy`; labels from metadata `LABELS`. Metadata `ROUTER_MODE` (istiod
 * <= 1.12's `RouterMode`) is ignored, as current istiod ignores it: which routers get sni-dnat
 * clusters is decided by Gateways (`auto-passthrough.ts`).
 */
export function proxyProfileOf(node: ProxyNode): GatewayProxyProfile {
  const namespace = metadataString(node, 'NAMESPACE') || namespaceFromNodeId(node.id) || DEFAULT_PROXY_NAMESPACE;
  const labels = labelsOf(node);
  return {
    namespace,
    flavor: metadataString(node, 'GENERATOR') === 'grpc' ? 'grpc' : 'envoy',
    labels,
    router: node.id.startsWith('router~'),
    localityProxy: localityProxyOf({
      labels,
      nodeLocality: node.locality,
      clusterId: metadataString(node, 'CLUSTER_ID'),
      nodeName: metadataString(node, 'NODE_NAME'),
      network: metadataString(node, 'NETWORK'),
    }),
  };
}

/**
 * The stored variant (`ResourceId.variant`, written by the translator) that serves a profile's usual
 * resources: proxyless gRPC clients get `grpc`, Envoy proxies `envoy-sidecar` (a router selected by an
 * AUTO_PASSTHROUGH Gateway gets `SNI_DNAT_VARIANT` on top).
 */
export function variantOf(profile: Pick<ProxyProfile, 'flavor'>): string {
  return profile.flavor === 'grpc' ? 'grpc' : 'envoy-sidecar';
}

/** The translator's variant holding istiod's sni-dnat clusters (`buildOutboundSniDnatClusters`) and their assignments. */
export const SNI_DNAT_VARIANT = 'envoy-sni-dnat';
