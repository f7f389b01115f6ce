import { PassThrough } from 'node:stream';
import { AdsServer, StaticResourceProvider } from '@skiff/ads-server';
import { testLoadAssignment } from '@skiff/xds-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator, planProxies, serveControl } from './index.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A control session over in-memory streams: `ask` sends one request and resolves with the reply of its id. */
function controlSession(generator: LoadGenerator, open?: () => Promise<void>) {
  const input = new PassThrough();
  const replies = new Map<unknown, (reply: Record<string, unknown>) => void>();
  const lines: Record<string, unknown>[] = [];
  let stopped = false;
  const served = serveControl({
    generator,
    input,
    write: (line) => {
      const reply = JSON.parse(line) as Record<string, unknown>;
      lines.push(reply);
      replies.get(reply['id'])?.(reply);
    },
    stop: () => (stopped = true),
    ...(open === undefined ? {} : { open }),
  });
  let nextId = 0;
  return {
    served,
    lines,
    get stopped() {
      return stopped;
    },
    raw: (text: string) => input.write(`${text}\n`),
    ask: (request: Record<string, unknown>) =>
      new Promise<Record<string, unknown>>((resolve) => {
        const id = ++nextId;
        replies.set(id, resolve);
        input.write(`${JSON.stringify({ id, ...request })}\n`);
      }),
    end: () => input.end(),
  };
}

/** An ADS server holding assignment `a`, and a generator of `proxies` proxies subscribed to it (not started). */
async function servedGenerator(proxies: number): Promise<{ provider: StaticResourceProvider; generator: LoadGenerator }> {
  const provider = new StaticResourceProvider();
  provider.upsert([testLoadAssignment('a')]);
  const server = new AdsServer({ address: '127.0.0.1:0', provider, debounceMs: 1, maxConnectionAgeMs: 0, shutdownGraceMs: 200 });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  const generator = new LoadGenerator({ target: `127.0.0.1:${port}`, plans: planProxies({ proxies, groups: [{ namespace: 'shop', clusters: ['a'] }], flavor: 'envoy' }), flavor: 'envoy', delta: false });
  cleanups.push(() => generator.close());
  return { provider, generator };
}

describe('serveControl', () => {
  it('answers status, ready, arrivals, summary and stop', async () => {
    const { provider, generator } = await servedGenerator(2);
    const control = controlSession(generator);
    await generator.start();

    expect(await control.ask({ op: 'ready', timeoutMs: 5_000 })).toMatchObject({ ok: true, ready: true, status: { proxies: 2, ready: 2 } });
    expect(await control.ask({ op: 'status' })).toMatchObject({ ok: true, status: { streamsOpen: 2 } });

    await new Promise((resolve) => setTimeout(resolve, 5));
    const since = Date.now();
    const arrivals = control.ask({ op: 'arrivals', type: 'eds', name: 'a', since, timeoutMs: 5_000 });
    provider.upsert([testLoadAssignment('a', 1)]);
    const answer = await arrivals;
    expect(answer).toMatchObject({ ok: true, subscribers: 2, missing: 0 });
    expect(answer['delaysMs']).toHaveLength(2);
    // Without a timeout the answer is immediate; a full type URL works as well as a short name.
    expect(await control.ask({ op: 'arrivals', type: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', name: 'a', since })).toMatchObject({ subscribers: 2, missing: 0 });

    expect(await control.ask({ op: 'summary' })).toMatchObject({ ok: true, summary: { proxies: 2, streams: { ready: 2 } } });
    expect(control.stopped).toBe(false);
    expect(await control.ask({ op: 'stop' })).toMatchObject({ ok: true, summary: { proxies: 2 } });
    expect(control.stopped).toBe(true);
    control.end();
    await control.served;
  });

  it('opens held streams on request, once', async () => {
    const { generator } = await servedGenerator(3);
    const control = controlSession(generator, () => generator.start());

    expect(await control.ask({ op: 'status' })).toMatchObject({ ok: true, status: { proxies: 3, streamsStarted: 0 } });
    expect(await control.ask({ op: 'ready', timeoutMs: 50 })).toMatchObject({ ok: true, ready: false, status: { ready: 0 } });
    expect(await control.ask({ op: 'open' })).toMatchObject({ ok: true, status: { streamsStarted: 3 } });
    expect(await control.ask({ op: 'ready', timeoutMs: 5_000 })).toMatchObject({ ok: true, ready: true, status: { ready: 3 } });
    expect(await control.ask({ op: 'open' })).toMatchObject({ ok: false, error: 'the streams are already open' });
    control.end();
    await control.served;
  });

  it('reports bad requests without stopping', async () => {
    const generator = new LoadGenerator({ target: '127.0.0.1:1', plans: planProxies({ proxies: 1, groups: [{ namespace: 'x', clusters: [] }], flavor: 'envoy' }), flavor: 'envoy', delta: false });
    cleanups.push(() => generator.close());
    const control = controlSession(generator);
    expect(await control.ask({ op: 'launch' })).toMatchObject({ ok: false, error: expect.stringContaining('unknown op "launch"') });
    expect(await control.ask({ op: 'arrivals', name: 'a' })).toMatchObject({ ok: false, error: '"since" must be a number' });
    expect(await control.ask({ op: 'open' })).toMatchObject({ ok: false, error: 'the streams were opened at start (hold them with --hold)' });
    control.raw('{not json');
    control.raw('[1]');
    control.end();
    await control.served;
    expect(control.lines.slice(-2)).toEqual([
      { id: null, ok: false, error: expect.stringContaining('not JSON') },
      { id: null, ok: false, error: 'a request is a JSON object' },
    ]);
  });
});
