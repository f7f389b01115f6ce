/**
 * Generated meshes for the parity suite: ServiceEntries, WorkloadEntries and Sidecars over a few namespaces,
 * drawn by fast-check across what shapes their clusters and endpoints (resolution, location, ports,
 * protocols, target ports, addresses, exportTo, inline endpoints, workload selectors) and what shapes
 * each endpoint (labels, weights, localities, networks, port maps, service accounts). Objects carry
 * distinct creation times, so which of two ServiceEntries claiming one host wins is decided the same
 * way on both sides. Invalid combinations are drawn too: both sides must reject the same objects.
 * Sidecars (namespace-wide, with a workload selector, and the root namespace's) scope what the proxies
 * see, so each namespace is also asked as a sidecar whose labels a selector may match. DestinationRules
 * (valid ones: `loadIstioConfig` accepted all 254 of the default draw) name an entry's host,
 * exact or as its parent wildcard, or a host none defines, from the entry's namespace, another one or the
 * root namespace, with exportTo, a workload selector, a traffic policy from a small menu (load balancer,
 * connection pool, outlier detection, client TLS, locality load balancing; one port's settings) and subsets whose labels the
 * endpoints may or may not carry. VirtualServices name an entry's host (exact or its parent wildcard)
 * from its namespace or another, with exportTo, and one or two HTTP routes: a match from a small menu
 * (URI, headers, port, source labels or namespace), one destination or a weighted pair (the host, or
 * another entry's, with a subset or a port), and a timeout, retries, a fault or a header operation.
 * Not drawn: `proxyProtocol`, wildcard DNS entries (their `DYNAMIC_DNS` clusters take no rule yet),
 * and VirtualServices in meshes with Sidecars or routing to a host whose entry is hidden from its own
 * namespace: istiod imports their destinations, Skiff does not (`virtualServiceDocument`;
 * docs/istio-compatibility.md).
 */
/* eslint-disable no-restricted-syntax -- fc.constantFrom takes its choices as arguments; here always the constant lists below, of a few values each */
import fc from 'fast-check';
import { stringify } from 'yaml';
import { defaultProxies, grpcTargetsOf, namespacesOf, type ParityCase } from './corpus.js';
import { parityProxy } from './proxies.js';

export const MESH_NAMESPACES = ['ns-a', 'ns-b', 'ns-c'] as const;

const RESOLUTIONS = ['STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'NONE'] as const;
const LOCATIONS = ['MESH_EXTERNAL', 'MESH_INTERNAL'] as const;
const PROTOCOLS = ['HTTP', 'HTTP2', 'GRPC', 'TCP', 'TLS', 'HTTPS', 'MONGO', 'REDIS', ''] as const;
const PORT_NUMBERS = [80, 443, 8080, 9000, 15000] as const;
const LABEL_KEYS = ['app', 'version', 'tier'] as const;
const LABEL_VALUES = ['a', 'b'] as const;
const EXPORT_TO = ['.', '*', 'ns-b', 'ns-c', '~'] as const;
const LOCALITIES = ['', 'us-east', 'us-east/zone-1', 'us-east/zone-1/rack-2', 'eu-west/zone-3'] as const;
const NETWORKS = ['', 'network-1', 'network-2'] as const;
const IP_POOL = ['10.0.0.1', '10.0.0.2', '10.0.1.7', '192.168.5.5', '2001:db8::10'] as const;
const DNS_POOL = ['backend-1.example.org', 'backend-2.example.org', 'api.example.net'] as const;
const HOST_POOL = ['svc-1.example.com', 'svc-2.example.com', 'db.internal', 'api.example.net', 'shared.mesh.local'] as const;

type Labels = Record<string, string>;

const labels = (): fc.Arbitrary<Labels> =>
  fc.dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES), { minKeys: 0, maxKeys: 2 });

interface PortDraw {
  readonly number: number;
  readonly protocol: string;
  readonly name: string;
  readonly targetPort: number | undefined;
}

const port = (): fc.Arbitrary<PortDraw> =>
  fc.record({
    number: fc.constantFrom(...PORT_NUMBERS),
    protocol: fc.constantFrom(...PROTOCOLS),
    targetPort: fc.option(fc.constantFrom(8080, 9090, 3306), { nil: undefined }),
    suffix: fc.constantFrom('', '-x'),
  }).map(({ number, protocol, targetPort, suffix }) => ({
    number,
    protocol,
    targetPort,
    name: `${protocol === '' ? 'port' : protocol.toLowerCase()}-${number}${suffix}`,
  }));

interface EndpointDraw {
  readonly address: string;
  readonly labels: Labels;
  readonly weight: number | undefined;
  readonly locality: string;
  readonly network: string;
  readonly serviceAccount: string | undefined;
}

const endpoint = (addresses: readonly string[]): fc.Arbitrary<EndpointDraw> =>
  fc.record({
    address: fc.constantFrom(...addresses),
    labels: labels(),
    weight: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
    locality: fc.constantFrom(...LOCALITIES),
    network: fc.constantFrom(...NETWORKS),
    serviceAccount: fc.option(fc.constantFrom('reader', 'writer'), { nil: undefined }),
  });

function endpointSpec(draw: EndpointDraw, portNames: readonly string[], portOverride: number | undefined): Record<string, unknown> {
  const spec: Record<string, unknown> = { address: draw.address };
  if (Object.keys(draw.labels).length > 0) spec['labels'] = draw.labels;
  if (draw.weight !== undefined) spec['weight'] = draw.weight;
  if (draw.locality !== '') spec['locality'] = draw.locality;
  if (draw.network !== '') spec['network'] = draw.network;
  if (draw.serviceAccount !== undefined) spec['serviceAccount'] = draw.serviceAccount;
  if (portOverride !== undefined && portNames[0] !== undefined) spec['ports'] = { [portNames[0]]: portOverride };
  return spec;
}

interface ServiceEntryDraw {
  readonly namespace: string;
  readonly hosts: readonly string[];
  readonly ports: readonly PortDraw[];
  readonly location: string;
  readonly resolution: string;
  readonly exportTo: readonly string[] | undefined;
  readonly addresses: readonly string[] | undefined;
  readonly inline: readonly EndpointDraw[];
  readonly inlinePortOverride: number | undefined;
  readonly selector: Labels | undefined;
  readonly subjectAltNames: readonly string[] | undefined;
}

const serviceEntry = (): fc.Arbitrary<ServiceEntryDraw> =>
  fc
    .record({
      namespace: fc.constantFrom(...MESH_NAMESPACES),
      hosts: fc.uniqueArray(fc.constantFrom(...HOST_POOL), { minLength: 1, maxLength: 2 }),
      ports: fc.uniqueArray(port(), { minLength: 1, maxLength: 3, selector: (p) => p.number }),
      location: fc.constantFrom(...LOCATIONS),
      resolution: fc.constantFrom(...RESOLUTIONS),
      exportTo: fc.option(fc.uniqueArray(fc.constantFrom(...EXPORT_TO), { minLength: 1, maxLength: 2 }), { nil: undefined }),
      addresses: fc.option(fc.constantFrom(['240.240.0.1'], ['240.240.0.2/32'], ['10.96.0.0/16']), { nil: undefined }),
      useSelector: fc.boolean(),
      selector: fc.dictionary(fc.constantFrom('app', 'tier'), fc.constantFrom(...LABEL_VALUES), { minKeys: 1, maxKeys: 2 }),
      inlineCount: fc.integer({ min: 0, max: 3 }),
      inlineSeed: fc.array(endpoint([...IP_POOL, ...DNS_POOL]), { minLength: 3, maxLength: 3 }),
      inlinePortOverride: fc.option(fc.integer({ min: 7000, max: 7003 }), { nil: undefined }),
      subjectAltNames: fc.option(fc.constant(['spiffe://cluster.local/ns/ns-a/sa/reader']), { nil: undefined }),
    })
    .map((draw) => ({
      namespace: draw.namespace,
      hosts: draw.hosts,
      ports: draw.ports,
      location: draw.location,
      resolution: draw.resolution,
      exportTo: draw.exportTo,
      addresses: draw.addresses,
      inline: draw.useSelector ? [] : draw.inlineSeed.slice(0, draw.inlineCount),
      inlinePortOverride: draw.inlinePortOverride,
      selector: draw.useSelector ? draw.selector : undefined,
      subjectAltNames: draw.subjectAltNames,
    }));

interface WorkloadEntryDraw extends EndpointDraw {
  readonly namespace: string;
  readonly portOverride: number | undefined;
}

const workloadEntry = (): fc.Arbitrary<WorkloadEntryDraw> =>
  fc
    .record({
      namespace: fc.constantFrom(...MESH_NAMESPACES),
      endpoint: endpoint([...IP_POOL, ...DNS_POOL]),
      selectorLabels: fc.dictionary(fc.constantFrom('app', 'tier'), fc.constantFrom(...LABEL_VALUES), { minKeys: 0, maxKeys: 2 }),
      portOverride: fc.option(fc.integer({ min: 7000, max: 7003 }), { nil: undefined }),
    })
    .map(({ namespace, endpoint: e, selectorLabels, portOverride }) => ({ ...e, labels: { ...e.labels, ...selectorLabels }, namespace, portOverride }));

/** istiod's root namespace: its selector-less Sidecar applies to namespaces without one. */
export const ROOT_NAMESPACE = 'istio-system';
/** Egress hosts: namespace-wide, across namespaces, exact, wildcard and excluded imports. */
const EGRESS_HOSTS = ['./*', '*/*', 'ns-b/*', '*/svc-1.example.com', 'ns-a/*.example.com', '~ns-c/*', './db.internal', '*/*.mesh.local', 'istio-system/*', '*/api.example.net'] as const;
/** The labels of the labelled sidecar each namespace is asked as. */
export const LABELLED_PROXY = { app: 'a' } as const;

interface SidecarDraw {
  readonly namespace: string;
  readonly selector: Labels | undefined;
  /** The last has no port (the catch-all); earlier ones have one. */
  readonly listeners: readonly { readonly port: number | undefined; readonly hosts: readonly string[] }[];
}

const sidecarDraw = (): fc.Arbitrary<SidecarDraw> =>
  fc
    .record({
      namespace: fc.constantFrom(...MESH_NAMESPACES, ROOT_NAMESPACE),
      selector: fc.option(fc.dictionary(fc.constantFrom('app'), fc.constantFrom(...LABEL_VALUES), { minKeys: 1, maxKeys: 1 }), { nil: undefined }),
      portListener: fc.option(fc.record({ port: fc.constantFrom(...PORT_NUMBERS), hosts: fc.uniqueArray(fc.constantFrom(...EGRESS_HOSTS), { minLength: 1, maxLength: 2 }) }), { nil: undefined }),
      hosts: fc.uniqueArray(fc.constantFrom(...EGRESS_HOSTS), { minLength: 1, maxLength: 3 }),
    })
    .map(({ namespace, selector, portListener, hosts }) => ({
      namespace,
      selector,
      listeners: [...(portListener === undefined ? [] : [{ port: portListener.port, hosts: portListener.hosts }]), { port: undefined, hosts }],
    }));

/** Hosts no generated ServiceEntry defines: a rule for them applies to nothing. */
const UNMATCHED_HOSTS = ['nothing.example.org', '*.example.org'] as const;

/** The menu of traffic policies a rule, a port or a subset draws from (proxyProtocol left out: a known gap). */
const LOAD_BALANCERS = [
  { simple: 'ROUND_ROBIN' },
  { simple: 'LEAST_REQUEST' },
  { simple: 'RANDOM' },
  { simple: 'PASSTHROUGH' },
  { consistentHash: { httpHeaderName: 'x-user' } },
  { consistentHash: { useSourceIp: true, ringHash: { minimumRingSize: 1024 } } },
] as const;
const CONNECTION_POOLS = [
  { tcp: { maxConnections: 100, connectTimeout: '5s' } },
  { http: { http1MaxPendingRequests: 10, maxRequestsPerConnection: 1, idleTimeout: '30s' } },
  { tcp: { maxConnections: 7 }, http: { http2MaxRequests: 50, maxRetries: 3 } },
] as const;
const OUTLIER_DETECTIONS = [
  { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
  { consecutiveGatewayErrors: 3 },
] as const;
/**
 * Locality load balancing, read per proxy: the gRPC clients added in `us-east/zone-1/rack-2` see it.
 * No `distribute` from the default proxies' locality and no `failoverPriority`: istiod applies those to
 * DNS clusters' inline endpoints too (per proxy, in CDS), which Skiff does not (docs/istio-compatibility.md).
 */
const LOCALITY_LB_SETTINGS = [
  { failover: [{ from: 'us-east', to: 'eu-west' }] },
  { distribute: [{ from: 'us-east/*', to: { 'us-east/zone-1/*': 80, 'eu-west/*': 20 } }] },
  { distribute: [{ from: 'us-east/zone-1/*', to: { 'eu-west/zone-3': 100 } }] },
  { enabled: false },
] as const;
const CLIENT_TLS = [{ mode: 'DISABLE' }, { mode: 'SIMPLE' }, { mode: 'SIMPLE', sni: 'sni.example.com' }, { mode: 'ISTIO_MUTUAL' }] as const;

type Policy = Record<string, unknown>;

/** `arbitrary`'s value one time in `oneIn`, otherwise undefined (fc.option leaves out only one time in `freq`). */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });

/** A policy of zero to four of the menu's fields; an empty one is left out of the YAML. */
const policyFields = (): fc.Arbitrary<Policy> =>
  fc
    .record({
      loadBalancer: sometimes(fc.constantFrom(...LOAD_BALANCERS), 2),
      connectionPool: sometimes(fc.constantFrom(...CONNECTION_POOLS), 3),
      outlierDetection: sometimes(fc.constantFrom(...OUTLIER_DETECTIONS), 3),
      tls: sometimes(fc.constantFrom(...CLIENT_TLS), 2),
      locality: sometimes(fc.constantFrom(...LOCALITY_LB_SETTINGS), 3),
    })
    .map(({ locality, ...fields }) => {
      const withLocality = locality === undefined ? fields : { ...fields, loadBalancer: { ...(fields.loadBalancer ?? {}), localityLbSetting: locality } };
      return Object.fromEntries(Object.entries(withLocality).filter(([, value]) => value !== undefined));
    });

interface DestinationRuleDraw {
  /** `host`: the namespace of the ServiceEntry whose host the rule names. */
  readonly namespace: 'host' | (typeof MESH_NAMESPACES)[number] | typeof ROOT_NAMESPACE;
  /** A host of one of the mesh's ServiceEntries (by index, modulo their count), exact or as its parent wildcard, or a host none defines. */
  readonly host: { readonly serviceEntry: number; readonly index: number; readonly wildcard: boolean } | { readonly unmatched: string };
  readonly exportTo: readonly string[] | undefined;
  readonly selector: Labels | undefined;
  readonly policy: Policy;
  readonly portPolicy: { readonly port: number; readonly policy: Policy } | undefined;
  readonly subsets: readonly { readonly name: string; readonly labels: Labels; readonly policy: Policy | undefined }[];
}

const destinationRule = (): fc.Arbitrary<DestinationRuleDraw> =>
  fc.record({
    namespace: fc.constantFrom('host', 'host', ...MESH_NAMESPACES, ROOT_NAMESPACE),
    host: fc.oneof(
      { weight: 5, arbitrary: fc.record({ serviceEntry: fc.nat(3), index: fc.nat(1), wildcard: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ unmatched: fc.constantFrom(...UNMATCHED_HOSTS) }) },
    ),
    exportTo: sometimes(fc.constantFrom(['.'], ['*'], ['ns-b'], ['ns-b', 'ns-c'], [ROOT_NAMESPACE]), 3),
    selector: sometimes(fc.constantFrom({ app: 'a' }, { app: 'b' }), 6),
    policy: policyFields(),
    portPolicy: sometimes(fc.record({ port: fc.constantFrom(...PORT_NUMBERS), policy: policyFields() }), 3),
    subsets: fc.uniqueArray(
      fc.record({
        name: fc.constantFrom('v1', 'v2', 'canary'),
        labels: fc.dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES, 'none'), { minKeys: 1, maxKeys: 2 }),
        policy: sometimes(policyFields(), 3),
      }),
      { minLength: 0, maxLength: 2, selector: (s) => s.name },
    ),
  });

/** An entry's host, by the entry's index and the host's index in it (both taken modulo the mesh's). */
interface HostRef {
  readonly serviceEntry: number;
  readonly index: number;
}

interface VirtualServiceDraw {
  readonly namespace: 'host' | (typeof MESH_NAMESPACES)[number];
  readonly host: HostRef & { readonly wildcard: boolean };
  readonly exportTo: readonly string[] | undefined;
  readonly routes: readonly {
    readonly match: Record<string, unknown> | undefined;
    /** The routed host: the VirtualService's own, or another entry's. */
    readonly destinations: readonly { readonly host: HostRef | 'own'; readonly subset: string | undefined; readonly port: number | undefined }[];
    readonly split: readonly [number, number];
    readonly settings: Record<string, unknown>;
  }[];
}

const ROUTE_MATCHES = [
  { uri: { prefix: '/pkg.Api/' } },
  { uri: { exact: '/pkg.Api/Get' }, ignoreUriCase: true },
  { headers: { 'x-user': { exact: 'a' } } },
  { headers: { 'x-canary': { prefix: 'canary-' } }, withoutHeaders: { 'x-debug': {} } },
  { port: 80 },
  { port: 8080 },
  { sourceLabels: { app: 'a' } },
  { sourceNamespace: 'ns-b' },
] as const;
const ROUTE_SETTINGS = [
  { timeout: '2s' },
  { retries: { attempts: 3, perTryTimeout: '1s', retryOn: 'unavailable,cancelled' } },
  { retries: { attempts: 0 } },
  { fault: { abort: { httpStatus: 503, percentage: { value: 10 } } } },
  { fault: { delay: { fixedDelay: '1s', percentage: { value: 50 } } } },
  { headers: { request: { set: { 'x-route': 'generated' } } } },
] as const;

const virtualService = (): fc.Arbitrary<VirtualServiceDraw> =>
  fc.record({
    namespace: fc.constantFrom('host' as const, 'host' as const, ...MESH_NAMESPACES),
    host: fc.record({ serviceEntry: fc.nat(3), index: fc.nat(1), wildcard: fc.boolean() }),
    exportTo: sometimes(fc.constantFrom(['.'], ['*'], ['ns-b']), 3),
    routes: fc.array(
      fc.record({
        match: sometimes(fc.constantFrom(...ROUTE_MATCHES), 2),
        destinations: fc.array(
          fc.record({
            host: fc.oneof({ weight: 3, arbitrary: fc.constant('own' as const) }, { weight: 1, arbitrary: fc.record({ serviceEntry: fc.nat(3), index: fc.nat(1) }) }),
            subset: sometimes(fc.constantFrom('v1', 'v2'), 3),
            port: sometimes(fc.constantFrom(...PORT_NUMBERS), 3),
          }),
          { minLength: 1, maxLength: 2 },
        ),
        split: fc.constantFrom([50, 50] as const, [80, 20] as const, [100, 0] as const),
        settings: fc.constantFrom({}, {}, ...ROUTE_SETTINGS),
      }),
      { minLength: 1, maxLength: 2 },
    ),
  });

export interface GeneratedMesh {
  readonly serviceEntries: readonly ServiceEntryDraw[];
  readonly workloadEntries: readonly WorkloadEntryDraw[];
  readonly sidecars: readonly SidecarDraw[];
  readonly destinationRules: readonly DestinationRuleDraw[];
  readonly virtualServices: readonly VirtualServiceDraw[];
}

// Sidecars, then DestinationRules, then VirtualServices, are drawn last, so the objects drawn before them stay what they were for a seed.
export const generatedMesh = (): fc.Arbitrary<GeneratedMesh> =>
  fc.record({
    serviceEntries: fc.array(serviceEntry(), { minLength: 1, maxLength: 4 }),
    workloadEntries: fc.array(workloadEntry(), { minLength: 0, maxLength: 6 }),
    sidecars: fc.array(sidecarDraw(), { minLength: 0, maxLength: 2 }),
    destinationRules: fc.array(destinationRule(), { minLength: 0, maxLength: 3 }),
    virtualServices: fc.array(virtualService(), { minLength: 0, maxLength: 2 }),
  });

/** The host `ref` names in the mesh, and the namespace of its entry. */
function hostOf(mesh: GeneratedMesh, ref: HostRef): { readonly host: string; readonly namespace: string } {
  const se = mesh.serviceEntries[ref.serviceEntry % mesh.serviceEntries.length]!;
  return { host: se.hosts[ref.index % se.hosts.length]!, namespace: se.namespace };
}

/**
 * Whether an entry of `host` is hidden from its own namespace (exportTo `~`, or a list without `.`,
 * `*` or the namespace): istiod still imports it into that namespace's proxies when a VirtualService
 * they see routes to it (`collectImportedServices` takes a destination's service of the proxy's
 * namespace without a visibility check), which Skiff does not do (docs/istio-compatibility.md).
 */
function hiddenInOwnNamespace(mesh: GeneratedMesh, host: string): boolean {
  return mesh.serviceEntries.some(
    (se) => (se.hosts as readonly string[]).includes(host) && se.exportTo !== undefined && !se.exportTo.some((to) => to === '.' || to === '*' || to === se.namespace),
  );
}

/**
 * The VirtualService as a document, or undefined where what istiod imports through it is not drawn: a
 * mesh with Sidecars (istiod adds to a listener the services the listener's VirtualServices route to
 * when it does not import them itself, `collectImportedServices`), and a destination host
 * `hiddenInOwnNamespace`.
 */
function virtualServiceDocument(mesh: GeneratedMesh, draw: VirtualServiceDraw): { namespace: string; spec: Record<string, unknown> } | undefined {
  if (mesh.sidecars.length > 0) return undefined;
  const own = hostOf(mesh, draw.host);
  const routed = draw.routes.flatMap((route) => route.destinations.map((destination) => (destination.host === 'own' ? own.host : hostOf(mesh, destination.host).host)));
  if (routed.some((host) => hiddenInOwnNamespace(mesh, host))) return undefined;
  const http = draw.routes.map((route) => {
    const weighted = route.destinations.length > 1;
    return {
      ...(route.match === undefined ? {} : { match: [route.match] }),
      route: route.destinations.map((destination, i) => ({
        destination: {
          host: destination.host === 'own' ? own.host : hostOf(mesh, destination.host).host,
          ...(destination.subset === undefined ? {} : { subset: destination.subset }),
          ...(destination.port === undefined ? {} : { port: { number: destination.port } }),
        },
        ...(weighted ? { weight: route.split[i] } : {}),
      })),
      ...route.settings,
    };
  });
  const spec: Record<string, unknown> = { hosts: [draw.host.wildcard ? parentWildcard(own.host) : own.host], http };
  if (draw.exportTo !== undefined) spec['exportTo'] = draw.exportTo;
  return { namespace: draw.namespace === 'host' ? own.namespace : draw.namespace, spec };
}

/** `svc-1.example.com` → `*.example.com`; the wildcard that covers a host's siblings. */
const parentWildcard = (host: string): string => `*${host.slice(host.indexOf('.'))}`;

function destinationRuleDocument(mesh: GeneratedMesh, rule: DestinationRuleDraw): { namespace: string; spec: Record<string, unknown> } {
  let host: string;
  let hostNamespace: string = MESH_NAMESPACES[0];
  if ('unmatched' in rule.host) host = rule.host.unmatched;
  else {
    const se = mesh.serviceEntries[rule.host.serviceEntry % mesh.serviceEntries.length]!;
    const exact = se.hosts[rule.host.index % se.hosts.length]!;
    host = rule.host.wildcard ? parentWildcard(exact) : exact;
    hostNamespace = se.namespace;
  }
  const spec: Record<string, unknown> = { host };
  if (Object.keys(rule.policy).length > 0 || (rule.portPolicy !== undefined && Object.keys(rule.portPolicy.policy).length > 0)) {
    const trafficPolicy: Record<string, unknown> = { ...rule.policy };
    if (rule.portPolicy !== undefined && Object.keys(rule.portPolicy.policy).length > 0) {
      trafficPolicy['portLevelSettings'] = [{ port: { number: rule.portPolicy.port }, ...rule.portPolicy.policy }];
    }
    spec['trafficPolicy'] = trafficPolicy;
  }
  if (rule.subsets.length > 0) {
    spec['subsets'] = rule.subsets.map((subset) => ({
      name: subset.name,
      labels: subset.labels,
      ...(subset.policy === undefined || Object.keys(subset.policy).length === 0 ? {} : { trafficPolicy: subset.policy }),
    }));
  }
  // A rule with a workload selector may not be exported beyond its namespace (istio validation: `ValidateDestinationRule`).
  if (rule.exportTo !== undefined && (rule.selector === undefined || rule.exportTo.join() === '.')) spec['exportTo'] = rule.exportTo;
  if (rule.selector !== undefined) spec['workloadSelector'] = { matchLabels: rule.selector };
  return { namespace: rule.namespace === 'host' ? hostNamespace : rule.namespace, spec };
}

const BASE_TIME = Date.parse('2026-01-01T00:00:00Z');
const timestamp = (index: number): string => new Date(BASE_TIME + index * 60_000).toISOString().replace('.000Z', 'Z');

/** The mesh as the Istio YAML a user would write. */
export function meshYaml(mesh: GeneratedMesh): string {
  const documents: unknown[] = [];
  let index = 0;
  mesh.serviceEntries.forEach((se, i) => {
    const portNames = se.ports.map((p) => p.name);
    const spec: Record<string, unknown> = {
      hosts: se.hosts,
      ports: se.ports.map((p) => ({ number: p.number, name: p.name, ...(p.protocol === '' ? {} : { protocol: p.protocol }), ...(p.targetPort === undefined ? {} : { targetPort: p.targetPort }) })),
      location: se.location,
      resolution: se.resolution,
    };
    if (se.exportTo !== undefined) spec['exportTo'] = se.exportTo;
    if (se.addresses !== undefined) spec['addresses'] = se.addresses;
    if (se.subjectAltNames !== undefined) spec['subjectAltNames'] = se.subjectAltNames;
    if (se.selector !== undefined) spec['workloadSelector'] = { labels: se.selector };
    if (se.inline.length > 0) spec['endpoints'] = se.inline.map((e) => endpointSpec(e, portNames, se.inlinePortOverride));
    documents.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: `se-${i}`, namespace: se.namespace, creationTimestamp: timestamp(index++) },
      spec,
    });
  });
  mesh.workloadEntries.forEach((we, i) => {
    documents.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: { name: `we-${i}`, namespace: we.namespace, creationTimestamp: timestamp(index++) },
      spec: endpointSpec(we, ['http-80', 'tcp-9000', 'grpc-8080'], we.portOverride),
    });
  });
  mesh.sidecars.forEach((sidecar, i) => {
    documents.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'Sidecar',
      metadata: { name: `sidecar-${i}`, namespace: sidecar.namespace, creationTimestamp: timestamp(index++) },
      spec: {
        ...(sidecar.selector === undefined ? {} : { workloadSelector: { labels: sidecar.selector } }),
        egress: sidecar.listeners.map((listener) => ({
          ...(listener.port === undefined ? {} : { port: { number: listener.port, protocol: 'HTTP', name: `http-${listener.port}` } }),
          hosts: listener.hosts,
        })),
      },
    });
  });
  mesh.destinationRules.forEach((rule, i) => {
    const { namespace, spec } = destinationRuleDocument(mesh, rule);
    documents.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: `dr-${i}`, namespace, creationTimestamp: timestamp(index++) },
      spec,
    });
  });
  mesh.virtualServices.forEach((draw, i) => {
    const document = virtualServiceDocument(mesh, draw);
    if (document === undefined) return;
    const { namespace, spec } = document;
    documents.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: `vs-${i}`, namespace, creationTimestamp: timestamp(index++) },
      spec,
    });
  });
  return documents.map((doc) => stringify(doc, { aliasDuplicateObjects: false })).join('---\n');
}

/** Where the gRPC clients that see locality load balancing are: a locality the endpoints' draw uses. */
export const LOCALITY_PROXY = { region: 'us-east', zone: 'zone-1', subZone: 'rack-2' } as const;

/**
 * A generated mesh as a parity case: the default proxies, plus in every namespace a sidecar labelled
 * `LABELLED_PROXY`, which a Sidecar's workload selector may pick, and a gRPC client in `LOCALITY_PROXY`.
 */
export function generatedCase(name: string, mesh: GeneratedMesh): ParityCase {
  const config = meshYaml(mesh);
  const labelled = namespacesOf(config).map((namespace) => ({ ...parityProxy('sidecar', { namespace, labels: LABELLED_PROXY }), name: `sidecar@${namespace}/app=a` }));
  const listeners = grpcTargetsOf(config);
  const located = namespacesOf(config).map((namespace) => parityProxy('grpc', { namespace, listeners, locality: LOCALITY_PROXY }));
  return { name, config, proxies: [...defaultProxies(config), ...labelled, ...located] };
}
