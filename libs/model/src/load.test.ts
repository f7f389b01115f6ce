import { expect, test } from 'vitest';
import { formatFieldError } from './field-error.js';
import { loadIstioConfig } from './load.js';

const batch = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: first, namespace: shop}
spec:
  hosts: [first.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: broken, namespace: shop}
spec:
  hosts: ["*"]
  ports: [{number: 99999, name: http}]
---
this: [is, not: valid
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: shop, labels: {app: web}}
spec: {address: 10.0.0.2, network: ""}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: routes, namespace: shop}
spec: {}
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: first}
spec: {host: first.example.com, subsets: [{name: v1, labels: {version: v1}}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-2, namespace: shop}
spec: {network: remote}
`;

test('an invalid object in the middle of a batch does not stop the others', () => {
  const result = loadIstioConfig(batch, 'batch.yaml', { defaultNamespace: 'fallback' });
  expect(result.serviceEntries.map((s) => [s.serviceEntry.name, s.inlineEndpoints.map((e) => e.workloadName), s.source.document])).toEqual([['first', ['first-0'], 1]]);
  expect(result.workloadEntries.map((w) => [w.endpoint.workloadName, w.endpoint.labels, w.source.document])).toEqual([
    ['vm-1', { app: 'web' }, 4],
    ['vm-2', {}, 7],
  ]);
  expect(result.workloadEntries[1]?.warnings.map(formatFieldError)).toEqual(['WorkloadEntry shop/vm-2: spec.address: address is unset with network "remote"']);
  expect(result.accepted.map((a) => [a.kind, a.namespace, a.name])).toEqual([
    ['ServiceEntry', 'shop', 'first'],
    ['WorkloadEntry', 'shop', 'vm-1'],
    ['DestinationRule', 'fallback', 'first'],
    ['WorkloadEntry', 'shop', 'vm-2'],
  ]);
  expect(result.accepted[2]?.object.kind === 'DestinationRule' && result.accepted[2].object.spec.subsets.map((s) => s.name)).toEqual(['v1']);
  expect(result.rejected.map((r) => [r.kind, r.namespace, r.name, r.source.document, r.errors.map(formatFieldError)])).toEqual([
    [
      'ServiceEntry',
      'shop',
      'broken',
      2,
      ['ServiceEntry shop/broken: spec.hosts[0]: invalid host *', 'ServiceEntry shop/broken: spec.ports[0].number: port number 99999 must be in the range 1..65535'],
    ],
  ]);
  expect(result.ignored).toEqual([{ kind: 'EnvoyFilter', namespace: 'shop', name: 'routes', source: { file: 'batch.yaml', document: 5, line: 24 } }]);
  expect(result.errors.map((e) => [e.document, e.line, e.message.slice(0, 13)])).toEqual([[3, 18, 'invalid YAML:']]);
});

test('an empty file loads to nothing', () => {
  expect(loadIstioConfig('', 'empty.yaml')).toEqual({ serviceEntries: [], workloadEntries: [], sidecars: [], gateways: [], accepted: [], rejected: [], ignored: [], errors: [] });
});

test('validation options reach the rules', () => {
  const text = 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db}\nspec: {hosts: [db.example.com], ports: [{number: 5432, name: pg, protocol: TCP}], resolution: DNS}\n';
  expect(loadIstioConfig(text, 'a.yaml').serviceEntries[0]?.warnings).toEqual([]);
  expect(loadIstioConfig(text, 'a.yaml', { ipAutoallocate: false }).serviceEntries[0]?.warnings.map((w) => w.reason)).toEqual([
    'addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled',
  ]);
});
