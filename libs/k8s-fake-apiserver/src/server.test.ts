import { afterEach, describe, expect, it } from 'vitest';
import { FakeApiServer, isWatchRequest } from './server.js';
import { ISTIO_NETWORKING_GROUP, LEASE_RESOURCE, defineResource, istioNetworkingResources } from './resources.js';
import type { KubeObject } from './object-store.js';

const SE = `/apis/${ISTIO_NETWORKING_GROUP}/v1/serviceentries`;

function serviceEntry(namespace: string, name: string, host = `${name}.example.com`): KubeObject {
  return {
    apiVersion: `${ISTIO_NETWORKING_GROUP}/v1`,
    kind: 'ServiceEntry',
    metadata: { name, namespace },
    spec: { hosts: [host], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC' },
  };
}

interface WatchEvent {
  type: string;
  object: KubeObject & { code?: number; reason?: string };
}

/** Reads a watch stream as it arrives. */
class WatchReader {
  readonly events: WatchEvent[] = [];
  /** Resolves with 'end' on a clean end of the stream, or 'error' when the connection broke. */
  readonly finished: Promise<'end' | 'error'>;
  status = 0;

  constructor(response: Response) {
    this.status = response.status;
    this.finished = this.read(response);
  }

  private async read(response: Response): Promise<'end' | 'error'> {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          this.events.push(JSON.parse(buffered.slice(0, newline)) as WatchEvent);
          buffered = buffered.slice(newline + 1);
        }
      }
      return 'end';
    } catch {
      return 'error';
    }
  }

  async until(count: number): Promise<WatchEvent[]> {
    await waitFor(() => this.events.length >= count, `${count} watch events (have ${this.events.length})`);
    return this.events;
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('FakeApiServer', () => {
  let server: FakeApiServer;
  const controllers: AbortController[] = [];

  async function get(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${server.url}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json', ...init.headers },
    });
  }

  async function json(path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await get(path, init);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async function watch(path: string): Promise<WatchReader> {
    const controller = new AbortController();
    controllers.push(controller);
    return new WatchReader(await get(path, { signal: controller.signal }));
  }

  afterEach(async () => {
    for (const controller of controllers.splice(0)) controller.abort();
    await server?.close();
  });

  describe('discovery', () => {
    it('lists every group with its served versions, preferred first', async () => {
      server = await FakeApiServer.start();
      const { body } = await json('/apis/');
      expect(body['kind']).toBe('APIGroupList');
      expect(body['groups']).toEqual([
        {
          name: 'coordination.k8s.io',
          versions: [{ groupVersion: 'coordination.k8s.io/v1', version: 'v1' }],
          preferredVersion: { groupVersion: 'coordination.k8s.io/v1', version: 'v1' },
        },
        {
          name: 'networking.istio.io',
          versions: [
            { groupVersion: 'networking.istio.io/v1', version: 'v1' },
            { groupVersion: 'networking.istio.io/v1beta1', version: 'v1beta1' },
            { groupVersion: 'networking.istio.io/v1alpha3', version: 'v1alpha3' },
          ],
          preferredVersion: { groupVersion: 'networking.istio.io/v1', version: 'v1' },
        },
      ]);
      const group = await json('/apis/networking.istio.io');
      expect(group.body['kind']).toBe('APIGroup');
      expect(group.body['preferredVersion']).toEqual({ groupVersion: 'networking.istio.io/v1', version: 'v1' });
    });

    it('describes the resources of a group version', async () => {
      server = await FakeApiServer.start();
      const { body } = await json('/apis/networking.istio.io/v1alpha3');
      expect(body).toMatchObject({ kind: 'APIResourceList', groupVersion: 'networking.istio.io/v1alpha3' });
      expect(body['resources']).toEqual([
        expect.objectContaining({ name: 'serviceentries', singularName: 'serviceentry', namespaced: true, kind: 'ServiceEntry', shortNames: ['se'] }),
        expect.objectContaining({ name: 'workloadentries', singularName: 'workloadentry', namespaced: true, kind: 'WorkloadEntry', shortNames: ['we'] }),
        expect.objectContaining({ name: 'destinationrules', singularName: 'destinationrule', namespaced: true, kind: 'DestinationRule', shortNames: ['dr'] }),
        expect.objectContaining({ name: 'sidecars', singularName: 'sidecar', namespaced: true, kind: 'Sidecar' }),
        expect.objectContaining({ name: 'gateways', singularName: 'gateway', namespaced: true, kind: 'Gateway', shortNames: ['gw'] }),
        expect.objectContaining({ name: 'virtualservices', singularName: 'virtualservice', namespaced: true, kind: 'VirtualService', shortNames: ['vs'] }),
      ]);
    });

    it('does not serve a version no resource serves, neither in discovery nor for objects', async () => {
      server = await FakeApiServer.start({ resources: istioNetworkingResources(['v1beta1', 'v1alpha3']) });
      const group = await json('/apis/networking.istio.io');
      expect(group.body['preferredVersion']).toEqual({ groupVersion: 'networking.istio.io/v1beta1', version: 'v1beta1' });
      expect((await get('/apis/networking.istio.io/v1')).status).toBe(404);
      expect((await get(SE)).status).toBe(404);
      expect((await get('/apis/networking.istio.io/v1beta1/serviceentries')).status).toBe(200);
    });

    it('serves versions per kind', async () => {
      server = await FakeApiServer.start({
        resources: [
          defineResource({ group: ISTIO_NETWORKING_GROUP, kind: 'ServiceEntry', versions: ['v1alpha3', 'v1'] }),
          defineResource({ group: ISTIO_NETWORKING_GROUP, kind: 'WorkloadEntry', versions: ['v1alpha3'] }),
        ],
      });
      const v1 = await json('/apis/networking.istio.io/v1');
      expect((v1.body['resources'] as { kind: string }[]).map((r) => r.kind)).toEqual(['ServiceEntry']);
      expect((await get('/apis/networking.istio.io/v1/workloadentries')).status).toBe(404);
      expect((await get('/apis/networking.istio.io/v1alpha3/workloadentries')).status).toBe(200);
    });
  });

  it('refuses requests without the bearer token and logs every request', async () => {
    server = await FakeApiServer.start({ token: 'sesame' });
    const response = await fetch(`${server.url}${SE}`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect((await json(SE)).status).toBe(200);
    expect(server.requests.map((r) => [r.method, r.path, r.authorized, r.status])).toEqual([
      ['GET', SE, false, 401],
      ['GET', SE, true, 200],
    ]);
  });

  it('fails the requests a test asks it to fail', async () => {
    server = await FakeApiServer.start();
    server.failNext(2, { match: isWatchRequest });
    expect((await get(SE)).status).toBe(200);
    expect((await get(`${SE}?watch=true`)).status).toBe(503);
    expect((await json(`${SE}?watch=1`)).body).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    const third = await watch(`${SE}?watch=true`);
    expect(third.status).toBe(200);
    server.failNext(1, { status: 500 });
    expect((await get('/apis')).status).toBe(500);
    expect((await get('/apis')).status).toBe(200);
    server.failNext(5);
    server.clearFailures();
    expect((await get('/apis')).status).toBe(200);
  });

  describe('list', () => {
    it('lists cluster-wide and per namespace with the current resource version', async () => {
      server = await FakeApiServer.start();
      server.apply(serviceEntry('b', 'two'));
      server.apply(serviceEntry('a', 'one'));
      server.apply({ ...serviceEntry('a', 'zeta'), kind: 'WorkloadEntry', spec: { address: '10.0.0.1' } });
      const all = await json(SE);
      expect(all.body).toMatchObject({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntryList', metadata: { resourceVersion: '3' } });
      const items = all.body['items'] as KubeObject[];
      expect(items.map((i) => `${i.metadata.namespace}/${i.metadata.name}@${i.metadata.resourceVersion}`)).toEqual(['a/one@2', 'b/two@1']);
      expect(items[0]).toMatchObject({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry' });
      expect(items[0]?.metadata).toMatchObject({ generation: 1, uid: expect.any(String), creationTimestamp: expect.stringMatching(/Z$/) });

      const inB = await json('/apis/networking.istio.io/v1/namespaces/b/serviceentries');
      expect((inB.body['items'] as KubeObject[]).map((i) => i.metadata.name)).toEqual(['two']);
      expect(inB.body['metadata']).toEqual({ resourceVersion: '3' });
    });

    it('serves the same object under every version with that apiVersion', async () => {
      server = await FakeApiServer.start();
      server.apply(serviceEntry('a', 'one'));
      const alpha = await json('/apis/networking.istio.io/v1alpha3/namespaces/a/serviceentries/one');
      expect(alpha.body).toMatchObject({ apiVersion: 'networking.istio.io/v1alpha3', kind: 'ServiceEntry', spec: { hosts: ['one.example.com'] } });
      const list = await json('/apis/networking.istio.io/v1beta1/serviceentries');
      expect(list.body['kind']).toBe('ServiceEntryList');
      expect((list.body['items'] as KubeObject[])[0]?.apiVersion).toBe('networking.istio.io/v1beta1');
    });

    it('pages with limit and continue over a consistent snapshot', async () => {
      server = await FakeApiServer.start();
      for (const name of ['a', 'b', 'c', 'd', 'e']) server.apply(serviceEntry('ns', name));
      const first = await json(`${SE}?limit=2`);
      const meta = first.body['metadata'] as Record<string, unknown>;
      expect(meta).toMatchObject({ resourceVersion: '5', remainingItemCount: 3, continue: expect.any(String) });
      server.apply(serviceEntry('ns', 'f'));
      server.delete('ServiceEntry', 'ns', 'c');
      const second = await json(`${SE}?limit=2&continue=${String(meta['continue'])}`);
      const third = await json(`${SE}?limit=2&continue=${String((second.body['metadata'] as Record<string, unknown>)['continue'])}`);
      const names = [first, second, third].flatMap((page) => (page.body['items'] as KubeObject[]).map((i) => i.metadata.name));
      expect(names).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(third.body['metadata']).toEqual({ resourceVersion: '5' });
    });

    it('answers 410 to a continue token whose snapshot was compacted', async () => {
      server = await FakeApiServer.start();
      for (const name of ['a', 'b', 'c']) server.apply(serviceEntry('ns', name));
      const first = await json(`${SE}?limit=1`);
      server.compact();
      const next = await json(`${SE}?limit=1&continue=${String((first.body['metadata'] as Record<string, unknown>)['continue'])}`);
      expect(next.status).toBe(410);
      expect(next.body).toMatchObject({ kind: 'Status', reason: 'Expired', code: 410 });
    });

    it('rejects selectors it cannot evaluate instead of ignoring them', async () => {
      server = await FakeApiServer.start();
      expect((await get(`${SE}?labelSelector=app%3Dx`)).status).toBe(400);
    });
  });

  describe('watch', () => {
    it('streams only the changes after the requested version', async () => {
      server = await FakeApiServer.start();
      server.apply(serviceEntry('a', 'one'));
      const listed = server.resourceVersion;
      server.apply(serviceEntry('a', 'two'));
      const stream = await watch(`${SE}?watch=true&resourceVersion=${listed}`);
      expect(stream.status).toBe(200);
      server.apply(serviceEntry('a', 'one', 'changed.example.com'));
      server.delete('ServiceEntry', 'a', 'two');
      const events = await stream.until(3);
      expect(events.map((e) => `${e.type} ${e.object.metadata.name}@${e.object.metadata.resourceVersion}`)).toEqual([
        'ADDED two@2',
        'MODIFIED one@3',
        'DELETED two@4',
      ]);
      expect(events[1]?.object).toMatchObject({ apiVersion: 'networking.istio.io/v1', spec: { hosts: ['changed.example.com'] } });
      expect(events[1]?.object.metadata.generation).toBe(2);
    });

    it('filters by namespace and by kind', async () => {
      server = await FakeApiServer.start();
      const stream = await watch(`/apis/networking.istio.io/v1alpha3/namespaces/a/serviceentries?watch=true&resourceVersion=0`);
      server.apply(serviceEntry('b', 'elsewhere'));
      server.apply({ ...serviceEntry('a', 'workload'), kind: 'WorkloadEntry', spec: { address: '10.0.0.1' } });
      server.apply(serviceEntry('a', 'mine'));
      const events = await stream.until(1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(events.map((e) => [e.type, e.object.metadata.name, e.object.apiVersion])).toEqual([
        ['ADDED', 'mine', 'networking.istio.io/v1alpha3'],
      ]);
    });

    it('starts with synthetic ADDED events for the current state when no version is given', async () => {
      server = await FakeApiServer.start();
      server.apply(serviceEntry('a', 'one'));
      server.apply(serviceEntry('a', 'two'));
      const stream = await watch(`${SE}?watch=true`);
      const events = await stream.until(2);
      expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED one', 'ADDED two']);
    });

    it('sends an in-stream 410 ERROR for a version older than the compaction horizon', async () => {
      server = await FakeApiServer.start();
      server.apply(serviceEntry('a', 'one'));
      const old = server.resourceVersion;
      server.apply(serviceEntry('a', 'two'));
      server.compact();
      const stream = await watch(`${SE}?watch=true&resourceVersion=${old}`);
      expect(stream.status).toBe(200);
      expect(await stream.finished).toBe('end');
      expect(stream.events).toEqual([
        {
          type: 'ERROR',
          object: expect.objectContaining({ kind: 'Status', reason: 'Expired', code: 410, message: 'too old resource version: 1 (2)' }),
        },
      ]);
      // The horizon itself is still a valid starting point.
      const fromHorizon = await watch(`${SE}?watch=true&resourceVersion=${server.resourceVersion}`);
      server.apply(serviceEntry('a', 'three'));
      expect((await fromHorizon.until(1)).map((e) => e.type)).toEqual(['ADDED']);
    });

    it('can refuse an expired version with HTTP 410 instead', async () => {
      server = await FakeApiServer.start({ expiredWatchResponse: 'http-status' });
      server.apply(serviceEntry('a', 'one'));
      server.apply(serviceEntry('a', 'two'));
      server.compact();
      const response = await get(`${SE}?watch=true&resourceVersion=1`);
      expect(response.status).toBe(410);
      expect(await response.json()).toMatchObject({ kind: 'Status', code: 410 });
    });

    it('sends bookmarks only to watches that asked for them', async () => {
      server = await FakeApiServer.start();
      const plain = await watch(`${SE}?watch=true&resourceVersion=0`);
      const withBookmarks = await watch(`${SE}?watch=true&resourceVersion=0&allowWatchBookmarks=true`);
      server.apply({ ...serviceEntry('a', 'w'), kind: 'WorkloadEntry', spec: { address: '10.0.0.1' } });
      expect(server.sendBookmark()).toBe(1);
      const events = await withBookmarks.until(1);
      expect(events).toEqual([
        { type: 'BOOKMARK', object: { kind: 'ServiceEntry', apiVersion: 'networking.istio.io/v1', metadata: { resourceVersion: '1' } } },
      ]);
      expect(plain.events).toEqual([]);
    });

    it('drops watch connections abruptly or closes them cleanly', async () => {
      server = await FakeApiServer.start();
      const dropped = await watch(`${SE}?watch=true&resourceVersion=0`);
      expect(server.openWatchCount).toBe(1);
      expect(server.dropWatches()).toBe(1);
      expect(await dropped.finished).toBe('error');
      const closed = await watch(`${SE}?watch=true&resourceVersion=0`);
      expect(server.closeWatches()).toBe(1);
      expect(await closed.finished).toBe('end');
      expect(server.openWatchCount).toBe(0);
    });

    it('expires open watches with an ERROR 410 event', async () => {
      server = await FakeApiServer.start();
      const stream = await watch(`${SE}?watch=true&resourceVersion=0`);
      await waitFor(() => server.openWatchCount === 1, 'the watch to open');
      expect(server.expireWatches()).toBe(1);
      expect(await stream.finished).toBe('end');
      expect(stream.events[0]).toMatchObject({ type: 'ERROR', object: { code: 410 } });
    });

    it('ends a watch after timeoutSeconds', async () => {
      server = await FakeApiServer.start();
      const stream = await watch(`${SE}?watch=true&resourceVersion=0&timeoutSeconds=1`);
      const started = Date.now();
      expect(await stream.finished).toBe('end');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(server.requests.filter(isWatchRequest)).toHaveLength(1);
    });
  });

  describe('objects and optimistic concurrency', () => {
    const LEASES = '/apis/coordination.k8s.io/v1/namespaces/ops/leases';

    function lease(holder: string, resourceVersion?: string): string {
      return JSON.stringify({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'leader', ...(resourceVersion === undefined ? {} : { resourceVersion }) },
        spec: { holderIdentity: holder, leaseDurationSeconds: 15, leaseTransitions: 0 },
      });
    }

    it('creates, reads, replaces with the current version, and refuses a stale one with 409', async () => {
      server = await FakeApiServer.start({ resources: [LEASE_RESOURCE] });
      expect((await json(`${LEASES}/leader`)).body).toMatchObject({ reason: 'NotFound', code: 404 });
      const created = await json(LEASES, { method: 'POST', body: lease('a') });
      expect(created.status).toBe(201);
      const rv = (created.body['metadata'] as Record<string, string>)['resourceVersion'];
      expect((created.body['metadata'] as Record<string, string>)['namespace']).toBe('ops');
      expect((await json(LEASES, { method: 'POST', body: lease('b') })).body).toMatchObject({ reason: 'AlreadyExists', code: 409 });

      const replaced = await json(`${LEASES}/leader`, { method: 'PUT', body: lease('b', rv) });
      expect(replaced.status).toBe(200);
      expect(replaced.body).toMatchObject({ spec: { holderIdentity: 'b' } });
      const stale = await json(`${LEASES}/leader`, { method: 'PUT', body: lease('c', rv) });
      expect(stale.status).toBe(409);
      expect(stale.body).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
      expect((await json(`${LEASES}/leader`)).body).toMatchObject({ spec: { holderIdentity: 'b' } });
    });

    it('refuses to replace a missing object, or to create one with a resourceVersion', async () => {
      server = await FakeApiServer.start({ resources: [LEASE_RESOURCE] });
      expect((await json(`${LEASES}/leader`, { method: 'PUT', body: lease('a', '1') })).status).toBe(404);
      expect((await json(LEASES, { method: 'POST', body: lease('a', '7') })).status).toBe(422);
    });

    it('lets a test change an object between a client\'s read and its write', async () => {
      server = await FakeApiServer.start({ resources: [LEASE_RESOURCE] });
      const created = await json(LEASES, { method: 'POST', body: lease('a') });
      const rv = (created.body['metadata'] as Record<string, string>)['resourceVersion'];
      const seen: string[] = [];
      const remove = server.onRequest((request) => {
        seen.push(`${request.method} ${request.path}`);
        if (request.method === 'PUT') server.apply({ ...(server.get('Lease', 'ops', 'leader') as KubeObject), spec: { holderIdentity: 'z' } });
      });
      expect((await json(`${LEASES}/leader`, { method: 'PUT', body: lease('b', rv) })).status).toBe(409);
      remove();
      expect(seen).toEqual([`PUT ${LEASES}/leader`]);
      expect((await json(`${LEASES}/leader`)).body).toMatchObject({ spec: { holderIdentity: 'z' } });
    });

    it('deletes objects and tells watchers', async () => {
      server = await FakeApiServer.start({ resources: [LEASE_RESOURCE] });
      await json(LEASES, { method: 'POST', body: lease('a') });
      const stream = await watch(`${LEASES}?watch=true&resourceVersion=${server.resourceVersion}`);
      expect((await get(`${LEASES}/leader`, { method: 'DELETE' })).status).toBe(200);
      expect((await get(`${LEASES}/leader`, { method: 'DELETE' })).status).toBe(404);
      expect((await stream.until(1)).map((e) => `${e.type} ${e.object.metadata.resourceVersion}`)).toEqual(['DELETED 2']);
    });
  });
});
