/**
 * The translator's variants are what the gateway's cache serves: every proxy profile finds its
 * resources under the variant the translator builds, with the right names, and an endpoint change
 * reaches the cache as a change of ClusterLoadAssignments only.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { anyUnpack, AnySchema } from '@bufbuild/protobuf/wkt';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { ProxyProfile, ResourceChange } from '@skiff/ads-server';
import { envoyRegistry, TypeUrl } from '@skiff/protos';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { silentLogger } from '@skiff/runtime';
import { createMemoryStore, policyScopeFor, type MemoryStore } from '@skiff/store';
import { normalizedDestinationRule } from '@skiff/testing';
import { GatewayCache, SNI_DNAT_VARIANT, variantOf, type CachedResource } from '@skiff/xds-cache';
import { SERVED_VARIANTS } from './build.js';
import { EntryWriter, eventually, serviceEntry, startTranslator, workload } from './test-support/harness.js';
import type { Translator } from './translator.js';

let store: MemoryStore;
let translator: Translator | undefined;
let cache: GatewayCache | undefined;

beforeEach(() => {
  store = createMemoryStore();
  translator = undefined;
});

afterEach(async () => {
  await translator?.close();
  await cache?.close();
  await store.close();
});

/** A router (`router~` node) carries `router: true` in the gateway's profile; `labels` are its LABELS. */
const names = (cache: GatewayCache, namespace: string, flavor: 'envoy' | 'grpc', proxy: 'sidecar' | 'router', typeUrl: string) =>
  [...cache.viewFor({ namespace, flavor, labels: { istio: 'eastwestgateway' }, router: proxy === 'router' } as ProxyProfile).all(typeUrl).keys()].sort();

/** A Gateway with an AUTO_PASSTHROUGH server selecting `istio: eastwestgateway` routers, as the watcher stores it. */
async function putAutoPassthroughGateway(store: MemoryStore): Promise<void> {
  // The entry writer holds the lease under this holder name; the current grant is its.
  const grant = (await store.lease.current())!;
  const gateway = { schemaVersion: 1, namespace: 'istio-system', name: 'cross-network', creationTime: 0, selector: { istio: 'eastwestgateway' }, servers: [{ port: 15443, bind: '', hosts: ['*.local'], tlsMode: 'AUTO_PASSTHROUGH' }] };
  await store.gateways.put(gateway, JSON.stringify(gateway), grant);
}

it('serves every proxy profile from the variant the translator builds for it', async () => {
  for (const flavor of ['envoy', 'grpc'] as const) expect(SERVED_VARIANTS.map((v) => v.name)).toContain(variantOf({ flavor }));
  expect(SERVED_VARIANTS.map((v) => v.name)).toContain(SNI_DNAT_VARIANT);

  const writer = await EntryWriter.create(store);
  const api = serviceEntry({ namespace: 'apps', name: 'api' }, { location: 'MESH_INTERNAL' });
  await writer.put(api, [workload('apps', 'vm-1', '10.0.0.1', { labels: { app: 'api' }, tlsMode: 'istio' })]);
  await writer.put(serviceEntry({ namespace: 'apps', name: 'internal' }, { exportTo: ['.'] }), [workload('apps', 'vm-2', '10.0.0.2', { labels: { app: 'internal' } })]);
  translator = startTranslator(store, 'translator-1');
  await eventually(() => expect(translator!.status().totals.applied).toBe(2));

  cache = new GatewayCache({ store, logger: silentLogger() });
  await cache.start();
  expect(names(cache, 'web', 'envoy', 'sidecar', TypeUrl.Cluster)).toEqual(['outbound|80||api.example.com']);
  expect(names(cache, 'web', 'envoy', 'sidecar', TypeUrl.ClusterLoadAssignment)).toEqual(['outbound|80||api.example.com']);
  expect(names(cache, 'web', 'envoy', 'sidecar', TypeUrl.Listener)).toEqual([]);
  // A router gets the sni-dnat clusters on top of its usual ones once an AUTO_PASSTHROUGH Gateway selects it.
  expect(names(cache, 'web', 'envoy', 'router', TypeUrl.Cluster)).toEqual(['outbound|80||api.example.com']);
  await putAutoPassthroughGateway(store);
  await eventually(() => expect(names(cache!, 'web', 'envoy', 'router', TypeUrl.Cluster)).toEqual(['outbound_.80_._.api.example.com', 'outbound|80||api.example.com']));
  expect(names(cache, 'web', 'envoy', 'sidecar', TypeUrl.Cluster)).toEqual(['outbound|80||api.example.com']);
  expect(names(cache, 'web', 'grpc', 'router', TypeUrl.Cluster)).toEqual(['outbound|80||api.example.com']);
  expect(names(cache, 'web', 'grpc', 'sidecar', TypeUrl.Cluster)).toEqual(['outbound|80||api.example.com']);
  expect(names(cache, 'web', 'grpc', 'sidecar', TypeUrl.Listener)).toEqual(['api.example.com:80']);
  expect(names(cache, 'web', 'grpc', 'sidecar', TypeUrl.RouteConfiguration)).toEqual(['outbound|80||api.example.com']);
  expect(names(cache, 'apps', 'envoy', 'sidecar', TypeUrl.Cluster)).toEqual(['outbound|80||api.example.com', 'outbound|80||internal.example.com']);

  const served = cache.viewFor({ namespace: 'web', flavor: 'envoy' }).get(TypeUrl.Cluster, 'outbound|80||api.example.com')!;
  const cluster = anyUnpack(fromBinary(AnySchema, served.anyBytes), envoyRegistry);
  expect(cluster?.$typeName).toBe(ClusterSchema.typeName);
  expect(cluster && 'name' in cluster ? cluster.name : undefined).toBe('outbound|80||api.example.com');

  // A new endpoint changes the assignments of every variant and no cluster.
  const changes: ResourceChange[] = [];
  cache.onChange((batch) => {
    for (const change of batch) changes.push(change);
  });
  await writer.put(api, [
    workload('apps', 'vm-1', '10.0.0.1', { labels: { app: 'api' }, tlsMode: 'istio' }),
    workload('apps', 'vm-3', '10.0.0.3', { labels: { app: 'api' }, tlsMode: 'istio' }),
  ]);
  await eventually(() => expect(changes).toHaveLength(1));
  expect(changes[0]).toMatchObject({ typeUrl: TypeUrl.ClusterLoadAssignment });
  expect([...changes[0]!.names].sort()).toEqual(['outbound_.80_._.api.example.com', 'outbound|80||api.example.com']);
});

it('serves each proxy the resources of its DestinationRule policy scope: by namespace, and by labels for a selector rule', async () => {
  const writer = await EntryWriter.create(store);
  const rules = [
    normalizedDestinationRule({ namespace: 'apps', name: 'shared', host: 'api.example.com', exportTo: ['apps', 'web'] }),
    normalizedDestinationRule({ namespace: 'apps', name: 'web-only', host: 'api.example.com', workloadSelector: { role: 'web' } }),
  ];
  await writer.put(serviceEntry({ namespace: 'apps', name: 'api' }), [workload('apps', 'vm-1', '10.0.0.1', { labels: { app: 'api' } })], undefined, rules);
  translator = startTranslator(store, 'translator-1');
  await eventually(() => expect(translator!.status().totals.applied).toBe(1));
  cache = new GatewayCache({ store, logger: silentLogger() });
  await cache.start();

  const record = cache.records().find((r) => r.name === 'api')!;
  // The cache's views hold its CachedResources, which know the variant they were stored under.
  const servedVariant = (namespace: string, labels: Record<string, string>) =>
    (cache!.viewFor({ namespace, flavor: 'envoy', labels }).get(TypeUrl.Cluster, 'outbound|80||api.example.com') as CachedResource | undefined)?.variant;
  const scopeOf = (namespace: string, labels: Record<string, string>) => policyScopeFor(record.policyScopes, namespace, labels);
  // A namespace the rules do not reach: the plain variant.
  expect(servedVariant('other', { role: 'web' })).toBe('envoy-sidecar');
  // The shared rule's scope in both namespaces it is exported to; the selector rule's for the selected proxies of its own.
  const sharedScope = scopeOf('web', {});
  const selectorScope = scopeOf('apps', { role: 'web' });
  expect(new Set(['', sharedScope, selectorScope]).size).toBe(3);
  expect(scopeOf('web', { role: 'web' })).toBe(sharedScope);
  expect(servedVariant('web', { role: 'web' })).toBe(`envoy-sidecar.${sharedScope}`);
  expect(servedVariant('apps', {})).toBe(`envoy-sidecar.${sharedScope}`);
  expect(servedVariant('apps', { role: 'web', pod: 'a' })).toBe(`envoy-sidecar.${selectorScope}`);

  // The selector rule goes away: the selected proxies fall back to the shared rule's scope.
  await writer.put(serviceEntry({ namespace: 'apps', name: 'api' }), [workload('apps', 'vm-1', '10.0.0.1', { labels: { app: 'api' } })], undefined, rules.slice(0, 1));
  await eventually(() => expect(servedVariant('apps', { role: 'web' })).toBe(`envoy-sidecar.${sharedScope}`));
});

it("serves a gRPC client in a host's own Kubernetes namespace the route built for that namespace, others the shared one", async () => {
  const writer = await EntryWriter.create(store);
  await writer.put(serviceEntry({ namespace: 'apps', name: 'api' }, { hosts: ['api.apps.svc.cluster.local'] }), [workload('apps', 'vm-1', '10.0.0.1', { labels: { app: 'api' } })]);
  translator = startTranslator(store, 'translator-1');
  await eventually(() => expect(translator!.status().totals.applied).toBe(1));
  cache = new GatewayCache({ store, logger: silentLogger() });
  await cache.start();

  const ROUTE = 'outbound|80||api.apps.svc.cluster.local';
  const domainsFor = (namespace: string) => {
    const served = cache!.viewFor({ namespace, flavor: 'grpc' }).get(TypeUrl.RouteConfiguration, ROUTE) as CachedResource | undefined;
    const route = served === undefined ? undefined : anyUnpack(fromBinary(AnySchema, served.anyBytes), RouteConfigurationSchema);
    return { variant: served?.variant, domains: route?.virtualHosts[0]?.domains.filter((domain) => !domain.includes('.svc.cluster.local')) };
  };
  expect(domainsFor('apps')).toEqual({ variant: 'grpc.ns-apps', domains: ['api', 'api:80', 'api.apps.svc', 'api.apps.svc:80', 'api.apps', 'api.apps:80'] });
  expect(domainsFor('web')).toEqual({ variant: 'grpc', domains: ['api.apps', 'api.apps:80', 'api.apps.svc', 'api.apps.svc:80'] });
  // One name for both: a client lists the route once, whichever it is given.
  expect(names(cache, 'apps', 'grpc', 'sidecar', TypeUrl.RouteConfiguration)).toEqual([ROUTE]);
});
