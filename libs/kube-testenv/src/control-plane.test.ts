// The local control plane itself: real etcd and kube-apiserver, token authentication, RBAC,
// TokenRequest tokens, Istio's CRD schemas, and an API server restart that keeps the data.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeControlPlane } from './control-plane.js';
import { installIstioCrds } from './istio-crds.js';

const REPOSITORY_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let plane: KubeControlPlane;
beforeAll(async () => {
  // Throws KubeToolsNotFoundError (naming tools/kube/build.sh) when the binaries are missing: these
  // tests fail rather than skip.
  plane = await KubeControlPlane.start();
  await installIstioCrds(plane);
}, 120_000);
afterAll(() => plane?.stop());

function serviceEntry(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name, namespace: 'default' }, spec });
}

describe('KubeControlPlane', () => {
  it('answers the admin, and refuses an unknown token', async () => {
    expect((await plane.kubectlOrThrow(['get', 'namespace', 'default', '-o', 'name'])).trim()).toBe('namespace/default');
    const stranger = await plane.kubeconfigFor('not-a-token', 'stranger');
    const refused = await plane.kubectl(['get', 'namespaces'], { kubeconfig: stranger });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/Unauthorized|must be logged in/);
  });

  it('issues ServiceAccount tokens through TokenRequest, which RBAC holds to what is granted', async () => {
    await plane.kubectlOrThrow(['create', 'namespace', 'tokens']);
    await plane.kubectlOrThrow(['create', 'serviceaccount', 'reader', '--namespace', 'tokens']);
    const kubeconfig = await plane.serviceAccountKubeconfig('tokens', 'reader');
    expect(await plane.kubectlOrThrow(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { kubeconfig })).toBe(
      'system:serviceaccount:tokens:reader',
    );
    const forbidden = await plane.kubectl(['get', 'serviceentries', '--all-namespaces'], { kubeconfig });
    expect(forbidden.status).not.toBe(0);
    expect(forbidden.stderr).toContain(
      'serviceentries.networking.istio.io is forbidden: User "system:serviceaccount:tokens:reader" cannot list resource "serviceentries" in API group "networking.istio.io" at the cluster scope',
    );
  });

  it("accepts the repository's example ServiceEntries and WorkloadEntries under Istio's schemas", async () => {
    for (const directory of ['examples/seed', 'examples/demo']) {
      for (const file of readdirSync(join(REPOSITORY_ROOT, directory)).filter((name) => name.endsWith('.yaml'))) {
        const manifest = readFileSync(join(REPOSITORY_ROOT, directory, file), 'utf8');
        // Each example names its own namespace; create them first.
        for (const namespace of new Set([...manifest.matchAll(/namespace:\s*([\w-]+)/g)].map((match) => match[1] as string))) {
          await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }));
        }
        expect(await plane.apply(manifest), `${directory}/${file}`).toMatch(/created|unchanged|configured/);
      }
    }
  });

  it("takes every Istio fixture of the translator's golden tests (libs/xds-translate/testdata/in), as Istio's CRDs would", async () => {
    const directory = join(REPOSITORY_ROOT, 'libs', 'xds-translate', 'testdata', 'in');
    const files = readdirSync(directory).filter((name) => name.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(20);
    const manifests = files.map((file) => readFileSync(join(directory, file), 'utf8'));
    const namespaces = new Set(manifests.flatMap((manifest) => [...manifest.matchAll(/namespace:\s*([\w-]+)/g)].map((match) => match[1] as string)));
    await plane.apply([...namespaces].map((name) => JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })).join('\n---\n'));
    // Server-side dry run: the API server validates every object (schema, CEL rules) without storing it,
    // and names each one it refuses.
    const result = await plane.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: manifests.join('\n---\n') });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout.match(/\(server dry run\)/g)?.length).toBeGreaterThan(files.length);
  });

  it.each([
    ['a wildcard host', { hosts: ['*'], ports: [{ number: 80, name: 'http' }] }, 'hostname cannot be wildcard'],
    [
      'both a workload selector and endpoints',
      { hosts: ['a.example.com'], resolution: 'STATIC', workloadSelector: { labels: { app: 'a' } }, endpoints: [{ address: '10.0.0.1' }] },
      'only one of WorkloadSelector or Endpoints can be set',
    ],
    ['port 0', { hosts: ['a.example.com'], ports: [{ number: 0, name: 'http' }] }, 'port must be between 1-65535'],
    [
      'a duplicated port number',
      { hosts: ['a.example.com'], ports: [{ number: 80, name: 'http' }, { number: 80, name: 'http2' }] },
      'port number cannot be duplicated',
    ],
    ['an unknown resolution', { hosts: ['a.example.com'], resolution: 'ROUND_ROBIN' }, 'Unsupported value: "ROUND_ROBIN"'],
    ['no hosts', { ports: [{ number: 80, name: 'http' }] }, 'spec.hosts: Required value'],
  ])('refuses a ServiceEntry with %s, with the message Istio’s CRD gives', async (_what, spec, message) => {
    const result = await plane.kubectl(['apply', '-f', '-'], { input: serviceEntry('invalid', spec) });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('The ServiceEntry "invalid" is invalid');
    expect(result.stderr).toContain(message);
  });

  it('keeps its objects across an API server restart', async () => {
    await plane.apply(serviceEntry('survivor', { hosts: ['survivor.example.com'], ports: [{ number: 80, name: 'http' }], resolution: 'DNS' }));
    await plane.stopApiServer();
    const down = await plane.kubectl(['get', 'serviceentries', '--request-timeout=2s']);
    expect(down.status).not.toBe(0);
    await plane.startApiServer();
    expect((await plane.kubectlOrThrow(['get', 'serviceentry', 'survivor', '-o', 'jsonpath={.spec.hosts[0]}'])).trim()).toBe('survivor.example.com');
  });

  it('compacts etcd to its current revision', async () => {
    const before = Number(await plane.kubectlOrThrow(['get', 'serviceentry', 'survivor', '-o', 'jsonpath={.metadata.resourceVersion}']));
    expect(await plane.compactEtcd()).toBeGreaterThanOrEqual(before);
  });
});
