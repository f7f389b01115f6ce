import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from './logging.js';
import { CONVERGENCE_TIME_BUCKETS_SECONDS, createMetrics, PROMETHEUS_CONTENT_TYPE, PUSH_TIME_BUCKETS_SECONDS, type Metrics } from './metrics.js';
import { MonitoringServer } from './monitoring-server.js';

let metrics: Metrics | undefined;
let server: MonitoringServer | undefined;
afterEach(async () => {
  await server?.close();
  await metrics?.shutdown();
  server = undefined;
  metrics = undefined;
});

/** Records istiod-named instruments the way the services will. */
function recordSample(target: Metrics): void {
  const pushes = target.meter.createCounter('pilot_xds_pushes', { description: 'Pilot build and send errors for lds, rds, cds and eds.' });
  pushes.add(3, { type: 'cds' });
  pushes.add(1, { type: 'eds' });
  const pushTime = target.meter.createHistogram('pilot_xds_push_time', {
    description: 'Total time in seconds Pilot takes to push lds, rds, cds and eds.',
    unit: 's',
    advice: { explicitBucketBoundaries: [...PUSH_TIME_BUCKETS_SECONDS] },
  });
  pushTime.record(0.003, { type: 'eds' });
  pushTime.record(0.2, { type: 'eds' });
  const connected = target.meter.createUpDownCounter('pilot_xds', { description: 'Number of endpoints connected to this pilot using XDS.' });
  connected.add(2, { version: '1.30.0' });
}

describe('createMetrics', () => {
  it('exports a counter with _total, a gauge as is, and a histogram with Skiff buckets, without scope label or target_info', async () => {
    metrics = createMetrics({ serviceName: 'skiff-ads-gateway' });
    recordSample(metrics);
    const text = await metrics.collectText();

    expect(text).toContain('# TYPE pilot_xds_pushes_total counter\npilot_xds_pushes_total{type="cds"} 3\npilot_xds_pushes_total{type="eds"} 1\n');
    expect(text).toContain('# TYPE pilot_xds gauge\npilot_xds{version="1.30.0"} 2');
    expect(text).toContain('# TYPE pilot_xds_push_time histogram\n');
    expect(text).toContain('pilot_xds_push_time_count{type="eds"} 2\n');
    expect(text).toContain('pilot_xds_push_time_sum{type="eds"} 0.203\n');
    const buckets = [...text.matchAll(/^pilot_xds_push_time_bucket\{type="eds",le="([^"]+)"\} (\d+)$/gm)].map(([, le, count]) => [le, Number(count)]);
    expect(buckets).toEqual([
      ['0.001', 0],
      ['0.005', 1],
      ['0.01', 1],
      ['0.1', 1],
      ['0.5', 2],
      ['1', 2],
      ['3', 2],
      ['5', 2],
      ['10', 2],
      ['20', 2],
      ['30', 2],
      ['+Inf', 2],
    ]);
    expect(text).not.toContain('otel_scope');
    expect(text).not.toContain('target_info');
    expect(text).not.toContain('_seconds');
  });

  it('keeps every istiod bucket boundary and adds finer ones below them', () => {
    expect(PUSH_TIME_BUCKETS_SECONDS).toEqual(expect.arrayContaining([0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30]));
    expect(CONVERGENCE_TIME_BUCKETS_SECONDS).toEqual(expect.arrayContaining([0.1, 0.5, 1, 3, 5, 10, 20, 30]));
    for (const buckets of [PUSH_TIME_BUCKETS_SECONDS, CONVERGENCE_TIME_BUCKETS_SECONDS]) {
      expect(buckets.slice(0, 2)).toEqual([0.001, 0.005]);
      expect([...buckets].sort((a, b) => a - b)).toEqual(buckets);
    }
  });

  it('is served on /metrics by the monitoring server in the Prometheus text format', async () => {
    metrics = createMetrics({ serviceName: 'skiff-translator' });
    recordSample(metrics);
    server = new MonitoringServer({ logger: silentLogger(), metrics });
    const { port } = await server.listen('127.0.0.1:0');
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE);
    const body = await response.text();
    expect(body).toMatch(/^pilot_xds_pushes_total\{type="cds"\} 3$/m);
    expect(body).toMatch(/^pilot_xds_push_time_bucket\{type="eds",le="0\.005"\} 1$/m);
    expect(body).not.toContain('otel_scope_name');
  });

  it('fails collection after shutdown, and /metrics answers 500 instead of crashing', async () => {
    const stopped = createMetrics({ serviceName: 'skiff-x' });
    await stopped.shutdown();
    await expect(stopped.collectText()).rejects.toThrow();
    server = new MonitoringServer({ logger: silentLogger(), metrics: stopped });
    const { port } = await server.listen('127.0.0.1:0');
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(500);
    expect(await response.text()).toMatch(/^metrics collection failed: /);
  });
});
