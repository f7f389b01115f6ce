// KubernetesSource and KubernetesLeaseElector against a real kube-apiserver and etcd
// (libs/kube-testenv), authenticated as the chart's watcher ServiceAccount with the RBAC the chart
// renders: what a watcher pod does in a cluster. Faults a real server cannot produce on demand
// (HTTP 503s, a write racing a read, exact request sequences) stay in kubernetes-source.test.ts and
// kubernetes-lease.test.ts against the fake server.
import { performance } from 'node:perf_hooks';
import { installIstioCrds, installWatcherIdentity, KubeControlPlane, TcpProxy, type WatcherIdentity } from '@skiff/kube-testenv';
import { eventually } from '@skiff/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesLeaseElector, type KubernetesLeaseElectorOptions } from './kubernetes-lease.js';
import { KubernetesSource, type KubernetesSourceOptions } from './kubernetes-source.js';
import type { SourceEvent, SourceHandler } from './source.js';

/** Short, deterministic restart delays: 20, 40, 80 ... ms, at most 500 ms. */
const FAST_BACKOFF = { initialMs: 20, maxMs: 500, factor: 2, jitter: 0 };

let plane: KubeControlPlane;
let cluster: WatcherIdentity;
let restricted: WatcherIdentity;

beforeAll(async () => {
  // Without the watch cache every watch reads etcd, so a watch resuming from a version etcd compacted
  // away gets 410 Gone, as it does from a cache that has moved past it in a busy cluster.
  plane = await KubeControlPlane.start({ apiServerArgs: ['--watch-cache=false'] });
  await installIstioCrds(plane);
  cluster = await installWatcherIdentity(plane, { namespace: 'skiff-system' });
  restricted = await installWatcherIdentity(plane, { namespace: 'skiff-restricted', release: 'restricted', watchNamespaces: ['team-a', 'team-b'] });
  for (const namespace of ['mesh', 'team-c']) await plane.apply(namespaceManifest(namespace));
}, 180_000);
afterAll(() => plane?.stop());

function namespaceManifest(name: string): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

function serviceEntry(namespace: string, name: string, host = `${name}.example.com`): string {
  return JSON.stringify({
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name, namespace },
    spec: { hosts: [host], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', workloadSelector: { labels: { app: name } } },
  });
}

function workloadEntry(namespace: string, name: string, address: string): string {
  return JSON.stringify({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name, namespace }, spec: { address, labels: { app: name } } });
}

interface Meta {
  kind: string;
  metadata: { namespace: string; name: string };
  spec: { hosts?: string[]; address?: string };
}

/** Records what the source delivers as `upsert ServiceEntry ns/name hosts|address` and `delete Kind ns/name`. */
class RecordingHandler implements SourceHandler {
  readonly lines: string[] = [];
  readonly problems: string[] = [];
  syncCount = 0;

  event(event: SourceEvent): void {
    if (event.type === 'delete') {
      this.lines.push(`delete ${event.ref.kind} ${event.ref.namespace}/${event.ref.name}`);
      return;
    }
    const object = event.object as Meta;
    const detail = object.spec.hosts?.join(',') ?? object.spec.address ?? '';
    this.lines.push(`upsert ${object.kind} ${object.metadata.namespace}/${object.metadata.name} ${detail}`);
  }

  synced(): void {
    this.syncCount++;
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  /** Waits until `count` lines follow line `from`, and returns them. */
  async after(from: number, count: number): Promise<string[]> {
    return eventually(
      () => {
        const lines = this.lines.slice(from);
        if (lines.length < count) throw new Error(`expected ${count} events after ${from}, have ${JSON.stringify(lines)}`);
        return lines;
      },
      { timeoutMs: 15_000 },
    );
  }
}

describe('KubernetesSource against kube-apiserver', () => {
  const sources: KubernetesSource[] = [];
  const proxies: TcpProxy[] = [];

  async function startSource(kubeconfig: string, options: Omit<KubernetesSourceOptions, 'kubeconfig'> = {}): Promise<{ source: KubernetesSource; handler: RecordingHandler }> {
    const handler = new RecordingHandler();
    const source = new KubernetesSource({ kubeconfig, backoff: FAST_BACKOFF, ...options });
    sources.push(source);
    await source.start(handler);
    await eventually(() => expect(handler.syncCount).toBeGreaterThanOrEqual(1), { timeoutMs: 15_000 });
    return { source, handler };
  }

  afterEach(async () => {
    for (const source of sources.splice(0)) await source.close();
    for (const proxy of proxies.splice(0)) await proxy.close();
  });

  it("syncs as the chart's watcher ServiceAccount and delivers creates, updates and deletes in order", async () => {
    await plane.apply([serviceEntry('mesh', 'orders'), workloadEntry('mesh', 'orders-1', '10.0.0.1')].join('\n---\n'));
    const { source, handler } = await startSource(cluster.kubeconfig);
    expect(handler.lines).toEqual(expect.arrayContaining(['upsert ServiceEntry mesh/orders orders.example.com', 'upsert WorkloadEntry mesh/orders-1 10.0.0.1']));
    // Every kind the watcher reads by default, which the chart's ClusterRole must therefore grant.
    expect(source.servedVersions()).toEqual(
      new Map([
        ['ServiceEntry', 'networking.istio.io/v1'],
        ['WorkloadEntry', 'networking.istio.io/v1'],
        ['DestinationRule', 'networking.istio.io/v1'],
        ['Sidecar', 'networking.istio.io/v1'],
        ['Gateway', 'networking.istio.io/v1'],
        ['VirtualService', 'networking.istio.io/v1'],
      ]),
    );

    const seen = handler.lines.length;
    await plane.apply(serviceEntry('mesh', 'orders', 'orders.internal'));
    await plane.apply(workloadEntry('mesh', 'orders-2', '10.0.0.2'));
    await plane.kubectlOrThrow(['delete', 'workloadentry', 'orders-1', '--namespace', 'mesh']);
    await plane.kubectlOrThrow(['delete', 'serviceentry', 'orders', '--namespace', 'mesh']);
    const events = await handler.after(seen, 4);
    expect(events.filter((line) => line.includes('ServiceEntry'))).toEqual(['upsert ServiceEntry mesh/orders orders.internal', 'delete ServiceEntry mesh/orders']);
    expect(events.filter((line) => line.includes('WorkloadEntry'))).toEqual(['upsert WorkloadEntry mesh/orders-2 10.0.0.2', 'delete WorkloadEntry mesh/orders-1']);
    expect(handler.problems).toEqual([]);
    expect(source.health()).toEqual({ healthy: true });
  });

  it('with watcher.namespaces, reads the listed namespaces through the per-namespace RoleBindings and nothing else', async () => {
    expect(restricted.objects.filter((object) => object.startsWith('RoleBinding') || object.startsWith('ClusterRoleBinding')).sort()).toEqual([
      'RoleBinding skiff-restricted/restricted-skiff-watcher',
      'RoleBinding team-a/restricted-skiff-watcher-skiff-restricted',
      'RoleBinding team-b/restricted-skiff-watcher-skiff-restricted',
    ]);
    await plane.apply([serviceEntry('team-a', 'alpha'), serviceEntry('team-c', 'gamma'), workloadEntry('team-b', 'beta-1', '10.1.0.1')].join('\n---\n'));
    const { handler } = await startSource(restricted.kubeconfig, { namespaces: ['team-a', 'team-b'] });
    expect([...handler.lines].sort()).toEqual(['upsert ServiceEntry team-a/alpha alpha.example.com', 'upsert WorkloadEntry team-b/beta-1 10.1.0.1']);
    const seen = handler.lines.length;
    await plane.apply(serviceEntry('team-c', 'gamma-2'));
    await plane.apply(serviceEntry('team-b', 'beta'));
    expect(await handler.after(seen, 1)).toEqual(['upsert ServiceEntry team-b/beta beta.example.com']);

    // The same ServiceAccount cannot read cluster-wide: the API server refuses, and the source says why.
    const { problems } = await startSourceExpectingFailure(restricted.kubeconfig);
    // Whichever kind's informer is refused first: the watcher reads six.
    expect(problems[0]).toMatch(
      /^(ServiceEntry|WorkloadEntry|DestinationRule|Sidecar|Gateway|VirtualService) \(networking\.istio\.io\/v1\) in all namespaces: HTTP 403: (serviceentries|workloadentries|destinationrules|sidecars|gateways|virtualservices)\.networking\.istio\.io is forbidden: User "system:serviceaccount:skiff-restricted:restricted-skiff-watcher" cannot list resource "\2" in API group "networking\.istio\.io" at the cluster scope; restarting in \d+ ms$/,
    );
  });

  it('relists after 410 Gone when the version it resumes from was compacted away, and delivers what changed in the gap', async () => {
    await plane.apply([serviceEntry('mesh', 'keep'), serviceEntry('mesh', 'change'), serviceEntry('mesh', 'remove')].join('\n---\n'));
    const proxy = await TcpProxy.start(plane.apiServerPort);
    proxies.push(proxy);
    const kubeconfig = await plane.kubeconfigFor(await plane.serviceAccountToken(cluster.namespace, cluster.serviceAccount), 'via-proxy', `https://127.0.0.1:${proxy.port}`);
    const { source, handler } = await startSource(kubeconfig, { kinds: ['ServiceEntry'], lostWatchGraceMs: 300 });
    expect(source.status()[0]).toMatchObject({ lists: 1 });
    const seen = handler.lines.length;

    // The watcher loses the API server; the cluster moves on and etcd compacts the history it needs.
    proxy.cut();
    await eventually(() => expect(source.health()).toMatchObject({ healthy: false, reason: expect.stringContaining('ServiceEntry (networking.istio.io/v1) in all namespaces: no watch for') }));
    await plane.apply(serviceEntry('mesh', 'change', 'changed.example.com'));
    await plane.kubectlOrThrow(['delete', 'serviceentry', 'remove', '--namespace', 'mesh']);
    await plane.apply(serviceEntry('mesh', 'new'));
    await plane.compactEtcd();
    proxy.restore();

    const events = await handler.after(seen, 3);
    expect([...events].sort()).toEqual(['delete ServiceEntry mesh/remove', 'upsert ServiceEntry mesh/change changed.example.com', 'upsert ServiceEntry mesh/new new.example.com']);
    await eventually(() => expect(source.status()[0]).toMatchObject({ lists: 2 }));
    await eventually(() => expect(source.health()).toEqual({ healthy: true }));
    expect(handler.syncCount).toBe(2);

    // And it watches on from the relisted version.
    await plane.apply(serviceEntry('mesh', 'after'));
    expect((await handler.after(seen, 4))[3]).toBe('upsert ServiceEntry mesh/after after.example.com');
  });

  async function startSourceExpectingFailure(kubeconfig: string): Promise<{ problems: string[] }> {
    const handler = new RecordingHandler();
    const source = new KubernetesSource({ kubeconfig, backoff: FAST_BACKOFF, lostWatchGraceMs: 0 });
    sources.push(source);
    await source.start(handler);
    await eventually(() => expect(handler.problems.length).toBeGreaterThan(0));
    expect(handler.syncCount).toBe(0);
    expect(source.health().healthy).toBe(false);
    return { problems: handler.problems };
  }
});

describe('KubernetesLeaseElector against kube-apiserver', () => {
  interface Candidate {
    readonly identity: string;
    readonly elector: KubernetesLeaseElector;
    readonly changes: string[];
  }
  const candidates: Candidate[] = [];

  function candidate(identity: string, options: Partial<KubernetesLeaseElectorOptions> = {}): Candidate {
    const elector = new KubernetesLeaseElector({
      kubeconfig: cluster.kubeconfig,
      namespace: cluster.namespace,
      name: cluster.leaseName,
      identity,
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 400,
      ...options,
    });
    const changes: string[] = [];
    elector.onChange((leading, token) => changes.push(leading ? `leading ${token}` : 'stopped'));
    const created = { identity, elector, changes };
    candidates.push(created);
    return created;
  }

  async function lease(): Promise<{ holderIdentity?: string; leaseDurationSeconds?: number; leaseTransitions?: number }> {
    return JSON.parse(await plane.kubectlOrThrow(['get', 'lease', cluster.leaseName, '--namespace', cluster.namespace, '-o', 'jsonpath={.spec}'])) as {
      holderIdentity?: string;
      leaseDurationSeconds?: number;
    };
  }

  afterEach(async () => {
    for (const c of candidates.splice(0)) await c.elector.close();
  });

  it("elects one of two replicas on the chart's Lease, writes the configured duration, and hands over at once on release", async () => {
    const a = candidate('watcher-a');
    const b = candidate('watcher-b');
    a.elector.start();
    b.elector.start();
    await eventually(() => expect(candidates.filter((c) => c.elector.isLeader())).toHaveLength(1), { timeoutMs: 15_000 });
    const leader = a.elector.isLeader() ? a : b;
    const standby = leader === a ? b : a;
    expect(await lease()).toMatchObject({ holderIdentity: leader.identity, leaseDurationSeconds: 3 });

    const released = performance.now();
    await leader.elector.close();
    await eventually(() => expect(standby.elector.isLeader()).toBe(true), { timeoutMs: 10_000 });
    // The standby's next try (retry period plus jitter), not the lease duration.
    expect(performance.now() - released).toBeLessThan(2_000);
    expect(await lease()).toMatchObject({ holderIdentity: standby.identity });
  });

  it('takes over from a silent leader after the duration the leader wrote into the Lease, not its own default', async () => {
    const leader = candidate('silent-leader', { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300, releaseOnClose: false });
    leader.elector.start();
    await eventually(() => expect(leader.elector.isLeader()).toBe(true), { timeoutMs: 15_000 });
    expect(await lease()).toMatchObject({ holderIdentity: 'silent-leader', leaseDurationSeconds: 2 });
    // A standby configured with client-go's 15 s default still honours the holder's 2 s.
    const standby = candidate('patient-standby', { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 300 });
    standby.elector.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(standby.elector.isLeader()).toBe(false);

    const silenced = performance.now();
    await leader.elector.close(); // stops renewing and keeps the Lease: a crashed leader
    await eventually(() => expect(standby.elector.isLeader()).toBe(true), { timeoutMs: 10_000, intervalMs: 50 });
    const tookOverAfter = performance.now() - silenced;
    expect(tookOverAfter).toBeGreaterThan(1_000);
    // The 2 s the leader wrote, then the standby's next try (at most 2.2 retry periods), with room for a
    // loaded machine; the standby's own 15 s would be far above.
    expect(tookOverAfter).toBeLessThan(2_000 + 2.2 * 300 + 2_000);
    const after = await lease();
    expect(after).toMatchObject({ holderIdentity: 'patient-standby', leaseDurationSeconds: 15 });
    expect(standby.changes.at(-1)).toBe(`leading ${after.leaseTransitions}`);
  });
});
