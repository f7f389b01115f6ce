/**
 * A translation result as Envoy prints its config (proto-JSON: camelCase, `@type` on `Any`), for
 * golden files, `skiffctl` and debug pages. Listeners, routes and errors appear only when present.
 * `@type` is moved to the front of every `Any`, where Envoy's config dump prints it.
 */
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { toResourceJson } from '@skiff/protos/resource-registry.js';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import type { TranslateResult } from './translate.js';

const TYPE_KEY = '@type';

/**
 * `value` with `@type` as the first key of every object that has one. `toJson`'s output is built for
 * this call alone, so it is changed in place: only the objects with an `@type` later than first are
 * rebuilt, where copying every object doubled the allocation of a large result (`skiffctl translate`
 * prints every resource; docs/BENCHMARKS.md, "CLI start-up").
 */
export function typeFirst(value: JsonValue): JsonValue {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = typeFirst(value[i] as JsonValue);
    return value;
  }
  const keys = Object.keys(value);
  for (const key of keys) value[key] = typeFirst(value[key] as JsonValue);
  if (keys[0] === TYPE_KEY || !keys.includes(TYPE_KEY)) return value;
  const out: JsonObject = { [TYPE_KEY]: value[TYPE_KEY] as JsonValue };
  for (const key of keys) if (key !== TYPE_KEY) out[key] = value[key] as JsonValue;
  return out;
}

export function translateResultToJson(result: TranslateResult): JsonObject {
  const json: JsonObject = {
    clusters: result.clusters.map((cluster) => typeFirst(toResourceJson(ClusterSchema, cluster))),
    endpoints: result.loadAssignments.map((assignment) => typeFirst(toResourceJson(ClusterLoadAssignmentSchema, assignment))),
  };
  if (result.listeners.length > 0) json['listeners'] = result.listeners.map((listener) => typeFirst(toResourceJson(ListenerSchema, listener)));
  if (result.routes.length > 0) json['routes'] = result.routes.map((route) => typeFirst(toResourceJson(RouteConfigurationSchema, route)));
  if (result.namespaceRoutes.length > 0) {
    json['namespaceRoutes'] = result.namespaceRoutes.map(({ namespace, route }) => ({ namespace, route: typeFirst(toResourceJson(RouteConfigurationSchema, route)) }));
  }
  if (result.errors.length > 0) json['errors'] = result.errors.map((error) => error.toJSON());
  return json;
}
