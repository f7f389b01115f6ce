import { describe, expect, it } from 'vitest';
import { sharedAddressHosts } from './corpus.js';
import { maskSharedAddressDomains, rewriteRefusedAnswers } from './deviations.js';
import { goldenPathOf, readIstiodGolden } from './goldens.js';
import { parityProxy } from './proxies.js';

describe('grpc-refused-lb-policy', () => {
  it("rewrites only the gRPC clusters whose load balancer grpc-js-xds refuses, to ROUND_ROBIN", () => {
    const answer = readIstiodGolden(goldenPathOf({ name: 'default' }, 'translate-dr-grpc'));
    const istiod = answer.proxies.find((proxy) => proxy.name === 'grpc@shop')!;
    const { resources, applied } = rewriteRefusedAnswers(parityProxy('grpc', { namespace: 'shop' }), istiod);
    expect(applied.map((a) => `${a.resource} ${a.deviation.id}`).filter((line) => line.startsWith('clusters'))).toEqual([
      'clusters[outbound|7070||least.shop.internal] grpc-refused-lb-policy',
      'clusters[outbound|7070||maglev.shop.internal] grpc-refused-lb-policy',
    ]);
    const policies = Object.fromEntries(resources.clusters.map((cluster) => [(cluster as { name: string }).name, (cluster as { lbPolicy?: string }).lbPolicy ?? 'ROUND_ROBIN']));
    expect(policies).toMatchObject({
      'outbound|7070||least.shop.internal': 'ROUND_ROBIN',
      'outbound|7070||maglev.shop.internal': 'ROUND_ROBIN',
      'outbound|7070||hash.shop.internal': 'RING_HASH',
    });
    // A sidecar takes every load balancer: nothing to rewrite.
    const sidecar = answer.proxies.find((proxy) => proxy.name === 'sidecar@shop')!;
    expect(rewriteRefusedAnswers(parityProxy('sidecar', { namespace: 'shop' }), sidecar).applied.filter((a) => a.resource.startsWith('clusters'))).toEqual([]);
  });
});

describe('grpc-refused-route-action', () => {
  it("leaves out istiod's redirect and direct-response routes, which make grpc-js-xds refuse the RouteConfiguration, and only those", () => {
    const answer = readIstiodGolden(goldenPathOf({ name: 'default' }, 'parity-vs-ports-hosts'));
    const istiod = answer.proxies.find((proxy) => proxy.name === 'grpc@bookinfo')!;
    const { resources, applied } = rewriteRefusedAnswers(parityProxy('grpc', { namespace: 'bookinfo' }), istiod);
    expect(applied.filter((a) => a.resource.startsWith('routes')).map((a) => `${a.resource} ${a.deviation.id}`)).toEqual([
      'routes[outbound|9080||reviews.bookinfo] grpc-refused-route-action',
    ]);
    const routes = (name: string) =>
      (resources.routes.find((route) => (route as { name: string }).name === name) as { virtualHosts: { routes: { decorator: { operation: string } }[] }[] }).virtualHosts[0]!.routes;
    expect(routes('outbound|9080||reviews.bookinfo').map((route) => route.decorator.operation)).toEqual(['reviews.bookinfo:80/*']);
    expect(routes('outbound|80||reviews.bookinfo').map((route) => route.decorator.operation)).toEqual(['reviews.bookinfo:80/*']);
  });
});

describe('shared address domains', () => {
  const config = [
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a, namespace: ns}\nspec: {hosts: [a.example.com, b.example.com], addresses: [240.240.0.1], ports: [{number: 80, name: http, protocol: HTTP}]}',
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: c, namespace: ns}\nspec: {hosts: [c.example.com], addresses: [240.240.0.2], ports: [{number: 80, name: http, protocol: HTTP}]}',
  ].join('\n---\n');
  const route = (host: string, domains: string[]) => ({ name: `outbound|80||${host}`, virtualHosts: [{ name: `${host}:80`, domains }] });

  it('names the hosts that share an address with another host, and only those', () => {
    expect([...sharedAddressHosts(config)].sort()).toEqual(['a.example.com', 'b.example.com']);
  });

  it("strips the address domains of those hosts' gRPC routes, on either side, and keeps every other domain", () => {
    const resources = {
      clusters: [],
      endpoints: [],
      listeners: [],
      routes: [route('a.example.com', ['a.example.com', 'a.example.com:80', '240.240.0.1', '240.240.0.1:80']), route('c.example.com', ['c.example.com', '240.240.0.2', '240.240.0.2:80'])],
    };
    expect(maskSharedAddressDomains(resources, sharedAddressHosts(config)).routes).toEqual([
      route('a.example.com', ['a.example.com', 'a.example.com:80']),
      route('c.example.com', ['c.example.com', '240.240.0.2', '240.240.0.2:80']),
    ]);
  });
});
