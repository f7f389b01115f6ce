/**
 * A ServiceEntry rebuilt as the `Translator` rebuilds it, its hash decoded through a
 * `DecodedFieldCache` and built through an `EndpointBytesCache` scope, gives what a fresh decoding
 * and build of the same hash gives: every variant and policy scope, byte for byte and version for
 * version, while its workloads change, come and go, and a DestinationRule with subsets and a TLS
 * mode comes and goes.
 */
import type { NormalizedDestinationRule, NormalizedEndpoint } from '@skiff/model';
import { DecodedFieldCache, decodeServiceEntry, FRESH_FIELD_ENCODING, serviceEntryFields } from '@skiff/store';
import { normalizedDestinationRule } from '@skiff/testing';
import { DEFAULT_MESH_SETTINGS, EndpointBytesCache } from '@skiff/xds-translate';
import { expect, it } from 'vitest';
import { buildServiceEntry, SERVED_VARIANTS } from './build.js';
import { serviceEntry, workload } from './test-support/harness.js';

const KEY = { namespace: 'shop', name: 'orders' };

it('rebuilds through the decoded-field and endpoint caches what a fresh build of the hash gives', () => {
  const decodedFields = new DecodedFieldCache({ keepFromSecondDecoding: true });
  const endpointBytes = new EndpointBytesCache();
  const entry = serviceEntry(KEY, {
    hosts: ['orders.shop.svc.cluster.local'],
    location: 'MESH_INTERNAL',
    workloadSelector: { app: 'orders' },
    ports: [
      { number: 80, name: 'http', protocol: 'HTTP', targetPort: 0 },
      { number: 90, name: 'grpc', protocol: 'GRPC', targetPort: 9090 },
    ],
  });
  const vm = (n: number, overrides: Partial<NormalizedEndpoint> = {}): NormalizedEndpoint =>
    workload('shop', `vm-${n}`, `10.0.0.${n}`, { labels: { app: 'orders', version: `v${n % 2}` }, tlsMode: 'istio', locality: `r/z${n % 3}`, ...overrides });
  const rule: NormalizedDestinationRule = normalizedDestinationRule({
    namespace: 'shop',
    name: 'orders',
    host: 'orders.shop.svc.cluster.local',
    trafficPolicy: { tls: { mode: 'DISABLE' } },
    subsets: [{ name: 'v1', labels: { version: 'v1' }, trafficPolicy: null }],
  });
  const revisions: { endpoints: NormalizedEndpoint[]; rules: NormalizedDestinationRule[] }[] = [
    { endpoints: [vm(1), vm(2), vm(3), vm(4)], rules: [] },
    { endpoints: [vm(1), vm(2), vm(3), vm(4)], rules: [] },
    { endpoints: [vm(1), vm(2, { address: '10.0.1.2' }), vm(3), vm(4)], rules: [] },
    { endpoints: [vm(1), vm(2, { address: '10.0.1.2' }), vm(4), vm(5)], rules: [rule] },
    { endpoints: [vm(1), vm(2, { address: '10.0.1.2', labels: { app: 'orders', version: 'v1' } }), vm(4), vm(5)], rules: [rule] },
    { endpoints: [vm(1, { tlsMode: 'disabled' }), vm(4), vm(5)], rules: [] },
    { endpoints: [vm(1, { tlsMode: 'disabled' }), vm(4), vm(5)], rules: [] },
  ];
  revisions.forEach(({ endpoints, rules }, index) => {
    const stored = { key: KEY, revision: index + 1, fields: serviceEntryFields(entry, endpoints, FRESH_FIELD_ENCODING, rules) };
    const scope = endpointBytes.scope(`${KEY.namespace}/${KEY.name}`);
    const kept = buildServiceEntry(decodeServiceEntry(stored, decodedFields), SERVED_VARIANTS, DEFAULT_MESH_SETTINGS, {}, scope);
    scope.close();
    const fresh = buildServiceEntry(decodeServiceEntry(stored), SERVED_VARIANTS, DEFAULT_MESH_SETTINGS);
    expect(kept.resources.map((resource) => `${resource.variant} ${resource.typeUrl} ${resource.name} ${resource.version}`)).toEqual(
      fresh.resources.map((resource) => `${resource.variant} ${resource.typeUrl} ${resource.name} ${resource.version}`),
    );
    kept.resources.forEach((resource, i) => expect(Buffer.from(resource.bytes)).toEqual(Buffer.from(fresh.resources[i]!.bytes)));
    expect(kept.errors.map(({ variant, error }) => `${variant} ${error.message}`)).toEqual(fresh.errors.map(({ variant, error }) => `${variant} ${error.message}`));
  });
  // From the third build on, an unchanged workload kept its instances.
  expect(endpointBytes.instanceCount).toBeGreaterThan(0);
  expect(decodedFields.size).toBe(4);
});
