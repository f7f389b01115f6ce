/**
 * The chart installed for real: every values case of deploy/helm/skiff/tests goes through `helm
 * install`, `upgrade`, `rollback` and `uninstall` against a real kube-apiserver (libs/kube-testenv),
 * which validates and stores every object the chart renders. There is no kubelet or controller
 * manager, so Deployments are stored but no pod ever runs; nothing here waits for pods (`--wait`
 * would never end).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeControlPlane } from '@skiff/kube-testenv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Helm } from './helm.js';
import { objectId, parseManifests, type KubernetesObject } from './manifests.js';
import { chartCases, CHART_DIRECTORY, REPOSITORY_ROOT } from './repository.js';

const RELEASE = 'skiff';
const SERVICE_MONITOR_CRD = JSON.stringify({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'servicemonitors.monitoring.coreos.com' },
  spec: {
    group: 'monitoring.coreos.com',
    names: { kind: 'ServiceMonitor', listKind: 'ServiceMonitorList', plural: 'servicemonitors', singular: 'servicemonitor' },
    scope: 'Namespaced',
    // The Prometheus Operator's API, without its schema: only whether the API is served matters here.
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
});

let plane: KubeControlPlane;
let helm: Helm;
beforeAll(async () => {
  plane = await KubeControlPlane.start();
  // Throws HelmNotFoundError when helm is absent: these tests fail rather than skip.
  helm = Helm.locate(plane.adminKubeconfig);
}, 120_000);
afterAll(async () => {
  helm?.dispose();
  await plane?.stop();
});

/** Namespaces a case's values refer to (watcher.namespaces): a RoleBinding can only be created in an existing one. */
function watchedNamespaces(valuesFile: string): string[] {
  const block = /^watcher:\n((?: {2}.*\n)+)/m.exec(readFileSync(valuesFile, 'utf8'))?.[1] ?? '';
  const list = /^ {2}namespaces:\n((?: {4}- .*\n)+)/m.exec(block)?.[1] ?? '';
  return [...list.matchAll(/- (\S+)/g)].map((match) => match[1] as string);
}

/** `kind.group/name`, the way `kubectl get -o name` prints an object. */
function kubectlName(object: KubernetesObject): string {
  const group = object.apiVersion.includes('/') ? `.${object.apiVersion.split('/')[0]}` : '';
  return `${object.kind.toLowerCase()}${group}/${object.metadata.name}`;
}

/** Which of the release's objects the API server stores (one `kubectl get -f -` for all of them). */
async function storedObjects(manifest: string): Promise<string[]> {
  const stored = await plane.kubectlOrThrow(['get', '-f', '-', '--ignore-not-found', '-o', 'name'], { input: manifest });
  return stored.split('\n').filter((line) => line !== '').sort();
}

async function watcherEnv(namespace: string, name: string): Promise<string> {
  return plane.kubectlOrThrow(['get', 'deployment', 'skiff-watcher', '--namespace', namespace, '-o', `jsonpath={.spec.template.spec.containers[0].env[?(@.name=="${name}")].value}`]);
}

describe.each(chartCases())('$name', (chartCase) => {
  const namespace = `case-${chartCase.name}`;
  const values = ['--values', chartCase.valuesFile];
  const logLevel = /^logLevel: (\w+)$/m.exec(readFileSync(chartCase.valuesFile, 'utf8'))?.[1] ?? 'info';

  it('installs, upgrades, rolls back and uninstalls', async () => {
    for (const name of [namespace, ...watchedNamespaces(chartCase.valuesFile)]) {
      await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
    }

    const installed = await helm.runAsyncOrThrow(['install', RELEASE, CHART_DIRECTORY, '--namespace', namespace, ...values]);
    expect(installed).toContain('STATUS: deployed');
    const manifest = await helm.runAsyncOrThrow(['get', 'manifest', RELEASE, '--namespace', namespace]);
    const objects = parseManifests(manifest);
    expect(objects.length).toBeGreaterThan(5);
    // Every object the release holds is stored, and the watcher's Deployment is among them.
    expect(await storedObjects(manifest)).toEqual(objects.map(kubectlName).sort());
    expect(objects.map(objectId)).toContain(`Deployment/${namespace}/skiff-watcher`);
    expect(await watcherEnv(namespace, 'SKIFF_LOG_LEVEL')).toBe(logLevel);

    const upgraded = await helm.runAsyncOrThrow(['upgrade', RELEASE, CHART_DIRECTORY, '--namespace', namespace, ...values, '--set', 'logLevel=warn']);
    expect(upgraded).toContain('REVISION: 2');
    expect(await watcherEnv(namespace, 'SKIFF_LOG_LEVEL')).toBe('warn');

    await helm.runAsyncOrThrow(['rollback', RELEASE, '1', '--namespace', namespace]);
    expect(await watcherEnv(namespace, 'SKIFF_LOG_LEVEL')).toBe(logLevel);
    const history = JSON.parse(await helm.runAsyncOrThrow(['history', RELEASE, '--namespace', namespace, '--output', 'json'])) as { revision: number; status: string }[];
    expect(history.map((entry) => `${entry.revision} ${entry.status}`)).toEqual(['1 superseded', '2 superseded', '3 deployed']);

    await helm.runAsyncOrThrow(['uninstall', RELEASE, '--namespace', namespace]);
    const kept = objects.filter((object) => object.metadata.annotations?.['helm.sh/resource-policy'] === 'keep');
    expect(await storedObjects(manifest)).toEqual(kept.map(kubectlName).sort());
  }, 120_000);
});

describe('what the API server makes of the chart', () => {
  const namespace = 'skiff-api-checks';

  it("installs Istio's CRDs with their schemas (crds.install=true), so the API server refuses what Istio refuses", async () => {
    await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }));
    // The crds case installed them and uninstall kept them (helm.sh/resource-policy: keep).
    const crd = JSON.parse(await plane.kubectlOrThrow(['get', 'crd', 'serviceentries.networking.istio.io', '-o', 'json'])) as KubernetesObject & {
      spec: { versions: { name: string; schema: { openAPIV3Schema: { properties: { spec: { required?: string[] } } } } }[] };
    };
    expect(crd.spec.versions.map((version) => version.name)).toEqual(['v1', 'v1alpha3', 'v1beta1']);
    expect(crd.spec.versions.every((version) => version.schema.openAPIV3Schema.properties.spec.required?.includes('hosts'))).toBe(true);

    const example = readFileSync(join(REPOSITORY_ROOT, 'examples', 'seed', 'example-app.yaml'), 'utf8');
    for (const exampleNamespace of new Set([...example.matchAll(/namespace:\s*([\w-]+)/g)].map((match) => match[1] as string))) {
      await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: exampleNamespace } }));
    }
    expect(await plane.apply(example)).toMatch(/created|configured|unchanged/);

    const invalid = [
      { spec: { hosts: ['*'] }, message: 'hostname cannot be wildcard' },
      { spec: { hosts: ['a.example.com'], resolution: 'NONE', endpoints: [{ address: '10.0.0.1' }] }, message: 'NONE mode cannot set endpoints' },
      { spec: { hosts: ['a.example.com'], addresses: ['10.0.0.0/24'], resolution: 'DNS' }, message: 'CIDR addresses are allowed only for NONE/STATIC resolution' },
    ];
    for (const { spec, message } of invalid) {
      const refused = await plane.kubectl(['apply', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'networking.istio.io/v1beta1', kind: 'ServiceEntry', metadata: { name: 'refused', namespace }, spec }),
      });
      expect(refused.status, JSON.stringify(spec)).not.toBe(0);
      expect(refused.stderr).toContain(message);
    }
    const workloadEntry = await plane.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'refused', namespace }, spec: { labels: { app: 'x' } } }),
    });
    expect(workloadEntry.status).not.toBe(0);
    expect(workloadEntry.stderr).toContain('Address is required');
  });

  it('moves the watcher between cluster-wide and per-namespace read access on upgrade (watcher.namespaces)', async () => {
    const release = 'scoped';
    const releaseNamespace = 'skiff-scoped';
    for (const name of [releaseNamespace, 'team-x', 'team-y']) await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
    const set = ['--set', 'redis.external.url=redis://redis.example.internal:6379'];
    const watcher = `system:serviceaccount:${releaseNamespace}:scoped-skiff-watcher`;
    /** Whether RBAC lets the watcher's ServiceAccount list ServiceEntries there (a SubjectAccessReview: the authorizer's own answer). */
    const canList = async (namespace: string | undefined): Promise<string> => {
      const review = {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: watcher,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${releaseNamespace}`, 'system:authenticated'],
          resourceAttributes: { verb: 'list', group: 'networking.istio.io', resource: 'serviceentries', namespace: namespace ?? '' },
        },
      };
      const allowed = await plane.kubectlOrThrow(['create', '-f', '-', '-o', 'jsonpath={.status.allowed}'], { input: JSON.stringify(review) });
      return allowed === 'true' ? 'yes' : 'no';
    };

    await helm.runAsyncOrThrow(['install', release, CHART_DIRECTORY, '--namespace', releaseNamespace, ...set]);
    expect([await canList(undefined), await canList('team-x'), await canList('team-y')]).toEqual(['yes', 'yes', 'yes']);

    await helm.runAsyncOrThrow(['upgrade', release, CHART_DIRECTORY, '--namespace', releaseNamespace, ...set, '--set', 'watcher.namespaces={team-x}']);
    expect([await canList(undefined), await canList('team-x'), await canList('team-y')]).toEqual(['no', 'yes', 'no']);
    expect((await plane.kubectl(['get', 'clusterrolebinding', `scoped-skiff-watcher-${releaseNamespace}`])).status).not.toBe(0);

    await helm.runAsyncOrThrow(['rollback', release, '1', '--namespace', releaseNamespace]);
    expect([await canList(undefined), await canList('team-x'), await canList('team-y')]).toEqual(['yes', 'yes', 'yes']);
    await helm.runAsyncOrThrow(['uninstall', release, '--namespace', releaseNamespace]);
    expect(await canList('team-x')).toBe('no');
  });

  it('leaves the ServiceMonitor out where the cluster does not serve it, says so, and adds it once the API exists', async () => {
    const release = 'monitored';
    const set = ['--set', 'redis.external.url=redis://redis.example.internal:6379', '--set', 'serviceMonitor.enabled=true'];
    const installed = await helm.runAsyncOrThrow(['install', release, CHART_DIRECTORY, '--namespace', namespace, ...set]);
    expect(installed).toContain('serviceMonitor.enabled is true, but this cluster does not serve monitoring.coreos.com/v1');
    expect(parseManifests(await helm.runAsyncOrThrow(['get', 'manifest', release, '--namespace', namespace])).map((object) => object.kind)).not.toContain(
      'ServiceMonitor',
    );

    await plane.apply(SERVICE_MONITOR_CRD);
    await plane.kubectlOrThrow(['wait', '--for=condition=Established', '--timeout=60s', 'crd/servicemonitors.monitoring.coreos.com']);
    const upgraded = await helm.runAsyncOrThrow(['upgrade', release, CHART_DIRECTORY, '--namespace', namespace, ...set]);
    expect(upgraded).not.toContain('WARNING: serviceMonitor.enabled');
    expect((await plane.kubectlOrThrow(['get', 'servicemonitors', '--namespace', namespace, '-o', 'name'])).trim()).toBe('servicemonitor.monitoring.coreos.com/monitored-skiff');
    await helm.runAsyncOrThrow(['uninstall', release, '--namespace', namespace]);
  });
});
