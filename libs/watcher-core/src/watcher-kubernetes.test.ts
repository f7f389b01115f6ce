import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesSource } from '@skiff/config-sources/kubernetes';
import { FakeApiServer, istioNetworkingResources } from '@skiff/k8s-fake-apiserver';
import { silentLogger } from '@skiff/runtime';
import { createMemoryStore } from '@skiff/store';
import { afterEach, describe, expect, it } from 'vitest';
import { Watcher } from './watcher.js';
import { eventually } from '@skiff/testing';

const serviceEntry = (apiVersion: string) => ({
  apiVersion,
  kind: 'ServiceEntry',
  metadata: { name: 'api', namespace: 'shop' },
  spec: { hosts: ['api.shop.example'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', workloadSelector: { labels: { app: 'api' } } },
});
const workloadEntry = (apiVersion: string, name: string, address: string) => ({
  apiVersion,
  kind: 'WorkloadEntry',
  metadata: { name, namespace: 'shop' },
  spec: { address, labels: { app: 'api' } },
});

describe('Watcher with the Kubernetes source (real client-node against the list/watch test server)', () => {
  let server: FakeApiServer | undefined;
  let watcher: Watcher | undefined;
  afterEach(async () => {
    await watcher?.close();
    await server?.close();
  });

  it('syncs from v1beta1 when v1 is not served, follows watch events through a 410 relist and a dropped watch', async () => {
    server = await FakeApiServer.start({ resources: istioNetworkingResources(['v1beta1', 'v1alpha3']) });
    const v = 'networking.istio.io/v1beta1';
    server.apply(serviceEntry(v));
    server.apply(workloadEntry(v, 'api-1', '10.0.0.1'));
    const kubeconfig = new KubeConfig();
    kubeconfig.loadFromOptions(server.kubeConfigOptions());
    const store = createMemoryStore();
    const source = new KubernetesSource({ kubeconfig, backoff: { initialMs: 20, maxMs: 200 } });
    watcher = new Watcher({ source, store, logger: silentLogger(), holder: 'k8s-test', epochCheckMs: 50 });
    await watcher.start();
    const endpoints = async (): Promise<Record<string, string>> => {
      const stored = await store.serviceEntries.read({ namespace: 'shop', name: 'api' });
      return Object.fromEntries(Object.entries(stored?.fields ?? {}).filter(([f]) => f.startsWith('ep:')).map(([f, v]) => [f.slice('ep:WorkloadEntry/shop/'.length), JSON.parse(v).address]));
    };
    await eventually(async () => expect(await endpoints()).toEqual({ 'api-1': '10.0.0.1' }));

    server.apply(workloadEntry(v, 'api-2', '10.0.0.2'));
    await eventually(async () => expect(await endpoints()).toEqual({ 'api-1': '10.0.0.1', 'api-2': '10.0.0.2' }));

    // Changes the watch never sees (compacted away): the 410 relist must still deliver the delete.
    server.compact();
    server.delete('WorkloadEntry', 'shop', 'api-1');
    server.apply(workloadEntry(v, 'api-3', '10.0.0.3'));
    server.compact();
    server.expireWatches();
    await eventually(async () => expect(await endpoints()).toEqual({ 'api-2': '10.0.0.2', 'api-3': '10.0.0.3' }));

    // A watch connection dropped mid-stream is restarted and resumes.
    server.dropWatches();
    server.apply(workloadEntry(v, 'api-2', '10.0.0.22'));
    await eventually(async () => expect(await endpoints()).toEqual({ 'api-2': '10.0.0.22', 'api-3': '10.0.0.3' }));

    // Deleting the ServiceEntry deletes its hash.
    server.delete('ServiceEntry', 'shop', 'api');
    await eventually(async () => expect(await store.serviceEntries.list()).toEqual([]));
  });
});
