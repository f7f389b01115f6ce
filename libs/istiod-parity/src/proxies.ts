/**
 * The proxies both control planes are asked as. Each is a node as Istio's proxies send it (node id,
 * metadata, locality) plus, for proxyless gRPC, the listener names the client subscribes to (its
 * `xds:///HOST:PORT` targets). The same description drives the istiod reference and Skiff.
 */

export type ProxyKind = 'sidecar' | 'router' | 'grpc';

export interface ParityLocality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

export interface ParityProxy {
  /** Names the proxy in reports: `<kind>@<namespace>`. */
  readonly name: string;
  readonly kind: ProxyKind;
  /** `sidecar~IP~POD.NS~NS.svc.cluster.local` (`router~...` for gateways). */
  readonly id: string;
  /** Node metadata (`NAMESPACE`, `CLUSTER_ID`, `GENERATOR`, `LABELS`, ...). */
  readonly metadata: Readonly<Record<string, unknown>>;
  /**
   * Every proxy has one: istiod's locality failover (`applyLocalityFailover`) dereferences the proxy's
   * locality and panics without it, which a real proxy never lacks.
   */
  readonly locality: ParityLocality;
  /** LDS names (gRPC only): `HOST:PORT`. */
  readonly listeners: readonly string[];
}

export const PARITY_LOCALITY: ParityLocality = { region: 'parity-region', zone: 'parity-zone', subZone: 'parity-subzone' };

/** The Istio version sidecars report (`ISTIO_VERSION`); istiod gates some output on it. */
export const PARITY_PROXY_ISTIO_VERSION = '1.30.0';

export interface ProxyOptions {
  readonly namespace: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** gRPC: the `HOST:PORT` names to request. */
  readonly listeners?: readonly string[];
  /** Extra node metadata (e.g. `ROUTER_MODE`). */
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly clusterId?: string;
  /** The node's locality; default `PARITY_LOCALITY`. A proxy with its own locality is named after it. */
  readonly locality?: ParityLocality;
}

export function parityProxy(kind: ProxyKind, options: ProxyOptions): ParityProxy {
  const namespace = options.namespace;
  const type = kind === 'router' ? 'router' : 'sidecar';
  const pod = kind === 'grpc' ? 'grpc-client' : kind === 'router' ? 'gateway' : 'app';
  const metadata: Record<string, unknown> = {
    NAMESPACE: namespace,
    CLUSTER_ID: options.clusterId ?? 'Kubernetes',
    ISTIO_VERSION: PARITY_PROXY_ISTIO_VERSION,
    ...(options.labels === undefined || Object.keys(options.labels).length === 0 ? {} : { LABELS: { ...options.labels } }),
    ...(kind === 'grpc' ? { GENERATOR: 'grpc' } : {}),
    ...options.metadata,
  };
  const locality = options.locality ?? PARITY_LOCALITY;
  const where = options.locality === undefined ? '' : `/${[locality.region, locality.zone, locality.subZone].filter((part) => part !== '').join('.')}`;
  const labelled = options.labels === undefined || Object.keys(options.labels).length === 0 ? '' : `/${Object.entries(options.labels).map(([key, value]) => `${key}=${value}`).sort().join(',')}`;
  return {
    name: `${kind}@${namespace}${options.metadata?.['ROUTER_MODE'] === undefined ? '' : `/${String(options.metadata['ROUTER_MODE'])}`}${where}${labelled}`,
    kind,
    id: `${type}~10.10.0.1~${pod}.${namespace}~${namespace}.svc.cluster.local`,
    metadata,
    locality,
    listeners: kind === 'grpc' ? [...(options.listeners ?? [])].sort() : [],
  };
}
