import { describe, expect, it } from 'vitest';
import { rewriteRefusedAnswers } from './deviations.js';
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
