/**
 * Small, valid resources of the four xDS types for the suite. `revision` changes a field the client
 * parses, so each revision is a new version with new bytes; the same arguments always give the same
 * bytes (a resource set again unchanged must not be pushed again).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { TypeUrl } from '@skiff/protos';
import { Cluster_DiscoveryType, Cluster_LbPolicy, ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';

/** A resource as the suite hands it to the server under test. */
export interface ConformanceResource {
  readonly typeUrl: string;
  readonly name: string;
  /** The serialized resource message. */
  readonly bytes: Uint8Array;
}

/** The EDS service name the suite gives the cluster `name`. */
export function edsNameOf(clusterName: string): string {
  return `${clusterName}-eds`;
}

/** An EDS cluster served over ADS, with `service_name` = `edsNameOf(name)`. */
export function testCluster(name: string, revision = 0): ConformanceResource {
  const cluster = create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { serviceName: edsNameOf(name), edsConfig: { configSourceSpecifier: { case: 'ads', value: {} } } },
    lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
    connectTimeout: { seconds: BigInt(1 + revision) },
  });
  return { typeUrl: TypeUrl.Cluster, name, bytes: toBinary(ClusterSchema, cluster) };
}

/** A ClusterLoadAssignment with one locality and one endpoint on 127.0.0.1; `revision` moves the port. */
export function testLoadAssignment(clusterName: string, revision = 0): ConformanceResource {
  const assignment = create(ClusterLoadAssignmentSchema, {
    clusterName,
    endpoints: [
      {
        locality: { region: 'conformance', zone: 'a' },
        loadBalancingWeight: 1,
        lbEndpoints: [
          {
            hostIdentifier: {
              case: 'endpoint',
              value: { address: { address: { case: 'socketAddress', value: { address: '127.0.0.1', portSpecifier: { case: 'portValue', value: 10_000 + revision } } } } },
            },
          },
        ],
      },
    ],
  });
  return { typeUrl: TypeUrl.ClusterLoadAssignment, name: clusterName, bytes: toBinary(ClusterLoadAssignmentSchema, assignment) };
}

/** A Listener; `revision` changes its stat prefix. */
export function testListener(name: string, revision = 0): ConformanceResource {
  const listener = create(ListenerSchema, { name, statPrefix: `conformance-${revision}` });
  return { typeUrl: TypeUrl.Listener, name, bytes: toBinary(ListenerSchema, listener) };
}

/** A RouteConfiguration with one virtual host; `revision` changes its domain. */
export function testRouteConfiguration(name: string, revision = 0): ConformanceResource {
  const route = create(RouteConfigurationSchema, {
    name,
    virtualHosts: [{ name: `${name}-vh`, domains: [`rev-${revision}.conformance`] }],
  });
  return { typeUrl: TypeUrl.RouteConfiguration, name, bytes: toBinary(RouteConfigurationSchema, route) };
}
