import { NormalizedEndpointSchema, type NormalizedEndpoint } from '@skiff/model';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEndpointJson, ENDPOINT_JSON_FIELDS } from './endpoint-json.js';
import { canonicalJson } from './fields.js';

// Any text, lone surrogates and control characters included: both encoders must escape them alike.
const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)), maxLength: 12 }));
// Keys JSON.stringify treats apart: array indexes (enumerated first, in numeric order), `__proto__`, `toJSON`.
const key = fc.oneof(text, fc.constantFrom('0', '80', '9', '10', '4294967295', '01', '__proto__', 'toJSON', 'a', 'b'));
const source = fc.oneof(
  fc.record({ kind: fc.constant('WorkloadEntry' as const), namespace: text, name: text }),
  fc.record({ kind: fc.constant('ServiceEntry' as const), namespace: text, name: text, index: fc.nat() }),
);
const endpoint: fc.Arbitrary<NormalizedEndpoint> = fc.record({
  schemaVersion: fc.constant(1 as const),
  source,
  address: text,
  ports: fc.dictionary(key, fc.integer({ min: 1, max: 65535 }), { maxKeys: 4 }),
  labels: fc.dictionary(key, text, { maxKeys: 5 }),
  network: text,
  locality: text,
  weight: fc.integer({ min: 0, max: 4294967295 }),
  serviceAccount: text,
  tlsMode: text,
  workloadName: text,
  namespace: text,
  healthy: fc.boolean(),
});

describe('canonicalEndpointJson', () => {
  it('writes the text canonicalJson writes, for any endpoint', () => {
    fc.assert(
      fc.property(endpoint, (value) => {
        expect(canonicalEndpointJson(value)).toBe(canonicalJson(value));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes maps whose keys JSON.stringify would reorder or treat apart', () => {
    const base = fc.sample(endpoint, { numRuns: 1, seed: 1 })[0] as NormalizedEndpoint;
    const labels = JSON.parse('{"b":"1","__proto__":"p","10":"x","9":"y","a":"z","toJSON":"t"}') as Record<string, string>;
    const unsortedWithProto = JSON.parse('{"b":"1","__proto__":"p","a":"z"}') as Record<string, string>;
    for (const value of [{ ...base, labels }, { ...base, labels: unsortedWithProto }, { ...base, labels: { z: '1', a: '2' }, ports: { http: 80, '8080': 1 } }]) {
      expect(canonicalEndpointJson(value)).toBe(canonicalJson(value));
    }
  });

  it('writes every field of the schema, so a field added there cannot be dropped here', () => {
    expect([...ENDPOINT_JSON_FIELDS]).toEqual(Object.keys(NormalizedEndpointSchema.properties).sort());
  });
});
