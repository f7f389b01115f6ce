/**
 * A build continues the traces of the changes it serves: its span's parent is the first change's
 * context, the other coalesced changes are links, and the invalidation carries the build's context on
 * to the gateways. Without a tracer, the latest change's context is passed through unchanged.
 */
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createTracing } from '@skiff/runtime';
import { createMemoryStore, type Invalidation, type MemoryStore } from '@skiff/store';
import { EntryWriter, eventually, serviceEntry, startTranslator, workload } from './test-support/harness.js';
import type { Translator } from './translator.js';

const FIRST = '00-11111111111111111111111111111111-1111111111111111-01';
const SECOND = '00-22222222222222222222222222222222-2222222222222222-01';

let store: MemoryStore;
let translator: Translator | undefined;

beforeEach(() => {
  store = createMemoryStore();
  translator = undefined;
});

afterEach(async () => {
  await translator?.close();
  await store.close();
});

async function writeTwoTracedChanges(): Promise<Invalidation[]> {
  const writer = await EntryWriter.create(store);
  const key = { namespace: 'apps', name: 'traced' };
  await writer.put(serviceEntry(key), [workload('apps', 'vm-1', '10.0.0.1', { labels: { app: 'traced' } })], FIRST);
  await writer.put(serviceEntry(key), [workload('apps', 'vm-2', '10.0.0.2', { labels: { app: 'traced' } })], SECOND);
  const messages: Invalidation[] = [];
  await store.invalidations.subscribe({ onInvalidation: (m) => messages.push(m), onGap: () => undefined }, { afterSeq: 0 });
  return messages;
}

it('builds in a span under the first change, links the others, and hands its context to the gateways', async () => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ serviceName: 'skiff-translator', exporter });
  const messages = await writeTwoTracedChanges();
  translator = startTranslator(store, 't1', { tracer: tracing.tracer });
  await eventually(() => expect(messages).toHaveLength(1));
  const [span] = exporter.getFinishedSpans();
  expect(span?.name).toBe('translator.build');
  expect(span?.spanContext().traceId).toBe('11111111111111111111111111111111');
  expect(span?.parentSpanContext?.spanId).toBe('1111111111111111');
  expect(span?.links.map((link) => link.context.traceId)).toEqual(['22222222222222222222222222222222']);
  expect(span?.attributes).toMatchObject({ 'skiff.service_entry': 'apps/traced', 'skiff.change_log_entries': 2 });
  expect(messages[0]!.trace).toBe(`00-11111111111111111111111111111111-${span!.spanContext().spanId}-01`);
  await tracing.shutdown();
});

it('passes the latest change context through when not tracing', async () => {
  const messages = await writeTwoTracedChanges();
  translator = startTranslator(store, 't1');
  await eventually(() => expect(messages).toHaveLength(1));
  expect(messages[0]!.trace).toBe(SECOND);
});
