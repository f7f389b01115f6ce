/**
 * Rendered Kubernetes manifests as plain objects, and the pod specs inside them, so that policy
 * checks read the objects Kubernetes would receive rather than template text.
 */
import { parseAllDocuments } from 'yaml';

/** The part of a Kubernetes object every check needs; the rest stays untyped and is read defensively. */
export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

/** Parses `helm template` output (documents separated by `---`) and drops empty documents. */
export function parseManifests(rendered: string): KubernetesObject[] {
  const objects: KubernetesObject[] = [];
  for (const document of parseAllDocuments(rendered)) {
    if (document.errors.length > 0) throw new Error(`rendered YAML does not parse: ${document.errors[0]?.message ?? ''}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    if (!isKubernetesObject(value)) {
      throw new Error(`rendered document is not a Kubernetes object: ${JSON.stringify(value).slice(0, 200)}`);
    }
    objects.push(value);
  }
  return objects;
}

function isKubernetesObject(value: unknown): value is KubernetesObject {
  if (!isRecord(value)) return false;
  const metadata = value['metadata'];
  return typeof value['apiVersion'] === 'string' && typeof value['kind'] === 'string' && isRecord(metadata) && typeof metadata['name'] === 'string';
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `kind/namespace/name`, the way errors name an object. */
export function objectId(object: KubernetesObject): string {
  return `${object.kind}/${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`;
}

/** Reads a nested field (`at(obj, 'spec', 'template', 'spec')`), or undefined when any step is missing. */
export function at(value: unknown, ...path: readonly (string | number)[]): unknown {
  let current = value;
  for (const step of path) {
    if (typeof step === 'number') {
      if (!Array.isArray(current)) return undefined;
      current = current[step];
    } else {
      if (!isRecord(current)) return undefined;
      current = current[step];
    }
  }
  return current;
}

/** Where each workload kind keeps its pod spec. */
const podSpecPaths: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/** One pod spec of a rendered workload. */
export interface PodSpecOf {
  readonly owner: KubernetesObject;
  readonly spec: Record<string, unknown>;
}

/**
 * The pod specs of every workload. A kind that runs pods but is missing from the table above is an
 * error, so a new workload kind cannot slip past the checks unexamined.
 */
export function podSpecs(objects: readonly KubernetesObject[]): PodSpecOf[] {
  const specs: PodSpecOf[] = [];
  for (const object of objects) {
    const path = podSpecPaths[object.kind];
    if (path === undefined) {
      if (at(object, 'spec', 'template', 'spec', 'containers') !== undefined) {
        throw new Error(`${objectId(object)} runs pods but its kind is not known to the chart checks`);
      }
      continue;
    }
    // eslint-disable-next-line no-restricted-syntax -- a path of a few field names
    const spec = at(object, ...path);
    if (!isRecord(spec)) throw new Error(`${objectId(object)} has no pod spec at ${path.join('.')}`);
    specs.push({ owner: object, spec });
  }
  return specs;
}

/** One container of a pod spec, with where it sits for error messages. */
export interface ContainerOf {
  readonly owner: KubernetesObject;
  readonly pod: Record<string, unknown>;
  /** `containers` or `initContainers`. */
  readonly list: 'containers' | 'initContainers';
  readonly container: Record<string, unknown>;
  /** `Deployment/ns/name containers[watcher]`. */
  readonly id: string;
}

/** Every container and init container of every workload. */
export function containers(objects: readonly KubernetesObject[]): ContainerOf[] {
  return podSpecs(objects).flatMap(({ owner, spec }) =>
    (['containers', 'initContainers'] as const).flatMap((list) => {
      const entries = spec[list];
      if (entries === undefined) return [];
      if (!Array.isArray(entries)) throw new Error(`${objectId(owner)} ${list} is not a list`);
      return entries.map((container: unknown) => {
        if (!isRecord(container)) throw new Error(`${objectId(owner)} ${list} holds a non-object`);
        return { owner, pod: spec, list, container, id: `${objectId(owner)} ${list}[${String(container['name'])}]` };
      });
    }),
  );
}
