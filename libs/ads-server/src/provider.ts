/**
 * The seam between the ADS protocol server and the resource cache (go-control-plane's
 * `ConfigWatcher` idea): the server owns streams, nonces, subscriptions, ACK/NACK and push timing; the
 * provider owns resources, versions and what each proxy may see. The server never reads the store.
 */
import type { SpiffeIdentity } from './identity.js';

/** What a proxy told us about itself in the first request of a stream (`DiscoveryRequest.node`). */
export interface ProxyNode {
  /** `node.id`, e.g. `sidecar~10.0.0.1~app-1.ns~ns.svc.cluster.local`. */
  readonly id: string;
  /** `node.cluster`. */
  readonly cluster: string;
  /** `node.metadata` as plain JSON (NAMESPACE, CLUSTER_ID, GENERATOR, LABELS, ISTIO_VERSION, ...). */
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly locality: { readonly region: string; readonly zone: string; readonly subZone: string };
  readonly userAgentName: string;
  readonly userAgentVersion: string;
  readonly clientFeatures: readonly string[];
}

/** Which resources a proxy gets: Istio's two generators (docs/istio-behaviour.md#cluster-names). */
export interface ProxyProfile {
  /** The proxy's namespace: metadata `NAMESPACE`, else the Istio node id's fourth field's first label. */
  readonly namespace: string;
  /** `grpc` for metadata `GENERATOR: grpc` (proxyless), else `envoy`. */
  readonly flavor: 'envoy' | 'grpc';
  /** The workload's labels (metadata `LABELS`), which Sidecar and DestinationRule workload selectors match; absent means none. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** One resource as served: its name, its version, and its bytes encoded once as a `google.protobuf.Any`. */
export interface ServedResource {
  readonly name: string;
  readonly version: string;
  /** The serialized `google.protobuf.Any` (type URL + resource bytes), shared by every push of this version. */
  readonly anyBytes: Uint8Array;
  /** The serialized resource message itself (what `Any.value` holds), for delta `Resource` and debug dumps. */
  readonly bytes: Uint8Array;
}

/** The resources one proxy may see, per type URL. Reads are synchronous and consistent at the time of the call. */
export interface ProxyResourceView {
  /** Every resource of `typeUrl` visible to the proxy (wildcard subscriptions, SotW full state). */
  all(typeUrl: string): ReadonlyMap<string, ServedResource>;
  /** The named resource if it exists and is visible. */
  get(typeUrl: string, name: string): ServedResource | undefined;
}

/** A change in the cache: resource names of one type whose visible version may have changed (or vanished). */
export interface ResourceChange {
  readonly typeUrl: string;
  readonly names: readonly string[];
  /** Milliseconds (performance.now) when the change entered the system, for convergence metrics; optional. */
  readonly since?: number;
  /** Trace context of the change, if it carried one. */
  readonly trace?: string;
  /**
   * Which proxies the change may concern, by profile; absent: any. A provider serving some resources
   * to some profiles only (the gateway's proxyless gRPC and sni-dnat variants) names them, so a change
   * only those can see costs the other proxies nothing.
   */
  readonly concerns?: (profile: ProxyProfile) => boolean;
}

/**
 * Who is asking, for the resources that depend on the caller and not only on its profile: istiod
 * serves a Secret only to a proxy with a verified identity, and resolves `kubernetes://name` in that
 * identity's namespace (`pilot/pkg/xds/sds.go` `SecretGen.Generate`).
 */
export interface ProxyCaller {
  readonly node: ProxyNode;
  /** The identity the identity check bound to the node (istiod's `VerifiedIdentity`); undefined without one. */
  readonly verifiedIdentity: SpiffeIdentity | undefined;
}

export interface ResourceProvider {
  /** The profile of a proxy (namespace, flavour, labels), from its node. */
  profileOf(node: ProxyNode): ProxyProfile;
  /**
   * The view of resources for a profile. Views are cheap to create and may be cached by the provider.
   * The ADS server passes the stream's `caller`; a provider whose resources depend only on the profile ignores it.
   */
  viewFor(profile: ProxyProfile, caller?: ProxyCaller): ProxyResourceView;
  /**
   * Calls `listener` for every batch of changes (after the cache applied them). Which proxies care is
   * the server's business (it knows their subscriptions). Returns the function that removes the listener.
   */
  onChange(listener: (changes: readonly ResourceChange[]) => void): () => void;
  /**
   * False until the cache holds the store's state (the gateway is not ready before). With a profile:
   * whether that proxy can be served now (a provider may build some proxies' resources only once the
   * first such proxy asks, and hold them until then).
   */
  isReady(profile?: ProxyProfile): boolean;
}
