/**
 * A component's identity exactly as the chart (deploy/helm/skiff) renders it: its ServiceAccount and
 * the RBAC objects that grant it access (the watcher: the ClusterRole and its cluster-wide binding, or
 * one RoleBinding per namespace with `watcher.namespaces`, and the Role and RoleBinding of its Lease;
 * the gateway with token review: the TokenReview ClusterRole and its binding, and with `sdsSecrets` the
 * Secrets ClusterRole and its binding), rendered
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

export interface WatcherIdentity extends ChartIdentity {
  /** The Lease the chart's Role lets the watcher create and renew. */
  readonly leaseName: string;
}

interface RenderedObject {
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
}

export async function installWatcherIdentity(plane: KubeControlPlane, options: WatcherIdentityOptions): Promise<WatcherIdentity> {
  const set: string[] = [];
  if (options.watchNamespaces !== undefined && options.watchNamespaces.length > 0) {
    set.push('--set', `watcher.namespaces={${options.watchNamespaces.join(',')}}`);
  }
  const identity = await installChartIdentity(plane, 'watcher', options.namespace, options.release ?? 'skiff', set, options.watchNamespaces ?? []);
  // The chart names the Lease after the watcher's objects (skiff.watcherLeaseName).
  return { ...identity, leaseName: identity.serviceAccount };
}

export interface GatewayIdentityOptions {
  /** The release namespace (created when missing). */
  readonly namespace: string;
  /** Release name (default `skiff`). */
  readonly release?: string;
  /** `gateway.sdsSecrets`: also the ClusterRole that reads Secrets and creates SubjectAccessReviews. */
  readonly sdsSecrets?: boolean;
}

/** A chart component's ServiceAccount with the RBAC the chart grants it. */
export interface ChartIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** A kubeconfig with a TokenRequest token of the ServiceAccount. */
  readonly kubeconfig: string;
  /** The RBAC objects applied, as `Kind namespace/name`. */
  readonly objects: readonly string[];
}

/**
 * The ADS gateway's identity with `gateway.tls.tokenReview` on: its ServiceAccount and the ClusterRole
 * that lets it create TokenReviews for the tokens clients present on 15012; with `sdsSecrets`, also
 * the one that lets it read Secrets and create SubjectAccessReviews (`gateway.sdsSecrets`).
 */
export function installGatewayIdentity(plane: KubeControlPlane, options: GatewayIdentityOptions): Promise<ChartIdentity> {
  const set = ['--set', 'gateway.tls.enabled=true', '--set', 'gateway.tls.secretName=xds-tls', '--set', 'gateway.tls.verifyClients=false', '--set', 'gateway.tls.tokenReview=true'];
  if (options.sdsSecrets === true) set.push('--set', 'gateway.sdsSecrets=true');
  return installChartIdentity(plane, 'ads-gateway', options.namespace, options.release ?? 'skiff', set, []);
}

async function installChartIdentity(
  plane: KubeControlPlane,
  component: string,
  namespace: string,
  release: string,
  set: readonly string[],
  extraNamespaces: readonly string[],
): Promise<ChartIdentity> {
  for (const name of [namespace, ...extraNamespaces]) {
    await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  }
  const helm = Helm.locate();
  let rendered: string;
  try {
    rendered = await helm.runAsyncOrThrow(['template', release, CHART_DIRECTORY, '--namespace', namespace, '--set', 'redis.external.url=redis://redis.invalid:6379', ...set]);
  } finally {
    helm.dispose();
  }
  const objects = parseAllDocuments(rendered)
    .map((document) => document.toJS() as RenderedObject | null)
    .filter((object): object is RenderedObject => object !== null)
    .filter((object) => RBAC_KINDS.has(object.kind ?? '') && object.metadata?.labels?.['app.kubernetes.io/component'] === component);
  const serviceAccount = objects.find((object) => object.kind === 'ServiceAccount')?.metadata?.name;
  if (serviceAccount === undefined) throw new Error(`the chart rendered no ${component} ServiceAccount:\n${rendered}`);
  await plane.apply(objects.map((object) => JSON.stringify(object)).join('\n---\n'));
  return {
    namespace,
    serviceAccount,
    kubeconfig: await plane.serviceAccountKubeconfig(namespace, serviceAccount),
    objects: objects.map((object) => `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`),
  };
}
