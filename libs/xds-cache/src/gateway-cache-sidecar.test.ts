/**
 * The cache with Sidecars in the store: the first load scopes proxies by their labels, a Sidecar
 * write re-scopes connected proxies and tells listeners which names to re-read (no resource is read
 * again), a reconcile reloads Sidecars, and a Sidecar never stands for a ServiceEntry of the same name.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProxyProfile, ResourceChange } from '@skiff/ads-server';
import type { NormalizedSidecar, ObjectKey } from '@skiff/model';
import { silentLogger } from '@skiff/runtime';
import { createMemoryStore, type LeaseGrant, type MemoryStore } from '@skiff/store';
import { eventually } from '@skiff/testing';
import { GatewayCache } from './gateway-cache.js';
import { proxyProfileOf } from './profile.js';
import { built, CDS, node, visibility } from './test-support/fixtures.js';

const cluster = (host: string) => `outbound|80||${host}`;

function sidecar(key: ObjectKey, hosts: string[], workloadSelector: Record<string, string> | null = null): NormalizedSidecar {
  return { schemaVersion: 1, ...key, creationTime: 0, workloadSelector, egress: [{ bind: '', hosts }], outboundTrafficPolicy: null };
}

describe('gateway cache with Sidecars', () => {
  let memory: MemoryStore;
  let cache: GatewayCache;
  let grant: LeaseGrant;
  let changes: ResourceChange[][];
  let revision = 0;

  const write = async (namespace: string, name: string) => {
    const host = `${name}.example.com`;
    await memory.resources.replace({ visibility: visibility(namespace, name, { hosts: [host] }), revision: ++revision, resources: [built(cluster(host), 'v1')] });
  };
  const put = (value: NormalizedSidecar) => memory.sidecars.put(value, JSON.stringify(value), grant);
  const proxy = (namespace: string, labels: Record<string, string> = {}): ProxyProfile =>
    proxyProfileOf(node({ id: `sidecar~10.0.0.1~p.${namespace}~${namespace}.svc.cluster.local`, metadata: { NAMESPACE: namespace, LABELS: labels } }));
  const clusters = (profile: ProxyProfile) => [...cache.viewFor(profile).all(CDS).keys()];

  beforeEach(async () => {
    memory = createMemoryStore();
    grant = (await memory.lease.acquire('watcher', 60_000))!;
    changes = [];
    await write('ns1', 'a');
    await write('ns2', 'b');
    await put(sidecar({ namespace: 'ns1', name: 'default' }, ['./*']));
    await put(sidecar({ namespace: 'ns1', name: 'web' }, ['ns2/*'], { app: 'web' }));
    cache = new GatewayCache({ store: memory, logger: silentLogger(), retry: { initialMs: 10, maxMs: 40 } });
    cache.onChange((batch) => changes.push([...batch]));
    await cache.start();
  });

  afterEach(async () => {
    await cache.close();
    await memory.close();
  });

  it('scopes proxies by namespace and labels from the first load', () => {
    expect(clusters(proxy('ns1'))).toEqual([cluster('a.example.com')]);
    expect(clusters(proxy('ns1', { app: 'web' }))).toEqual([cluster('b.example.com')]);
    expect(clusters(proxy('ns2'))).toEqual([cluster('a.example.com'), cluster('b.example.com')]);
    expect(cache.sidecarFor(proxy('ns1', { app: 'web' }))?.name).toBe('web');
    expect(cache.status()).toMatchObject({ sidecars: 2 });
  });

  it('re-scopes on a Sidecar write and delete, announcing the names without reading resources', async () => {
    const ns1 = proxy('ns1');
    expect(clusters(ns1)).toEqual([cluster('a.example.com')]);
    const reads = cache.status().storeErrors;
    await put(sidecar({ namespace: 'ns1', name: 'default' }, ['./*', 'ns2/*']));
    await eventually(() => expect(clusters(ns1)).toEqual([cluster('a.example.com'), cluster('b.example.com')]));
    await cache.settled();
    expect(changes.flat().flatMap((change) => change.names).sort()).toEqual([cluster('a.example.com'), cluster('b.example.com')]);
    changes = [];
    await memory.sidecars.delete({ namespace: 'ns1', name: 'web' }, grant);
    await eventually(() => expect(clusters(proxy('ns1', { app: 'web' }))).toEqual([cluster('a.example.com'), cluster('b.example.com')]));
    // A root namespace Sidecar applies to namespaces without one.
    await put(sidecar({ namespace: 'istio-system', name: 'default' }, ['./*']));
    await eventually(() => expect(clusters(proxy('ns2'))).toEqual([cluster('b.example.com')]));
    expect(cache.status()).toMatchObject({ storeErrors: reads, owners: 2 });
  });

  it('never reads a Sidecar invalidation as a ServiceEntry of the same name', async () => {
    await put(sidecar({ namespace: 'ns2', name: 'b' }, ['*/*']));
    await eventually(() => expect(cache.status().sidecars).toBe(3));
    await cache.settled();
    expect(clusters(proxy('ns2'))).toEqual([cluster('a.example.com'), cluster('b.example.com')]);
    expect(cache.status().owners).toBe(2);
  });

  it('reloads Sidecars on a reconcile', async () => {
    // A cache that misses every Sidecar invalidation learns of the Sidecar only by reconciling.
    await cache.close();
    cache = new GatewayCache({
      store: {
        ...memory,
        resources: memory.resources,
        sidecars: memory.sidecars,
        epoch: () => memory.epoch(),
        invalidations: {
          subscribe: (listener, options) =>
            memory.invalidations.subscribe({ onInvalidation: (message) => message.kind === 'Sidecar' || listener.onInvalidation(message), onGap: (gap) => listener.onGap(gap) }, options),
          currentSeq: () => memory.invalidations.currentSeq(),
        },
      },
      logger: silentLogger(),
    });
    await cache.start();
    expect((await put(sidecar({ namespace: 'ns2', name: 'default' }, ['./*']))).status).toBe('written');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(clusters(proxy('ns2'))).toEqual([cluster('a.example.com'), cluster('b.example.com')]);
    await cache.reconcileNow();
    expect(clusters(proxy('ns2'))).toEqual([cluster('b.example.com')]);
  });
});
