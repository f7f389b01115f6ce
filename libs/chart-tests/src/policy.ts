/**
 * Policy checks over rendered manifests. Each returns the list of violations (empty when the
 * manifests comply), worded to say which object breaks which rule, so a failing test reads as a
 * review comment.
 */
import { at, containers, isRecord, objectId, podSpecs, type KubernetesObject } from './manifests.js';

/** The monitoring port every Skiff service serves /healthz, /readyz and /metrics on. */
export const MONITORING_PORT = 15014;
export const MONITORING_PORT_NAME = 'http-monitoring';

export interface ContainerPolicyOptions {
  /**
   * Components (`app.kubernetes.io/component`) whose containers speak no HTTP and may probe with a
   * TCP connect instead of the monitoring endpoints (the bundled Redis).
   */
  readonly tcpProbeComponents?: readonly string[];
}

const probeKinds = ['startupProbe', 'readinessProbe', 'livenessProbe'] as const;
/** What each probe of a Skiff service asks: startup and readiness wait for /readyz, liveness asks /healthz. */
const monitoringProbePaths: Readonly<Record<(typeof probeKinds)[number], string>> = {
  startupProbe: '/readyz',
  readinessProbe: '/readyz',
  livenessProbe: '/healthz',
};

/**
 * Every container and init container: CPU and memory requests and limits; the hardened security
 * context (non-root, read-only root filesystem, no privilege escalation, all capabilities dropped,
 * seccomp RuntimeDefault), read with Kubernetes's precedence (container over pod); and startup,
 * readiness and liveness probes on the monitoring port. Probes are required of regular containers and
 * of restartable init containers (sidecars); Kubernetes rejects probes on run-to-completion init
 * containers.
 */
export function containerPolicyViolations(objects: readonly KubernetesObject[], options: ContainerPolicyOptions = {}): string[] {
  const tcpProbeComponents = new Set(options.tcpProbeComponents ?? []);
  const violations: string[] = [];
  for (const { owner, pod, list, container, id } of containers(objects)) {
    const fail = (rule: string): void => {
      violations.push(`${id}: ${rule}`);
    };

    for (const bound of ['requests', 'limits'] as const) {
      for (const resource of ['cpu', 'memory'] as const) {
        if (at(container, 'resources', bound, resource) === undefined) fail(`resources.${bound}.${resource} is not set`);
      }
    }

    const podContext = at(pod, 'securityContext');
    const containerContext = at(container, 'securityContext');
    const effective = (field: string): unknown => at(containerContext, field) ?? at(podContext, field);
    if (effective('runAsNonRoot') !== true) fail('securityContext.runAsNonRoot is not true');
    if (effective('runAsUser') === 0) fail('securityContext.runAsUser is 0 (root)');
    if (at(containerContext, 'readOnlyRootFilesystem') !== true) fail('securityContext.readOnlyRootFilesystem is not true');
    if (at(containerContext, 'allowPrivilegeEscalation') !== false) fail('securityContext.allowPrivilegeEscalation is not false');
    if (at(containerContext, 'privileged') === true) fail('securityContext.privileged is true');
    const dropped = at(containerContext, 'capabilities', 'drop');
    if (!Array.isArray(dropped) || !dropped.includes('ALL')) fail('securityContext.capabilities.drop does not contain ALL');
    const added = at(containerContext, 'capabilities', 'add');
    if (Array.isArray(added) && added.length > 0) fail(`securityContext.capabilities.add grants ${added.join(', ')}`);
    const seccomp = at(containerContext, 'seccompProfile', 'type') ?? at(podContext, 'seccompProfile', 'type');
    if (seccomp !== 'RuntimeDefault') fail(`seccompProfile.type is ${String(seccomp)}, not RuntimeDefault`);

    const needsProbes = list === 'containers' || container['restartPolicy'] === 'Always';
    if (!needsProbes) continue;
    const component = owner.metadata.labels?.['app.kubernetes.io/component'] ?? '';
    if (tcpProbeComponents.has(component)) {
      for (const kind of probeKinds) {
        const probe = container[kind];
        if (!isRecord(probe) || !['tcpSocket', 'httpGet', 'exec', 'grpc'].some((handler) => probe[handler] !== undefined)) {
          fail(`${kind} is missing`);
        }
      }
      continue;
    }
    const monitoringPort = (Array.isArray(container['ports']) ? container['ports'] : []).find(
      (port: unknown) => at(port, 'name') === MONITORING_PORT_NAME,
    );
    if (at(monitoringPort, 'containerPort') !== MONITORING_PORT) {
      fail(`does not declare port ${MONITORING_PORT_NAME} as containerPort ${MONITORING_PORT}`);
    }
    for (const kind of probeKinds) {
      const probe = container[kind];
      if (!isRecord(probe)) {
        fail(`${kind} is missing`);
        continue;
      }
      const port = at(probe, 'httpGet', 'port');
      const path = at(probe, 'httpGet', 'path');
      if (port !== MONITORING_PORT_NAME && port !== MONITORING_PORT) fail(`${kind} is not an HTTP GET on the monitoring port`);
      if (path !== monitoringProbePaths[kind]) fail(`${kind} asks ${String(path)}, not ${monitoringProbePaths[kind]}`);
    }
  }
  return violations;
}

/** One permission: a verb on a resource of an API group. */
interface Grant {
  readonly apiGroup: string;
  readonly resource: string;
  readonly verb: string;
}

const grantKey = (grant: Grant): string => `${grant.verb} ${grant.apiGroup || 'core'}/${grant.resource}`;

/** Everything the watcher may do cluster-wide: read the Istio kinds Skiff serves. */
export const ALLOWED_CLUSTER_GRANTS: readonly Grant[] = ['serviceentries', 'workloadentries', 'destinationrules', 'sidecars', 'gateways', 'virtualservices'].flatMap((resource) =>
  ['get', 'list', 'watch'].map((verb) => ({ apiGroup: 'networking.istio.io', resource, verb })),
);

/**
 * What an option may add cluster-wide: the gateway's TokenReviews with `gateway.tls.tokenReview`, and
 * reading Secrets plus SubjectAccessReviews with `gateway.sdsSecrets`.
 */
export const OPTIONAL_CLUSTER_GRANTS: readonly Grant[] = [
  { apiGroup: 'authentication.k8s.io', resource: 'tokenreviews', verb: 'create' },
  ...['get', 'list', 'watch'].map((verb) => ({ apiGroup: '', resource: 'secrets', verb })),
  { apiGroup: 'authorization.k8s.io', resource: 'subjectaccessreviews', verb: 'create' },
];

/** Everything the watcher may do in the release namespace: hold its leader-election Lease. */
export const ALLOWED_NAMESPACE_GRANTS: readonly Grant[] = ['get', 'create', 'update'].map((verb) => ({
  apiGroup: 'coordination.k8s.io',
  resource: 'leases',
  verb,
}));

/** Expands a PolicyRule into single grants (wildcards stay `*`, which no allowed grant matches). */
function grantsOf(rule: unknown): { grants: Grant[]; problems: string[] } {
  const problems: string[] = [];
  const list = (field: string): string[] => {
    const value = at(rule, field);
    return Array.isArray(value) ? value.map(String) : [];
  };
  if (list('nonResourceURLs').length > 0) problems.push(`grants non-resource URLs ${list('nonResourceURLs').join(', ')}`);
  const grants = list('apiGroups').flatMap((apiGroup) =>
    list('resources').flatMap((resource) => list('verbs').map((verb) => ({ apiGroup, resource, verb }))),
  );
  return { grants, problems };
}

/**
 * RBAC grants exactly what Skiff needs and nothing more: ClusterRoles may only get/list/watch
 * networking.istio.io serviceentries, workloadentries, destinationrules, sidecars, gateways and virtualservices, and, as
 * options, create authentication.k8s.io tokenreviews, get/list/watch core secrets and create
 * authorization.k8s.io subjectaccessreviews; Roles live in the release namespace and may
 * only get/create/update coordination.k8s.io leases; the required sets are granted in full; bindings refer
 * only to roles rendered here and bind only service accounts rendered here. Wildcards, non-resource
 * URLs and aggregation count as more.
 */
export function rbacViolations(objects: readonly KubernetesObject[], releaseNamespace: string): string[] {
  const violations: string[] = [];
  const checkRoles = (kind: 'ClusterRole' | 'Role', required: readonly Grant[], optional: readonly Grant[] = []): void => {
    const requiredKeys = new Set(required.map(grantKey));
    const allowedKeys = new Set([...requiredKeys, ...optional.map(grantKey)]);
    const granted = new Set<string>();
    for (const role of objects.filter((object) => object.kind === kind)) {
      if (kind === 'Role' && role.metadata.namespace !== releaseNamespace) {
        violations.push(`${objectId(role)} is outside the release namespace ${releaseNamespace}`);
      }
      if (role['aggregationRule'] !== undefined) violations.push(`${objectId(role)} aggregates other roles`);
      const rules = role['rules'];
      for (const rule of Array.isArray(rules) ? rules : []) {
        const { grants, problems } = grantsOf(rule);
        for (const problem of problems) violations.push(`${objectId(role)} ${problem}`);
        for (const grant of grants) {
          const key = grantKey(grant);
          granted.add(key);
          if (!allowedKeys.has(key)) violations.push(`${objectId(role)} grants ${key}, which Skiff does not need`);
        }
      }
    }
    for (const key of requiredKeys) {
      if (!granted.has(key)) violations.push(`no ${kind} grants ${key}, which the watcher needs`);
    }
  };
  checkRoles('ClusterRole', ALLOWED_CLUSTER_GRANTS, OPTIONAL_CLUSTER_GRANTS);
  checkRoles('Role', ALLOWED_NAMESPACE_GRANTS);

  const rendered = (kind: string, name: string, namespace?: string): boolean =>
    objects.some((object) => object.kind === kind && object.metadata.name === name && object.metadata.namespace === namespace);
  for (const binding of objects.filter((object) => object.kind === 'ClusterRoleBinding' || object.kind === 'RoleBinding')) {
    const refKind = String(at(binding, 'roleRef', 'kind'));
    const refName = String(at(binding, 'roleRef', 'name'));
    const refNamespace = refKind === 'Role' ? binding.metadata.namespace : undefined;
    const allowedRefKinds = binding.kind === 'ClusterRoleBinding' ? ['ClusterRole'] : ['Role', 'ClusterRole'];
    if (!allowedRefKinds.includes(refKind) || !rendered(refKind, refName, refNamespace)) {
      violations.push(`${objectId(binding)} binds ${refKind}/${refName}, which this chart does not render`);
    }
    const subjects = binding['subjects'];
    for (const subject of Array.isArray(subjects) ? subjects : []) {
      const name = String(at(subject, 'name'));
      const namespace = String(at(subject, 'namespace'));
      if (at(subject, 'kind') !== 'ServiceAccount' || !rendered('ServiceAccount', name, namespace)) {
        violations.push(`${objectId(binding)} binds ${String(at(subject, 'kind'))}/${namespace}/${name}, not a service account of this chart`);
      }
    }
  }
  return violations;
}

/**
 * Pods whose service account no binding names get no API token: with nothing granted the token is
 * useless, and an unused credential is one more thing to steal.
 */
export function serviceAccountTokenViolations(objects: readonly KubernetesObject[]): string[] {
  const bound = new Set<string>();
  for (const binding of objects.filter((object) => object.kind === 'ClusterRoleBinding' || object.kind === 'RoleBinding')) {
    const subjects = binding['subjects'];
    for (const subject of Array.isArray(subjects) ? subjects : []) bound.add(`${String(at(subject, 'namespace'))}/${String(at(subject, 'name'))}`);
  }
  const violations: string[] = [];
  for (const { owner, spec } of podSpecs(objects)) {
    const serviceAccountName = String(spec['serviceAccountName'] ?? 'default');
    const namespace = owner.metadata.namespace ?? '';
    if (bound.has(`${namespace}/${serviceAccountName}`)) continue;
    const account = objects.find(
      (object) => object.kind === 'ServiceAccount' && object.metadata.name === serviceAccountName && object.metadata.namespace === namespace,
    );
    const automount = spec['automountServiceAccountToken'] ?? account?.['automountServiceAccountToken'] ?? true;
    if (automount !== false) {
      violations.push(`${objectId(owner)} mounts a token for ${serviceAccountName}, which is granted nothing`);
    }
  }
  return violations;
}
