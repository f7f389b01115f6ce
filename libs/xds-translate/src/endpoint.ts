/**
 * ClusterLoadAssignments (EDS, and the inline `load_assignment` of DNS clusters), built the way
 * istiod's endpoint builder does (`pilot/pkg/xds/endpoints/endpoint_builder.go`:
 * `BuildClusterLoadAssignment`, `generate`, `filterIstioEndpoint`, `buildEnvoyLbEndpoint`;
 * `pilot/pkg/networking/util/util.go` `AppendLbEndpointMetadata`, `BuildAddress`).
 */
import { create, type JsonObject } from '@bufbuild/protobuf';
import { isIP } from '@skiff/model';
import type { Address } from '@skiff/protos/gen/envoy/config/core/v3/address_pb.js';
import { AddressSchema } from '@skiff/protos/gen/envoy/config/core/v3/address_pb.js';
import { LocalitySchema, type Locality } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import {
  LbEndpointSchema,
  LocalityLbEndpointsSchema,
  type LbEndpoint,
  type LocalityLbEndpoints,
} from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_components_pb.js';
import { deferLbEndpoints } from './deferred-endpoints.js';
import { AddressKind, canonicalNameLabel, canonicalRevisionLabel, keptAddressKinds } from './endpoint-bytes.js';
import type { TranslateErrorCode } from './errors.js';
import { ISTIO_MUTUAL_TLS_MODE, type ServiceInstance } from './instances.js';

const UINT32_MAX = 4_294_967_295;

/** `util.EnvoyTransportSocketMetadataKey`: the metadata namespace `transport_socket_matches` look in. */
export const TRANSPORT_SOCKET_MATCH_METADATA_KEY = 'envoy.transport_socket_match';
/** `util.IstioMetadataKey`. */
export const ISTIO_METADATA_KEY = 'istio';

/**
 * The compressed telemetry string istiod puts in every endpoint's `istio.workload` metadata:
 * `workloadName;namespace;canonicalName;canonicalRevision;clusterID`, with the default revision
 * `latest` left empty.
 */
export function buildWorkloadMetadata(instance: ServiceInstance, clusterId: string): string {
  return joinWorkloadMetadata(instance, canonicalNameLabel(instance.labels), canonicalRevisionLabel(instance.labels), clusterId);
}

/** `buildWorkloadMetadata` from the canonical name and revision labels already looked up (undefined: none). */
export function joinWorkloadMetadata(instance: ServiceInstance, canonicalNameLabel: string | undefined, revisionLabel: string | undefined, clusterId: string): string {
  const canonicalName = canonicalNameLabel ?? instance.workloadName;
  const revision = revisionLabel === undefined || revisionLabel === 'latest' ? '' : revisionLabel;
  return `${instance.workloadName};${instance.namespace};${canonicalName};${revision};${clusterId}`;
}

/** A socket address, or a pipe when the port is 0 (unix domain sockets), as `util.BuildAddress` decides. */
export function buildEndpointAddress(address: string, port: number): Address {
  if (port === 0) return create(AddressSchema, { address: { case: 'pipe', value: { path: address } } });
  return create(AddressSchema, { address: { case: 'socketAddress', value: { address, portSpecifier: { case: 'portValue', value: port } } } });
}

/**
 * One `LbEndpoint`. Health status stays UNKNOWN (omitted): ServiceEntry endpoints carry no health,
 * and unhealthy WorkloadEntries never get this far. Weight 0 (unset) becomes 1. The
 * `envoy.transport_socket_match: {tlsMode: istio}` entry, which selects the cluster's mTLS socket,
 * is set only for `istio` endpoints (istiod's mTLS checker clears any other mode).
 */
export function buildLbEndpoint(instance: ServiceInstance, clusterId: string): LbEndpoint {
  const filterMetadata: Record<string, JsonObject> = {};
  if (instance.tlsMode === ISTIO_MUTUAL_TLS_MODE) {
    filterMetadata[TRANSPORT_SOCKET_MATCH_METADATA_KEY] = { tlsMode: ISTIO_MUTUAL_TLS_MODE };
  }
  filterMetadata[ISTIO_METADATA_KEY] = { workload: buildWorkloadMetadata(instance, clusterId) };
  return create(LbEndpointSchema, {
    hostIdentifier: { case: 'endpoint', value: { address: buildEndpointAddress(instance.address, instance.port) } },
    metadata: { filterMetadata },
    loadBalancingWeight: instance.weight > 0 ? instance.weight : 1,
  });
}

/** Splits `region/zone/subzone` (`pkg/model/proxy.go` `ConvertLocality`); extra segments are ignored. */
export function convertLocality(label: string): Locality {
  if (label === '') return create(LocalitySchema);
  const [region = '', zone = '', subZone = ''] = label.split('/');
  return create(LocalitySchema, { region, zone, subZone });
}

/**
 * The `region/zone/subzone` string a locality label converts back to (`util.LocalityToString` of
 * `ConvertLocality`): `a/b/` and `a/b` name the same locality.
 */
function normalizedLocalityLabel(label: string): string {
  const [region = '', zone = '', subZone = ''] = label.split('/');
  if (zone === '') return region;
  if (subZone === '') return `${region}/${zone}`;
  return `${region}/${zone}/${subZone}`;
}

export interface LocalityGroupingOptions {
  readonly clusterId: string;
  /**
   * `label` groups by the locality string as written (istiod); `locality` groups by the parsed
   * region/zone/subzone, so two spellings of one locality (`a/b`, `a/b/`) cannot produce the
   * duplicate locality a proxyless gRPC client NACKs.
   */
  readonly groupBy: 'label' | 'locality';
  /**
   * Scale locality weights down, keeping their ratios, when their total would exceed UINT32_MAX.
   * istiod only saturates each locality's sum; a proxyless gRPC client rejects an assignment whose
   * locality weights add up to more than UINT32_MAX.
   */
  readonly fitTotalWeight: boolean;
  /**
   * Keeps only the instances this accepts, after they were grouped: a locality left without endpoints
   * stays, with no weight. This is istiod's mTLS filter of sni-dnat clusters
   * (`pilot/pkg/xds/endpoints/ep_filters.go` `EndpointsWithMTLSFilter`, whose `refreshWeight` clears
   * the weight of an emptied locality).
   */
  readonly keep?: (instance: ServiceInstance) => boolean;
}

/**
 * Locality weights scaled so that their total stays within UINT32_MAX: each becomes
 * `max(1, floor(weight * (UINT32_MAX - n) / total))`, so even with the floor of 1 the sum fits.
 */
export function fitLocalityWeights(weights: readonly number[]): number[] {
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  if (total <= UINT32_MAX) return [...weights];
  const factor = (UINT32_MAX - weights.length) / total;
  return weights.map((weight) => Math.max(1, Math.floor(weight * factor)));
}

/**
 * One `LocalityLbEndpoints` per locality, sorted by locality string, endpoints in instance order.
 * `locality` is always set (`{}` when empty) and the locality weight is the saturating sum of its
 * endpoint weights: both are required by proxyless gRPC clients, which drop a locality without a
 * weight.
 */
export function buildLocalityLbEndpoints(instances: readonly ServiceInstance[], options: LocalityGroupingOptions): LocalityLbEndpoints[] {
  const groups = new Map<string, { locality: Locality; instances: ServiceInstance[]; weight: number }>();
  for (const instance of instances) {
    const key = options.groupBy === 'label' ? instance.locality : normalizedLocalityLabel(instance.locality);
    let group = groups.get(key);
    if (group === undefined) {
      group = { locality: convertLocality(instance.locality), instances: [], weight: 0 };
      groups.set(key, group);
    }
    if (options.keep !== undefined && !options.keep(instance)) continue;
    group.instances.push(instance);
    group.weight = Math.min(UINT32_MAX, group.weight + (instance.weight > 0 ? instance.weight : 1));
  }
  const sorted = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, group]) => group);
  const weights = sorted.map((group) => group.weight);
  const localityWeights = options.fitTotalWeight ? fitLocalityWeights(weights) : weights;
  // The LbEndpoint messages are built only if read: encoding writes them from the instances (endpoint-bytes.ts).
  return sorted.map((group, index) =>
    deferLbEndpoints(
      create(LocalityLbEndpointsSchema, { locality: group.locality, ...(group.instances.length === 0 ? {} : { loadBalancingWeight: localityWeights[index] ?? group.weight }) }),
      { instances: group.instances, clusterId: options.clusterId },
      (instance) => buildLbEndpoint(instance, options.clusterId),
    ),
  );
}

/** `{cluster_name, endpoints}`; with no localities this is istiod's empty assignment (`buildEmptyClusterLoadAssignment`). */
export function buildClusterLoadAssignment(clusterName: string, endpoints: readonly LocalityLbEndpoints[]): ClusterLoadAssignment {
  return create(ClusterLoadAssignmentSchema, { clusterName, endpoints: [...endpoints] });
}

/** Receives the code and detail of every instance an endpoint filter drops for a reason worth reporting. */
export type DroppedEndpointReporter = (code: TranslateErrorCode, detail: string) => void;

/**
 * Drops instances with no address. istiod keeps them for multi-network setups, where the network
 * gateway's address replaces the empty one; Skiff has no network gateways, and an empty address
 * would make Envoy reject the whole assignment.
 */
export function withAddress(instances: readonly ServiceInstance[], report: DroppedEndpointReporter): ServiceInstance[] {
  return instances.filter((instance) => {
    if (instance.address !== '') return true;
    report('ENDPOINT_WITHOUT_ADDRESS', instance.origin);
    return false;
  });
}

/**
 * The EDS filter of `BuildClusterLoadAssignment`: EDS is IP-only, so an instance with a port whose
 * address is not an IP (a hostname) is dropped silently, as istiod does. Unix sockets (port 0) stay.
 * Instances are built per service port, so istiod's "endpoint port name equals the cluster's service
 * port name" filter holds by construction.
 */
export function edsInstances(instances: readonly ServiceInstance[]): ServiceInstance[] {
  return instances.filter((instance) => instance.port === 0 || isIP(instance.address));
}

/**
 * `edsInstances(withAddress(instances, report))`, reading for the instances a port kept between
 * builds (`PortInstances`) what it already knows of their addresses instead of every address again.
 */
export function edsInstancesWithAddress(instances: readonly ServiceInstance[], report: DroppedEndpointReporter): ServiceInstance[] {
  const kinds = keptAddressKinds(instances);
  if (kinds === undefined) return edsInstances(withAddress(instances, report));
  const kept: ServiceInstance[] = [];
  for (let i = 0; i < instances.length; i++) {
    const kind = kinds[i];
    if (kind === AddressKind.Eds) kept.push(instances[i] as ServiceInstance);
    else if (kind === AddressKind.None) report('ENDPOINT_WITHOUT_ADDRESS', (instances[i] as ServiceInstance).origin);
  }
  return kept;
}

/**
 * What a proxyless gRPC client accepts on top of EDS (grpc-js-xds `endpoint-resource-type.ts`):
 * only IP literals with a port (no unix sockets), each `address:port` once per assignment. The
 * first instance of a duplicate in assignment order wins.
 */
export function grpcInstances(instances: readonly ServiceInstance[], report: DroppedEndpointReporter): ServiceInstance[] {
  const seen = new Set<string>();
  // In the order the assignment lists them (by locality, then as given), so the copy kept of a
  // repeated address is the first the client would read in istiod's assignment.
  const inAssignmentOrder = instances
    .map((instance, index) => ({ instance, index, key: normalizedLocalityLabel(instance.locality) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index))
    .map(({ instance }) => instance);
  return inAssignmentOrder.filter((instance) => {
    if (instance.port === 0 || !isIP(instance.address)) {
      report('GRPC_UNSUPPORTED_ENDPOINT', `${instance.origin}: ${instance.port === 0 ? 'unix socket' : 'not an IP'} ${instance.address}`);
      return false;
    }
    const key = `${instance.address} ${instance.port}`;
    if (seen.has(key)) {
      report('GRPC_DUPLICATE_ENDPOINT', `${instance.origin}: ${instance.address}:${instance.port}`);
      return false;
    }
    seen.add(key);
    return true;
  });
}
