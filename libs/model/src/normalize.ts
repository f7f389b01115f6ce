/**
 * Normalization: a validated ServiceEntry or WorkloadEntry becomes the plain, defaulted JSON the
 * translator reads (`normalized.ts`). Each derived field follows istiod 1.30's registry conversion
 * (`pilot/pkg/serviceregistry/serviceentry/conversion.go`: `convertServices`, `ConvertWorkloadEntry`,
 * `convertWorkloadEntryToWorkloadInstance`, `getTLSModeFromWorkloadEntry`, `isHealthy`); docs/istio-behaviour.md
 * (#workloadentry-fields, #inline-endpoints, #health) describes them. Only call these on objects `validateObject` accepted.
 */
import {
  NORMALIZED_SCHEMA_VERSION,
  type EndpointSource,
  type NormalizedDestinationRule,
  type NormalizedEndpoint,
  type NormalizedPort,
  type NormalizedServiceEntry,
  type NormalizedGateway,
  type NormalizedSidecar,
  type NormalizedVirtualService,
  type Protocol,
} from './normalized.js';
import type {
  DestinationRuleObject,
  GatewayObject,
  ObjectMeta,
  ServiceEntryObject,
  SidecarObject,
  VirtualServiceObject,
  WorkloadEntryObject,
  WorkloadEntrySpec,
} from './objects.js';
import { parseProtocol } from './protocol.js';

/** Label with the workload's TLS mode (`label.SecurityTlsMode`). */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';
/** Locality labels, newest first (`pkg/model/proxy.go` `GetLocalityLabel`). */
export const TOPOLOGY_LOCALITY_LABEL = 'topology.istio.io/locality';
export const LEGACY_LOCALITY_LABEL = 'istio-locality';
/** Annotation turning WorkloadEntry health checking on (`status.WorkloadEntryHealthCheckAnnotation`). */
export const HEALTH_CHECKS_ENABLED_ANNOTATION = 'proxy.istio.io/health-checks-enabled';
/** Workload name overrides (`pkg/kube/labels/labels.go` `WorkloadNameFromWorkloadEntry`). */
export const AUTO_REGISTRATION_GROUP_ANNOTATION = 'istio.io/autoRegistrationGroup';
export const WORKLOAD_NAME_LABEL = 'service.istio.io/workload-name';

export interface NormalizedServiceEntryResult {
  readonly serviceEntry: NormalizedServiceEntry;
  /** One endpoint per `spec.endpoints[]` entry, in order. */
  readonly inlineEndpoints: NormalizedEndpoint[];
}

/** A validated port protocol in its canonical spelling; `''` (sniffing) when unset. */
function canonicalProtocol(name: string | undefined): Protocol {
  return name === undefined || name === '' ? '' : (parseProtocol(name) ?? '');
}

/** `metadata.creationTimestamp` in milliseconds since the epoch; 0 when absent. */
export function creationTimeMillis(metadata: ObjectMeta): number {
  if (metadata.creationTimestamp === undefined) return 0;
  const millis = Date.parse(metadata.creationTimestamp);
  return Number.isNaN(millis) || millis < 0 ? 0 : millis;
}

/** What every normalized object but an endpoint starts with: the schema version, namespace, name and creation time. */
function identityOf(metadata: ObjectMeta): { schemaVersion: typeof NORMALIZED_SCHEMA_VERSION; namespace: string; name: string; creationTime: number } {
  return { schemaVersion: NORMALIZED_SCHEMA_VERSION, namespace: metadata.namespace, name: metadata.name, creationTime: creationTimeMillis(metadata) };
}

/**
 * `pkg/model/proxy.go` `SanitizeLocalityLabel`: Kubernetes label values cannot hold `/`, so a locality
 * label writes `region.zone.subzone`; dots become slashes unless the value already has a slash.
 */
export function sanitizeLocalityLabel(value: string): string {
  return value.includes('/') ? value : value.replaceAll('.', '/');
}

/** `spec.locality`, else the locality label (topology label first, then `istio-locality`), sanitized. */
export function localityOf(spec: WorkloadEntrySpec, labels: Readonly<Record<string, string>>): string {
  if (spec.locality !== undefined && spec.locality !== '') return spec.locality;
  const label = labels[TOPOLOGY_LOCALITY_LABEL] ?? labels[LEGACY_LOCALITY_LABEL];
  return label === undefined ? '' : sanitizeLocalityLabel(label);
}

/** The TLS mode label wins; otherwise a service account implies `istio`, and no account `disabled`. */
export function tlsModeOf(spec: WorkloadEntrySpec, labels: Readonly<Record<string, string>>): string {
  const label = labels[TLS_MODE_LABEL];
  if (label !== undefined) return label;
  return (spec.serviceAccount ?? '') !== '' ? 'istio' : 'disabled';
}

/** Go's `strconv.ParseBool` truth values. */
const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);

function healthyCondition(status: unknown): boolean {
  if (typeof status !== 'object' || status === null) return false;
  const conditions = (status as { conditions?: unknown }).conditions;
  if (!Array.isArray(conditions)) return false;
  for (const condition of conditions) {
    if (typeof condition !== 'object' || condition === null) continue;
    const { type, status: value } = condition as { type?: unknown; status?: unknown };
    // The first Healthy condition decides; anything but True/False keeps the default (unhealthy).
    if (type === 'Healthy') return value === 'True';
  }
  return false;
}

/**
 * istiod `isHealthy`: a WorkloadEntry without health checks enabled is healthy; with them, only a
 * `Healthy` condition with status `True` makes it healthy (missing means not yet probed: unhealthy).
 */
export function isWorkloadEntryHealthy(metadata: ObjectMeta, status: unknown): boolean {
  const enabled = metadata.annotations[HEALTH_CHECKS_ENABLED_ANNOTATION];
  if (enabled === undefined || !GO_TRUE.has(enabled)) return true;
  return healthyCondition(status);
}

function normalizeEndpoint(
  spec: WorkloadEntrySpec,
  labels: Readonly<Record<string, string>>,
  source: EndpointSource,
  namespace: string,
  workloadName: string,
  healthy: boolean,
): NormalizedEndpoint {
  return {
    schemaVersion: NORMALIZED_SCHEMA_VERSION,
    source,
    address: spec.address ?? '',
    ports: { ...spec.ports },
    labels: { ...labels },
    network: spec.network ?? '',
    locality: localityOf(spec, labels),
    weight: spec.weight ?? 0,
    serviceAccount: spec.serviceAccount ?? '',
    tlsMode: tlsModeOf(spec, labels),
    workloadName,
    namespace,
    healthy,
  };
}

/** A WorkloadEntry as an endpoint: labels are `spec.labels` overlaid with `metadata.labels`. */
export function normalizeWorkloadEntry(object: WorkloadEntryObject): NormalizedEndpoint {
  const { metadata, spec } = object;
  const labels = { ...spec.labels, ...metadata.labels };
  const workloadName = metadata.annotations[AUTO_REGISTRATION_GROUP_ANNOTATION] ?? metadata.labels[WORKLOAD_NAME_LABEL] ?? metadata.name;
  return normalizeEndpoint(
    spec,
    labels,
    { kind: 'WorkloadEntry', namespace: metadata.namespace, name: metadata.name },
    metadata.namespace,
    workloadName,
    isWorkloadEntryHealthy(metadata, object.status),
  );
}

/** A ServiceEntry, defaulted, plus its inline endpoints (named `<se-name>-<index>`, always healthy). */
export function normalizeServiceEntry(object: ServiceEntryObject): NormalizedServiceEntryResult {
  const { metadata, spec } = object;
  const ports: NormalizedPort[] = spec.ports.map((port) => ({
    number: port.number,
    name: port.name,
    protocol: canonicalProtocol(port.protocol),
    targetPort: port.targetPort ?? 0,
  }));
  const hasInlineEndpoints = spec.endpoints.length > 0;
  const serviceEntry: NormalizedServiceEntry = {
    ...identityOf(metadata),
    labels: { ...metadata.labels },
    hosts: [...spec.hosts],
    addresses: [...spec.addresses],
    ports,
    location: spec.location ?? 'MESH_EXTERNAL',
    resolution: spec.resolution ?? 'NONE',
    exportTo: [...spec.exportTo],
    workloadSelector: spec.workloadSelector === undefined || hasInlineEndpoints ? null : { ...spec.workloadSelector.labels },
    subjectAltNames: [...spec.subjectAltNames],
  };
  const inlineEndpoints = spec.endpoints.map((endpoint, index) =>
    normalizeEndpoint(
      endpoint,
      endpoint.labels ?? {},
      { kind: 'ServiceEntry', namespace: metadata.namespace, name: metadata.name, index },
      metadata.namespace,
      `${metadata.name}-${index}`,
      true,
    ),
  );
  return { serviceEntry, inlineEndpoints };
}

/**
 * A validated DestinationRule as stored beside the ServiceEntries whose hosts it targets. The traffic
 * policies stay the spec's JSON; an empty `workloadSelector` selects every workload, as istiod reads
 * `matchLabels: {}` (`labels.Instance(nil).SubsetOf` is true), so it is kept as `{}` rather than null.
 */
export function normalizeDestinationRule(object: DestinationRuleObject): NormalizedDestinationRule {
  const { spec, metadata } = object;
  return {
    ...identityOf(metadata),
    host: spec.host,
    exportTo: [...spec.exportTo],
    workloadSelector: spec.workloadSelector === undefined ? null : { ...spec.workloadSelector.matchLabels },
    trafficPolicy: spec.trafficPolicy === undefined ? null : { ...spec.trafficPolicy },
    subsets: spec.subsets.map((subset) => ({
      name: subset.name,
      labels: { ...subset.labels },
      trafficPolicy: subset.trafficPolicy === undefined ? null : { ...subset.trafficPolicy },
    })),
  };
}

/**
 * A validated Sidecar as stored for the gateways: what decides the services its proxies see. An empty
 * `workloadSelector` is kept as `{}` (it selects every workload, as istiod's `SubsetOf` on no labels is
 * true), not as null, which is the namespace-wide Sidecar.
 */
export function normalizeSidecar(object: SidecarObject): NormalizedSidecar {
  const { spec, metadata } = object;
  return {
    ...identityOf(metadata),
    workloadSelector: spec.workloadSelector === undefined ? null : { ...spec.workloadSelector.labels },
    egress: spec.egress.map((listener) => ({
      ...(listener.port === undefined
        ? {}
        : { port: { number: listener.port.number, protocol: canonicalProtocol(listener.port.protocol), name: listener.port.name } }),
      bind: listener.bind,
      hosts: [...listener.hosts],
    })),
    outboundTrafficPolicy: spec.outboundTrafficPolicy?.mode ?? null,
  };
}

/**
 * A server's hosts as istiod keeps them (`pilot/pkg/model/gateway.go` `sanitizeServerHostNamespace`):
 * `./host` names the Gateway's namespace, a host in any namespace keeps only its name, and any host
 * in any namespace is `*`.
 */
function sanitizeServerHosts(hosts: readonly string[], namespace: string): string[] {
  const out: string[] = [];
  for (const host of hosts) {
    const slash = host.indexOf('/');
    if (slash === -1) {
      out.push(host);
      continue;
    }
    const prefix = host.slice(0, slash);
    const name = host.slice(slash + 1);
    if (prefix === '.') out.push(`${namespace}/${name}`);
    else if (prefix === '*') {
      if (name === '*') return ['*'];
      out.push(name);
    } else out.push(host);
  }
  return out;
}

/** A validated Gateway as stored for the gateways: its selector and, per server, what `mergeGateways` reads. */
export function normalizeGateway(object: GatewayObject): NormalizedGateway {
  const { spec, metadata } = object;
  return {
    ...identityOf(metadata),
    selector: spec.selector === undefined ? null : { ...spec.selector },
    servers: spec.servers.map((server) => ({
      port: server.port.number,
      bind: server.bind,
      hosts: sanitizeServerHosts(server.hosts, metadata.namespace),
      tlsMode: server.tlsMode ?? null,
    })),
  };
}

/** A validated VirtualService as stored beside the ServiceEntries whose hosts it names. */
export function normalizeVirtualService(object: VirtualServiceObject): NormalizedVirtualService {
  const { spec, metadata } = object;
  return {
    ...identityOf(metadata),
    hosts: [...spec.hosts],
    gateways: [...spec.gateways],
    exportTo: [...spec.exportTo],
    http: spec.http.map((route) => ({ ...route })),
  };
}
