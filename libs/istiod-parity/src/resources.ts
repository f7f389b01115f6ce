/**
 * What a control plane served one proxy, by type and name, as serialized Envoy messages, and how the
 * two sides are compared: each resource decoded with Skiff's Envoy API types and printed as
 * proto-JSON, then compared field by field. A field one side's types do not know fails the
 * comparison by name instead of being dropped.
 */
import { fromBinary, fromJson, toJson, type DescMessage, type JsonValue } from '@bufbuild/protobuf';
import { envoyRegistry, TypeUrl } from '@skiff/protos';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';

export type ResourceKind = 'clusters' | 'endpoints' | 'listeners' | 'routes';
export const RESOURCE_KINDS: readonly ResourceKind[] = ['clusters', 'endpoints', 'listeners', 'routes'];

export const TYPE_URL_OF: Readonly<Record<ResourceKind, string>> = {
  clusters: TypeUrl.Cluster,
  endpoints: TypeUrl.ClusterLoadAssignment,
  listeners: TypeUrl.Listener,
  routes: TypeUrl.RouteConfiguration,
};

const SCHEMA_OF: Readonly<Record<ResourceKind, DescMessage>> = {
  clusters: ClusterSchema,
  endpoints: ClusterLoadAssignmentSchema,
  listeners: ListenerSchema,
  routes: RouteConfigurationSchema,
};

/** One proxy's resources as proto-JSON objects, by kind, in the order they were served. */
export type ServedResources = Readonly<Record<ResourceKind, readonly JsonValue[]>>;

const NAME_FIELD: Readonly<Record<ResourceKind, string>> = { clusters: 'name', endpoints: 'clusterName', listeners: 'name', routes: 'name' };

export function resourceName(kind: ResourceKind, resource: JsonValue): string {
  const name = (resource as Record<string, unknown>)[NAME_FIELD[kind]];
  return typeof name === 'string' ? name : '';
}

const jsonOptions = { registry: envoyRegistry } as const;

/** A served message (protobuf bytes) as Skiff's proto-JSON. */
export function jsonOfBinary(kind: ResourceKind, bytes: Uint8Array): JsonValue {
  return toJson(SCHEMA_OF[kind], fromBinary(SCHEMA_OF[kind], bytes), jsonOptions);
}

/**
 * istiod's proto-JSON (Go's protojson) read through Skiff's types and printed again, so both sides
 * share one printer. Throws, naming the field, when Skiff's Envoy API lacks a field istiod set.
 */
export function canonicalJson(kind: ResourceKind, json: JsonValue): JsonValue {
  return toJson(SCHEMA_OF[kind], fromJson(SCHEMA_OF[kind], json, jsonOptions), jsonOptions);
}

export const emptyResources = (): Record<ResourceKind, JsonValue[]> => ({ clusters: [], endpoints: [], listeners: [], routes: [] });
