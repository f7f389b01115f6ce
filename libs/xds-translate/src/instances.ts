/**
 * Service instances: one endpoint of one ServiceEntry host x port, with its port already chosen.
 * This is the part of istiod's ServiceEntry registry between the WorkloadEntry and the Envoy
 * endpoint (`pilot/pkg/serviceregistry/serviceentry/conversion.go`:
 * `convertServiceEntryToInstances`, `convertWorkloadInstanceToServiceInstance`,
 * `convertWorkloadEntryToWorkloadInstance`, `mergeServicesInstancesByNamespaceHost`).
 */
import type { EndpointSource, NormalizedEndpoint, NormalizedPort, NormalizedServiceEntry, Resolution } from '@skiff/model';
import { alignByIdentity, type CanonicalOrder, type PortInstances } from './endpoint-bytes.js';

/** The address prefix of a unix domain socket endpoint (`model.UnixAddressPrefix`). */
export const UNIX_ADDRESS_PREFIX = 'unix://';

/** Istio's TLS mode label value for workloads that speak Istio mTLS (`model.IstioMutualTLSModeLabel`). */
export const ISTIO_MUTUAL_TLS_MODE = 'istio';
/** TLS mode of workloads without a sidecar (`model.DisabledTLSModeLabel`). */
export const DISABLED_TLS_MODE = 'disabled';

export interface ServiceInstance {
  /** IP, hostname, unix socket path (prefix stripped, then `port` is 0), or `''` when the workload has none. */
  readonly address: string;
  /** The port Envoy connects to; 0 for a unix socket. */
  readonly port: number;
  readonly labels: Readonly<Record<string, string>>;
  /** `region/zone/subzone`, or `''`. */
  readonly locality: string;
  /** The workload's network, or `''` (a topology label for `failoverPriority`). */
  readonly network: string;
  /** 0 means unset (Envoy gets 1). */
  readonly weight: number;
  readonly tlsMode: string;
  /** `spiffe://<trustDomain>/ns/<namespace>/sa/<name>`, or `''`. */
  readonly serviceAccount: string;
  readonly workloadName: string;
  readonly namespace: string;
  /** Where the instance came from, for error details: `WorkloadEntry ns/name`, `ServiceEntry ns/name endpoints[i]`, or `host`. */
  readonly origin: string;
}

export function isDnsResolution(resolution: Resolution): boolean {
  return resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN';
}

/**
 * The endpoints that exist for translation, in a canonical order independent of input order.
 * Unhealthy WorkloadEntries are dropped first: istiod removes them from the workload set entirely
 * (docs/istio-behaviour.md#health), so they never reach EDS, not even as UNHEALTHY. The order is istiod's: inline
 * endpoints in `spec.endpoints` order, selected workloads sorted by (kind, namespace, name)
 * (`services()` sorts them "to ensure determinism"); anything still tied is ordered by content.
 */
export function canonicalEndpoints(endpoints: readonly NormalizedEndpoint[], kept?: CanonicalOrder): NormalizedEndpoint[] {
  // The selector index hands them over in this order already (by namespace and name): checking costs
  // a pass of comparisons, which `sort` also makes, but without its calls from the builtin into JS.
  // With `kept`, what the owner's previous build found for the same endpoint objects is known:
  // whether each is healthy, and that two kept in that order are in order (that list was sorted).
  const previous = kept?.input ?? [];
  const previousPositions = kept?.positions;
  const positions = new Int32Array(endpoints.length);
  const healthy: NormalizedEndpoint[] = [];
  let lastPosition = -1;
  let sorted = true;
  const previousIndexes = alignByIdentity(endpoints, previous);
  for (let index = 0; index < endpoints.length; index++) {
    const endpoint = endpoints[index] as NormalizedEndpoint;
    const previousIndex = previousIndexes[index] as number;
    const position = previousIndex === -1 || previousPositions === undefined ? -2 : (previousPositions[previousIndex] as number);
    if (position === -1 || (position === -2 && !endpoint.healthy)) {
      positions[index] = -1;
      continue;
    }
    const known = position >= 0 && lastPosition >= 0 && lastPosition < position;
    if (sorted && healthy.length > 0 && !known && compareEndpoints(healthy[healthy.length - 1] as NormalizedEndpoint, endpoint) > 0) sorted = false;
    positions[index] = healthy.length;
    healthy.push(endpoint);
    lastPosition = position;
  }
  if (kept !== undefined) {
    // Positions in the result are those in `healthy` only when it needed no sort. A copy of the
    // input: the caller's array is theirs to change once the build is done.
    kept.input = sorted ? endpoints.slice() : [];
    kept.positions = sorted ? positions : undefined;
  }
  return sorted ? healthy : healthy.sort(compareEndpoints);
}

function sourceRank(source: EndpointSource): number {
  return source.kind === 'ServiceEntry' ? 0 : 1;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareEndpoints(a: NormalizedEndpoint, b: NormalizedEndpoint): number {
  return (
    sourceRank(a.source) - sourceRank(b.source) ||
    compareStrings(a.source.namespace, b.source.namespace) ||
    compareStrings(a.source.name, b.source.name) ||
    (a.source.kind === 'ServiceEntry' && b.source.kind === 'ServiceEntry' ? a.source.index - b.source.index : 0) ||
    compareStrings(a.address, b.address) ||
    compareStrings(canonicalJson(a), canonicalJson(b))
  );
}

/** JSON with object keys sorted, so equal data compares equal whatever order its keys were written in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function originOf(source: EndpointSource): string {
  return source.kind === 'WorkloadEntry'
    ? `WorkloadEntry ${source.namespace}/${source.name}`
    : `ServiceEntry ${source.namespace}/${source.name} endpoints[${source.index}]`;
}

/** `spiffe.MustGenSpiffeURI`: a WorkloadEntry's service account as the identity its certificate carries. */
export function spiffeIdentity(trustDomain: string, namespace: string, serviceAccount: string): string {
  if (serviceAccount === '') return '';
  if (serviceAccount.startsWith('spiffe://')) return serviceAccount;
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * The endpoint port for one ServiceEntry port, in istiod's priority order
 * (`convertWorkloadInstanceToServiceInstance`): a unix socket has none; then the workload's
 * `ports[<service port name>]`; then the ServiceEntry port's `targetPort`; then its `number`.
 */
function endpointPort(endpoint: NormalizedEndpoint, servicePort: NormalizedPort): number {
  if (endpoint.address.startsWith(UNIX_ADDRESS_PREFIX)) return 0;
  const mapped = endpoint.ports[servicePort.name];
  if (mapped !== undefined && mapped > 0) return mapped;
  if (servicePort.targetPort > 0) return servicePort.targetPort;
  return servicePort.number;
}

export interface ServiceInstancesArgs {
  readonly serviceEntry: NormalizedServiceEntry;
  /** Output of `canonicalEndpoints`. */
  readonly endpoints: readonly NormalizedEndpoint[];
  /** Whether the ServiceEntry was given endpoints at all, before health filtering. */
  readonly hasEndpoints: boolean;
  readonly hostname: string;
  readonly servicePort: NormalizedPort;
  readonly trustDomain: string;
  /**
   * The instances the owner's previous build made for this port and trust domain
   * (`EndpointBytesScope.instances`): an endpoint found there is not built again, and the instances
   * of this build are kept there for the next.
   */
  readonly kept?: PortInstances | undefined;
}

/**
 * The instances of one host x port.
 *
 * A DNS or DNS_ROUND_ROBIN ServiceEntry with neither inline endpoints nor a workloadSelector gets
 * one instance whose address is the host itself (port: `targetPort`, else `number`), with no
 * labels, TLS mode `disabled` and the ServiceEntry's name as workload name. For DNS_ROUND_ROBIN
 * only the first instance per port is kept (`mergeServicesInstancesByNamespaceHost`: "Only one
 * locality lb end point is allowed for DnsRoundRobinLB services"), which is what keeps the
 * LOGICAL_DNS cluster valid.
 */
export function buildServiceInstances(args: ServiceInstancesArgs): ServiceInstance[] {
  const { serviceEntry, servicePort } = args;
  if (isDnsResolution(serviceEntry.resolution) && serviceEntry.workloadSelector === null && !args.hasEndpoints) {
    return [
      {
        address: args.hostname,
        port: servicePort.targetPort > 0 ? servicePort.targetPort : servicePort.number,
        labels: {},
        locality: '',
        network: '',
        weight: 0,
        tlsMode: DISABLED_TLS_MODE,
        serviceAccount: '',
        workloadName: serviceEntry.name,
        namespace: serviceEntry.namespace,
        origin: args.hostname,
      },
    ];
  }
  const selected = serviceEntry.resolution === 'DNS_ROUND_ROBIN' ? args.endpoints.slice(0, 1) : args.endpoints;
  // One identity string per namespace and service account, not one per instance: the subject alt
  // names are a set of them, and a set hashes a string it has seen before for free.
  const identities = new Map<string, Map<string, string>>();
  const identityOf = (namespace: string, serviceAccount: string): string => {
    let inNamespace = identities.get(namespace);
    if (inNamespace === undefined) {
      inNamespace = new Map();
      identities.set(namespace, inNamespace);
    }
    let identity = inNamespace.get(serviceAccount);
    if (identity === undefined) {
      identity = spiffeIdentity(args.trustDomain, namespace, serviceAccount);
      inNamespace.set(serviceAccount, identity);
    }
    return identity;
  };
  const instanceOf = (endpoint: NormalizedEndpoint): ServiceInstance => ({
    address: endpoint.address.startsWith(UNIX_ADDRESS_PREFIX) ? endpoint.address.slice(UNIX_ADDRESS_PREFIX.length) : endpoint.address,
    port: endpointPort(endpoint, servicePort),
    labels: endpoint.labels,
    locality: endpoint.locality,
    network: endpoint.network,
    weight: endpoint.weight,
    tlsMode: endpoint.tlsMode,
    serviceAccount: identityOf(endpoint.namespace, endpoint.serviceAccount),
    workloadName: endpoint.workloadName,
    namespace: endpoint.namespace,
    origin: originOf(endpoint.source),
  });
  const { kept } = args;
  if (kept === undefined) return selected.map(instanceOf);
  return kept.instancesOf(selected, instanceOf);
}
