/**
 * The normalized entry schemas as standalone JSON Schema documents (committed under `schemas/` for
 * readers outside TypeScript). They are the TypeBox values of `normalized.ts` serialized as JSON, so
 * they cannot drift: a test compares the committed files with this output.
 */
import {
  NormalizedDestinationRuleSchema,
  NormalizedEndpointSchema,
  NormalizedGatewaySchema,
  NormalizedServiceEntrySchema,
  NormalizedSidecarSchema,
  NormalizedVirtualServiceSchema,
  NORMALIZED_SCHEMA_VERSION,
} from './normalized.js';

/** TypeBox emits draft-07 compatible keywords. */
const JSON_SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#';

export interface JsonSchemaDocument {
  /** File name under `libs/model/schemas/`. */
  readonly fileName: string;
  readonly schema: Readonly<Record<string, unknown>>;
}

function toDocument(schema: object): Readonly<Record<string, unknown>> {
  // JSON.stringify drops TypeBox's symbol-keyed metadata and keeps only the JSON Schema keywords.
  return { $schema: JSON_SCHEMA_DIALECT, ...(JSON.parse(JSON.stringify(schema)) as Record<string, unknown>) };
}

export function normalizedJsonSchemas(): JsonSchemaDocument[] {
  return [
    { fileName: `normalized-service-entry.v${NORMALIZED_SCHEMA_VERSION}.json`, schema: toDocument(NormalizedServiceEntrySchema) },
    { fileName: `normalized-endpoint.v${NORMALIZED_SCHEMA_VERSION}.json`, schema: toDocument(NormalizedEndpointSchema) },
    { fileName: `normalized-destination-rule.v${NORMALIZED_SCHEMA_VERSION}.json`, schema: toDocument(NormalizedDestinationRuleSchema) },
    { fileName: `normalized-sidecar.v${NORMALIZED_SCHEMA_VERSION}.json`, schema: toDocument(NormalizedSidecarSchema) },
    { fileName: `normalized-gateway.v${NORMALIZED_SCHEMA_VERSION}.json`, schema: toDocument(NormalizedGatewaySchema) },
    { fileName: `normalized-virtual-service.v${NORMALIZED_SCHEMA_VERSION}.json`, schema: toDocument(NormalizedVirtualServiceSchema) },
  ];
}

/** The exact text of a committed schema file: two-space JSON with a final newline. */
export function renderJsonSchema(document: JsonSchemaDocument): string {
  return `${JSON.stringify(document.schema, null, 2)}\n`;
}
