import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ConfigSource, SourceHandler } from '@skiff/config-sources';
import { createTracing, silentLogger } from '@skiff/runtime';
import { createMemoryStore } from '@skiff/store';
import { eventually } from '@skiff/testing';
import { Translator } from '@skiff/translator-core';
import { Watcher } from '@skiff/watcher-core';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from './gateway.js';

/** Hands the watcher two objects, then one change, as a file or Kubernetes source would. */
class ScriptedSource implements ConfigSource {
  readonly name = 'scripted';
  handler: SourceHandler | undefined;
  async start(handler: SourceHandler): Promise<void> {
    this.handler = handler;
    handler.event({ type: 'upsert', origin: 'test', object: { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'api', namespace: 'shop' }, spec: { hosts: ['api.shop'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', workloadSelector: { labels: { app: 'api' } } } } });
    handler.synced();
  }
  async close(): Promise<void> {}
}

describe('tracing a change through the watcher, the translator and the gateway', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  it('gives the watcher write, the translator build and the gateway apply one trace', async () => {
    const exporter = new InMemorySpanExporter();
    const store = createMemoryStore();
    const tracer = (name: string) => createTracing({ serviceName: name, exporter }).tracer;
    const source = new ScriptedSource();
    const watcher = new Watcher({ source, store, logger: silentLogger(), holder: 'w', tracer: tracer('watcher') });
    const translator = new Translator({ store, consumer: 't', logger: silentLogger(), tracer: tracer('translator'), blockMs: 20 });
    const gateway = new Gateway({ store, logger: silentLogger(), replicaId: 'g', xdsAddress: '127.0.0.1:0', tracer: tracer('gateway') });
    await gateway.start();
    stops.push(() => gateway.close());
    await translator.start();
    stops.push(() => translator.close());
    await watcher.start();
    stops.push(() => watcher.close());
    await eventually(() => expect(exporter.getFinishedSpans().map((s) => s.name)).toContain('gateway.apply'));
    const spans = exporter.getFinishedSpans();
    const byName = (name: string) => spans.find((s) => s.name === name);
    const write = byName('watcher.write');
    const build = byName('translator.build');
    const apply = byName('gateway.apply');
    expect(build?.spanContext().traceId).toBe(write?.spanContext().traceId);
    expect(apply?.spanContext().traceId).toBe(write?.spanContext().traceId);
    expect(build?.parentSpanContext?.spanId).toBe(write?.spanContext().spanId);
    expect(apply?.parentSpanContext?.spanId).toBe(build?.spanContext().spanId);
  });
});
