/**
 * Normalized entries: the contract between the watcher (which writes them, one Redis hash per
 * ServiceEntry) and the translator (which reads them). Plain JSON, versioned, with nothing
 * Kubernetes-specific: everything translation needs, already defaulted and validated.
 *
 * The JSON Schema documents are the TypeBox values below (`NormalizedServiceEntrySchema`,
 * `NormalizedEndpointSchema`); `docs/normalized-entries.md` describes each field and the Istio rule it
 * comes from. Bump `NORMALIZED_SCHEMA_VERSION` on any incompatible change: a reader rejects entries whose
 * `schemaVersion` it does not know instead of guessing.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';

export const NORMALIZED_SCHEMA_VERSION = 1;

const StringMap = Type.Record(Type.String(), Type.String());

/** `ServiceEntry.spec.resolution` (istio/api `service_entry.proto`); unset means `NONE`. */
export const Resolution = Type.Union([
  Type.Literal('NONE'),
  Type.Literal('STATIC'),
  Type.Literal('DNS'),
  Type.Literal('DNS_ROUND_ROBIN'),
  Type.Literal('DYNAMIC_DNS'),
]);
export type Resolution = Static<typeof Resolution>;

/** `ServiceEntry.spec.location`; unset means `MESH_EXTERNAL`. */
export const Location = Type.Union([Type.Literal('MESH_EXTERNAL'), Type.Literal('MESH_INTERNAL')]);
export type Location = Static<typeof Location>;

/**
 * Port protocol in Istio's canonical spelling (`pkg/config/protocol/instance.go` `Parse`):
 * `HTTP`, `HTTPS`, `HTTP2`, `HTTP_PROXY`, `GRPC`, `GRPC-Web`, `TCP`, `TLS`, `UDP`, `Mongo`, `Redis`,
 * `MySQL`, or `''` when unset (protocol sniffing).
 */
export const Protocol = Type.Union([
  Type.Literal('HTTP'),
  Type.Literal('HTTPS'),
  Type.Literal('HTTP2'),
  Type.Literal('HTTP_PROXY'),
  Type.Literal('GRPC'),
  Type.Literal('GRPC-Web'),
  Type.Literal('TCP'),
  Type.Literal('TLS'),
  Type.Literal('UDP'),
  Type.Literal('Mongo'),
  Type.Literal('Redis'),
  Type.Literal('MySQL'),
  Type.Literal(''),
]);
export type Protocol = Static<typeof Protocol>;

export const NormalizedPort = Type.Object(
  {
    number: Type.Integer({ minimum: 1, maximum: 65535 }),
    name: Type.String({ minLength: 1 }),
    protocol: Protocol,
    /** 0 when unset. */
    targetPort: Type.Integer({ minimum: 0, maximum: 65535 }),
  },
  { additionalProperties: false },
);
export type NormalizedPort = Static<typeof NormalizedPort>;

/** Identifies an Istio object: Istio's `ConfigKey` without the kind. */
export const ObjectKey = Type.Object(
  { namespace: Type.String({ minLength: 1 }), name: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);
export type ObjectKey = Static<typeof ObjectKey>;

export const NormalizedServiceEntrySchema = Type.Object(
  {
    schemaVersion: Type.Literal(NORMALIZED_SCHEMA_VERSION),
    namespace: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1 }),
    /**
     * `metadata.creationTimestamp` in milliseconds since the epoch (0 when absent): the oldest
     * ServiceEntry wins a host claimed twice (`SortServicesByCreationTime`).
     */
    creationTime: Type.Integer({ minimum: 0 }),
    /** Object metadata labels (compared when same-host ServiceEntries are merged). */
    labels: StringMap,
    hosts: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    addresses: Type.Array(Type.String()),
    ports: Type.Array(NormalizedPort),
    location: Location,
    resolution: Resolution,
    /** As written in the spec; empty means the mesh's `defaultServiceExportTo`. */
    exportTo: Type.Array(Type.String()),
    /** `null` when the ServiceEntry has inline `spec.endpoints` or no endpoints at all. */
    workloadSelector: Type.Union([StringMap, Type.Null()]),
    subjectAltNames: Type.Array(Type.String()),
  },
  { additionalProperties: false, $id: 'https://skiff.dev/schemas/normalized-service-entry.v1.json' },
);
export type NormalizedServiceEntry = Static<typeof NormalizedServiceEntrySchema>;

/** Where an endpoint came from: a WorkloadEntry, or the `index`-th inline `spec.endpoints` entry of a ServiceEntry. */
export const EndpointSource = Type.Union([
  Type.Object(
    { kind: Type.Literal('WorkloadEntry'), namespace: Type.String(), name: Type.String() },
    { additionalProperties: false },
  ),
  Type.Object(
    { kind: Type.Literal('ServiceEntry'), namespace: Type.String(), name: Type.String(), index: Type.Integer({ minimum: 0 }) },
    { additionalProperties: false },
  ),
]);
export type EndpointSource = Static<typeof EndpointSource>;

export const NormalizedEndpointSchema = Type.Object(
  {
    schemaVersion: Type.Literal(NORMALIZED_SCHEMA_VERSION),
    source: EndpointSource,
    /** IP, FQDN (DNS ServiceEntries only), `unix://` path, or empty when only `network` is set. */
    address: Type.String(),
    /** Target port per ServiceEntry port **name** (`WorkloadEntry.spec.ports`). */
    ports: Type.Record(Type.String(), Type.Integer({ minimum: 1, maximum: 65535 })),
    /** `spec.labels` merged with `metadata.labels`, metadata winning (`ConvertWorkloadEntry`). */
    labels: StringMap,
    network: Type.String(),
    /** `region/zone/subzone`, from `spec.locality` or the `istio-locality` label. */
    locality: Type.String(),
    /** 0 means unset (Envoy gets 1). */
    weight: Type.Integer({ minimum: 0, maximum: 4294967295 }),
    serviceAccount: Type.String(),
    /** The `security.istio.io/tlsMode` label, else `istio` with a service account, else `disabled` (`getTLSModeFromWorkloadEntry`). */
    tlsMode: Type.String(),
    /**
     * Workload name for telemetry metadata: the WorkloadEntry's auto-registration group, workload-name
     * label or name (`WorkloadNameFromWorkloadEntry`), or `<se-name>-<index>` inline.
     */
    workloadName: Type.String(),
    /** Namespace of the workload (inline endpoints: the ServiceEntry's). */
    namespace: Type.String(),
    /**
     * False only for a WorkloadEntry with health checks enabled whose `Healthy` condition is not True:
     * Istio drops such workloads entirely (docs/istio-behaviour.md#health), so no ServiceEntry selects them.
     */
    healthy: Type.Boolean(),
  },
  { additionalProperties: false, $id: 'https://skiff.dev/schemas/normalized-endpoint.v1.json' },
);
export type NormalizedEndpoint = Static<typeof NormalizedEndpointSchema>;

/**
 * A DestinationRule's traffic policy as the Istio API's JSON (`networking/v1/destination_rule.proto`
 * `TrafficPolicy`, camelCase field names, durations as strings such as `"6s"`), already checked by
 * `validateDestinationRule`. Kept as JSON rather than re-modelled so that every field istiod reads
 * reaches the translator unchanged.
 */
export const TrafficPolicyJson = Type.Record(Type.String(), Type.Unknown());
export type TrafficPolicyJson = Static<typeof TrafficPolicyJson>;

export const NormalizedSubset = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    labels: StringMap,
    trafficPolicy: Type.Union([TrafficPolicyJson, Type.Null()]),
  },
  { additionalProperties: false },
);
export type NormalizedSubset = Static<typeof NormalizedSubset>;

/**
 * One DestinationRule as the watcher stores it in the hash of every ServiceEntry one of whose hosts
 * its `spec.host` matches (exactly or as a wildcard), so a rule change rewrites only those hashes. The
 * translator chooses, per proxy namespace (and labels, for a rule with a `workloadSelector`), the rule
 * istiod would apply (`pilot/pkg/model/push_context.go` `destinationRule`, `mergeDestinationRule`).
 */
export const NormalizedDestinationRuleSchema = Type.Object(
  {
    schemaVersion: Type.Literal(NORMALIZED_SCHEMA_VERSION),
    namespace: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1 }),
    /** `metadata.creationTimestamp` in milliseconds (0 when absent): merging keeps the oldest rule's policy. */
    creationTime: Type.Integer({ minimum: 0 }),
    /** `spec.host` as written (a FQDN, a wildcard such as `*.example.com`, or a short name). */
    host: Type.String({ minLength: 1 }),
    /** As written in the spec; empty means the mesh's `defaultDestinationRuleExportTo`. */
    exportTo: Type.Array(Type.String()),
    /** `spec.workloadSelector.matchLabels`; `null` when the rule applies to every proxy that sees it. */
    workloadSelector: Type.Union([StringMap, Type.Null()]),
    trafficPolicy: Type.Union([TrafficPolicyJson, Type.Null()]),
    subsets: Type.Array(NormalizedSubset),
  },
  { additionalProperties: false, $id: 'https://skiff.dev/schemas/normalized-destination-rule.v1.json' },
);
export type NormalizedDestinationRule = Static<typeof NormalizedDestinationRuleSchema>;

/** `Sidecar.spec.egress[].port`: what decides which service ports a listener imports. */
export const NormalizedSidecarPort = Type.Object(
  {
    number: Type.Integer({ minimum: 0, maximum: 65535 }),
    /** Canonical spelling (`HTTP`, `TCP`, ...) or `''` when unset. */
    protocol: Protocol,
    name: Type.String(),
  },
  { additionalProperties: false },
);
export type NormalizedSidecarPort = Static<typeof NormalizedSidecarPort>;

export const NormalizedSidecarEgress = Type.Object(
  {
    /** Absent for the catch-all listener. */
    port: Type.Optional(NormalizedSidecarPort),
    /** `spec.egress[].bind` as written (`''` when unset). */
    bind: Type.String(),
    /** `namespace/dnsName` imports and `~namespace/dnsName` exclusions, as written (`.` not resolved). */
    hosts: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  },
  { additionalProperties: false },
);
export type NormalizedSidecarEgress = Static<typeof NormalizedSidecarEgress>;

/**
 * One Sidecar as the watcher stores it for the gateways, which choose each proxy's Sidecar and show the
 * proxy only the services its egress hosts import (`pilot/pkg/model/sidecar.go`
 * `convertToSidecarScope`; `pilot/pkg/model/push_context.go` `getSidecarScope`). Ingress listeners and
 * the inbound connection pool configure inbound traffic, which Skiff does not serve, so they are not kept.
 */
export const NormalizedSidecarSchema = Type.Object(
  {
    schemaVersion: Type.Literal(NORMALIZED_SCHEMA_VERSION),
    namespace: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1 }),
    /** `metadata.creationTimestamp` in milliseconds (0 when absent): the oldest matching Sidecar applies. */
    creationTime: Type.Integer({ minimum: 0 }),
    /** `spec.workloadSelector.labels`; `null` for the namespace-wide Sidecar. */
    workloadSelector: Type.Union([StringMap, Type.Null()]),
    /** As written; empty means one catch-all listener importing every host of every namespace. */
    egress: Type.Array(NormalizedSidecarEgress),
    /** `spec.outboundTrafficPolicy.mode`; `null` when unset (the mesh's policy applies). */
    outboundTrafficPolicy: Type.Union([Type.Literal('REGISTRY_ONLY'), Type.Literal('ALLOW_ANY'), Type.Null()]),
  },
  { additionalProperties: false, $id: 'https://skiff.dev/schemas/normalized-sidecar.v1.json' },
);
export type NormalizedSidecar = Static<typeof NormalizedSidecarSchema>;

/** One server of a Gateway: what istiod's `mergeGateways` reads to decide `ContainsAutoPassthroughGateways`. */
export const NormalizedGatewayServer = Type.Object(
  {
    port: Type.Integer({ minimum: 0, maximum: 4294967295 }),
    /** `''` when unset. */
    bind: Type.String(),
    /** As istiod keeps them (`sanitizeServerHostNamespace`): `./host` becomes `<namespace>/host` and `host` in the any-namespace form stays `host`. */
    hosts: Type.Array(Type.String({ minLength: 1 })),
    /** `tls.mode`; `null` when the server has no `tls`. */
    tlsMode: Type.Union([
      Type.Literal('PASSTHROUGH'),
      Type.Literal('SIMPLE'),
      Type.Literal('MUTUAL'),
      Type.Literal('AUTO_PASSTHROUGH'),
      Type.Literal('ISTIO_MUTUAL'),
      Type.Literal('OPTIONAL_MUTUAL'),
      Type.Null(),
    ]),
  },
  { additionalProperties: false },
);
export type NormalizedGatewayServer = Static<typeof NormalizedGatewayServer>;

/**
 * One Gateway as the watcher stores it for the gateways (ADS servers), which decide from it which
 * router proxies get istiod's sni-dnat clusters (`pilot/pkg/model/push_context.go` `mergeGateways`,
 * `pilot/pkg/model/gateway.go` `ContainsAutoPassthroughGateways`). Only what that decision reads is kept.
 */
export const NormalizedGatewaySchema = Type.Object(
  {
    schemaVersion: Type.Literal(NORMALIZED_SCHEMA_VERSION),
    namespace: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1 }),
    /** `metadata.creationTimestamp` in milliseconds (0 when absent): istiod merges Gateways oldest first. */
    creationTime: Type.Integer({ minimum: 0 }),
    /** `spec.selector`; `null` when unset or empty (the Gateway applies to every router). */
    selector: Type.Union([StringMap, Type.Null()]),
    servers: Type.Array(NormalizedGatewayServer),
  },
  { additionalProperties: false, $id: 'https://skiff.dev/schemas/normalized-gateway.v1.json' },
);
export type NormalizedGateway = Static<typeof NormalizedGatewaySchema>;

/**
 * An HTTP route of a VirtualService as the Istio API's JSON (`networking/v1/virtual_service.proto`
 * `HTTPRoute`, camelCase field names, durations as strings), already checked by
 * `validateVirtualService`. Kept as JSON, like a DestinationRule's traffic policy, so every field istiod
 * reads reaches the translator unchanged.
 */
export const HttpRouteJson = Type.Record(Type.String(), Type.Unknown());
export type HttpRouteJson = Static<typeof HttpRouteJson>;

/**
 * One VirtualService as the watcher stores it in the hash of every ServiceEntry one of whose hosts
 * one of its `spec.hosts` matches (exactly or as a wildcard), so a VirtualService change rewrites only
 * those hashes. The translator chooses, per proxy namespace, the VirtualService istiod would apply to
 * a host (`pilot/pkg/model/push_context.go` `VirtualServicesForGateway`) and builds the host's gRPC
 * routes from its `http` routes (`pilot/pkg/networking/core/route/route.go`).
 */
export const NormalizedVirtualServiceSchema = Type.Object(
  {
    schemaVersion: Type.Literal(NORMALIZED_SCHEMA_VERSION),
    namespace: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1 }),
    /** `metadata.creationTimestamp` in milliseconds (0 when absent): istiod orders VirtualServices by it. */
    creationTime: Type.Integer({ minimum: 0 }),
    /** `spec.hosts` as written (FQDNs, wildcards such as `*.example.com`, or short names). */
    hosts: Type.Array(Type.String({ minLength: 1 })),
    /** `spec.gateways` as written; empty means the mesh only. */
    gateways: Type.Array(Type.String()),
    /** As written in the spec; empty means the mesh's `defaultVirtualServiceExportTo`. */
    exportTo: Type.Array(Type.String()),
    http: Type.Array(HttpRouteJson),
  },
  { additionalProperties: false, $id: 'https://skiff.dev/schemas/normalized-virtual-service.v1.json' },
);
export type NormalizedVirtualService = Static<typeof NormalizedVirtualServiceSchema>;

export type NormalizedValidation<T> = { valid: true; value: T } | { valid: false; errors: string[] };

/** An object written as a literal or read by `JSON.parse`: not an array, a Date, a typed array or a class instance. */
function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** The string fields of a normalized endpoint, and of its `source`. */
const ENDPOINT_STRING_FIELDS = ['address', 'network', 'locality', 'serviceAccount', 'tlsMode', 'workloadName', 'namespace'] as const;
const SOURCE_STRING_FIELDS = ['namespace', 'name'] as const;

function isStringOf(value: Readonly<Record<string, unknown>>, names: readonly string[]): boolean {
  for (const name of names) if (typeof value[name] !== 'string') return false;
  return true;
}

/**
 * `NormalizedEndpointSchema` written out for the shape every endpoint has. It accepts nothing the
 * schema refuses (`normalized.test.ts` holds it to the compiled schema) and may refuse what the schema
 * accepts, which the schema then decides. The compiled check builds an entry array for each map and a
 * name array for each object, and tests every key against a pattern: at about a microsecond per
 * endpoint it was a sixth of validating a WorkloadEntry, and the translator checks every endpoint it
 * reads from the store as well.
 */
export function isPlainNormalizedEndpoint(value: unknown): boolean {
  if (!isPlainObject(value) || value['schemaVersion'] !== NORMALIZED_SCHEMA_VERSION) return false;
  if (!isStringOf(value, ENDPOINT_STRING_FIELDS)) return false;
  const { source, ports, labels, weight } = value;
  if (typeof value['healthy'] !== 'boolean' || typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 4294967295) return false;
  if (!isPlainObject(source) || !isStringOf(source, SOURCE_STRING_FIELDS)) return false;
  if (source['kind'] === 'WorkloadEntry') {
    if (Object.getOwnPropertyNames(source).length !== 3) return false;
  } else {
    const { index } = source;
    if (source['kind'] !== 'ServiceEntry' || typeof index !== 'number' || !Number.isInteger(index) || index < 0) return false;
    if (Object.getOwnPropertyNames(source).length !== 4) return false;
  }
  if (!isPlainObject(ports) || !isPlainObject(labels)) return false;
  // for-in also visits inherited keys: stricter than the schema's own entries, never looser.
  for (const name in ports) {
    const port = ports[name];
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return false;
  }
  for (const key in labels) if (typeof labels[key] !== 'string') return false;
  return Object.getOwnPropertyNames(value).length === 13;
}

/**
 * A schema's checker, compiled on first use: code that never reads the store (`skiffctl`) never compiles
 * one. `acceptsFirst`, when given, is a faster test that accepts only what the schema accepts; what it
 * does not accept goes to the compiled schema, which also gives the errors.
 */
function compileChecker<S extends TSchema>(schema: S, acceptsFirst?: (value: unknown) => boolean) {
  let checker: TypeCheck<S> | undefined;
  return (value: unknown): NormalizedValidation<Static<S>> => {
    if (acceptsFirst?.(value) === true) return { valid: true, value: value as Static<S> };
    checker ??= TypeCompiler.Compile(schema);
    if (checker.Check(value)) return { valid: true, value };
    return { valid: false, errors: [...checker.Errors(value)].map((e) => `${e.path || '/'}: ${e.message}`) };
  };
}

/** Checks JSON read back from the store against the schema (a reader never trusts a stored entry blindly). */
export const checkNormalizedServiceEntry = compileChecker(NormalizedServiceEntrySchema);
/** Checks JSON read back from the store against the schema. */
export const checkNormalizedEndpoint = compileChecker(NormalizedEndpointSchema, isPlainNormalizedEndpoint);
/** Checks JSON read back from the store against the schema. */
export const checkNormalizedDestinationRule = compileChecker(NormalizedDestinationRuleSchema);
/** Checks JSON read back from the store against the schema. */
export const checkNormalizedSidecar = compileChecker(NormalizedSidecarSchema);
/** Checks JSON read back from the store against the schema. */
export const checkNormalizedGateway = compileChecker(NormalizedGatewaySchema);
/** Checks JSON read back from the store against the schema. */
export const checkNormalizedVirtualService = compileChecker(NormalizedVirtualServiceSchema);
