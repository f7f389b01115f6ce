/**
 * Traces that follow one change through Skiff: the watcher's write, the translator's build, the
 * gateway's pushes. The context crosses service boundaries as a W3C `traceparent` string carried in
 * the change-log entry and in the invalidation (the store passes it through untouched).
 *
 * Off unless an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`, the OpenTelemetry
 * convention, or `otlpEndpoint`): then the tracer is OpenTelemetry's no-op tracer, spans are not
 * recorded and `traceparentOf` returns undefined, so nothing is stored or sent either.
 */
import { propagation, ROOT_CONTEXT, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';

export interface TracingOptions {
  /** `service.name` of the spans. */
  readonly serviceName: string;
  /** OTLP/HTTP base URL (`http://collector:4318`); default `OTEL_EXPORTER_OTLP_ENDPOINT`; none: tracing off. */
  readonly otlpEndpoint?: string | undefined;
  /** An exporter to use instead of OTLP (tests); spans are exported as they end. */
  readonly exporter?: SpanExporter;
}

export interface Tracing {
  readonly enabled: boolean;
  readonly tracer: Tracer;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();
const carrierGetter = {
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
  get: (carrier: Record<string, string>, key: string) => carrier[key],
};
const carrierSetter = {
  set: (carrier: Record<string, string>, key: string, value: string) => {
    carrier[key] = value;
  },
};

export function createTracing(options: TracingOptions): Tracing {
  const endpoint = options.otlpEndpoint ?? process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (options.exporter === undefined && (endpoint === undefined || endpoint === '')) {
    return { enabled: false, tracer: trace.getTracer(options.serviceName), shutdown: async () => {} };
  }
  const processor =
    options.exporter !== undefined
      ? new SimpleSpanProcessor(options.exporter)
      : new BatchSpanProcessor(new OTLPTraceExporter({ url: `${(endpoint ?? '').replace(/\/$/, '')}/v1/traces` }));
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': options.serviceName }), spanProcessors: [processor] });
  propagation.setGlobalPropagator(propagator);
  return {
    enabled: true,
    tracer: provider.getTracer(options.serviceName),
    shutdown: () => provider.shutdown(),
  };
}

/** The `traceparent` of `span` (to store with a change), or undefined when the span is not recorded. */
export function traceparentOf(span: Span): string | undefined {
  if (!span.isRecording()) return undefined;
  const carrier: Record<string, string> = {};
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, carrierSetter);
  return carrier['traceparent'];
}

/** The context a received `traceparent` continues (the root context when there is none). */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  if (traceparent === undefined || traceparent === '') return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, { traceparent }, carrierGetter);
}

/**
 * Runs `work` in a span named `name`, child of the context `parents` carry (the first one that parses
 * becomes the parent; the others are linked, as a coalesced build serves several changes). Ends the
 * span, recording an exception if `work` throws.
 */
export async function inSpan<T>(
  tracer: Tracer,
  name: string,
  parents: readonly (string | undefined)[],
  attributes: Record<string, string | number | boolean>,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const contexts = parents.filter((p): p is string => p !== undefined && p !== '').map(contextFromTraceparent);
  const [parent = ROOT_CONTEXT, ...others] = contexts;
  const links = others.map((ctx) => trace.getSpanContext(ctx)).filter((spanContext) => spanContext !== undefined).map((spanContext) => ({ context: spanContext }));
  const span = tracer.startSpan(name, { attributes, links }, parent);
  try {
    return await work(span);
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: 2, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    span.end();
  }
}
