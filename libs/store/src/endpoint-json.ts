/**
 * `canonicalJson` of a `NormalizedEndpoint`, written field by field. The watcher encodes every endpoint
 * of the mesh on a cold sync (200,000 at the design's size), and the generic encoder's key sorting and
 * escaping pass cost about three times what this does. The output is the same text, byte for byte:
 * keys in code-unit order at every level, strings as `JSON.stringify` writes them; `endpoint-json.test.ts`
 * holds it to `canonicalJson` on generated endpoints and to the schema's field list.
 */
import type { EndpointSource, NormalizedEndpoint } from '@skiff/model';

const quote = JSON.stringify;

/** A map of strings or numbers as canonical JSON: keys sorted, values as `JSON.stringify` writes them. */
function sortedMapJson(map: Readonly<Record<string, string | number>>): string {
  const keys = Object.keys(map);
  if (keys.length === 0) return '{}';
  if (keys.length > 1) keys.sort();
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

export function canonicalEndpointJson(endpoint: NormalizedEndpoint): string {
  return (
    `{"address":${quote(endpoint.address)},"healthy":${quote(endpoint.healthy)},"labels":${sortedMapJson(endpoint.labels)}` +
    `,"locality":${quote(endpoint.locality)},"namespace":${quote(endpoint.namespace)},"network":${quote(endpoint.network)}` +
    `,"ports":${sortedMapJson(endpoint.ports)},"schemaVersion":${quote(endpoint.schemaVersion)},"serviceAccount":${quote(endpoint.serviceAccount)}` +
    `,"source":${sourceJson(endpoint.source)},"tlsMode":${quote(endpoint.tlsMode)},"weight":${quote(endpoint.weight)},"workloadName":${quote(endpoint.workloadName)}}`
  );
}
