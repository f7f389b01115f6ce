import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMap, isScalar, isSeq, parseDocument, stringify, type YAMLMap } from 'yaml';
import { Helm } from './helm.js';
import { at, isRecord, parseManifests, type KubernetesObject } from './manifests.js';
import { CHART_DIRECTORY } from './repository.js';

const schema = JSON.parse(readFileSync(join(CHART_DIRECTORY, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
const valuesText = readFileSync(join(CHART_DIRECTORY, 'values.yaml'), 'utf8');
const EXTERNAL_REDIS = { redis: { external: { url: 'redis://redis.example.internal:6379' } } };

let helm: Helm;
let scratch: string;
beforeAll(() => {
  helm = Helm.locate();
  scratch = mkdtempSync(join(tmpdir(), 'skiff-chart-values-'));
});
afterAll(() => {
  helm?.dispose();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

let fileCount = 0;
function writeValues(values: unknown): string {
  const file = join(scratch, `values-${fileCount++}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

/** Renders the chart with these values; returns helm's exit status and stderr. */
function renderWith(values: unknown): { status: number | null; stderr: string } {
  const result = helm.run(helm.templateArgs(CHART_DIRECTORY, { releaseName: 'skiff', namespace: 'skiff-system', valuesFiles: [writeValues(values)] }));
  return { status: result.status, stderr: result.stderr };
}

/** Renders the chart with these values, which must succeed, and returns the objects. */
function objectsWith(values: unknown): KubernetesObject[] {
  return parseManifests(helm.template(CHART_DIRECTORY, { releaseName: 'skiff', namespace: 'skiff-system', valuesFiles: [writeValues(values)] }));
}

function resolveRef(node: Record<string, unknown>): Record<string, unknown> {
  const ref = node['$ref'];
  if (typeof ref !== 'string') return node;
  const target = ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>((current, step) => (isRecord(current) ? current[step] : undefined), schema);
  if (!isRecord(target)) throw new Error(`unresolved $ref ${ref}`);
  return resolveRef(target);
}

describe('values.schema.json', () => {
  it.each([
    // helm before 3.18 words these "Additional property gatway is not allowed" and names fields
    // gateway.debounce; from 3.18 on, "at '': additional properties 'gatway' not allowed" and /gateway/debounce.
    ['a misspelt top-level key', { ...EXTERNAL_REDIS, gatway: { replicas: 2 } }, /additional propert(y|ies) '?gatway'? (is )?not allowed/i],
    ['a misspelt component key', { ...EXTERNAL_REDIS, gateway: { replica: 2 } }, /gateway\W.*additional propert(y|ies) '?replica'? (is )?not allowed|additional property replica is not allowed/i],
    ['a key deep in a block', { ...EXTERNAL_REDIS, gateway: { tls: { enabled: false, secret: 'x' } } }, /additional propert(y|ies) '?secret'? (is )?not allowed/i],
    ['a resource name Kubernetes has no quota for', { ...EXTERNAL_REDIS, watcher: { resources: { limits: { gpu: '1' } } } }, /additional propert(y|ies) '?gpu'? (is )?not allowed/i],
    ['a duration without a unit', { ...EXTERNAL_REDIS, gateway: { debounce: '10' } }, /gateway[./]debounce/],
    ['a Redis address that is not a URL', { redis: { external: { url: 'redis.example.internal:6379' } } }, /redis[./]external[./]url/],
    ['an unknown log level', { ...EXTERNAL_REDIS, logLevel: 'verbose' }, /logLevel/],
  ])('rejects %s', (_name, values, message) => {
    const { status, stderr } = renderWith(values);
    expect(status).not.toBe(0);
    expect(stderr).toContain("values don't meet the specifications of the schema");
    expect(stderr).toMatch(message);
  });

  it('closes every object it describes, and leaves open only pass-through fields (Kubernetes objects, MeshConfig)', () => {
    // MeshConfig fields are istiod's; the translator checks them at start, as istiod does.
    const passThrough = new Set(['#/definitions/kubernetesObject', '#/definitions/kubernetesList/items', '#/definitions/stringMap', '#/properties/global', '#/properties/meshConfig/properties/values']);
    const open: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (!isRecord(node)) return;
      if (node['type'] === 'object' && !passThrough.has(path)) {
        if (!isRecord(node['properties'])) open.push(`${path} (no properties)`);
        else if (node['additionalProperties'] !== false) open.push(path);
      }
      for (const [key, child] of Object.entries(node)) {
        if (key === 'properties' || key === 'definitions') {
          for (const [name, property] of Object.entries(child as Record<string, unknown>)) walk(property, `${path}/${key}/${name}`);
        } else if (key === 'items') {
          walk(child, `${path}/items`);
        }
      }
    };
    walk(schema, '#');
    expect(open).toEqual([]);
  });

  it('describes exactly the keys values.yaml has', () => {
    const schemaKeys: string[] = [];
    const collectSchema = (node: Record<string, unknown>, path: string): void => {
      const resolved = resolveRef(node);
      const properties = resolved['properties'];
      if (!isRecord(properties) || path.endsWith('resources')) {
        schemaKeys.push(path);
        return;
      }
      for (const [name, child] of Object.entries(properties)) {
        if (isRecord(child)) collectSchema(child, path ? `${path}.${name}` : name);
      }
    };
    collectSchema(schema, '');
    const valueKeys: string[] = [];
    const collectValues = (value: unknown, path: string): void => {
      if (!isRecord(value) || Object.keys(value).length === 0 || path.endsWith('resources')) {
        valueKeys.push(path);
        return;
      }
      for (const [name, child] of Object.entries(value)) collectValues(child, path ? `${path}.${name}` : name);
    };
    collectValues(parseDocument(valuesText).toJS(), '');
    // `global` is Helm's, passed down by a parent chart; values.yaml does not set it.
    expect(valueKeys.sort()).toEqual(schemaKeys.filter((key) => key !== 'global').sort());
  });
});

describe('values.yaml', () => {
  it('explains every knob in a comment', () => {
    const document = parseDocument(valuesText);
    const undocumented: string[] = [];
    const visit = (map: YAMLMap, path: string): void => {
      map.items.forEach((pair, index) => {
        const key = isScalar(pair.key) ? String(pair.key.value) : '?';
        const keyPath = path ? `${path}.${key}` : key;
        const value = pair.value;
        // A block of knobs is explained by its knobs; a leaf (scalar, list or map of free-form data) by its own comment.
        const isBlock = isMap(value) && value.items.length > 0 && !keyPath.endsWith('resources');
        if (isBlock) {
          visit(value, keyPath);
          return;
        }
        // The yaml parser attaches a comment that opens a map to the map rather than its first key.
        const comment = (isScalar(pair.key) ? pair.key.commentBefore : undefined) ?? (index === 0 ? map.commentBefore : undefined);
        if (!comment?.includes('--') && !(isSeq(value) && value.commentBefore?.includes('--'))) undocumented.push(keyPath);
      });
    };
    if (!isMap(document.contents)) throw new Error('values.yaml is not a map');
    visit(document.contents, '');
    expect(undocumented).toEqual([]);
  });
});

describe('mandatory values and refused combinations', () => {
  it.each([
    ['no Redis at all', {}, 'redis.external.url is required'],
    [
      'both Redis sources',
      { redis: { external: { url: 'redis://redis:6379' }, bundled: { enabled: true } } },
      'redis.external.url and redis.bundled.enabled are both set',
    ],
    [
      'TLS with a redis:// URL',
      { redis: { external: { url: 'redis://redis:6379', tls: { enabled: true } } } },
      'redis.external.tls.enabled is true but redis.external.url "redis://redis:6379" does not start with rediss://',
    ],
    [
      'a rediss:// URL without TLS',
      { redis: { external: { url: 'rediss://redis:6380' } } },
      'uses TLS (rediss://): set redis.external.tls.enabled to true',
    ],
    ['gateway TLS without a certificate', { ...EXTERNAL_REDIS, gateway: { tls: { enabled: true } } }, 'gateway.tls.secretName is required'],
    ['token review without TLS', { ...EXTERNAL_REDIS, gateway: { tls: { tokenReview: true } } }, 'gateway.tls.tokenReview needs gateway.tls.enabled'],
    [
      'token review while client certificates are required',
      { ...EXTERNAL_REDIS, gateway: { tls: { enabled: true, secretName: 'xds-cert', tokenReview: true } } },
      'gateway.tls.tokenReview needs gateway.tls.verifyClients false',
    ],
    [
      'an autoscaler whose minimum exceeds its maximum',
      { ...EXTERNAL_REDIS, translator: { autoscaling: { minReplicas: 6, maxReplicas: 3 } } },
      'translator.autoscaling.minReplicas (6) is greater than maxReplicas (3)',
    ],
    [
      'a disruption budget no drain could satisfy',
      { ...EXTERNAL_REDIS, gateway: { autoscaling: { minReplicas: 2 }, podDisruptionBudget: { minAvailable: 2 } } },
      'gateway.podDisruptionBudget.minAvailable (2) must be below the guaranteed gateway replicas (2)',
    ],
    [
      'a memory limit that leaves too small a heap',
      { ...EXTERNAL_REDIS, watcher: { resources: { limits: { memory: '80Mi' } } } },
      'watcher.resources.limits.memory: 80Mi leaves V8 a heap of 60 MiB at heapLimitPercent 75; a Skiff service needs at least 64 MiB',
    ],
  ])('refuses %s with a clear message', (_name, values, message) => {
    const { status, stderr } = renderWith(values);
    expect(status).not.toBe(0);
    expect(stderr).toContain(message);
  });
});

const find = (objects: readonly KubernetesObject[], kind: string, name: string): KubernetesObject | undefined =>
  objects.find((object) => object.kind === kind && object.metadata.name === name);

describe('autoscalers and the disruption budget', () => {
  it.each([
    ['an autoscaler guaranteeing one gateway', { autoscaling: { minReplicas: 1 } }, undefined],
    ['an autoscaler guaranteeing two gateways', { autoscaling: { minReplicas: 2 } }, 1],
    ['one fixed gateway', { replicas: 1, autoscaling: { enabled: false } }, undefined],
    ['two fixed gateways', { replicas: 2, autoscaling: { enabled: false } }, 1],
    ['a budget turned off', { autoscaling: { minReplicas: 3 }, podDisruptionBudget: { enabled: false } }, undefined],
  ])('with %s, renders the budget only when more than one gateway is guaranteed', (_name, gateway, minAvailable) => {
    const budget = find(objectsWith({ ...EXTERNAL_REDIS, gateway }), 'PodDisruptionBudget', 'skiff-ads-gateway');
    expect(at(budget, 'spec', 'minAvailable')).toBe(minAvailable);
  });

  it('leaves the replica count to the autoscaler when there is one, and sets it when there is not', () => {
    const scaled = objectsWith(EXTERNAL_REDIS);
    for (const name of ['skiff-translator', 'skiff-ads-gateway']) {
      expect(at(find(scaled, 'HorizontalPodAutoscaler', name), 'spec', 'scaleTargetRef', 'name')).toBe(name);
      expect(at(find(scaled, 'Deployment', name), 'spec', 'replicas')).toBeUndefined();
    }
    const fixed = objectsWith({ ...EXTERNAL_REDIS, translator: { replicas: 4, autoscaling: { enabled: false } }, gateway: { replicas: 3, autoscaling: { enabled: false } } });
    expect(fixed.filter((object) => object.kind === 'HorizontalPodAutoscaler')).toEqual([]);
    expect(at(find(fixed, 'Deployment', 'skiff-translator'), 'spec', 'replicas')).toBe(4);
    expect(at(find(fixed, 'Deployment', 'skiff-ads-gateway'), 'spec', 'replicas')).toBe(3);
  });
});

describe('the ADS Service', () => {
  const ports = (objects: readonly KubernetesObject[]): unknown =>
    (at(objects.find((object) => object.kind === 'Service' && object.metadata.name === 'skiff'), 'spec', 'ports') as unknown[]).map(
      (port) => `${String(at(port, 'name'))}:${String(at(port, 'port'))}`,
    );

  it('is named skiff and serves plaintext ADS only', () => {
    expect(ports(objectsWith(EXTERNAL_REDIS))).toEqual(['grpc-xds:15010']);
  });

  it('adds ADS over TLS on 15012 when TLS is enabled', () => {
    const objects = objectsWith({ ...EXTERNAL_REDIS, gateway: { tls: { enabled: true, secretName: 'xds-cert' } } });
    expect(ports(objects)).toEqual(['grpc-xds:15010', 'https-xds:15012']);
  });

  it('leaves monitoring and debug to a ClusterIP Service of their own, even when the ADS Service is a LoadBalancer', () => {
    const objects = objectsWith({ ...EXTERNAL_REDIS, gateway: { service: { type: 'LoadBalancer' } } });
    const monitoring = objects.find((object) => object.kind === 'Service' && object.metadata.name === 'skiff-ads-gateway-monitoring');
    expect(at(monitoring, 'spec', 'type')).toBe('ClusterIP');
    expect((at(monitoring, 'spec', 'ports') as unknown[]).map((port) => at(port, 'port'))).toEqual([15014]);
    const loadBalanced = objects.filter((object) => object.kind === 'Service' && at(object, 'spec', 'type') === 'LoadBalancer');
    expect(loadBalanced.map((object) => object.metadata.name)).toEqual(['skiff']);
    expect(JSON.stringify(at(loadBalanced[0], 'spec', 'ports'))).not.toContain('15014');
  });
});

describe('xDS mTLS, limits and debug access', () => {
  const gatewayContainer = (objects: readonly KubernetesObject[]) => (at(find(objects, 'Deployment', 'skiff-ads-gateway'), 'spec', 'template', 'spec', 'containers') as unknown[])[0];
  const argsOf = (objects: readonly KubernetesObject[]) => at(gatewayContainer(objects), 'args') as string[];
  const flag = (args: readonly string[], name: string) => args[args.indexOf(name) + 1];

  it('verifies client certificates against the ca.crt of the TLS Secret, or of its own Secret', () => {
    const sameSecret = objectsWith({ ...EXTERNAL_REDIS, gateway: { tls: { enabled: true, secretName: 'xds-cert' } } });
    expect(flag(argsOf(sameSecret), '--tls-client-ca-file')).toBe('/etc/skiff/tls-client-ca/ca.crt');
    const volumes = at(find(sameSecret, 'Deployment', 'skiff-ads-gateway'), 'spec', 'template', 'spec', 'volumes') as unknown[];
    expect(volumes.find((volume) => at(volume, 'name') === 'xds-tls-client-ca')).toEqual({ name: 'xds-tls-client-ca', secret: { secretName: 'xds-cert', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    const ownSecret = objectsWith({ ...EXTERNAL_REDIS, gateway: { tls: { enabled: true, secretName: 'xds-cert', clientCaSecret: 'mesh-ca', clientCaKey: 'root.pem' } } });
    expect(flag(argsOf(ownSecret), '--tls-client-ca-file')).toBe('/etc/skiff/tls-client-ca/root.pem');
    const open = objectsWith({ ...EXTERNAL_REDIS, gateway: { tls: { enabled: true, secretName: 'xds-cert', verifyClients: false } } });
    expect(argsOf(open)).not.toContain('--tls-client-ca-file');
  });

  it('reviews service-account tokens with its own ServiceAccount token and a TokenReview-only ClusterRole, only when asked', () => {
    const reviewing = objectsWith({ ...EXTERNAL_REDIS, gateway: { tls: { enabled: true, secretName: 'xds-cert', verifyClients: false, tokenReview: true, tokenAudiences: ['istio-ca', 'skiff'] } } });
    const args = argsOf(reviewing);
    expect(flag(args, '--xds-token-review')).toBe('true');
    expect(flag(args, '--token-audiences')).toBe('istio-ca,skiff');
    expect(flag(args, '--trust-domain')).toBe('cluster.local');
    expect(args).not.toContain('--tls-client-ca-file');
    expect(at(find(reviewing, 'Deployment', 'skiff-ads-gateway'), 'spec', 'template', 'spec', 'automountServiceAccountToken')).toBe(true);
    const role = find(reviewing, 'ClusterRole', 'skiff-ads-gateway-skiff-system-tokenreview');
    expect(at(role, 'rules')).toEqual([{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }]);
    const binding = find(reviewing, 'ClusterRoleBinding', 'skiff-ads-gateway-skiff-system-tokenreview');
    expect(at(binding, 'subjects')).toEqual([{ kind: 'ServiceAccount', name: 'skiff-ads-gateway', namespace: 'skiff-system' }]);

    const plain = objectsWith({ ...EXTERNAL_REDIS, gateway: { tls: { enabled: true, secretName: 'xds-cert' } } });
    expect(argsOf(plain)).not.toContain('--xds-token-review');
    expect(at(find(plain, 'Deployment', 'skiff-ads-gateway'), 'spec', 'template', 'spec', 'automountServiceAccountToken')).toBe(false);
    expect(plain.filter((object) => object.metadata.name.endsWith('-tokenreview'))).toEqual([]);
  });

  it('passes the limits, the identity check and the system namespace (the release namespace by default)', () => {
    const args = argsOf(objectsWith({ ...EXTERNAL_REDIS, gateway: { limits: { maxNamesPerRequest: 1000 }, xdsIdentityCheck: false } }));
    expect(flag(args, '--max-names-per-request')).toBe('1000');
    expect(flag(args, '--max-recv-msg-size')).toBe('4194304');
    expect(flag(args, '--xds-identity-check')).toBe('false');
    expect(flag(args, '--system-namespace')).toBe('skiff-system');
    expect(args).not.toContain('--debug-auth-allowed-namespaces');
    const custom = argsOf(objectsWith({ ...EXTERNAL_REDIS, debug: { systemNamespace: 'istio-system', allowedNamespaces: ['ops', 'sre'] } }));
    expect(flag(custom, '--system-namespace')).toBe('istio-system');
    expect(flag(custom, '--debug-auth-allowed-namespaces')).toBe('ops,sre');
  });

  it('mounts the debug token Secret in every Skiff container and points SKIFF_DEBUG_TOKEN_FILE at it', () => {
    const objects = objectsWith({ ...EXTERNAL_REDIS, debug: { tokenSecret: 'skiff-debug', enabled: true } });
    const deployments = objects.filter((object) => object.kind === 'Deployment');
    expect(deployments.map((object) => object.metadata.name).sort()).toEqual(['skiff-ads-gateway', 'skiff-translator', 'skiff-watcher']);
    for (const deployment of deployments) {
      const container = (at(deployment, 'spec', 'template', 'spec', 'containers') as unknown[])[0];
      const env = at(container, 'env') as { name: string; value?: string }[];
      expect(env.find((variable) => variable.name === 'SKIFF_DEBUG_TOKEN_FILE')?.value).toBe('/etc/skiff/debug-token/token');
      expect(env.find((variable) => variable.name === 'SKIFF_DEBUG_AUTH')?.value).toBe('true');
      expect((at(container, 'volumeMounts') as unknown[]).some((mount) => at(mount, 'mountPath') === '/etc/skiff/debug-token')).toBe(true);
    }
  });
});

describe("V8's heap limit", () => {
  /** NODE_OPTIONS of each Skiff Deployment's container, by Deployment name (undefined: not set). */
  const nodeOptions = (values: unknown): Record<string, string | undefined> =>
    Object.fromEntries(
      objectsWith(values)
        .filter((object) => object.kind === 'Deployment')
        .map((deployment) => {
          const container = (at(deployment, 'spec', 'template', 'spec', 'containers') as unknown[])[0];
          const env = at(container, 'env') as { name: string; value?: string }[];
          return [deployment.metadata.name, env.find((variable) => variable.name === 'NODE_OPTIONS')?.value];
        }),
    );

  it("is 75% of each container's memory limit by default, where Node alone would take about half", () => {
    expect(nodeOptions(EXTERNAL_REDIS)).toEqual({
      'skiff-watcher': '--max-old-space-size=768',
      'skiff-translator': '--max-old-space-size=768',
      'skiff-ads-gateway': '--max-old-space-size=1536',
    });
  });

  it('reads decimal and binary quantities, follows heapLimitPercent, and is left to Node at 0 or without a limit', () => {
    expect(
      nodeOptions({
        ...EXTERNAL_REDIS,
        heapLimitPercent: 50,
        watcher: { resources: { limits: { memory: '1500M' } } },
        translator: { resources: { limits: { memory: '1.5Gi' } } },
        // null removes the chart's default limit (Helm merges values into the defaults).
        gateway: { resources: { limits: { memory: null } } },
      }),
    ).toEqual({
      // 1500e6 bytes = 1430.5 MiB, half of it rounded down; 1.5Gi = 1536 MiB.
      'skiff-watcher': '--max-old-space-size=715',
      'skiff-translator': '--max-old-space-size=768',
      'skiff-ads-gateway': undefined,
    });
    // A plain number is bytes; from a values file it reaches the template as a float (1.073741824e+09).
    expect(nodeOptions({ ...EXTERNAL_REDIS, watcher: { resources: { limits: { memory: 1073741824 } } } })['skiff-watcher']).toBe('--max-old-space-size=768');
    expect(Object.values(nodeOptions({ ...EXTERNAL_REDIS, heapLimitPercent: 0 }))).toEqual([undefined, undefined, undefined]);
  });
});
