/**
 * Which simulated proxy subscribes to what. `--clusters` names clusters inline (`a,b,c`) or in a
 * file: one name per line (or several, comma separated), `#` comments, and `[namespace]` lines that
 * start a group of proxies living in that namespace. Proxies are dealt to the groups in turn, and each
 * takes a window of its group's clusters, so a long list is spread evenly over many proxies.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { ProxyFlavor } from './node.js';

/** Proxies of one namespace and the clusters they share out. */
export interface ProxyGroup {
  readonly namespace: string;
  readonly clusters: readonly string[];
}

/** What one simulated proxy is and asks for. */
export interface ProxyPlan {
  readonly index: number;
  readonly namespace: string;
  /** Cluster names: its EDS subscription, and its CDS subscription too for the grpc flavour. */
  readonly clusters: readonly string[];
}

export class ClusterSpecError extends Error {
  override readonly name = 'ClusterSpecError';
}

/** A Kubernetes namespace name (RFC 1123 label). */
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Parses the text of a cluster list: names separated by commas or line breaks, `#` comments, `[namespace]` group headers. */
export function parseClusterSpec(text: string, defaultNamespace: string): ProxyGroup[] {
  const groups: { namespace: string; clusters: string[] }[] = [];
  let current: { namespace: string; clusters: string[] } | undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, lineIndex) => {
    const line = rawLine.replace(/#.*$/, '').trim();
    if (line === '') return;
    const header = /^\[(.*)\]$/.exec(line);
    if (header !== null) {
      const namespace = (header[1] ?? '').trim();
      if (!NAMESPACE_NAME.test(namespace)) throw new ClusterSpecError(`line ${lineIndex + 1}: "${namespace}" is not a namespace name`);
      current = { namespace, clusters: [] };
      groups.push(current);
      return;
    }
    if (current === undefined) {
      current = { namespace: defaultNamespace, clusters: [] };
      groups.push(current);
    }
    for (const name of line.split(',')) {
      const trimmed = name.trim();
      if (trimmed !== '') current.clusters.push(trimmed);
    }
  });
  if (groups.length === 0) groups.push({ namespace: defaultNamespace, clusters: [] });
  return groups;
}

/**
 * `--clusters` as given: the path of a file to read, or the names themselves. A value that names an
 * existing file is a file; anything else is a list.
 */
export function readClusterSpec(value: string, defaultNamespace: string): ProxyGroup[] {
  if (value !== '' && existsSync(value) && statSync(value).isFile()) return parseClusterSpec(readFileSync(value, 'utf8'), defaultNamespace);
  return parseClusterSpec(value, defaultNamespace);
}

export interface PlanArgs {
  readonly proxies: number;
  readonly groups: readonly ProxyGroup[];
  /** Clusters per proxy; 0 or undefined for all of its group's. */
  readonly clustersPerProxy?: number;
  readonly flavor: ProxyFlavor;
}

/**
 * Proxy `i` joins group `i mod groups`; as the `m`-th member of its group it takes `clustersPerProxy`
 * consecutive clusters starting at `m * clustersPerProxy` (wrapping), so members cover their group's
 * list in turn. A proxyless gRPC client subscribes only to names it asks for, so it needs at least one.
 */
export function planProxies(args: PlanArgs): ProxyPlan[] {
  if (!Number.isInteger(args.proxies) || args.proxies < 1) throw new ClusterSpecError(`the number of proxies must be a positive integer, got ${args.proxies}`);
  if (args.groups.length === 0) throw new ClusterSpecError('no proxy groups');
  const perProxy = args.clustersPerProxy ?? 0;
  if (!Number.isInteger(perProxy) || perProxy < 0) throw new ClusterSpecError(`clusters per proxy must be a whole number, got ${perProxy}`);
  if (args.flavor === 'grpc') {
    const empty = args.groups.find((group) => group.clusters.length === 0);
    if (empty !== undefined) throw new ClusterSpecError(`the grpc flavour subscribes by name: the proxies of namespace ${empty.namespace} have no clusters to ask for`);
  }
  const plans: ProxyPlan[] = [];
  for (let index = 0; index < args.proxies; index++) {
    const group = args.groups[index % args.groups.length]!;
    const member = Math.floor(index / args.groups.length);
    const all = group.clusters;
    const take = perProxy === 0 ? all.length : Math.min(perProxy, all.length);
    const clusters: string[] = [];
    if (take === all.length) for (const item of all) clusters.push(item);
    else for (let k = 0; k < take; k++) clusters.push(all[(member * take + k) % all.length]!);
    plans.push({ index, namespace: group.namespace, clusters });
  }
  return plans;
}
