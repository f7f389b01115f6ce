/**
 * Every `grpc`-flavour output must be something the proxyless gRPC client accepts. Two checks:
 * a small validator written from the rules in docs/grpc-proxyless.md#validation (grpc-js-xds 1.14.1
 * `src/xds-resource-type/*.ts`), and the real client's own resource decoders run on the bytes.
 * Inputs: every golden case forced to the grpc flavour, and random ServiceEntries.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import { TypeUrl } from '@skiff/protos';
import { Cluster_DiscoveryType, Cluster_LbPolicy, ClusterSchema, type Cluster } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema, type Listener } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema, type RouteConfiguration } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import type { TransportSocket } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import { UpstreamTlsContextSchema } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { RouterSchema } from '@skiff/protos/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { HttpConnectionManagerSchema } from '@skiff/protos/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { describe, expect, it } from 'vitest';
import { applyOutlierDetection } from './cluster-traffic-policy.js';
import {
  buildGrpcEdsCluster,
  DEFAULT_MESH_SETTINGS,
  encodeResources,
  translateServiceEntry,
  type EncodedResource,
  type TranslateOptions,
  type TranslateResult,
} from './index.js';
import { loadCase } from './test-support/load-case.js';
import { inlineEndpoint, port, serviceEntry, workloadEntry } from './test-support/fixtures.js';

const UINT32_MAX = 4_294_967_295;
const ROUTER_TYPE_URL = `type.googleapis.com/${RouterSchema.typeName}`;
const KNOWN_HTTP_FILTER_TYPE_URLS = new Set([
  ROUTER_TYPE_URL,
  'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
  'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
]);

function validateCluster(cluster: Cluster): string[] {
  const errors: string[] = [];
  if (cluster.loadBalancingPolicy !== undefined) errors.push('load_balancing_policy set (only lb_policy is produced)');
  if (cluster.lbPolicy !== Cluster_LbPolicy.ROUND_ROBIN && cluster.lbPolicy !== Cluster_LbPolicy.RING_HASH) {
    errors.push(`unsupported lb_policy: ${Cluster_LbPolicy[cluster.lbPolicy]}`);
  }
  if (cluster.lrsServer !== undefined && cluster.lrsServer.configSourceSpecifier.case !== 'self') errors.push('lrs_server set but not self');
  if (cluster.transportSocket !== undefined) for (const error of validateTransportSocket(cluster.transportSocket)) errors.push(error);
  const type = cluster.clusterDiscoveryType.case === 'type' ? cluster.clusterDiscoveryType.value : undefined;
  if (type === Cluster_DiscoveryType.EDS) {
    const source = cluster.edsClusterConfig?.edsConfig?.configSourceSpecifier.case;
    if (cluster.edsClusterConfig === undefined) errors.push('type == EDS but eds_cluster_config is unset');
    else if (source !== 'ads' && source !== 'self') errors.push('eds_cluster_config.eds_config.ads and .self both unset');
  } else if (type === Cluster_DiscoveryType.LOGICAL_DNS) {
    const localities = cluster.loadAssignment?.endpoints ?? [];
    const lbEndpoints = localities[0]?.lbEndpoints ?? [];
    const endpoint = lbEndpoints[0]?.hostIdentifier.case === 'endpoint' ? lbEndpoints[0].hostIdentifier.value : undefined;
    const address = endpoint?.address?.address;
    if (localities.length !== 1) errors.push(`load_assignment.endpoints.length == ${localities.length}`);
    else if (lbEndpoints.length !== 1) errors.push(`load_assignment.endpoints[0].lb_endpoints.length == ${lbEndpoints.length}`);
    else if (address?.case !== 'socketAddress') errors.push('LOGICAL_DNS endpoint socket_address not set');
    else {
      if (address.value.address === '') errors.push('LOGICAL_DNS endpoint address is empty');
      if (address.value.portSpecifier.case !== 'portValue') errors.push('LOGICAL_DNS endpoint has no port_value');
    }
  } else {
    errors.push(`Unsupported type ${type === undefined ? cluster.clusterDiscoveryType.case : Cluster_DiscoveryType[type]}`);
  }
  return errors;
}

/** The certificate provider instances of an Istio proxyless bootstrap (the agent writes `default`). */
const CERTIFICATE_PROVIDERS = new Set(['default']);

/** grpc-js-xds `validateTransportSocket`: UpstreamTlsContext with certificate providers the bootstrap knows. */
function validateTransportSocket(socket: TransportSocket): string[] {
  const packed = socket.configType.case === 'typedConfig' ? socket.configType.value : undefined;
  if (packed === undefined) return ['transport_socket.typed_config unset'];
  const context = anyUnpack(packed, UpstreamTlsContextSchema);
  if (context === undefined) return [`Unexpected transport_socket.typed_config.type_url: ${packed.typeUrl}`];
  const common = context.commonTlsContext;
  if (common === undefined) return ['UpstreamTlsContext.common_tls_context unset'];
  const errors: string[] = [];
  const identity = common.tlsCertificateProviderInstance;
  if (identity !== undefined && !CERTIFICATE_PROVIDERS.has(identity.instanceName)) errors.push(`Unmatched tls_certificate_provider_instance ${identity.instanceName}`);
  if (identity === undefined && (common.tlsCertificates.length > 0 || common.tlsCertificateSdsSecretConfigs.length > 0)) {
    errors.push('certificates without tls_certificate_provider_instance');
  }
  if (common.tlsParams !== undefined) errors.push('UpstreamTlsContext.common_tls_context.tls_params set');
  const validation =
    common.validationContextType.case === 'combinedValidationContext'
      ? common.validationContextType.value.defaultValidationContext
      : common.validationContextType.case === 'validationContext'
        ? common.validationContextType.value
        : undefined;
  if (validation === undefined) return [...errors, `Unsupported validation_context_type: ${common.validationContextType.case}`];
  if (validation.crl !== undefined) errors.push('ValidationContext.crl set');
  const ca = validation.caCertificateProviderInstance;
  if (ca === undefined) errors.push('ValidationContext.ca_certificate_provider_instance unset');
  else if (!CERTIFICATE_PROVIDERS.has(ca.instanceName)) errors.push(`Unmatched ca_certificate_provider_instance ${ca.instanceName}`);
  return errors;
}

function validateLoadAssignment(assignment: ClusterLoadAssignment): string[] {
  const errors: string[] = [];
  const seenLocalities = new Set<string>();
  const seenAddresses = new Set<string>();
  const weightByPriority = new Map<number, number>();
  assignment.endpoints.forEach((locality, index) => {
    const prefix = `endpoints[${index}]`;
    if (locality.locality === undefined) {
      errors.push(`${prefix}.locality unset`);
      return;
    }
    if (locality.loadBalancingWeight === undefined) errors.push(`${prefix} has no load_balancing_weight (the client would drop it)`);
    const key = JSON.stringify([locality.locality.region, locality.locality.zone, locality.locality.subZone, locality.priority]);
    if (seenLocalities.has(key)) errors.push(`${prefix}.locality is a duplicate`);
    seenLocalities.add(key);
    locality.lbEndpoints.forEach((lbEndpoint, lbIndex) => {
      const endpoint = lbEndpoint.hostIdentifier.case === 'endpoint' ? lbEndpoint.hostIdentifier.value : undefined;
      const address = endpoint?.address?.address;
      const lbPrefix = `${prefix}.lb_endpoints[${lbIndex}].endpoint`;
      if (address?.case !== 'socketAddress') {
        errors.push(`${lbPrefix}.socket_address not set`);
        return;
      }
      if (address.value.portSpecifier.case !== 'portValue') errors.push(`${lbPrefix}: unsupported port_specifier`);
      if (isIP(address.value.address) === 0) errors.push(`${lbPrefix}: address is not a valid IPv4 or IPv6 address: ${address.value.address}`);
      const addressKey = `${address.value.address} ${String(address.value.portSpecifier.value)}`;
      if (seenAddresses.has(addressKey)) errors.push(`${lbPrefix}: address is a duplicate: ${address.value.address}`);
      seenAddresses.add(addressKey);
    });
    weightByPriority.set(locality.priority, (weightByPriority.get(locality.priority) ?? 0) + (locality.loadBalancingWeight ?? 0));
  });
  for (const [priority, weight] of weightByPriority) {
    if (weight > UINT32_MAX) errors.push(`priority ${priority} has total weight greater than UINT32_MAX: ${weight}`);
    if (priority > 0 && !weightByPriority.has(priority - 1)) errors.push(`Endpoints have priority ${priority} but not ${priority - 1}`);
  }
  return errors;
}

function validateListener(listener: Listener): string[] {
  const errors: string[] = [];
  if (listener.listenerFilters.length > 0) errors.push('listener_filters populated');
  if (listener.useOriginalDst === true) errors.push('use_original_dst.value == true');
  const packed = listener.apiListener?.apiListener;
  if (packed === undefined) return [...errors, 'no api_listener (the client treats the listener as missing)'];
  const manager = anyUnpack(packed, HttpConnectionManagerSchema);
  if (manager === undefined) return [...errors, `api_listener.api_listener is ${packed.typeUrl}, not an HttpConnectionManager`];
  const names = new Set<string>();
  manager.httpFilters.forEach((filter, index) => {
    if (names.has(filter.name)) errors.push(`duplicate HTTP filter name: ${filter.name}`);
    names.add(filter.name);
    const typeUrl = filter.configType.case === 'typedConfig' ? filter.configType.value.typeUrl : undefined;
    if (!filter.isOptional && (typeUrl === undefined || !KNOWN_HTTP_FILTER_TYPE_URLS.has(typeUrl))) errors.push(`${filter.name} filter validation failed`);
    const last = index === manager.httpFilters.length - 1;
    if (last && typeUrl !== ROUTER_TYPE_URL) errors.push(`final filter is ${typeUrl}`);
    if (!last && typeUrl === ROUTER_TYPE_URL) errors.push('router filter is before the end of the list');
  });
  if (manager.routeSpecifier.case === 'rds') {
    const source = manager.routeSpecifier.value.configSource?.configSourceSpecifier.case;
    if (source !== 'ads' && source !== 'self') errors.push('rds.config_source.ads and rds.config_source.self both unset');
  } else if (manager.routeSpecifier.case !== 'routeConfig') {
    errors.push(`unexpected route_specifier ${manager.routeSpecifier.case}`);
  }
  return errors;
}

function validateRouteConfiguration(route: RouteConfiguration): string[] {
  const errors: string[] = [];
  for (const virtualHost of route.virtualHosts) {
    for (const domain of virtualHost.domains) {
      const wildcards = domain.split('*').length - 1;
      if (wildcards > 1 || (wildcards === 1 && !domain.startsWith('*') && !domain.endsWith('*'))) {
        errors.push(`virtual_hosts[${virtualHost.name}]: domains entry has wildcard in the middle: ${domain}`);
      }
    }
    for (const entry of virtualHost.routes) {
      const pathCase = entry.match?.pathSpecifier.case;
      if (pathCase !== 'prefix' && pathCase !== 'path' && pathCase !== 'safeRegex') errors.push(`route has path_specifier ${pathCase}`);
      if (entry.action.case === 'route') {
        const specifier = entry.action.value.clusterSpecifier.case;
        if (specifier !== 'cluster' && specifier !== 'weightedClusters' && specifier !== 'clusterHeader') errors.push(`unsupported cluster specifier ${specifier}`);
      } else if (entry.action.case !== 'nonForwardingAction') {
        errors.push(`unsupported route action ${entry.action.case}`);
      }
    }
  }
  return errors;
}

/** Decodes what would go on the wire and validates it, plus the references between resources. */
function validateGrpcOutput(encoded: readonly EncodedResource[]): string[] {
  const errors: string[] = [];
  const clusters = new Map<string, Cluster>();
  const assignments = new Set<string>();
  const routes = new Map<string, RouteConfiguration>();
  const listeners: Listener[] = [];
  for (const resource of encoded) {
    switch (resource.typeUrl) {
      case TypeUrl.Cluster: {
        const cluster = fromBinary(ClusterSchema, resource.bytes);
        clusters.set(cluster.name, cluster);
        for (const error of validateCluster(cluster)) errors.push(`Cluster ${cluster.name}: ${error}`);
        break;
      }
      case TypeUrl.ClusterLoadAssignment: {
        const assignment = fromBinary(ClusterLoadAssignmentSchema, resource.bytes);
        assignments.add(assignment.clusterName);
        for (const error of validateLoadAssignment(assignment)) errors.push(`ClusterLoadAssignment ${assignment.clusterName}: ${error}`);
        break;
      }
      case TypeUrl.Listener: {
        const listener = fromBinary(ListenerSchema, resource.bytes);
        listeners.push(listener);
        for (const error of validateListener(listener)) errors.push(`Listener ${listener.name}: ${error}`);
        break;
      }
      case TypeUrl.RouteConfiguration: {
        const route = fromBinary(RouteConfigurationSchema, resource.bytes);
        routes.set(route.name, route);
        for (const error of validateRouteConfiguration(route)) errors.push(`RouteConfiguration ${route.name}: ${error}`);
        break;
      }
    }
  }
  for (const listener of listeners) {
    const manager = listener.apiListener?.apiListener && anyUnpack(listener.apiListener.apiListener, HttpConnectionManagerSchema);
    const routeName = manager?.routeSpecifier.case === 'rds' ? manager.routeSpecifier.value.routeConfigName : undefined;
    const route = routeName === undefined ? undefined : routes.get(routeName);
    if (route === undefined) {
      errors.push(`Listener ${listener.name}: route configuration ${routeName} is not served`);
      continue;
    }
    // A port that does not carry HTTP gets a route with no virtual host, as from istiod: the client
    // accepts it and fails calls to that target, which only a gRPC port (HTTP/2) could carry.
    if (route.virtualHosts.length === 0) continue;
    const matching = route.virtualHosts.filter((virtualHost) => virtualHost.domains.includes(listener.name));
    if (matching.length === 0) errors.push(`RouteConfiguration ${route.name}: no domain matches the target ${listener.name}`);
    for (const entry of matching.flatMap((virtualHost) => virtualHost.routes)) {
      const target = entry.action.case === 'route' && entry.action.value.clusterSpecifier.case === 'cluster' ? entry.action.value.clusterSpecifier.value : '';
      const cluster = clusters.get(target);
      if (cluster === undefined) errors.push(`RouteConfiguration ${route.name}: cluster ${target} is not served`);
      else if (cluster.clusterDiscoveryType.case === 'type' && cluster.clusterDiscoveryType.value === Cluster_DiscoveryType.EDS) {
        const edsName = cluster.edsClusterConfig?.serviceName || cluster.name;
        if (!assignments.has(edsName)) errors.push(`Cluster ${cluster.name}: no ClusterLoadAssignment ${edsName}`);
      }
    }
  }
  return errors;
}

interface GrpcResourceType {
  decode(context: unknown, resource: { type_url: string; value: Buffer }): { name: string; value?: unknown; error?: string };
}

/** The real client's decoders (grpc-js-xds 1.14.1 internals, CommonJS). `register()` installs its HTTP filters and LB policies. */
function loadRealClientDecoders(): Map<string, GrpcResourceType> {
  const require = createRequire(import.meta.url);
  (require('@grpc/grpc-js-xds') as { register(): void }).register();
  const load = (file: string, exportName: string) =>
    (require(`@grpc/grpc-js-xds/build/src/xds-resource-type/${file}`) as Record<string, { get(): GrpcResourceType }>)[exportName]!.get();
  return new Map([
    [TypeUrl.Cluster, load('cluster-resource-type.js', 'ClusterResourceType')],
    [TypeUrl.ClusterLoadAssignment, load('endpoint-resource-type.js', 'EndpointResourceType')],
    [TypeUrl.Listener, load('listener-resource-type.js', 'ListenerResourceType')],
    [TypeUrl.RouteConfiguration, load('route-config-resource-type.js', 'RouteConfigurationResourceType')],
  ]);
}

const realClient = loadRealClientDecoders();
const clientContext = { bootstrap: { certificateProviders: Object.fromEntries([...CERTIFICATE_PROVIDERS].map((name) => [name, { pluginName: 'file_watcher', config: {} }])) }, server: {} };

function realClientErrors(encoded: readonly EncodedResource[]): string[] {
  return encoded.flatMap((resource) => {
    const decoded = realClient.get(resource.typeUrl)!.decode(clientContext, { type_url: resource.typeUrl, value: Buffer.from(resource.bytes) });
    return decoded.error === undefined ? [] : [`${resource.typeUrl} ${decoded.name}: ${decoded.error}`];
  });
}

const GRPC: TranslateOptions = { flavor: 'grpc', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS };
const inputDir = fileURLToPath(new URL('../testdata/in/', import.meta.url));
const ruleInputDir = fileURLToPath(new URL('../testdata/destination-rules/in/', import.meta.url));
const goldenCases = [
  ...readdirSync(inputDir).filter((file) => file.endsWith('.yaml')).map((file) => `${inputDir}${file}`),
  ...readdirSync(ruleInputDir).filter((file) => file.endsWith('.yaml')).map((file) => `${ruleInputDir}${file}`),
];

describe('grpc flavour satisfies the proxyless gRPC client (docs/grpc-proxyless.md#validation)', () => {
  it.each(goldenCases.flatMap((path) => [[path, 'sidecar'] as const, [path, 'sni-dnat'] as const]))('%s, %s naming', (path, naming) => {
    const result: TranslateResult = loadCase(readFileSync(path, 'utf8'), path, { ...GRPC, naming });
    const encoded = encodeResources(result);
    expect(validateGrpcOutput(encoded)).toEqual([]);
    expect(realClientErrors(encoded)).toEqual([]);
  });

  it('holds for random ServiceEntries and endpoints', () => {
    const address = fc.oneof(
      fc.integer({ min: 1, max: 6 }).map((n) => `10.0.0.${n}`),
      fc.constantFrom('2001:db8::1', 'vm.example.net', 'unix:///run/app.sock', ''),
    );
    const endpoint = fc.record({
      address,
      locality: fc.constantFrom('', 'r/z', 'r/z/', 'r', 'r/z/s'),
      weight: fc.constantFrom(0, 1, 7, UINT32_MAX),
      mapped: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    });
    const entry = fc.record({
      resolution: fc.constantFrom('STATIC' as const, 'DNS' as const, 'DNS_ROUND_ROBIN' as const, 'NONE' as const),
      inline: fc.boolean(),
      endpoints: fc.array(endpoint, { maxLength: 6 }),
      protocol: fc.constantFrom('GRPC' as const, 'HTTP' as const, 'TCP' as const, '' as const),
      targetPort: fc.constantFrom(0, 9000),
    });
    fc.assert(
      fc.property(entry, (generated) => {
        const endpoints = generated.endpoints.map((item, index) => {
          const fields = { address: item.address, locality: item.locality, weight: item.weight, ports: item.mapped === undefined ? {} : { grpc: 7000 + item.mapped } };
          return generated.inline ? inlineEndpoint('svc', index, fields) : workloadEntry(`w${index}`, fields);
        });
        const result = translateServiceEntry(
          {
            serviceEntry: serviceEntry({
              resolution: generated.resolution,
              workloadSelector: generated.inline ? null : { app: 'svc' },
              hosts: ['svc.example.com', 'alt.example.com'],
              ports: [port({ number: 7070, name: 'grpc', protocol: generated.protocol, targetPort: generated.targetPort })],
            }),
            endpoints,
          },
          GRPC,
        );
        const encoded = encodeResources(result);
        expect(validateGrpcOutput(encoded)).toEqual([]);
        expect(realClientErrors(encoded)).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it('the validators are not vacuous: Envoy-flavour output fails them', () => {
    const result = translateServiceEntry(
      { serviceEntry: serviceEntry({ resolution: 'DNS' }), endpoints: [workloadEntry('a', { address: 'a.example.net' }), workloadEntry('b', { address: 'b.example.net' })] },
      { ...GRPC, flavor: 'envoy' },
    );
    const encoded = encodeResources(result);
    expect(validateGrpcOutput(encoded)).toEqual(['Cluster outbound|80||svc.example.com: unsupported lb_policy: LEAST_REQUEST', 'Cluster outbound|80||svc.example.com: Unsupported type STRICT_DNS']);
    expect(realClientErrors(encoded).join('\n')).toMatch(/load_balancing_policy unset and unsupported lb_policy: LEAST_REQUEST/);
  });

  it('accepts the TLS, ring-hash and outlier-detection clusters a DestinationRule gives, and refuses Envoy-only TLS', () => {
    const result = loadCase(readFileSync(`${ruleInputDir}dr-grpc.yaml`, 'utf8'), 'dr-grpc.yaml', GRPC);
    const clusters = new Map(result.clusters.map((cluster) => [cluster.name, cluster]));
    expect(clusters.get('outbound|7070||greeter.shop.internal')?.transportSocket).toBeDefined();
    expect(clusters.get('outbound|7070||hash.shop.internal')?.lbPolicy).toBe(Cluster_LbPolicy.RING_HASH);
    const encoded = encodeResources(result);
    expect(validateGrpcOutput(encoded)).toEqual([]);
    expect(realClientErrors(encoded)).toEqual([]);

    // istiod's gRPC generator writes no outlier detection, but the Envoy encoding of a rule's is one
    // the client reads (`convertOutlierDetectionUpdate`), should it ever be sent.
    const withOutlier = buildGrpcEdsCluster('outbound|7070||outlier.shop.internal');
    applyOutlierDetection(withOutlier, { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 });
    expect(withOutlier.outlierDetection).toBeDefined();
    const outlierResource: EncodedResource[] = [{ typeUrl: TypeUrl.Cluster, name: withOutlier.name, bytes: toBinary(ClusterSchema, withOutlier), version: '' }];
    expect(realClientErrors(outlierResource)).toEqual([]);

    // The sidecar's SIMPLE origination (SDS secrets, TLS parameters) is what both validators refuse.
    const envoyTls = loadCase(readFileSync(`${ruleInputDir}dr-tls.yaml`, 'utf8'), 'dr-tls.yaml', { ...GRPC, flavor: 'envoy' });
    const simple = envoyTls.clusters.find((cluster) => cluster.name === 'outbound|443||simple-ca.shop.example')!;
    const grpcSimple = buildGrpcEdsCluster(simple.name);
    grpcSimple.transportSocket = simple.transportSocket;
    const simpleResource: EncodedResource[] = [{ typeUrl: TypeUrl.Cluster, name: simple.name, bytes: toBinary(ClusterSchema, grpcSimple), version: '' }];
    expect(validateGrpcOutput(simpleResource).join('\n')).toMatch(/tls_params set/);
    expect(realClientErrors(simpleResource).join('\n')).toMatch(/tls_params set/);
  });
});
