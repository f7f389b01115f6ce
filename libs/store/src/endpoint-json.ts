/**
 * `canonicalJson` of a `NormalizedEndpoint`, without the generic encoder's key sorting and escaping
 * pass: the watcher encodes every endpoint of the mesh on a cold sync (200,000 at the design's size).
 * The output is the same text, byte for byte: keys in code-unit order at every level, strings as
 * `JSON.stringify` writes them; `endpoint-json.test.ts` holds it to `canonicalJson` on generated
 * endpoints and to the schema's field list.
 *
 * It hands `JSON.stringify` an object whose keys are already in canonical order. V8 writes that into one
 * flat string; the field-by-field concatenation this replaces built a rope of about sixty pieces per
 * endpoint, which cost its allocation, then its collection, then its flattening when the socket wrote it
 * (encoding the 200,000 endpoints of the design's mesh took about twice as long).
 */
import type { EndpointSource, NormalizedEndpoint } from '@skiff/model';

/** The fields `canonicalEndpointJson` writes, in its order: `NormalizedEndpointSchema`'s, sorted. */
export const ENDPOINT_JSON_FIELDS = [
  'address',
  'healthy',
  'labels',
  'locality',
  'namespace',
  'network',
  'ports',
  'schemaVersion',
  'serviceAccount',
  'source',
  'tlsMode',
  'weight',
  'workloadName',
] as const;

type StringMap<V> = Readonly<Record<string, V>>;

/**
 * `map` itself when `JSON.stringify` already writes its keys in code-unit order, else a copy that it
 * writes so; null when no object can be (see below).
 */
function inCanonicalOrder<V>(map: StringMap<V>): StringMap<V> | null {
  const keys = Object.keys(map);
  let sorted = true;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    // An array-index key ("80") is enumerated before every other key, in numeric order, whatever
    // order it was added in: an endpoint with such a map is written by hand instead (any key
    // starting with a digit is, which is simpler to test and rarely seen).
    const first = key.charCodeAt(0);
    if (first >= 48 && first <= 57) return null;
    if (i > 0 && (keys[i - 1] as string) > key) sorted = false;
  }
  if (sorted) return map;
  keys.sort();
  // Without a prototype, a `__proto__` label is a key like any other.
  const copy = Object.create(null) as Record<string, V>;
  for (const key of keys) copy[key] = map[key] as V;
  return copy;
}

const quote = JSON.stringify;

/** A map of strings or numbers as canonical JSON, written by hand: keys sorted, values as `JSON.stringify` writes them. */
function sortedMapJson(map: StringMap<string | number>): string {
  const keys = Object.keys(map).sort();
  let json = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    json += `${i === 0 ? '' : ','}${quote(key)}:${quote(map[key])}`;
  }
  return `${json}}`;
}

function sourceJson(source: EndpointSource): string {
  const tail = `"kind":${quote(source.kind)},"name":${quote(source.name)},"namespace":${quote(source.namespace)}}`;
  return source.kind === 'ServiceEntry' ? `{"index":${quote(source.index)},${tail}` : `{${tail}`;
}

/** The same text written field by field: for the endpoints whose labels or ports `JSON.stringify` would reorder. */
function handWrittenEndpointJson(endpoint: NormalizedEndpoint): string {
  return (
    `{"address":${quote(endpoint.address)},"healthy":${quote(endpoint.healthy)},"labels":${sortedMapJson(endpoint.labels)}` +
    `,"locality":${quote(endpoint.locality)},"namespace":${quote(endpoint.namespace)},"network":${quote(endpoint.network)}` +
    `,"ports":${sortedMapJson(endpoint.ports)},"schemaVersion":${quote(endpoint.schemaVersion)},"serviceAccount":${quote(endpoint.serviceAccount)}` +
    `,"source":${sourceJson(endpoint.source)},"tlsMode":${quote(endpoint.tlsMode)},"weight":${quote(endpoint.weight)},"workloadName":${quote(endpoint.workloadName)}}`
  );
}

function sourceInOrder(source: EndpointSource): object {
  return source.kind === 'ServiceEntry'
    ? { index: source.index, kind: source.kind, name: source.name, namespace: source.namespace }
    : { kind: source.kind, name: source.name, namespace: source.namespace };
}

export function canonicalEndpointJson(endpoint: NormalizedEndpoint): string {
  const labels = inCanonicalOrder(endpoint.labels);
  const ports = inCanonicalOrder(endpoint.ports);
  if (labels === null || ports === null) return handWrittenEndpointJson(endpoint);
  return JSON.stringify({
    address: endpoint.address,
    healthy: endpoint.healthy,
    labels,
    locality: endpoint.locality,
    namespace: endpoint.namespace,
    network: endpoint.network,
    ports,
    schemaVersion: endpoint.schemaVersion,
    serviceAccount: endpoint.serviceAccount,
    source: sourceInOrder(endpoint.source),
    tlsMode: endpoint.tlsMode,
    weight: endpoint.weight,
    workloadName: endpoint.workloadName,
  });
}
