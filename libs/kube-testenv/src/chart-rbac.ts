/**
 * The watcher's identity exactly as the chart (deploy/helm/skiff) renders it: its ServiceAccount and
 * the RBAC objects that grant it access (the ClusterRole and its cluster-wide binding, or one
 * RoleBinding per namespace with `watcher.namespaces`; the Role and RoleBinding of its Lease), rendered
 * with `helm template` and applied with kubectl. Tests then authenticate as that ServiceAccount, so
 * anything the chart forgets to grant fails the way it would in a cluster.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { KubeControlPlane } from './control-plane.js';
import { Helm } from './helm.js';

const CHART_DIRECTORY = join(fileURLToPath(new URL('../../../', import.meta.url)), 'deploy', 'helm', 'skiff');
const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

export interface WatcherIdentityOptions {
  /** The release namespace (created when missing). */
  readonly namespace: string;
  /** Release name (default `skiff`). */
  readonly release?: string;
  /** `watcher.namespaces`: restrict the watcher to these namespaces (created when missing). */
  readonly watchNamespaces?: readonly string[];
}

export interface WatcherIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The Lease the chart's Role lets the watcher create and renew. */
  readonly leaseName: string;
  /** A kubeconfig with a TokenRequest token of the ServiceAccount. */
  readonly kubeconfig: string;
  /** The RBAC objects applied, as `Kind namespace/name`. */
  readonly objects: readonly string[];
}

interface RenderedObject {
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
}

export async function installWatcherIdentity(plane: KubeControlPlane, options: WatcherIdentityOptions): Promise<WatcherIdentity> {
  const release = options.release ?? 'skiff';
  for (const namespace of [options.namespace, ...(options.watchNamespaces ?? [])]) {
    await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }));
  }
  const helm = Helm.locate();
  let rendered: string;
  try {
    const set = ['--set', 'redis.external.url=redis://redis.invalid:6379'];
    if (options.watchNamespaces !== undefined && options.watchNamespaces.length > 0) {
      set.push('--set', `watcher.namespaces={${options.watchNamespaces.join(',')}}`);
    }
    rendered = await helm.runAsyncOrThrow(['template', release, CHART_DIRECTORY, '--namespace', options.namespace, ...set]);
  } finally {
    helm.dispose();
  }
  const objects = parseAllDocuments(rendered)
    .map((document) => document.toJS() as RenderedObject | null)
    .filter((object): object is RenderedObject => object !== null)
    .filter((object) => RBAC_KINDS.has(object.kind ?? '') && object.metadata?.labels?.['app.kubernetes.io/component'] === 'watcher');
  const serviceAccount = objects.find((object) => object.kind === 'ServiceAccount')?.metadata?.name;
  if (serviceAccount === undefined) throw new Error(`the chart rendered no watcher ServiceAccount:\n${rendered}`);
  await plane.apply(objects.map((object) => JSON.stringify(object)).join('\n---\n'));
  return {
    namespace: options.namespace,
    serviceAccount,
    // The chart names the Lease after the watcher's objects (skiff.watcherLeaseName).
    leaseName: serviceAccount,
    kubeconfig: await plane.serviceAccountKubeconfig(options.namespace, serviceAccount),
    objects: objects.map((object) => `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`),
  };
}
