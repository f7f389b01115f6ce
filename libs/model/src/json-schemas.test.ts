/**
 * The committed JSON Schema files under `libs/model/schemas/` must equal the TypeBox schemas.
 * Regenerate them with `UPDATE_GOLDEN=1 npx vitest run src/json-schemas.test.ts`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { normalizedJsonSchemas, renderJsonSchema } from './json-schemas.js';

const SCHEMA_DIR = new URL('../schemas/', import.meta.url);

test.each(normalizedJsonSchemas().map((document) => [document.fileName, document] as const))('%s matches the TypeBox schema', (fileName, document) => {
  const file = new URL(fileName, SCHEMA_DIR);
  const rendered = renderJsonSchema(document);
  if (process.env['UPDATE_GOLDEN'] === '1') {
    mkdirSync(SCHEMA_DIR, { recursive: true });
    writeFileSync(file, rendered);
  }
  expect(readFileSync(file, 'utf8'), `${fileName} is stale: regenerate with UPDATE_GOLDEN=1`).toBe(rendered);
});

test('the documents are standalone JSON Schema with the published ids', () => {
  const [serviceEntry, endpoint] = normalizedJsonSchemas();
  expect(serviceEntry?.schema).toMatchObject({
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://skiff.dev/schemas/normalized-service-entry.v1.json',
    type: 'object',
    additionalProperties: false,
  });
  expect(endpoint?.schema).toMatchObject({ $id: 'https://skiff.dev/schemas/normalized-endpoint.v1.json', type: 'object' });
  expect(Object.keys(serviceEntry?.schema['properties'] as object)).toContain('workloadSelector');
});
