/**
 * The identity of a simulated proxy, as Istio's proxies send it in `DiscoveryRequest.node`
 * (docs/istio-behaviour.md#node-identity; `pilot/pkg/model/context.go`): node id `sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`,
 * metadata `NAMESPACE` and `CLUSTER_ID`, and `GENERATOR: grpc` for a proxyless gRPC client
 * (`IsProxylessGrpc`), so the control plane picks the same profile (namespace, generator) it would
 * pick for the real thing.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { NodeSchema } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';

/** Which of Istio's two generators serves the proxy: Envoy sidecars or proxyless gRPC clients. */
export type ProxyFlavor = 'envoy' | 'grpc';

export const PROXY_FLAVORS: readonly ProxyFlavor[] = ['envoy', 'grpc'];

/** `user_agent_name` of every simulated proxy, so debug views tell them from real ones. */
export const LOADGEN_USER_AGENT = 'skiff-loadgen';

/** Kubernetes cluster id the simulated proxies report (Istio's default `CLUSTER_ID`). */
export const DEFAULT_CLUSTER_ID = 'Kubernetes';

export interface SimulatedNodeArgs {
  /** Proxy number, from 0: it gives the pod name (`proxy-<index>`) and a distinct address. */
  readonly index: number;
  readonly namespace: string;
  readonly flavor: ProxyFlavor;
  /** `user_agent_version`: the load generator's version. */
  readonly version: string;
}

/** A distinct pod address per proxy number in 10.0.0.0/8 (proxy 0 is 10.0.0.1). */
export function proxyAddress(index: number): string {
  const n = index + 1;
  if (!Number.isInteger(index) || index < 0 || n > 0xffffff) throw new RangeError(`proxy index ${index} is outside 0..${0xffffff - 1}`);
  return `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** The pod name of proxy `index`. */
export function proxyPodName(index: number): string {
  return `proxy-${index}`;
}

/** The `node` of a simulated proxy's first request. */
export function simulatedNode(args: SimulatedNodeArgs): MessageInitShape<typeof NodeSchema> {
  const pod = proxyPodName(args.index);
  const metadata: Record<string, string> = { NAMESPACE: args.namespace, CLUSTER_ID: DEFAULT_CLUSTER_ID, WORKLOAD_NAME: pod };
  if (args.flavor === 'grpc') metadata['GENERATOR'] = 'grpc';
  return {
    id: `sidecar~${proxyAddress(args.index)}~${pod}.${args.namespace}~${args.namespace}.svc.cluster.local`,
    cluster: `${LOADGEN_USER_AGENT}.${args.namespace}`,
    metadata,
    userAgentName: LOADGEN_USER_AGENT,
    userAgentVersionType: { case: 'userAgentVersion', value: args.version },
  };
}
