/**
 * istiod's xDS metrics fed by a real AdsServer and real ADS clients on 127.0.0.1: `pilot_xds` stays
 * symmetric whatever clients do, and no label value is taken verbatim from a client.
 */
import { AdsServer, StaticResourceProvider } from '@skiff/ads-server';
import { TypeUrl } from '@skiff/protos';
import { createMetrics, type Metrics } from '@skiff/runtime';
import { eventually } from '@skiff/testing';
import { connectAds, testLoadAssignment, UNKNOWN_TYPE_URL, type NodeInit } from '@skiff/xds-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { istioXdsCallbacks, MAX_VERSION_LABELS } from './istio-metrics.js';

const EDS = TypeUrl.ClusterLoadAssignment;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(): Promise<{ metrics: Metrics; server: AdsServer; address: string; provider: StaticResourceProvider }> {
  const metrics = createMetrics({ serviceName: 'skiff-gateway-test' });
  cleanups.push(() => metrics.shutdown());
  const provider = new StaticResourceProvider();
  provider.upsert([testLoadAssignment('x')]);
  const server = new AdsServer({ address: '127.0.0.1:0', provider, debounceMs: 1, maxConnectionAgeMs: 0, shutdownGraceMs: 500, callbacks: istioXdsCallbacks(metrics.meter) });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return { metrics, server, provider, address: `127.0.0.1:${port}` };
}

function node(version: string, id = 'sidecar~127.0.0.1~app.shop~shop.svc.cluster.local'): NodeInit {
  return { id, metadata: { NAMESPACE: 'shop', ISTIO_VERSION: version } };
}

function series(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('istiod xDS metrics', () => {
  it('counts a stream in pilot_xds once its node is known, and uncounts it under the same version: never negative', async () => {
    const { metrics, server, address } = await start();
    for (let round = 0; round < 2; round += 1) {
      const refused = await connectAds(address, { node: null });
      refused.request({ typeUrl: EDS, names: ['x'] });
      await refused.expectEnd();
      refused.close();
      const proxy = await connectAds(address, { node: node('1.85.0') });
      await proxy.requestResponseAck({ typeUrl: EDS, names: ['x'] });
      expect(series(await metrics.collectText(), 'pilot_xds')).toEqual(['pilot_xds{version="1.85.0"} 1']);
      proxy.close();
      await eventually(() => expect(server.sessions.size).toBe(0));
    }
    const text = await metrics.collectText();
    expect(series(text, 'pilot_xds')).toEqual(['pilot_xds{version="1.85.0"} 0']);
    expect(text).toContain('skiff_xds_refused_total{reason="missing_node"} 2');
  });

  it('counts every response in pilot_xds_pushes by type, pushes caused by changes included', async () => {
    const { metrics, provider, address } = await start();
    const proxy = await connectAds(address, { node: node('1.85.0') });
    const first = await proxy.requestResponseAck({ typeUrl: EDS, names: ['x'] });
    expect(series(await metrics.collectText(), 'pilot_xds_pushes_total')).toEqual(['pilot_xds_pushes_total{type="eds"} 1']);
    for (let change = 1; change <= 3; change += 1) {
      provider.upsert([testLoadAssignment('x', change + 1)]);
      const pushed = await proxy.expectResponse({ typeUrl: EDS });
      expect(pushed.versionInfo).not.toBe(first.versionInfo);
      proxy.ack(pushed);
    }
    expect(series(await metrics.collectText(), 'pilot_xds_pushes_total')).toEqual(['pilot_xds_pushes_total{type="eds"} 4']);
    expect(await metrics.collectText()).toMatch(/^pilot_xds_push_time_count\{type="eds"\} 3$/m);
    proxy.close();
  });

  it('labels rejects by type and gRPC code name only, and bounds versions and types', async () => {
    const { metrics, server, address } = await start();
    const hostile = await connectAds(address, { node: node(`9.9.9-${'x'.repeat(200)}`, `sidecar~127.0.0.1~${'evil'.repeat(50)}.shop~shop.svc.cluster.local`) });
    const response = await hostile.requestResponseAck({ typeUrl: EDS, names: ['x'] });
    hostile.nack(response, `a client-chosen message ${'z'.repeat(10_000)}`);
    hostile.request({ typeUrl: UNKNOWN_TYPE_URL, names: ['a'] });
    await eventually(async () => expect(await metrics.collectText()).toContain('skiff_xds_refused_total{reason="unknown_type"} 1'));
    const text = await metrics.collectText();
    expect(series(text, 'pilot_xds_eds_reject_total')).toEqual(['pilot_xds_eds_reject_total{err="Unavailable"} 1']);
    expect(series(text, 'pilot_total_xds_rejects_total')).toEqual(['pilot_total_xds_rejects_total{type="eds"} 1']);
    expect(series(text, 'pilot_xds')).toEqual(['pilot_xds{version="other"} 1']);
    expect(text).not.toContain('evil');
    expect(text).not.toContain('client-chosen');
    expect(text).not.toContain(UNKNOWN_TYPE_URL);
    hostile.close();
    await eventually(() => expect(server.sessions.size).toBe(0));

    // At most MAX_VERSION_LABELS distinct versions, then "other".
    const streams = [];
    for (let i = 0; i < MAX_VERSION_LABELS + 3; i += 1) {
      const stream = await connectAds(address, { node: node(`1.${i}.0`, `sidecar~127.0.0.1~p${i}.shop~shop.svc.cluster.local`) });
      await stream.requestResponseAck({ typeUrl: EDS, names: ['x'] });
      streams.push(stream);
    }
    const versions = series(await metrics.collectText(), 'pilot_xds');
    expect(versions.length).toBeLessThanOrEqual(MAX_VERSION_LABELS + 1);
    expect(versions).toContain('pilot_xds{version="other"} 3');
    for (const stream of streams) stream.close();
  });
});
