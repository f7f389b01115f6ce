import { TypeCompiler } from '@sinclair/typebox/compiler';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkNormalizedEndpoint, isPlainNormalizedEndpoint, NormalizedEndpointSchema, type NormalizedEndpoint } from './normalized.js';

const schema = TypeCompiler.Compile(NormalizedEndpointSchema);

const text = fc.string({ maxLength: 10 });
const key = fc.oneof(text, fc.constantFrom('80', 'a\nb', '__proto__', 'toJSON', 'http'));
const source = fc.oneof(
  fc.record({ kind: fc.constant('WorkloadEntry' as const), namespace: text, name: text }),
  fc.record({ kind: fc.constant('ServiceEntry' as const), namespace: text, name: text, index: fc.nat() }),
);
const STRING_FIELDS = ['address', 'network', 'locality', 'serviceAccount', 'tlsMode', 'workloadName', 'namespace'] as const;
const endpoint = fc.record({
  schemaVersion: fc.constant(1 as const),
  source,
  ports: fc.dictionary(key, fc.integer({ min: 1, max: 65535 }), { maxKeys: 3 }),
  labels: fc.dictionary(key, text, { maxKeys: 4 }),
  weight: fc.integer({ min: 0, max: 4294967295 }),
  healthy: fc.boolean(),
  ...Object.fromEntries(STRING_FIELDS.map((field) => [field, text])),
}) as fc.Arbitrary<NormalizedEndpoint>;

class Port {
  constructor(readonly number: number) {}
}

/** Values of every shape a stored or hand-built entry could hold where it should not. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, undefined, true, 0, -1, 1.5, 65536, 4294967296, Number.NaN, '', 'x', [], [1], {}, new Date(0), new Uint8Array(2), new Port(80)),
  fc.constant(Object.create(null) as object),
  fc.constant(Object.create({ inherited: 'x' }) as object),
  fc.jsonValue({ maxDepth: 2 }),
);

type Mutation = (value: Record<string, unknown>) => void;

/**
 * `value[map]` replaced by a copy the caller may change: it may be one of `oddValue`'s constants, shared
 * by every run, that an earlier mutation put there.
 */
function ownMap(value: Record<string, unknown>, map: string): object | undefined {
  const inner = value[map];
  if (typeof inner !== 'object' || inner === null) return undefined;
  const copy: object = Array.isArray(inner) ? inner.slice() : Object.assign(Object.create(Object.getPrototypeOf(inner) as object | null) as object, inner);
  value[map] = copy;
  return copy;
}
// eslint-disable-next-line no-restricted-syntax -- the schema's thirteen field names and one more
const fieldName = fc.constantFrom(...Object.keys(NormalizedEndpointSchema.properties), 'extra');
/** One change to a valid endpoint: a field removed, added or replaced, or something inside `source`, `ports` or `labels`. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fieldName.map((name): Mutation => (value) => void delete value[name]),
  fc.tuple(fieldName, oddValue).map(([name, odd]): Mutation => (value) => void (value[name] = odd)),
  fc.tuple(fc.constantFrom('source', 'ports', 'labels'), fc.oneof(key, fc.constantFrom('kind', 'index', 'name', 'namespace')), oddValue).map(
    ([map, name, odd]): Mutation =>
      (value) => {
        // An own property, as JSON.parse makes one, also for the key `__proto__`.
        const inner = ownMap(value, map);
        if (inner !== undefined) Object.defineProperty(inner, name, { value: odd, enumerable: true, writable: true, configurable: true });
      },
  ),
  fc.constantFrom('source', 'ports', 'labels').map(
    (map): Mutation =>
      (value) => {
        const inner = ownMap(value, map);
        if (inner !== undefined) Object.defineProperty(inner, 'hidden', { value: 1, enumerable: false });
      },
  ),
  fc.constant<Mutation>((value) => void Object.defineProperty(value, 'hidden', { value: 1, enumerable: false })),
);

describe('isPlainNormalizedEndpoint', () => {
  it('accepts every valid endpoint, as built and as read back from JSON', () => {
    fc.assert(
      fc.property(endpoint, (value) => {
        expect(schema.Check(value)).toBe(true);
        expect(isPlainNormalizedEndpoint(value)).toBe(true);
        expect(isPlainNormalizedEndpoint(JSON.parse(JSON.stringify(value)))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts nothing the schema refuses, and the checker answers as the schema does', () => {
    fc.assert(
      fc.property(endpoint, fc.array(mutation, { minLength: 1, maxLength: 3 }), (valid, mutations) => {
        const value = structuredClone(valid) as unknown as Record<string, unknown>;
        for (const mutate of mutations) mutate(value);
        const accepted = schema.Check(value);
        if (isPlainNormalizedEndpoint(value)) expect(accepted).toBe(true);
        expect(checkNormalizedEndpoint(value).valid).toBe(accepted);
      }),
      { numRuns: 5000 },
    );
  });

  it('leaves what it does not know to the schema, which gives the errors', () => {
    const [valid] = fc.sample(endpoint, { seed: 1, numRuns: 1 }) as [NormalizedEndpoint];
    // The schema tests label values only under keys its pattern matches, and `.` stops at a newline.
    const oddKey = { ...valid, labels: { 'a\nb': 7 } };
    expect(isPlainNormalizedEndpoint(oddKey)).toBe(false);
    expect(checkNormalizedEndpoint(oddKey)).toEqual({ valid: true, value: oddKey });
    const badPort = { ...valid, ports: { http: 0 } };
    expect(checkNormalizedEndpoint(badPort)).toMatchObject({ valid: false, errors: [expect.stringContaining('/ports/http')] });
  });
});
