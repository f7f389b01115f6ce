import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Helm } from './helm.js';
import { containers, parseManifests, type KubernetesObject } from './manifests.js';
import { containerPolicyViolations, rbacViolations, serviceAccountTokenViolations } from './policy.js';
import { CHART_DIRECTORY, chartCases } from './repository.js';

const NAMESPACE = 'skiff-system';
const cases = chartCases();

let helm: Helm;
beforeAll(() => {
  helm = Helm.locate();
});
afterAll(() => helm?.dispose());

function render(valuesFile: string): KubernetesObject[] {
  return parseManifests(helm.template(CHART_DIRECTORY, { releaseName: 'skiff', namespace: NAMESPACE, valuesFiles: [valuesFile] }));
}

describe.each(cases)('rendered $name', (chartCase) => {
  let objects: KubernetesObject[];
  beforeAll(() => {
    objects = render(chartCase.valuesFile);
  });

  it('runs the three Skiff services', () => {
    const commands = containers(objects).map(({ container }) => (container['command'] as string[] | undefined)?.[0]);
    expect(commands).toEqual(expect.arrayContaining(['skiff-watcher', 'skiff-translator', 'skiff-gateway']));
  });

  it('gives every container resources, probes and the hardened securityContext', () => {
    expect(containerPolicyViolations(objects, { tcpProbeComponents: ['redis'] })).toEqual([]);
  });

  it('grants exactly the RBAC Skiff needs', () => {
    expect(rbacViolations(objects, NAMESPACE)).toEqual([]);
  });

  it('mounts an API token only where a role is bound', () => {
    expect(serviceAccountTokenViolations(objects)).toEqual([]);
  });
});

// The checks above pass only if they can fail: each is run here against objects that break it.
describe('policy checks', () => {
  const hardenedContainer = {
    name: 'app',
    ports: [{ name: 'http-monitoring', containerPort: 15014 }],
    resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } },
    securityContext: {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    startupProbe: { httpGet: { path: '/readyz', port: 'http-monitoring' } },
    readinessProbe: { httpGet: { path: '/readyz', port: 'http-monitoring' } },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http-monitoring' } },
  };
  const deployment = (container: Record<string, unknown>, component = 'app'): KubernetesObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', namespace: NAMESPACE, labels: { 'app.kubernetes.io/component': component } },
    spec: { template: { spec: { serviceAccountName: 'd', automountServiceAccountToken: false, containers: [container] } } },
  });

  it('accepts a hardened container', () => {
    expect(containerPolicyViolations([deployment(hardenedContainer)])).toEqual([]);
  });

  it('names each missing piece of a bare container', () => {
    expect(containerPolicyViolations([deployment({ name: 'bare' })])).toEqual([
      'Deployment/skiff-system/d containers[bare]: resources.requests.cpu is not set',
      'Deployment/skiff-system/d containers[bare]: resources.requests.memory is not set',
      'Deployment/skiff-system/d containers[bare]: resources.limits.cpu is not set',
      'Deployment/skiff-system/d containers[bare]: resources.limits.memory is not set',
      'Deployment/skiff-system/d containers[bare]: securityContext.runAsNonRoot is not true',
      'Deployment/skiff-system/d containers[bare]: securityContext.readOnlyRootFilesystem is not true',
      'Deployment/skiff-system/d containers[bare]: securityContext.allowPrivilegeEscalation is not false',
      'Deployment/skiff-system/d containers[bare]: securityContext.capabilities.drop does not contain ALL',
      'Deployment/skiff-system/d containers[bare]: seccompProfile.type is undefined, not RuntimeDefault',
      'Deployment/skiff-system/d containers[bare]: does not declare port http-monitoring as containerPort 15014',
      'Deployment/skiff-system/d containers[bare]: startupProbe is missing',
      'Deployment/skiff-system/d containers[bare]: readinessProbe is missing',
      'Deployment/skiff-system/d containers[bare]: livenessProbe is missing',
    ]);
  });

  it('checks init containers and reads the pod security context under the container one', () => {
    const { runAsNonRoot: _dropped, ...contextWithoutNonRoot } = hardenedContainer.securityContext;
    const object = deployment({ ...hardenedContainer, securityContext: { ...contextWithoutNonRoot, runAsNonRoot: false } });
    const podSpec = (object['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
    podSpec['securityContext'] = { runAsNonRoot: true };
    podSpec['initContainers'] = [{ ...hardenedContainer, name: 'init', securityContext: { ...hardenedContainer.securityContext, capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] } } }];
    expect(containerPolicyViolations([object])).toEqual([
      'Deployment/skiff-system/d containers[app]: securityContext.runAsNonRoot is not true',
      'Deployment/skiff-system/d initContainers[init]: securityContext.capabilities.add grants NET_ADMIN',
    ]);
  });

  it('wants /readyz and /healthz on the monitoring port, and TCP probes only where allowed', () => {
    const wrongPaths = { ...hardenedContainer, livenessProbe: { httpGet: { path: '/readyz', port: 8080 } } };
    expect(containerPolicyViolations([deployment(wrongPaths)])).toEqual([
      'Deployment/skiff-system/d containers[app]: livenessProbe is not an HTTP GET on the monitoring port',
      'Deployment/skiff-system/d containers[app]: livenessProbe asks /readyz, not /healthz',
    ]);
    const tcp = { tcpSocket: { port: 6379 } };
    const redis = { ...hardenedContainer, ports: [], startupProbe: tcp, readinessProbe: tcp, livenessProbe: tcp };
    expect(containerPolicyViolations([deployment(redis, 'redis')], { tcpProbeComponents: ['redis'] })).toEqual([]);
    expect(containerPolicyViolations([deployment(redis, 'redis')])).toEqual([
      'Deployment/skiff-system/d containers[app]: does not declare port http-monitoring as containerPort 15014',
      ...['startupProbe', 'readinessProbe', 'livenessProbe'].flatMap((probe) => [
        `Deployment/skiff-system/d containers[app]: ${probe} is not an HTTP GET on the monitoring port`,
        `Deployment/skiff-system/d containers[app]: ${probe} asks undefined, not ${probe === 'livenessProbe' ? '/healthz' : '/readyz'}`,
      ]),
    ]);
  });

  const role = (kind: 'ClusterRole' | 'Role', rules: unknown[], namespace?: string): KubernetesObject => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: { name: 'r', ...(namespace ? { namespace } : {}) },
    rules,
  });
  const watcherRules = [
    role('ClusterRole', [{ apiGroups: ['networking.istio.io'], resources: ['serviceentries', 'workloadentries', 'destinationrules', 'sidecars', 'gateways', 'virtualservices'], verbs: ['get', 'list', 'watch'] }]),
    role('Role', [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }], NAMESPACE),
  ];

  it('accepts exactly the watcher grants', () => {
    expect(rbacViolations(watcherRules, NAMESPACE)).toEqual([]);
  });

  it('rejects any grant beyond them, wildcards and non-resource URLs included', () => {
    const tooMuch = [
      ...watcherRules,
      role('ClusterRole', [
        { apiGroups: ['networking.istio.io'], resources: ['serviceentries'], verbs: ['update'] },
        { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
        { nonResourceURLs: ['/metrics'], verbs: ['get'] },
      ]),
      role('Role', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }], NAMESPACE),
      role('Role', [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get'] }], 'kube-system'),
    ];
    expect(rbacViolations(tooMuch, NAMESPACE)).toEqual([
      'ClusterRole/r grants update networking.istio.io/serviceentries, which Skiff does not need',
      'ClusterRole/r grants * */*, which Skiff does not need',
      'ClusterRole/r grants non-resource URLs /metrics',
      'Role/skiff-system/r grants get core/secrets, which Skiff does not need',
      'Role/kube-system/r is outside the release namespace skiff-system',
    ]);
  });

  it('reports grants the watcher needs but lacks, and bindings to roles or subjects from elsewhere', () => {
    const binding: KubernetesObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'b' },
      roleRef: { kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'User', name: 'alice', namespace: '' }],
    };
    expect(rbacViolations([watcherRules[0] as KubernetesObject, binding], NAMESPACE)).toEqual([
      'no Role grants get coordination.k8s.io/leases, which the watcher needs',
      'no Role grants create coordination.k8s.io/leases, which the watcher needs',
      'no Role grants update coordination.k8s.io/leases, which the watcher needs',
      'ClusterRoleBinding/b binds ClusterRole/cluster-admin, which this chart does not render',
      'ClusterRoleBinding/b binds User//alice, not a service account of this chart',
    ]);
  });

  it('flags a token mounted for a service account that nothing grants', () => {
    const object = deployment(hardenedContainer);
    const podSpec = (object['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
    delete podSpec['automountServiceAccountToken'];
    expect(serviceAccountTokenViolations([object])).toEqual(['Deployment/skiff-system/d mounts a token for d, which is granted nothing']);
  });
});
