// KubernetesSource through the real @kubernetes/client-node against the fake API server, for what a
// real API server does not do on demand: the exact requests sent (bookmarks, paging), versions served
// per kind, 503s, clean ends of a watch, dropped connections at a chosen moment. Syncing, events,
// namespaces, RBAC and 410 Gone after compaction run against kube-apiserver in
// kubernetes-apiserver.test.ts.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeApiServer, ISTIO_NETWORKING_GROUP, defineResource, isWatchRequest, istioNetworkingResources } from '@skiff/k8s-fake-apiserver';
import type { FakeApiServerOptions, KubeObject, RequestRecord } from '@skiff/k8s-fake-apiserver';
import { afterEach, describe, expect, it } from 'vitest';
import { KubernetesSource } from './kubernetes-source.js';
import type { KubernetesSourceOptions } from './kubernetes-source.js';
import { KubernetesError } from './kubernetes-error.js';
import type { SourceEvent, SourceHandler } from './source.js';

/** Short, deterministic restart delays: 20, 40, 80 ... ms. */
const FAST_BACKOFF = { initialMs: 20, maxMs: 1_000, multiplier: 2, jitter: 0 };

function serviceEntry(namespace: string, name: string, host = `${name}.example.com`, version = 'v1'): KubeObject {
  return {
    apiVersion: `${ISTIO_NETWORKING_GROUP}/${version}`,
    kind: 'ServiceEntry',
    metadata: { name, namespace },
    spec: { hosts: [host], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC' },
  };
}

function workloadEntry(namespace: string, name: string, address: string): KubeObject {
  return {
    apiVersion: `${ISTIO_NETWORKING_GROUP}/v1`,
    kind: 'WorkloadEntry',
    metadata: { name, namespace, labels: { app: name } },
    spec: { address },
  };
}

/** Records what the source delivers, as compact strings: `upsert ServiceEntry a/one@3 v1`, `delete WorkloadEntry b/w`. */
class RecordingHandler implements SourceHandler {
  readonly events: SourceEvent[] = [];
  readonly lines: string[] = [];
  readonly problems: string[] = [];
  syncCount = 0;
  /** Makes `event` throw for events whose description starts with this. */
  failOn: string | undefined;

  event(event: SourceEvent): void {
    const line = describeEvent(event);
    if (this.failOn !== undefined && line.startsWith(this.failOn)) throw new Error(`refusing ${line}`);
    this.events.push(event);
    this.lines.push(line);
  }

  synced(): void {
    this.syncCount++;
  }

  problem(message: string): void {
    this.problems.push(message);
  }
}

function describeEvent(event: SourceEvent): string {
  if (event.type === 'delete') return `delete ${event.ref.kind} ${event.ref.namespace}/${event.ref.name}`;
  const object = event.object as KubeObject;
  const version = (object.apiVersion ?? '').split('/')[1];
  return `upsert ${object.kind} ${object.metadata.namespace}/${object.metadata.name}@${object.metadata.resourceVersion} ${version}`;
}

async function waitFor(condition: () => boolean, what: () => string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function requestLine(r: RequestRecord): string {
  const params = ['watch', 'resourceVersion', 'allowWatchBookmarks', 'limit', 'continue']
    .filter((p) => r.query[p] !== undefined)
    .map((p) => `${p}=${p === 'continue' ? '…' : r.query[p]}`);
  return `${r.path}${params.length > 0 ? `?${params.join('&')}` : ''} ${r.status}`;
}

describe('KubernetesSource', () => {
  let server: FakeApiServer;
  let source: KubernetesSource | undefined;

  async function startServer(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    server = await FakeApiServer.start(options);
    return server;
  }

  function kubeConfig(): KubeConfig {
    const config = new KubeConfig();
    config.loadFromOptions(server.kubeConfigOptions());
    return config;
  }

  async function startSource(options: KubernetesSourceOptions = {}): Promise<RecordingHandler> {
    const handler = new RecordingHandler();
    // The request sequences below are those of two kinds; the default set is checked on its own.
    source = new KubernetesSource({ kubeconfig: kubeConfig(), backoff: FAST_BACKOFF, kinds: ['ServiceEntry', 'WorkloadEntry'], ...options });
    await source.start(handler);
    await waitFor(() => handler.syncCount === 1, () => 'the initial sync');
    return handler;
  }

  /** Waits until `handler` has `count` events and returns the ones after `from`. */
  async function eventsAfter(handler: RecordingHandler, from: number, count: number): Promise<string[]> {
    await waitFor(() => handler.lines.length >= from + count, () => `${count} events after ${from}; have ${JSON.stringify(handler.lines.slice(from))}`);
    return handler.lines.slice(from);
  }

  function watchRequests(): string[] {
    return server.requests.filter(isWatchRequest).map(requestLine);
  }

  function listRequests(): string[] {
    return server.requests.filter((r) => !isWatchRequest(r) && r.path.split('/').length > 4).map(requestLine);
  }

  afterEach(async () => {
    await source?.close();
    source = undefined;
    await server?.close();
  });

  it('lists both kinds in every namespace, then watches from the list version with bookmarks', async () => {
    await startServer();
    server.apply(serviceEntry('a', 'one'));
    server.apply(serviceEntry('b', 'two'));
    server.apply(workloadEntry('a', 'vm-1', '10.0.0.1'));
    server.apply(workloadEntry('c', 'vm-2', '10.0.0.2'));
    const handler = await startSource();

    expect([...handler.lines].sort()).toEqual([
      'upsert ServiceEntry a/one@1 v1',
      'upsert ServiceEntry b/two@2 v1',
      'upsert WorkloadEntry a/vm-1@3 v1',
      'upsert WorkloadEntry c/vm-2@4 v1',
    ]);
    expect(handler.events.every((e) => e.origin === 'kubernetes')).toBe(true);
    expect(handler.events[0]).toMatchObject({ type: 'upsert', object: { spec: { hosts: ['one.example.com'] } } });
    expect(handler.syncCount).toBe(1);
    expect(source?.servedVersions()).toEqual(
      new Map([
        ['ServiceEntry', 'networking.istio.io/v1'],
        ['WorkloadEntry', 'networking.istio.io/v1'],
      ]),
    );
    await waitFor(() => server.openWatchCount === 2, () => 'both watches');
    expect(listRequests().sort()).toEqual([
      '/apis/networking.istio.io/v1/serviceentries?limit=500 200',
      '/apis/networking.istio.io/v1/workloadentries?limit=500 200',
    ]);
    expect(watchRequests().sort()).toEqual([
      '/apis/networking.istio.io/v1/serviceentries?watch=true&resourceVersion=4&allowWatchBookmarks=true 200',
      '/apis/networking.istio.io/v1/workloadentries?watch=true&resourceVersion=4&allowWatchBookmarks=true 200',
    ]);
    expect(server.requests.every((r) => r.authorized)).toBe(true);
    expect(handler.problems).toEqual([]);
  });

  it('falls back to v1beta1 when v1 is not served', async () => {
    await startServer({ resources: istioNetworkingResources(['v1beta1', 'v1alpha3']) });
    server.apply(serviceEntry('a', 'one', 'one.example.com', 'v1beta1'));
    const handler = await startSource();
    expect(handler.lines).toEqual(['upsert ServiceEntry a/one@1 v1beta1']);
    expect(source?.servedVersions().get('ServiceEntry')).toBe('networking.istio.io/v1beta1');
    await waitFor(() => server.openWatchCount === 2, () => 'both watches');
    expect(server.requests.filter((r) => r.path.includes('/v1/'))).toEqual([]);
    expect(watchRequests().every((r) => r.startsWith('/apis/networking.istio.io/v1beta1/'))).toBe(true);
  });

  it('falls back to v1alpha3, per kind', async () => {
    await startServer({
      resources: [
        defineResource({ group: ISTIO_NETWORKING_GROUP, kind: 'ServiceEntry', versions: ['v1', 'v1beta1', 'v1alpha3'] }),
        defineResource({ group: ISTIO_NETWORKING_GROUP, kind: 'WorkloadEntry', versions: ['v1alpha3'] }),
      ],
    });
    server.apply(serviceEntry('a', 'one'));
    server.apply(workloadEntry('a', 'vm', '10.0.0.1'));
    const handler = await startSource();
    expect([...handler.lines].sort()).toEqual(['upsert ServiceEntry a/one@1 v1', 'upsert WorkloadEntry a/vm@2 v1alpha3']);
    expect(source?.servedVersions()).toEqual(
      new Map([
        ['ServiceEntry', 'networking.istio.io/v1'],
        ['WorkloadEntry', 'networking.istio.io/v1alpha3'],
      ]),
    );
  });

  it('fails to start with a clear error when a kind is not served at all', async () => {
    await startServer({ resources: [defineResource({ group: ISTIO_NETWORKING_GROUP, kind: 'ServiceEntry', versions: ['v1'] })] });
    source = new KubernetesSource({ kubeconfig: kubeConfig(), backoff: FAST_BACKOFF });
    const started = source.start(new RecordingHandler());
    await expect(started).rejects.toBeInstanceOf(KubernetesError);
    await expect(started).rejects.toMatchObject({
      code: 'kind-not-served',
      message: expect.stringContaining('WorkloadEntry, DestinationRule, Sidecar, Gateway, VirtualService not served by networking.istio.io in v1, v1beta1, v1alpha3'),
    });
  });

  it('fails to start with a discovery error when the API server is unreachable', async () => {
    await startServer();
    const config = kubeConfig();
    await server.close();
    source = new KubernetesSource({ kubeconfig: config });
    await expect(source.start(new RecordingHandler())).rejects.toMatchObject({
      code: 'discovery',
      message: expect.stringMatching(/^discovery of networking.istio.io failed: /),
    });
  });

  it('restarts a dropped watch after a backoff and resumes from its last version without a relist', async () => {
    await startServer();
    server.apply(serviceEntry('a', 'one'));
    const handler = await startSource({ kinds: ['ServiceEntry'] });
    await waitFor(() => server.openWatchCount === 1, () => 'the watch');
    server.apply(serviceEntry('a', 'two'));
    await eventsAfter(handler, 0, 2);

    server.dropWatches();
    server.apply(serviceEntry('a', 'one', 'while-down.example.com'));
    server.delete('ServiceEntry', 'a', 'two');

    const events = await eventsAfter(handler, 2, 2);
    expect(events).toEqual(['upsert ServiceEntry a/one@3 v1', 'delete ServiceEntry a/two']);
    expect(handler.problems).toEqual([expect.stringMatching(/^ServiceEntry \(networking.istio.io\/v1\) in all namespaces: .*; restarting in 20 ms$/)]);
    await waitFor(() => server.openWatchCount === 1, () => 'the restarted watch');
    expect(watchRequests()).toEqual([
      '/apis/networking.istio.io/v1/serviceentries?watch=true&resourceVersion=1&allowWatchBookmarks=true 200',
      '/apis/networking.istio.io/v1/serviceentries?watch=true&resourceVersion=2&allowWatchBookmarks=true 200',
    ]);
    expect(listRequests()).toHaveLength(1);
    expect(source?.status()[0]).toMatchObject({ lists: 1, restarts: 1 });
    expect(handler.syncCount).toBe(1);
    // Nothing was delivered twice.
    expect(handler.lines).toEqual([
      'upsert ServiceEntry a/one@1 v1',
      'upsert ServiceEntry a/two@2 v1',
      'upsert ServiceEntry a/one@3 v1',
      'delete ServiceEntry a/two',
    ]);
  });

  it('backs off exponentially while the API server keeps failing, and resets after progress', async () => {
    await startServer();
    const handler = await startSource({ kinds: ['ServiceEntry'] });
    await waitFor(() => server.openWatchCount === 1, () => 'the watch');
    server.failNext(3, { match: isWatchRequest });
    server.dropWatches();
    server.apply(serviceEntry('a', 'late'));
    await eventsAfter(handler, 0, 1);
    expect(handler.problems.map((p) => p.replace(/^.*; /, ''))).toEqual([
      'restarting in 20 ms',
      'restarting in 40 ms',
      'restarting in 80 ms',
      'restarting in 160 ms',
    ]);
    expect(handler.problems[1]).toContain('HTTP 503');
    expect(source?.status()[0]?.restarts).toBe(4);

    // The event above was progress: the next failure starts again from the first delay.
    await waitFor(() => server.openWatchCount === 1, () => 'the watch');
    server.dropWatches();
    await waitFor(() => handler.problems.length === 5, () => 'the next problem');
    expect(handler.problems[4]).toMatch(/restarting in 20 ms$/);
  });

  it('retries a failed initial list in the background and syncs once it succeeds', async () => {
    await startServer();
    server.apply(serviceEntry('a', 'one'));
    server.failNext(2, { match: (r) => !isWatchRequest(r) && r.path.endsWith('/serviceentries') });
    const handler = new RecordingHandler();
    source = new KubernetesSource({ kubeconfig: kubeConfig(), backoff: FAST_BACKOFF, kinds: ['ServiceEntry'] });
    await source.start(handler);
    await waitFor(() => handler.syncCount === 1, () => 'the sync');
    expect(handler.lines).toEqual(['upsert ServiceEntry a/one@1 v1']);
    expect(handler.problems).toHaveLength(2);
    expect(listRequests().map((r) => r.split(' ')[1])).toEqual(['503', '503', '200']);
  });

  it('follows bookmarks, so a quiet watch resumes from the bookmark after a disconnect instead of relisting', async () => {
    await startServer();
    server.apply(serviceEntry('a', 'one'));
    const handler = await startSource();
    await waitFor(() => server.openWatchCount === 2, () => 'both watches');
    // Other kinds move the global resource version; these watches see nothing of it but bookmarks.
    for (let i = 0; i < 3; i++) {
      server.apply({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: `l${i}`, namespace: 'x' }, spec: {} });
    }
    expect(server.sendBookmark()).toBe(2);
    await waitFor(() => source?.status().every((s) => s.resourceVersion === '4') === true, () => `bookmarks: ${JSON.stringify(source?.status())}`);

    server.compact();
    server.closeWatches();
    await waitFor(() => server.openWatchCount === 2, () => 'the re-watches');
    expect(watchRequests().slice(2).sort()).toEqual([
      '/apis/networking.istio.io/v1/serviceentries?watch=true&resourceVersion=4&allowWatchBookmarks=true 200',
      '/apis/networking.istio.io/v1/workloadentries?watch=true&resourceVersion=4&allowWatchBookmarks=true 200',
    ]);
    expect(listRequests()).toHaveLength(2);
    expect(handler.lines).toEqual(['upsert ServiceEntry a/one@1 v1']);
  });

  it('re-watches after the server ends a watch cleanly', async () => {
    await startServer();
    server.apply(serviceEntry('a', 'before-close'));
    const handler = await startSource({ kinds: ['ServiceEntry'] });
    await waitFor(() => server.openWatchCount === 1, () => 'the watch');
    expect(server.closeWatches()).toBe(1);
    server.apply(serviceEntry('a', 'after-close'));
    expect(await eventsAfter(handler, 1, 1)).toEqual(['upsert ServiceEntry a/after-close@2 v1']);
    expect(watchRequests()).toEqual([
      '/apis/networking.istio.io/v1/serviceentries?watch=true&resourceVersion=1&allowWatchBookmarks=true 200',
      '/apis/networking.istio.io/v1/serviceentries?watch=true&resourceVersion=1&allowWatchBookmarks=true 200',
    ]);
    expect(handler.problems).toEqual([]);
    expect(source?.status()[0]).toMatchObject({ lists: 1, restarts: 0 });
  });

  it('pages large lists', async () => {
    await startServer();
    for (const name of ['a', 'b', 'c', 'd', 'e']) server.apply(serviceEntry('ns', name));
    const handler = await startSource({ kinds: ['ServiceEntry'], listPageSize: 2 });
    expect(handler.lines).toHaveLength(5);
    expect(listRequests()).toEqual([
      '/apis/networking.istio.io/v1/serviceentries?limit=2 200',
      '/apis/networking.istio.io/v1/serviceentries?limit=2&continue=… 200',
      '/apis/networking.istio.io/v1/serviceentries?limit=2&continue=… 200',
    ]);
    await waitFor(() => server.openWatchCount === 1, () => 'the watch');
    expect(watchRequests()[0]).toContain('resourceVersion=5&');
  });

  it('keeps delivering when the handler throws on one event', async () => {
    await startServer();
    const handler = await startSource({ kinds: ['ServiceEntry'] });
    await waitFor(() => server.openWatchCount === 1, () => 'the watch');
    handler.failOn = 'upsert ServiceEntry a/bad';
    server.apply(serviceEntry('a', 'bad'));
    server.apply(serviceEntry('a', 'good'));
    expect(await eventsAfter(handler, 0, 1)).toEqual(['upsert ServiceEntry a/good@2 v1']);
    expect(handler.problems).toEqual([expect.stringContaining('the handler failed on a upsert event: Error: refusing upsert ServiceEntry a/bad@1')]);
  });

  it('refuses in-cluster mode outside a pod, and contradictory options', async () => {
    const saved = process.env['KUBERNETES_SERVICE_HOST'];
    delete process.env['KUBERNETES_SERVICE_HOST'];
    try {
      await expect(new KubernetesSource({ inCluster: true }).start(new RecordingHandler())).rejects.toMatchObject({ code: 'config' });
    } finally {
      if (saved !== undefined) process.env['KUBERNETES_SERVICE_HOST'] = saved;
    }
    await expect(new KubernetesSource({ inCluster: true, kubeconfig: 'x' }).start(new RecordingHandler())).rejects.toMatchObject({
      code: 'invalid-options',
    });
    await expect(new KubernetesSource({ kubeconfig: join(tmpdir(), 'no-such-kubeconfig') }).start(new RecordingHandler())).rejects.toMatchObject({
      code: 'config',
    });
    expect(() => new KubernetesSource({ namespaces: [''] })).toThrow(KubernetesError);
    expect(() => new KubernetesSource({ kinds: [] })).toThrow(KubernetesError);
  });

  it('leaves nothing running after close, even with a restart pending', async () => {
    await startServer();
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const handler = new RecordingHandler();
    source = new KubernetesSource({ kubeconfig: kubeConfig(), kinds: ['ServiceEntry'], backoff: { initialMs: 60_000, maxMs: 60_000, jitter: 0 } });
    await source.start(handler);
    await waitFor(() => server.openWatchCount === 1, () => 'the watch');
    server.dropWatches();
    await waitFor(() => handler.problems.length === 1, () => 'the failure');
    expect(handler.problems[0]).toMatch(/restarting in 60000 ms$/);
    const timersWithRestartPending = timers();
    await source.close();
    expect(timers()).toBeLessThan(timersWithRestartPending);
    const requestsAtClose = server.requests.length;
    server.apply(serviceEntry('a', 'after-close'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.requests.length).toBe(requestsAtClose);
    expect(handler.lines).toEqual([]);
  });

  it('stops a healthy watch on close and delivers nothing afterwards', async () => {
    await startServer();
    const handler = await startSource({ kinds: ['ServiceEntry'] });
    await waitFor(() => server.openWatchCount === 1, () => 'the watch');
    await source?.close();
    await waitFor(() => server.openWatchCount === 0, () => 'the watch to close');
    server.apply(serviceEntry('a', 'after-close'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(handler.lines).toEqual([]);
    expect(handler.problems).toEqual([]);
    expect(server.requests.filter(isWatchRequest)).toHaveLength(1);
  });
});
