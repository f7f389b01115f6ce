/**
 * ServiceEntry -> Envoy resources, per host x port: the pure core of the translator.
 *
 * Two flavours, as istiod has two generators:
 * - `envoy`: what istiod 1.30 sends a sidecar for the entry (`pilot/pkg/networking/core/cluster.go`
 *   `buildOutboundClusters`, `convertResolution`; EDS from `pilot/pkg/xds/endpoints/endpoint_builder.go`).
 * - `grpc`: what a proxyless gRPC client (node metadata `GENERATOR: grpc`) can use
 *   (`pilot/pkg/networking/grpcgen/`), restricted to what grpc-js-xds accepts: EDS or LOGICAL_DNS
 *   clusters with ROUND_ROBIN, IP-literal endpoints, plus a Listener and a RouteConfiguration per
 *   host:port.
 *
 * Input is one normalized ServiceEntry and the endpoints that belong to it (inline `spec.endpoints`
 * plus the WorkloadEntries its selector picked); output is canonical, so equal input gives equal
 * bytes whatever the order of `endpoints`.
 */
import type { NormalizedEndpoint, NormalizedPort, NormalizedServiceEntry } from '@skiff/model';
import type { Cluster } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import type { LocalityLbEndpoints } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_components_pb.js';
import type { Listener } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import {
  buildCluster,
  buildDynamicForwardProxyCluster,
  buildGrpcEdsCluster,
  supportsDynamicForwardProxy,
  type ClusterArgs,
  type ClusterDiscovery,
  type ClusterRule,
} from './cluster.js';
import {
  asTrafficPolicy,
  destinationRuleConfigPath,
  endpointTlsMode,
  mergeSubsetTrafficPolicy,
  portLevelTrafficPolicy,
  type AppliedDestinationRule,
  type ConsistentHashJson,
  type TrafficPolicyJson,
} from './destination-rule.js';
import {
  buildClusterLoadAssignment,
  buildLocalityLbEndpoints,
  edsInstancesWithAddress,
  grpcInstances,
  withAddress,
  type DroppedEndpointReporter,
} from './endpoint.js';
import type { EdsClusterInputs, EndpointBytesScope } from './endpoint-bytes.js';
import { TranslateError, type TranslateErrorCode } from './errors.js';
import { buildServiceInstances, canonicalEndpoints, ISTIO_MUTUAL_TLS_MODE, type ServiceInstance } from './instances.js';
import { buildGrpcListener, selectListenerAddress } from './listener.js';
import { localityLbPolicyOf, usesFailoverPriority, type LocalityLbPolicy } from './locality-lb.js';
import type { MeshSettings } from './mesh.js';
import { buildOutboundClusterName, buildSubsetKey, joinHostPort, type ClusterNaming } from './names.js';
import { buildGrpcRouteConfiguration, isHttpRoutedProtocol, kubernetesNamespaceOf } from './route.js';
import { untranslatedVirtualServiceFields, type AppliedVirtualService } from './virtual-service.js';

/** Which generator's output: Envoy proxies (sidecars, gateways) or proxyless gRPC clients. */
export type Flavor = 'envoy' | 'grpc';

export interface TranslateOptions {
  readonly flavor: Flavor;
  /**
   * Cluster name spelling. `sni-dnat` builds istiod's sni-dnat clusters, which it adds for a router
   * that a Gateway with an AUTO_PASSTHROUGH server selects (`pilot/pkg/networking/core/cluster.go`
   * `buildOutboundSniDnatClusters`): DNS-SRV names, resolution NONE served over EDS, no TLS
   * settings, no `use_downstream_protocol` for sniffed ports, MESH_INTERNAL entries only, and only
   * endpoints labelled `security.istio.io/tlsMode: istio` in their assignments.
   */
  readonly naming: ClusterNaming;
  readonly mesh: MeshSettings;
}

export interface TranslateInput {
  readonly serviceEntry: NormalizedServiceEntry;
  /** Inline endpoints plus the selected WorkloadEntries, in any order. */
  readonly endpoints: readonly NormalizedEndpoint[];
  /**
   * The DestinationRule istiod applies to each host of the entry, keyed by the host as the entry
   * writes it. A host without one (or no map) gets the clusters istiod builds without a rule.
   */
  readonly destinationRules?: ReadonlyMap<string, AppliedDestinationRule>;
  /**
   * The VirtualServices that may claim each host of the entry for the clients built for, in istiod's
   * order, keyed by the host as the entry writes it (`chooseVirtualServices`). A host without any
   * gets the default route.
   */
  readonly virtualServices?: ReadonlyMap<string, readonly AppliedVirtualService[]>;
  /**
   * The other ServiceEntries of the entry's namespace that share one of its hosts, with their
   * endpoints (inline plus selected, in any order). istiod keeps one endpoint shard per host and
   * namespace, filled by all of them (`mergeServicesInstancesByNamespaceHost`): a cluster of this
   * entry carries their endpoints too (`shardInstances`).
   */
  readonly siblings?: readonly SiblingInput[];
}

/** A sibling ServiceEntry (`TranslateInput.siblings`). */
export interface SiblingInput {
  readonly serviceEntry: NormalizedServiceEntry;
  readonly endpoints: readonly NormalizedEndpoint[];
}

/** A route configuration as clients of one namespace get it. */
export interface NamespaceRoute {
  readonly namespace: string;
  readonly route: RouteConfiguration;
}

/** A cluster's locality load balancing policy (`localityLbPolicyOf`). */
export interface LocalityLbPolicyEntry {
  readonly clusterName: string;
  readonly policy: LocalityLbPolicy;
  /** The policy rewrites the inline `load_assignment` of the STRICT_DNS / LOGICAL_DNS cluster of that name, not an EDS assignment. */
  readonly inline?: true;
}

export interface TranslateResult {
  /** Sorted by name. */
  readonly clusters: Cluster[];
  /** EDS assignments, sorted by cluster name (DNS clusters carry theirs inline; ORIGINAL_DST clusters have none). */
  readonly loadAssignments: ClusterLoadAssignment[];
  /**
   * Per EDS assignment, or DNS cluster's inline assignment, whose endpoints istiod rewrites per proxy
   * (locality load balancing), the policy to apply (`applyLocalityLbPolicy`); sorted by cluster name.
   * Assignments not listed are the same for every proxy.
   */
  readonly localityLbPolicies: LocalityLbPolicyEntry[];
  /** `grpc` flavour only; sorted by name. */
  readonly listeners: Listener[];
  /** `grpc` flavour only; sorted by name. */
  readonly routes: RouteConfiguration[];
  /**
   * `grpc` flavour only: the routes whose clients in one namespace get other domains than `routes`
   * give everyone (a host `NAME.NS.svc.cluster.local` is also `NAME` in NS), with that namespace.
   * Same names as in `routes`; sorted by name.
   */
  readonly namespaceRoutes: NamespaceRoute[];
  /** Entry-level problems; what they name was left out or trimmed. Sorted by cluster name, code, detail. */
  readonly errors: TranslateError[];
}

/** `convertResolution` for a sidecar, and for a router in sni-dnat mode (gateways cannot use ORIGINAL_DST). */
function envoyDiscovery(resolution: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN', naming: ClusterNaming): ClusterDiscovery {
  switch (resolution) {
    case 'STATIC':
      return 'EDS';
    case 'NONE':
      return naming === 'sni-dnat' ? 'EDS' : 'ORIGINAL_DST';
    case 'DNS':
      return 'STRICT_DNS';
    case 'DNS_ROUND_ROBIN':
      return 'LOGICAL_DNS';
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byName<T>(nameOf: (item: T) => string): (a: T, b: T) => number {
  return (a, b) => compareStrings(nameOf(a), nameOf(b));
}

function compareErrors(a: TranslateError, b: TranslateError): number {
  return (
    compareStrings(a.clusterName ?? '', b.clusterName ?? '') ||
    compareStrings(a.code, b.code) ||
    compareStrings(a.detail ?? '', b.detail ?? '')
  );
}

interface Output {
  clusters: Cluster[];
  loadAssignments: ClusterLoadAssignment[];
  localityLbPolicies: LocalityLbPolicyEntry[];
  listeners: Listener[];
  routes: RouteConfiguration[];
  namespaceRoutes: NamespaceRoute[];
  errors: TranslateError[];
}

interface PortContext {
  readonly serviceEntry: NormalizedServiceEntry;
  readonly hostname: string;
  readonly servicePort: NormalizedPort;
  /**
   * The instances of the port as istiod's cluster builder reads them (`ServiceEndpointsByPort`: the
   * host's shard by service port number): a DNS cluster's endpoints, the passthrough mTLS decision.
   */
  readonly instances: readonly ServiceInstance[];
  /** The instances its EDS assignment is built from (the shard by service port name, `BuildClusterLoadAssignment`). */
  readonly assignmentInstances: readonly ServiceInstance[];
  readonly subjectAltNames: readonly string[];
  readonly options: TranslateOptions;
  readonly clusterName: string;
  readonly report: DroppedEndpointReporter;
  /** Reports against another cluster of the port (a subset's). */
  readonly reportFor: (clusterName: string) => DroppedEndpointReporter;
  readonly output: Output;
  readonly destinationRule: AppliedDestinationRule | undefined;
  /** The VirtualServices that may claim the host (`TranslateInput.virtualServices`). */
  readonly virtualServices: readonly AppliedVirtualService[] | undefined;
  /** The consistent hash of a VirtualService route destination (`destinationHashOf`). */
  readonly destinationHash: (destination: Readonly<Record<string, unknown>>) => ConsistentHashJson | undefined;
  /** The scope of this build of the owner in an `EndpointBytesCache`, if any: its EDS clusters are kept there. */
  readonly kept: EndpointBytesScope | undefined;
}

/** One cluster of a port: the default one, or a subset's. */
interface PortCluster {
  readonly name: string;
  readonly discovery: ClusterDiscovery;
  /**
   * The port's instances the cluster's endpoints come from (a subset's match its labels), with the
   * TLS mode the rule imposes on their endpoints.
   */
  readonly instances: readonly ServiceInstance[];
  /** The same for its EDS assignment (`PortContext.assignmentInstances`). */
  readonly assignmentInstances: readonly ServiceInstance[];
  readonly rule: ClusterRule | undefined;
  readonly report: DroppedEndpointReporter;
}

/**
 * The instances with the `tlsMode` their endpoints are built with: when the rule sets a TLS mode for
 * the port (and subset) other than ISTIO_MUTUAL, no endpoint is marked for Istio mTLS, whatever its
 * label says (`mtls_checker.go` `checkMtlsEnabled`, then `buildEnvoyLbEndpoint` clearing the mode).
 * ISTIO_MUTUAL leaves the endpoints' own modes.
 */
function withRuleTlsMode(instances: readonly ServiceInstance[], rule: AppliedDestinationRule, subset: string, port: number): readonly ServiceInstance[] {
  const mode = endpointTlsMode(rule.rule, subset, port);
  if (mode === undefined || mode === 'ISTIO_MUTUAL') return instances;
  return instances.map((instance) => (instance.tlsMode === ISTIO_MUTUAL_TLS_MODE ? { ...instance, tlsMode: 'disabled' } : instance));
}

/** `labels.Instance.SubsetOf`: every label of the subset is on the instance. */
function hasLabels(instance: ServiceInstance, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(labels).every(([key, value]) => instance.labels[key] === value);
}

/**
 * The clusters of one port: the default cluster with the rule's policy for the port
 * (`applyDestinationRule`), then one per subset with the subset's policy merged over it and only the
 * instances carrying the subset's labels (`buildSubsetCluster`, the endpoint builder's `WithSubset`).
 * A subset whose own load balancer is PASSTHROUGH is an ORIGINAL_DST cluster from the start.
 */
function portClusters(context: PortContext, discovery: ClusterDiscovery): PortCluster[] {
  const applied = context.destinationRule;
  const port = context.servicePort.number;
  if (applied === undefined) {
    return [{ name: context.clusterName, discovery, instances: context.instances, assignmentInstances: context.assignmentInstances, rule: undefined, report: context.report }];
  }
  const rulePolicy = asTrafficPolicy(applied.rule.trafficPolicy);
  const configPath = destinationRuleConfigPath(applied);
  const withSelector = applied.rule.workloadSelector !== null;
  // Both views of the port's instances, as one cluster of it takes them: the same list stays one list.
  const views = (subset: string, keep: (instance: ServiceInstance) => boolean = () => true) => {
    const instances = withRuleTlsMode(subset === '' ? context.instances : context.instances.filter(keep), applied, subset, port);
    if (context.assignmentInstances === context.instances) return { instances, assignmentInstances: instances };
    const assignment = subset === '' ? context.assignmentInstances : context.assignmentInstances.filter(keep);
    return { instances, assignmentInstances: withRuleTlsMode(assignment, applied, subset, port) };
  };
  const clusters: PortCluster[] = [
    {
      name: context.clusterName,
      discovery,
      ...views(''),
      rule: { policy: portLevelTrafficPolicy(rulePolicy, port).policy, configPath, withSelector, passthroughHint: isPassthrough(rulePolicy) },
      report: context.report,
    },
  ];
  for (const subset of applied.rule.subsets) {
    const own = asTrafficPolicy(subset.trafficPolicy);
    const name = buildOutboundClusterName(context.options.naming, context.hostname, port, subset.name);
    clusters.push({
      name,
      discovery: isPassthrough(own) ? 'ORIGINAL_DST' : discovery,
      ...views(subset.name, (instance) => hasLabels(instance, subset.labels)),
      rule: { policy: mergeSubsetTrafficPolicy(rulePolicy, own, port), configPath, subset: subset.name, withSelector, passthroughHint: isPassthrough(own) },
      report: context.reportFor(name),
    });
  }
  return clusters;
}

/** A policy whose own load balancer (not a port-level one) is PASSTHROUGH. */
function isPassthrough(policy: TrafficPolicyJson | undefined): boolean {
  return policy?.loadBalancer?.simple === 'PASSTHROUGH';
}


function translateEnvoyPort(context: PortContext): void {
  const { serviceEntry, options, clusterName, output } = context;
  if (serviceEntry.resolution === 'DYNAMIC_DNS') {
    // Only wildcard hosts on ports Envoy's dynamic forward proxy handles (`buildOutboundClusters`).
    if (context.hostname.startsWith('*') && supportsDynamicForwardProxy(context.servicePort.protocol)) {
      // `applyDestinationRule` with the rule's policy for the port; no subset clusters.
      const applied = context.destinationRule;
      const rulePolicy = applied === undefined ? undefined : asTrafficPolicy(applied.rule.trafficPolicy);
      const destinationRule: ClusterRule | undefined =
        applied === undefined
          ? undefined
          : { policy: portLevelTrafficPolicy(rulePolicy, context.servicePort.number).policy, configPath: destinationRuleConfigPath(applied), withSelector: applied.rule.workloadSelector !== null, passthroughHint: false };
      output.clusters.push(
        buildDynamicForwardProxyCluster({
          name: clusterName,
          serviceEntry,
          hostname: context.hostname,
          servicePort: context.servicePort,
          naming: options.naming,
          mesh: options.mesh,
          ...(destinationRule === undefined ? {} : { destinationRule }),
        }),
      );
    }
    return;
  }
  const discovery = envoyDiscovery(serviceEntry.resolution, options.naming);
  // istiod's mTLS inference looks at every instance of the port, whatever the subset.
  const instanceTlsModes = context.instances.map((instance) => instance.tlsMode);
  for (const portCluster of portClusters(context, discovery)) {
    buildEnvoyCluster(context, portCluster, instanceTlsModes);
  }
}

function buildEnvoyCluster(context: PortContext, portCluster: PortCluster, instanceTlsModes: readonly string[]): void {
  const { serviceEntry, options, output } = context;
  const { name, discovery } = portCluster;
  const clusterArgs = {
    name,
    discovery,
    serviceEntry,
    hostname: context.hostname,
    servicePort: context.servicePort,
    naming: options.naming,
    mesh: options.mesh,
    inlineEndpoints: [],
    subjectAltNames: context.subjectAltNames,
    instanceTlsModes,
    ...(portCluster.rule === undefined ? {} : { destinationRule: portCluster.rule }),
  };
  // istiod keeps only mTLS endpoints (tlsMode `istio`) in sni-dnat clusters: an AUTO_PASSTHROUGH
  // gateway cannot tell whether the passed-through connection is mTLS (`pilot/pkg/xds/endpoints/endpoint_builder.go`
  // `generate`, `IsDNSSrvSubsetKey` branch).
  const grouping = {
    clusterId: options.mesh.clusterId,
    groupBy: 'label',
    fitTotalWeight: false,
    ...(options.naming === 'sni-dnat' ? { keep: (instance: ServiceInstance) => instance.tlsMode === ISTIO_MUTUAL_TLS_MODE } : {}),
  } as const;
  switch (discovery) {
    case 'STRICT_DNS':
    case 'LOGICAL_DNS': {
      const inlineEndpoints = buildLocalityLbEndpoints(withAddress(portCluster.instances, portCluster.report), grouping);
      if (inlineEndpoints.length === 0) {
        portCluster.report('DNS_CLUSTER_WITHOUT_ENDPOINTS', `resolution ${serviceEntry.resolution}`);
        return;
      }
      // istiod rewrites a DNS cluster's inline endpoints per proxy (`ApplyToCluster` with the cluster's
      // `dnsWrappedLocalityLbEndpoints`, `cluster.go` `buildOutboundClusters`); the gateway does it here.
      const built = localityLbPolicyOf({ mesh: options.mesh, policy: portCluster.rule?.policy, endpoints: inlineEndpoints, clusterId: options.mesh.clusterId });
      // Only a sidecar's default cluster carries those wrapped endpoints: for subset and sni-dnat
      // clusters `applyFailoverPriorities` has none and changes nothing (`buildSubsetCluster`).
      const wrapped = portCluster.rule?.subset === undefined && options.naming === 'sidecar';
      const locality = built !== undefined && !wrapped && usesFailoverPriority(built) ? { ...built, endpointLabels: [] } : built;
      const unmatched = locality !== undefined && wrapped && usesFailoverPriority(locality) && inlineEndpoints.length > 1;
      if (unmatched) {
        // The default cluster's wrapped endpoints are its first locality with the labels of all the
        // port's endpoints, and `applyFailoverPriorities` indexes the one by the other: no output to match.
        const setting = locality?.zoneAware === true ? 'zoneAwareLbSetting' : 'localityLbSetting';
        portCluster.report('DESTINATION_RULE_FIELD_NOT_APPLIED', `${setting}.failoverPriority on the inline endpoints of a DNS cluster with endpoints in several localities (istiod ranks only the first locality's)`);
      }
      const cluster = buildCluster({ ...clusterArgs, inlineEndpoints });
      output.clusters.push(cluster);
      // A PASSTHROUGH load balancer drops the inline endpoints (ORIGINAL_DST): nothing to rewrite then.
      if (locality !== undefined && !unmatched && cluster.loadAssignment !== undefined) output.localityLbPolicies.push({ clusterName: name, policy: locality, inline: true });
      return;
    }
    case 'EDS': {
      const cluster = edsCluster(context, portCluster, clusterArgs);
      output.clusters.push(cluster);
      // A PASSTHROUGH load balancer turns the cluster into ORIGINAL_DST: no assignment then.
      if (cluster.edsClusterConfig === undefined) return;
      const endpoints = buildLocalityLbEndpoints(edsInstancesWithAddress(portCluster.assignmentInstances, portCluster.report), grouping);
      addLoadAssignment(context, portCluster, endpoints);
      return;
    }
    case 'ORIGINAL_DST':
      // Envoy connects to the original destination: no endpoints, so no assignment.
      output.clusters.push(buildCluster(clusterArgs));
      return;
  }
}

/**
 * An EDS cluster, the one the owner's previous build made when no DestinationRule applies and every
 * input of `buildCluster` that matters to it is the same (`EdsClusterInputs`): a workload's change of
 * address, labels or ServiceEntry changes the assignments, not the clusters. With a rule the cluster
 * is built each time.
 */
function edsCluster(context: PortContext, portCluster: PortCluster, args: ClusterArgs): Cluster {
  if (context.kept === undefined || portCluster.rule !== undefined) return buildCluster(args);
  const inputs: EdsClusterInputs = {
    serviceEntry: args.serviceEntry,
    hostname: args.hostname,
    servicePort: args.servicePort,
    naming: args.naming,
    mesh: args.mesh,
    subjectAltNames: args.subjectAltNames,
  };
  const kept = context.kept.keptEdsCluster(args.name, inputs);
  if (kept !== undefined) return kept;
  const cluster = buildCluster(args);
  context.kept.keepEdsCluster(args.name, inputs, cluster);
  return cluster;
}

/**
 * An EDS assignment, and the locality load balancing policy istiod would apply to it per proxy
 * (`BuildClusterLoadAssignment` reads the rule's policy for the cluster's port and subset, or the
 * mesh's setting; the same for both generators).
 */
function addLoadAssignment(context: PortContext, portCluster: PortCluster, endpoints: LocalityLbEndpoints[]): void {
  const policy = localityLbPolicyOf({ mesh: context.options.mesh, policy: portCluster.rule?.policy, endpoints, clusterId: context.options.mesh.clusterId });
  context.output.loadAssignments.push(buildClusterLoadAssignment(portCluster.name, endpoints));
  if (policy !== undefined) context.output.localityLbPolicies.push({ clusterName: portCluster.name, policy });
}

/**
 * What istiod's gRPC generator builds (`grpcgen/cds.go`): an EDS cluster for every resolution, whose
 * assignment holds the IP endpoints istiod's EDS keeps (none for a DNS entry, whose Envoy clusters
 * resolve names themselves; a NONE entry's hostnames are dropped), then the listener and route. One difference, where istiod's
 * assignment would be refused whole by the client (grpc-js-xds `endpoint-resource-type.ts`): unix
 * sockets and repeated `address:port` are left out and reported, two spellings of one locality
 * are one locality, and locality weights are scaled to fit the client's limit.
 */
function translateGrpcPort(context: PortContext): void {
  const { output } = context;
  const grouping = { clusterId: context.options.mesh.clusterId, groupBy: 'locality', fitTotalWeight: true } as const;
  // istiod keeps no EDS endpoints for DNS entries (their Envoy clusters resolve DNS themselves).
  const dns = context.serviceEntry.resolution === 'DNS' || context.serviceEntry.resolution === 'DNS_ROUND_ROBIN';
  // Every cluster of the gRPC generator is an EDS cluster, subsets included (`grpcgen/cds.go` `applyDestinationRule`).
  for (const portCluster of portClusters(context, 'EDS')) {
    output.clusters.push(
      buildGrpcEdsCluster(portCluster.name, { policy: portCluster.rule?.policy, subjectAltNames: context.subjectAltNames, report: portCluster.report }),
    );
    const kept = dns ? [] : grpcInstances(edsInstancesWithAddress(portCluster.assignmentInstances, portCluster.report), portCluster.report);
    addLoadAssignment(context, portCluster, buildLocalityLbEndpoints(kept, grouping));
  }
  buildGrpcListenerAndRoute(context);
}

/**
 * The consistent hash a route to the port uses (`route.go` `hashForService`): the rule's, unless the
 * first port-level setting for the port has one of its own.
 */
function routeConsistentHash(applied: AppliedDestinationRule | undefined, port: number): ConsistentHashJson | undefined {
  const policy = applied === undefined ? undefined : asTrafficPolicy(applied.rule.trafficPolicy);
  const portSetting = policy?.portLevelSettings?.find((setting) => setting.port?.number === port);
  return portSetting?.loadBalancer?.consistentHash ?? policy?.loadBalancer?.consistentHash;
}

/**
 * `HashForHTTPDestination`: the consistent hash of a VirtualService route destination, from the
 * DestinationRule the client gets for the destination's host: the subset's port-level setting for the
 * destination's port, the subset's, the rule's port-level setting for that port, or the rule's. Only
 * the hosts of this ServiceEntry have their rules here; a destination elsewhere gets none.
 */
function destinationHashOf(rules: ReadonlyMap<string, AppliedDestinationRule> | undefined) {
  return (destination: Readonly<Record<string, unknown>>): ConsistentHashJson | undefined => {
    const applied = typeof destination['host'] === 'string' ? rules?.get(destination['host']) : undefined;
    if (applied === undefined) return undefined;
    const port = (destination['port'] as { number?: unknown } | undefined)?.number;
    const portHash = (policy: TrafficPolicyJson | undefined) =>
      typeof port === 'number' && port !== 0 ? policy?.portLevelSettings?.find((setting) => setting.port?.number === port)?.loadBalancer?.consistentHash : undefined;
    const policy = asTrafficPolicy(applied.rule.trafficPolicy);
    const subset = applied.rule.subsets.find((candidate) => candidate.name === destination['subset']);
    const subsetPolicy = subset === undefined ? undefined : asTrafficPolicy(subset.trafficPolicy);
    return portHash(subsetPolicy) ?? subsetPolicy?.loadBalancer?.consistentHash ?? portHash(policy) ?? policy?.loadBalancer?.consistentHash;
  };
}

/**
 * The listener a gRPC client subscribes to (`HOST:PORT`) and the route configuration it names.
 * Built for every port, UDP too, as istiod's gRPC generator does (`grpcgen/lds.go`
 * `buildOutboundListeners`); a port that does not carry HTTP gets a route with no virtual host.
 */
function buildGrpcListenerAndRoute(
  context: Pick<PortContext, 'serviceEntry' | 'clusterName' | 'hostname' | 'servicePort' | 'output' | 'options' | 'destinationRule' | 'virtualServices' | 'destinationHash'>,
): void {
  const { serviceEntry, clusterName, hostname, servicePort, output } = context;
  const routeConfigName = buildSubsetKey({ direction: 'outbound', port: servicePort.number, subset: '', hostname });
  output.listeners.push(
    buildGrpcListener({
      name: joinHostPort(hostname, servicePort.number),
      address: selectListenerAddress(serviceEntry.addresses),
      port: servicePort.number,
      routeConfigName,
    }),
  );
  const routeArgs = {
    name: routeConfigName,
    hostname,
    port: servicePort.number,
    protocol: servicePort.protocol,
    clusterName,
    addresses: serviceEntry.addresses,
    absoluteFqdnDomains: context.options.mesh.absoluteFqdnVhostDomain,
    consistentHash: routeConsistentHash(context.destinationRule, servicePort.number),
    virtualServices: context.virtualServices,
    destinationHash: context.destinationHash,
  };
  output.routes.push(buildGrpcRouteConfiguration(routeArgs));
  // istiod builds routes per proxy: one in the host's own namespace also matches the bare name
  // (`generateVirtualHostDomains`). Only routes with a virtual host differ.
  const namespace = kubernetesNamespaceOf(hostname);
  if (namespace !== undefined && isHttpRoutedProtocol(servicePort.protocol)) {
    output.namespaceRoutes.push({ namespace, route: buildGrpcRouteConfiguration({ ...routeArgs, clientNamespace: namespace }) });
  }
}

/** One ServiceEntry of a host's endpoint shard, with its instances of the host per port (in its port order). */
interface ShardMember {
  readonly serviceEntry: NormalizedServiceEntry;
  readonly instancesByPort: readonly (readonly ServiceInstance[])[];
}

/** The ServiceEntries of one host and namespace, oldest first, as istiod's endpoint shard holds them. */
interface HostShard {
  readonly members: readonly ShardMember[];
}

/**
 * The endpoint shard of `hostname` in the entry's namespace when a sibling shares the host, else
 * undefined (the entry's own instances are the shard). istiod fills one shard per host and namespace
 * with the instances of every ServiceEntry there, oldest first (creation time, then name), skipping a
 * DNS_ROUND_ROBIN entry's instances of a port number an earlier instance has ("only one locality lb
 * end point is allowed for DnsRoundRobinLB services"): `pilot/pkg/serviceregistry/serviceentry/conversion.go`
 * `mergeServicesInstancesByNamespaceHost`.
 */
function shardOf(input: TranslateInput, hostname: string, ownInstances: readonly (readonly ServiceInstance[])[], trustDomain: string): HostShard | undefined {
  const siblings = (input.siblings ?? []).filter((sibling) => sibling.serviceEntry.namespace === input.serviceEntry.namespace && sibling.serviceEntry.hosts.includes(hostname));
  if (siblings.length === 0) return undefined;
  const members: ShardMember[] = [
    { serviceEntry: input.serviceEntry, instancesByPort: ownInstances },
    ...siblings.map((sibling) => {
      const endpoints = canonicalEndpoints(sibling.endpoints);
      const hasEndpoints = sibling.endpoints.length > 0;
      return {
        serviceEntry: sibling.serviceEntry,
        instancesByPort: sibling.serviceEntry.ports.map((servicePort) => buildServiceInstances({ serviceEntry: sibling.serviceEntry, endpoints, hasEndpoints, hostname, servicePort, trustDomain })),
      };
    }),
  ];
  members.sort((a, b) => a.serviceEntry.creationTime - b.serviceEntry.creationTime || compareStrings(a.serviceEntry.name, b.serviceEntry.name));
  const portsSeen = new Set<number>();
  const deduplicated = members.map((member) => {
    const roundRobin = member.serviceEntry.resolution === 'DNS_ROUND_ROBIN';
    const instancesByPort = member.serviceEntry.ports.map((servicePort, index) => {
      const instances = member.instancesByPort[index] ?? [];
      if (instances.length === 0) return instances;
      if (roundRobin && portsSeen.has(servicePort.number)) return [];
      portsSeen.add(servicePort.number);
      return instances;
    });
    return { serviceEntry: member.serviceEntry, instancesByPort };
  });
  return { members: deduplicated };
}

/** The shard's instances of the service ports `matches` picks, member by member. */
function shardInstancesOfPort(shard: HostShard, matches: (port: NormalizedPort) => boolean): ServiceInstance[] {
  const instances: ServiceInstance[] = [];
  for (const member of shard.members) {
    member.serviceEntry.ports.forEach((port, index) => {
      if (matches(port)) for (const instance of member.instancesByPort[index] ?? []) instances.push(instance);
    });
  }
  return instances;
}

/**
 * The service accounts of a host (`PushContext.initServiceRegistry`, `addServiceAccounts`): those of
 * every instance in the shard, plus the `subjectAltNames` of the last ServiceEntry of the host and
 * namespace in creation order (each one's service replaces the previous one's set). Sorted, unique.
 */
function shardServiceAccounts(shard: HostShard): string[] {
  const identities = new Set(shard.members.at(-1)?.serviceEntry.subjectAltNames ?? []);
  for (const member of shard.members) for (const instances of member.instancesByPort) for (const instance of instances) if (instance.serviceAccount !== '') identities.add(instance.serviceAccount);
  return [...identities].sort();
}

/**
 * Builds every resource of one ServiceEntry: a cluster per host x port (UDP ports skipped, as
 * istiod does), its EDS assignment where the cluster uses EDS, and for the `grpc` flavour a
 * Listener and RouteConfiguration per host:port. Never throws for bad user data: problems are in
 * `errors`, and the affected host x port is left out or trimmed.
 *
 * `kept`, the scope of this build of the ServiceEntry in an `EndpointBytesCache` (the one its
 * encoding then uses), saves ordering again and building again the service instances of endpoints
 * its previous build had; the result is the same without it.
 */
export function translateServiceEntry(input: TranslateInput, options: TranslateOptions, kept?: EndpointBytesScope): TranslateResult {
  const { serviceEntry } = input;
  const entryKey = `${serviceEntry.namespace}/${serviceEntry.name}`;
  const output: Output = { clusters: [], loadAssignments: [], localityLbPolicies: [], listeners: [], routes: [], namespaceRoutes: [], errors: [] };
  const reporter =
    (clusterName: string | undefined): DroppedEndpointReporter =>
    (code: TranslateErrorCode, detail: string) =>
      output.errors.push(new TranslateError({ code, serviceEntry: entryKey, ...(clusterName === undefined ? {} : { clusterName }), detail }));

  // istiod builds sni-dnat clusters for mesh-internal services only (`buildOutboundSniDnatClusters`).
  if (options.naming === 'sni-dnat' && serviceEntry.location === 'MESH_EXTERNAL') return output;
  const endpoints = canonicalEndpoints(input.endpoints, kept?.canonicalOrder());
  const translatePort = options.flavor === 'grpc' ? translateGrpcPort : translateEnvoyPort;
  const destinationHash = destinationHashOf(input.destinationRules);
  for (const hostname of new Set(serviceEntry.hosts)) {
    // Instances exist for every port, UDP included; istiod's service-account set (the SANs) is the
    // union over all of them and the siblings' (`shardServiceAccounts`).
    const ownInstances = serviceEntry.ports.map((servicePort) =>
      buildServiceInstances({
        serviceEntry,
        endpoints,
        hasEndpoints: input.endpoints.length > 0,
        hostname,
        servicePort,
        trustDomain: options.mesh.trustDomain,
        kept: kept?.instances(servicePort, options.mesh.trustDomain),
      }),
    );
    const shard = shardOf(input, hostname, ownInstances, options.mesh.trustDomain);
    const subjectAltNames = shardServiceAccounts(shard ?? { members: [{ serviceEntry, instancesByPort: ownInstances }] });

    serviceEntry.ports.forEach((servicePort, index) => {
      const clusterName = buildOutboundClusterName(options.naming, hostname, servicePort.number);
      if (servicePort.protocol === 'UDP') {
        // No cluster: Envoy and gRPC do not proxy UDP. The gRPC generator still answers LDS and RDS.
        if (options.flavor === 'grpc') buildGrpcListenerAndRoute({
            serviceEntry,
            clusterName,
            hostname,
            servicePort,
            output,
            options,
            destinationRule: input.destinationRules?.get(hostname),
            virtualServices: input.virtualServices?.get(hostname),
            destinationHash,
          });
        return;
      }
      const own = ownInstances[index] ?? [];
      translatePort({
        serviceEntry,
        hostname,
        servicePort,
        instances: shard === undefined ? own : shardInstancesOfPort(shard, (port) => port.number === servicePort.number),
        assignmentInstances: shard === undefined ? own : shardInstancesOfPort(shard, (port) => port.name === servicePort.name),
        subjectAltNames,
        options,
        clusterName,
        report: reporter(clusterName),
        reportFor: reporter,
        output,
        destinationRule: input.destinationRules?.get(hostname),
        virtualServices: input.virtualServices?.get(hostname),
        destinationHash,
        kept,
      });
    });
    if (options.flavor === 'grpc') {
      for (const virtualService of input.virtualServices?.get(hostname) ?? []) {
        for (const field of untranslatedVirtualServiceFields(virtualService)) {
          reporter(undefined)('VIRTUAL_SERVICE_FIELD_NOT_APPLIED', `VirtualService ${virtualService.namespace}/${virtualService.name} ${field}, host ${hostname}`);
        }
      }
    }
  }

  output.clusters.sort(byName((cluster) => cluster.name));
  output.loadAssignments.sort(byName((assignment) => assignment.clusterName));
  output.localityLbPolicies.sort(byName((entry) => entry.clusterName));
  output.listeners.sort(byName((listener) => listener.name));
  output.routes.sort(byName((route) => route.name));
  output.namespaceRoutes.sort(byName((entry) => entry.route.name));
  output.errors.sort(compareErrors);
  return output;
}
