import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { createTracing, inSpan, traceparentOf } from './tracing.js';

describe('tracing', () => {
  it('is off (no-op tracer, no traceparent) without an endpoint or exporter', async () => {
    const tracing = createTracing({ serviceName: 'test', otlpEndpoint: '' });
    expect(tracing.enabled).toBe(false);
    const carried = await inSpan(tracing.tracer, 'work', [], {}, async (span) => traceparentOf(span));
    expect(carried).toBeUndefined();
  });

  it('continues a trace across services through a traceparent string, linking coalesced changes', async () => {
    const exporter = new InMemorySpanExporter();
    const watcher = createTracing({ serviceName: 'watcher', exporter });
    const translator = createTracing({ serviceName: 'translator', exporter });
    const first = await inSpan(watcher.tracer, 'watcher.write', [], { serviceEntry: 'ns/a' }, async (span) => traceparentOf(span));
    const second = await inSpan(watcher.tracer, 'watcher.write', [], { serviceEntry: 'ns/a' }, async (span) => traceparentOf(span));
    expect(first).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const carriedOn = await inSpan(translator.tracer, 'translator.build', [first, second], {}, async (span) => traceparentOf(span));
    const spans = exporter.getFinishedSpans();
    const build = spans.find((s) => s.name === 'translator.build');
    const [writeOne, writeTwo] = spans.filter((s) => s.name === 'watcher.write');
    expect(build?.spanContext().traceId).toBe(writeOne?.spanContext().traceId);
    expect(build?.parentSpanContext?.spanId).toBe(writeOne?.spanContext().spanId);
    expect(build?.links.map((l) => l.context.spanId)).toEqual([writeTwo?.spanContext().spanId]);
    expect(carriedOn?.split('-')[1]).toBe(writeOne?.spanContext().traceId);
    await watcher.shutdown();
    await translator.shutdown();
  });

  it('records a failure on the span and rethrows it', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = createTracing({ serviceName: 'test', exporter });
    await expect(inSpan(tracing.tracer, 'boom', [], {}, async () => Promise.reject(new Error('nope')))).rejects.toThrow('nope');
    expect(exporter.getFinishedSpans()[0]?.status).toEqual({ code: 2, message: 'nope' });
  });
});
