/**
 * Istio objects as Skiff reads them: the parsed form (kind known, spec not yet checked) and the typed
 * form a successful `validateObject` returns. Field names are the JSON names of istio/api
 * (`networking/v1alpha3/service_entry.proto`, `workload_entry.proto`, `workload_group.proto`,
 * `destination_rule.proto`, `sidecar.proto`); the three served versions (v1, v1beta1, v1alpha3) share one schema.
 */
import type { Location, Resolution } from './normalized.js';

/** The kinds Skiff validates (and, for ServiceEntry and WorkloadEntry, normalizes). */
export type SkiffKind = 'ServiceEntry' | 'WorkloadEntry' | 'WorkloadGroup' | 'DestinationRule' | 'Sidecar' | 'Gateway' | 'VirtualService';

/** Where an object came from: a file, the 1-based YAML document in it, and the line it starts on. */
export interface SourceRef {
  readonly file: string;
  /** 1-based document number in a multi-document YAML stream (1 for JSON). */
  readonly document: number;
  /** 1-based line of the object's first line. */
  readonly line: number;
  /** 0-based index in the `items` of a Kubernetes List, when the object came from one. */
  readonly item?: number;
}

/** `metadata` as parsed: any fields, with `name` checked and `namespace` defaulted. */
export interface ParsedMetadata {
  readonly name: string;
  readonly namespace: string;
  readonly [field: string]: unknown;
}

/** An object of a kind Skiff validates, before validation: `spec` and `status` are untouched input. */
export interface ParsedObject {
  readonly apiVersion: string;
  readonly kind: SkiffKind;
  readonly metadata: ParsedMetadata;
  readonly spec: unknown;
  readonly status: unknown;
  readonly source: SourceRef;
}

/** `metadata` after validation: only the fields Skiff reads. */
export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** RFC 3339 timestamp, as the API server writes it. */
  readonly creationTimestamp?: string;
  readonly resourceVersion?: string;
  readonly uid?: string;
  readonly generation?: number;
}

export type StringMap = Readonly<Record<string, string>>;

/** `ServiceEntry.spec.ports[]` (`ServicePort`). A missing `number` or `name` reads as 0 or ''. */
export interface ServicePort {
  readonly number: number;
  readonly name: string;
  readonly protocol?: string;
  readonly targetPort?: number;
}

/** `WorkloadEntry.spec`, also the shape of `ServiceEntry.spec.endpoints[]` and `WorkloadGroup.spec.template`. */
export interface WorkloadEntrySpec {
  readonly address?: string;
  readonly ports?: Readonly<Record<string, number>>;
  readonly labels?: StringMap;
  readonly network?: string;
  readonly locality?: string;
  readonly weight?: number;
  readonly serviceAccount?: string;
}

export interface ServiceEntrySpec {
  readonly hosts: readonly string[];
  readonly addresses: readonly string[];
  readonly ports: readonly ServicePort[];
  readonly location?: Location;
  readonly resolution?: Resolution;
  readonly endpoints: readonly WorkloadEntrySpec[];
  /** Present (possibly with no labels) when the spec sets `workloadSelector`. */
  readonly workloadSelector?: { readonly labels: StringMap };
  readonly exportTo: readonly string[];
  readonly subjectAltNames: readonly string[];
}

export interface HttpHeader {
  readonly name: string;
  readonly value?: string;
}

/** `WorkloadGroup.spec.probe` (`ReadinessProbe`); at most one health check method is set. */
export interface ReadinessProbe {
  readonly initialDelaySeconds?: number;
  readonly timeoutSeconds?: number;
  readonly periodSeconds?: number;
  readonly successThreshold?: number;
  readonly failureThreshold?: number;
  readonly httpGet?: {
    readonly path?: string;
    readonly port: number;
    readonly host?: string;
    readonly scheme?: string;
    readonly httpHeaders: readonly (HttpHeader | null)[];
  };
  readonly tcpSocket?: { readonly host?: string; readonly port: number };
  readonly exec?: { readonly command: readonly string[] };
  readonly grpc?: { readonly port: number; readonly service?: string };
}

export interface WorkloadGroupSpec {
  readonly metadata?: { readonly labels: StringMap; readonly annotations: StringMap };
  readonly template?: WorkloadEntrySpec;
  readonly probe?: ReadinessProbe;
}

/**
 * `DestinationRule.spec`, read only as far as Skiff validates it; the traffic policy is kept as the
 * input JSON so nothing a proxy-facing consumer needs is lost.
 */
export interface DestinationRuleSpec {
  readonly host: string;
  readonly trafficPolicy?: Readonly<Record<string, unknown>>;
  readonly subsets: readonly {
    readonly name: string;
    readonly labels: StringMap;
    readonly trafficPolicy?: Readonly<Record<string, unknown>>;
  }[];
  readonly exportTo: readonly string[];
  readonly workloadSelector?: { readonly matchLabels: StringMap };
}

/** `Sidecar.spec.egress[].port` and `ingress[].port` (`SidecarPort`). */
export interface SidecarPort {
  readonly number: number;
  readonly protocol: string;
  readonly name: string;
}

/** `Sidecar.spec.egress[]` (`IstioEgressListener`), as far as it decides which services a proxy sees. */
export interface SidecarEgressListener {
  readonly port?: SidecarPort;
  readonly bind: string;
  /** `namespace/dnsName` imports, `~namespace/dnsName` exclusions, as written. */
  readonly hosts: readonly string[];
}

/** `Sidecar.spec.outboundTrafficPolicy`. */
export interface SidecarOutboundTrafficPolicy {
  readonly mode: 'REGISTRY_ONLY' | 'ALLOW_ANY';
  readonly egressProxy?: { readonly host: string; readonly port?: number; readonly subset?: string };
}

/**
 * `Sidecar.spec`. Ingress listeners and the inbound connection pool configure inbound traffic, which
 * Skiff does not serve: they are validated and not kept.
 */
export interface SidecarSpec {
  /** Present (possibly with no labels) when the spec sets `workloadSelector`. */
  readonly workloadSelector?: { readonly labels: StringMap };
  readonly egress: readonly SidecarEgressListener[];
  readonly outboundTrafficPolicy?: SidecarOutboundTrafficPolicy;
}

/** `ServerTLSSettings.TLSmode`. */
export type GatewayTlsMode = 'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'AUTO_PASSTHROUGH' | 'ISTIO_MUTUAL' | 'OPTIONAL_MUTUAL';

/** `Gateway.spec.servers[]`, as far as it decides which routers get sni-dnat clusters. */
export interface GatewayServer {
  readonly port: { readonly number: number; readonly protocol: string; readonly name: string };
  readonly bind: string;
  /** As written (`host`, `namespace/host`). */
  readonly hosts: readonly string[];
  /** `tls.mode`; absent when the server has no `tls`. */
  readonly tlsMode?: GatewayTlsMode;
}

/** `Gateway.spec` (`gateway.proto`): the routers it selects and its servers. */
export interface GatewaySpec {
  /** Absent (or empty in the YAML): the Gateway applies to every router. */
  readonly selector?: StringMap;
  readonly servers: readonly GatewayServer[];
}

/**
 * `VirtualService.spec`, read as far as Skiff validates it; the HTTP routes are kept as the input JSON
 * (validated) so the translator reads every field istiod reads.
 */
export interface VirtualServiceSpec {
  /** As written (FQDNs, wildcards, short names); empty for a delegate. */
  readonly hosts: readonly string[];
  /** As written; empty means the mesh. */
  readonly gateways: readonly string[];
  readonly exportTo: readonly string[];
  readonly http: readonly Readonly<Record<string, unknown>>[];
  /** Whether it has TCP or TLS routes (validated, not translated: proxyless gRPC does not read them). */
  readonly hasTcpOrTls: boolean;
}

interface TypedObject<K extends SkiffKind, S> {
  readonly apiVersion: string;
  readonly kind: K;
  readonly metadata: ObjectMeta;
  readonly spec: S;
  /** Untouched input; only WorkloadEntry health reads it (`status.conditions`). */
  readonly status: unknown;
  readonly source: SourceRef;
}

export type ServiceEntryObject = TypedObject<'ServiceEntry', ServiceEntrySpec>;
export type WorkloadEntryObject = TypedObject<'WorkloadEntry', WorkloadEntrySpec>;
export type WorkloadGroupObject = TypedObject<'WorkloadGroup', WorkloadGroupSpec>;
export type DestinationRuleObject = TypedObject<'DestinationRule', DestinationRuleSpec>;
export type SidecarObject = TypedObject<'Sidecar', SidecarSpec>;
export type GatewayObject = TypedObject<'Gateway', GatewaySpec>;
export type VirtualServiceObject = TypedObject<'VirtualService', VirtualServiceSpec>;

/** A validated object of any kind Skiff validates. */
export type IstioConfigObject = ServiceEntryObject | WorkloadEntryObject | WorkloadGroupObject | DestinationRuleObject | SidecarObject | GatewayObject | VirtualServiceObject;
