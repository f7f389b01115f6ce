/**
 * The JSON type registry of everything Skiff prints: the xDS resources (`resource-registry.ts`) plus
 * ADS, CSDS and the admin config dump, so that `google.protobuf.Any` fields print as Envoy prints
 * them (`"@type": "type.googleapis.com/..."`).
 */
import { toJson, type DescMessage, type JsonValue, type MessageShape, type Registry } from '@bufbuild/protobuf';
import { file_envoy_admin_v3_config_dump } from './gen/envoy/admin/v3/config_dump_pb.js';
import { file_envoy_service_discovery_v3_ads } from './gen/envoy/service/discovery/v3/ads_pb.js';
import { file_envoy_service_status_v3_csds } from './gen/envoy/service/status/v3/csds_pb.js';
import { lazyRegistry } from './lazy-registry.js';
import { resourceFiles } from './resource-registry.js';

/** Every message Skiff puts on the wire or in a config dump, with everything they import; built on first use. */
export const envoyRegistry: Registry = lazyRegistry(() => [file_envoy_service_discovery_v3_ads, ...resourceFiles(), file_envoy_service_status_v3_csds, file_envoy_admin_v3_config_dump]);

/** Proto-JSON (camelCase, `@type` on Any) exactly as Envoy's admin `config_dump` prints it. */
export function toEnvoyJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): JsonValue {
  return toJson(schema, message, { registry: envoyRegistry });
}
