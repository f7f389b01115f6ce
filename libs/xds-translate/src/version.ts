/**
 * Serialized resources and their versions. A version is a content hash of the bytes
 * (go-control-plane `pkg/cache/v3/cached_resource.go`, docs/xds-protocol.md#versions-and-nonces): any replica that builds the
 * same bytes names them with the same version, so a proxy that reconnects to another gateway is
 * not sent anything again and an unchanged rebuild publishes nothing. That only holds because the
 * builders emit canonical output: fixed field and map-key order, repeated fields sorted by stable
 * keys, nothing iterated in input order. The hash is the SHA-256 of the bytes, except for
 * ClusterLoadAssignments, hashed per locality group (`assignment-version.ts`) so that a rebuild
 * hashes only the groups that changed.
 */
import { toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { contentVersion } from '@skiff/protos/content-version.js';
import { TypeUrl } from '@skiff/protos/type-urls.js';
import { ClusterSchema, type Cluster } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import type { EndpointBytesScope } from './endpoint-bytes.js';
import { encodeVersionedClusterLoadAssignment } from './load-assignment-encoding.js';
import type { TranslateResult } from './translate.js';

/** One resource ready for the wire: what an ADS response packs into an `Any` (`type_url`, `value`). */
export interface EncodedResource {
  readonly typeUrl: TypeUrl;
  /** The xDS resource name: `Cluster.name`, `ClusterLoadAssignment.cluster_name`, ... */
  readonly name: string;
  readonly bytes: Uint8Array;
  /** `contentVersion(bytes)`; `assignmentVersion(bytes)` for a ClusterLoadAssignment. */
  readonly version: string;
}

export function encodeResource<Desc extends DescMessage>(typeUrl: TypeUrl, schema: Desc, name: string, message: MessageShape<Desc>): EncodedResource {
  const bytes = toBinary(schema, message);
  return { typeUrl, name, bytes, version: contentVersion(bytes) };
}

function encodeLoadAssignment(assignment: ClusterLoadAssignment, endpoints: EndpointBytesScope | undefined): EncodedResource {
  // Same bytes as `encodeResource(..., ClusterLoadAssignmentSchema, ...)`, written without reflection:
  // assignments hold nearly every message of a build (see load-assignment-encoding.ts).
  const { bytes, version } = encodeVersionedClusterLoadAssignment(assignment, endpoints);
  return { typeUrl: TypeUrl.ClusterLoadAssignment, name: assignment.clusterName, bytes, version };
}

/** A cluster's encoding, that of the owner's previous build when the build handed out the cluster it kept. */
function encodeCluster(cluster: Cluster, kept: EndpointBytesScope | undefined): EncodedResource {
  const reused = kept?.clusterEncoding(cluster);
  if (reused !== undefined) return reused;
  const encoded = encodeResource(TypeUrl.Cluster, ClusterSchema, cluster.name, cluster);
  kept?.keepClusterEncoding(cluster, encoded);
  return encoded;
}

/**
 * Every resource of a result, serialized once: clusters, then assignments, listeners, routes, each in
 * name order. `endpoints`, the scope of the owner's build in an `EndpointBytesCache`, saves writing
 * the endpoints, and hashing the locality groups, the owner's previous build wrote; the bytes and
 * versions are the same without it.
 */
export function encodeResources(result: Pick<TranslateResult, 'clusters' | 'loadAssignments' | 'listeners' | 'routes'>, endpoints?: EndpointBytesScope): EncodedResource[] {
  return [
    ...result.clusters.map((cluster) => encodeCluster(cluster, endpoints)),
    ...result.loadAssignments.map((assignment) => encodeLoadAssignment(assignment, endpoints)),
    ...result.listeners.map((listener) => encodeResource(TypeUrl.Listener, ListenerSchema, listener.name, listener)),
    ...result.routes.map((route) => encodeResource(TypeUrl.RouteConfiguration, RouteConfigurationSchema, route.name, route)),
  ];
}

/** The namespace-specific routes of a result (`TranslateResult.namespaceRoutes`), serialized once, with their namespace. */
export function encodeNamespaceRoutes(result: Pick<TranslateResult, 'namespaceRoutes'>): { readonly namespace: string; readonly encoded: EncodedResource }[] {
  return result.namespaceRoutes.map(({ namespace, route }) => ({ namespace, encoded: encodeResource(TypeUrl.RouteConfiguration, RouteConfigurationSchema, route.name, route) }));
}
