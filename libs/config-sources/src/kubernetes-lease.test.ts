// KubernetesLeaseElector through the real @kubernetes/client-node against the fake API server, for the
// races and failures a real API server does not produce on demand (a write between a read and a
// renewal, a create conflict, refused requests). Election, release and takeover on the chart's Lease
// run against kube-apiserver in kubernetes-apiserver.test.ts.
import { KubeConfig } from '@kubernetes/client-node';
import { FakeApiServer, LEASE_RESOURCE } from '@skiff/k8s-fake-apiserver';
import type { KubeObject } from '@skiff/k8s-fake-apiserver';
import { afterEach, describe, expect, it } from 'vitest';
import { KubernetesLeaseElector } from './kubernetes-lease.js';
import type { KubernetesLeaseElectorOptions } from './kubernetes-lease.js';
import { KubernetesError } from './kubernetes-error.js';

/** Short periods so takeovers happen within a second; the ratios are client-go's. */
const FAST = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100 };

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Candidate {
  readonly identity: string;
  readonly elector: KubernetesLeaseElector;
  readonly changes: string[];
  readonly problems: string[];
}

describe('KubernetesLeaseElector', () => {
  let server: FakeApiServer;
  const candidates: Candidate[] = [];

  function candidate(identity: string, options: Partial<KubernetesLeaseElectorOptions> = {}): Candidate {
    const config = new KubeConfig();
    config.loadFromOptions(server.kubeConfigOptions());
    const problems: string[] = [];
    const elector = new KubernetesLeaseElector({
      kubeconfig: config,
      namespace: 'skiff-system',
      name: 'skiff-watcher',
      identity,
      ...FAST,
      onProblem: (message) => problems.push(message),
      ...options,
    });
    const changes: string[] = [];
    elector.onChange((leading, token) => changes.push(leading ? `leading ${token}` : 'stopped'));
    const created = { identity, elector, changes, problems };
    candidates.push(created);
    return created;
  }

  function lease(): KubeObject & { spec: { holderIdentity?: string; leaseTransitions?: number; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string } } {
    const found = server.get('Lease', 'skiff-system', 'skiff-watcher');
    if (found === undefined) throw new Error('no Lease');
    return found as ReturnType<typeof lease>;
  }

  function leaders(): string[] {
    return candidates.filter((c) => c.elector.isLeader()).map((c) => c.identity);
  }

  afterEach(async () => {
    for (const c of candidates.splice(0)) await c.elector.close();
    await server?.close();
  });

  it('stops leading within the renew deadline when it cannot reach the API server, before anyone else may lead', async () => {
    server = await FakeApiServer.start({ resources: [LEASE_RESOURCE] });
    // A lease much longer than the renew deadline, so "before anyone else may lead" is unambiguous.
    const timing = { leaseDurationMs: 2_000, renewDeadlineMs: 400, retryPeriodMs: 100 };
    const a = candidate('watcher-a', timing);
    a.elector.start();
    await waitFor(() => a.elector.isLeader(), 'a to lead');
    server.failNext(1_000_000);
    const cutOffAt = performance.now();
    await waitFor(() => a.changes.length === 2, 'a to stop leading');
    expect(a.changes).toEqual(['leading 0', 'stopped']);
    expect(performance.now() - cutOffAt).toBeLessThan(timing.leaseDurationMs);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.fencingToken()).toBeNull();
    expect(a.problems.some((p) => p.includes('HTTP 503'))).toBe(true);
    expect(a.problems.some((p) => p.includes('not renewed within 400 ms'))).toBe(true);

    // Once the API server answers again, the Lease still names a: it renews and leads with the same token.
    server.clearFailures();
    await waitFor(() => a.elector.isLeader(), 'a to lead again');
    expect(a.changes).toEqual(['leading 0', 'stopped', 'leading 0']);
  });

  it('loses leadership to a holder written between its read and its renewal, and takes over after that one expires', async () => {
    server = await FakeApiServer.start({ resources: [LEASE_RESOURCE] });
    const a = candidate('watcher-a');
    a.elector.start();
    await waitFor(() => a.elector.isLeader(), 'a to lead');
    // Another writer takes the Lease just as a's renewal arrives, so the renewal carries a stale
    // resourceVersion and conflicts (409).
    let intruded = false;
    const removeHook = server.onRequest((request) => {
      if (intruded || request.method !== 'PUT') return;
      intruded = true;
      const current = lease();
      server.apply({ ...current, spec: { ...current.spec, holderIdentity: 'intruder', leaseTransitions: 5 } });
    });
    await waitFor(() => !a.elector.isLeader(), 'a to stop leading');
    removeHook();
    expect(server.requests.filter((r) => r.method === 'PUT').map((r) => r.status)).toContain(409);
    expect(a.changes).toEqual(['leading 0', 'stopped']);
    expect(lease().spec.holderIdentity).toBe('intruder');
    // The intruder never renews: a takes over after the lease duration, above the intruder's token.
    await waitFor(() => a.elector.isLeader(), 'a to take over again');
    expect(a.elector.fencingToken()).toBe(6);
    expect(a.changes).toEqual(['leading 0', 'stopped', 'leading 6']);
    expect(lease().spec).toMatchObject({ holderIdentity: 'watcher-a', leaseTransitions: 6 });
  });

  it('backs off when another candidate creates the Lease first (409 AlreadyExists)', async () => {
    server = await FakeApiServer.start({ resources: [LEASE_RESOURCE] });
    server.onRequest((request) => {
      if (request.method === 'POST' && server.get('Lease', 'skiff-system', 'skiff-watcher') === undefined) {
        server.apply({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: 'skiff-watcher', namespace: 'skiff-system' },
          spec: { holderIdentity: 'watcher-z', leaseDurationSeconds: 1, leaseTransitions: 0 },
        });
      }
    });
    const a = candidate('watcher-a');
    a.elector.start();
    await waitFor(() => server.requests.some((r) => r.method === 'POST'), 'the create');
    expect(server.requests.find((r) => r.method === 'POST')?.status).toBe(409);
    await sleep(2 * FAST.retryPeriodMs);
    expect(a.elector.isLeader()).toBe(false);
    await waitFor(() => a.elector.isLeader(), 'a to take over the expired Lease');
    expect(a.elector.fencingToken()).toBe(1);
  });

  it('elects one of many candidates starting at once', async () => {
    server = await FakeApiServer.start({ resources: [LEASE_RESOURCE] });
    const all = ['a', 'b', 'c', 'd'].map((name) => candidate(`watcher-${name}`));
    for (const c of all) c.elector.start();
    await waitFor(() => leaders().length === 1, 'a leader');
    await sleep(3 * FAST.retryPeriodMs);
    expect(leaders()).toHaveLength(1);
    const posts = server.requests.filter((r) => r.method === 'POST').map((r) => r.status);
    expect(posts.filter((status) => status === 201)).toHaveLength(1);
    expect(posts.filter((status) => status !== 201 && status !== 409)).toEqual([]);
    expect(lease().spec.holderIdentity).toBe(leaders()[0]);
  });

  it('validates its timing like client-go', async () => {
    server = await FakeApiServer.start({ resources: [LEASE_RESOURCE] });
    expect(() => candidate('x', { leaseDurationMs: 1000, renewDeadlineMs: 1000 })).toThrow(KubernetesError);
    expect(() => candidate('x', { renewDeadlineMs: 100, retryPeriodMs: 100 })).toThrow(/1.2 x retryPeriodMs/);
    expect(() => candidate('')).toThrow(/identity/);
  });
});
