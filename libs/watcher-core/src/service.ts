/**
 * Assembling a watcher from configuration: which source to read, how to elect the single writer, and
 * what the watcher shows on the monitoring server. Shared by `skiff-watcher` and the all-in-one `skiff`.
 */
import { existsSync } from 'node:fs';
import { FileSource, istioFileParser, type ConfigSource } from '@skiff/config-sources';
import type { KubernetesLeaseElector } from '@skiff/config-sources/kubernetes';
import { formatFieldError } from '@skiff/model';
import { parseDuration, type Logger, type MonitoringServer, type ValueOptionSpec } from '@skiff/runtime';
import type { Watcher } from './watcher.js';

/** Where the pod's service account is mounted; its presence means in-cluster config works. */
export const SERVICE_ACCOUNT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface SourceConfig {
  /** A directory of YAML/JSON files (file source). */
  readonly configDir?: string | undefined;
  /** A kubeconfig path (Kubernetes source). */
  readonly kubeconfig?: string | undefined;
  /** Namespaces to watch (Kubernetes); empty: all. */
  readonly namespaces?: readonly string[];
  /** Namespace of file objects that name none. */
  readonly defaultNamespace?: string;
  /** File source: every how often every file is read again (ms, 0: never). */
  readonly rescanIntervalMs?: number;
  /** File source: how long a file that lost objects must stay unchanged before they are withdrawn (ms). */
  readonly holdMs?: number;
}

/** `--config-rescan`: the file source's safety-net rescan (docs/file-source.md). */
export const CONFIG_RESCAN_OPTION = {
  flag: 'config-rescan',
  description: 'with --config-dir: read every file again this often, whatever file events said (0: never)',
  parse: parseDuration,
  default: '30s',
  valueName: 'duration',
} as const satisfies ValueOptionSpec<number>;

/** `--config-hold`: how long a file caught half written keeps its objects (docs/file-source.md). */
export const CONFIG_HOLD_OPTION = {
  flag: 'config-hold',
  description: 'with --config-dir: objects a file stops defining (emptied, truncated) are withdrawn once it has stayed unchanged this long',
  parse: parseDuration,
  default: '2s',
  valueName: 'duration',
} as const satisfies ValueOptionSpec<number>;

/**
 * The source a configuration selects, or an error saying why none can be chosen. The Kubernetes source
 * and its client library are loaded only when chosen: a directory source starts without them.
 */
export async function createConfigSource(config: SourceConfig, logger: Logger): Promise<ConfigSource> {
  if (config.configDir !== undefined && config.kubeconfig !== undefined) {
    throw new Error('give either --config-dir or --kubeconfig, not both');
  }
  if (config.configDir !== undefined) {
    if (!existsSync(config.configDir)) throw new Error(`--config-dir ${config.configDir}: no such directory`);
    return new FileSource({
      dir: config.configDir,
      parse: istioFileParser(config.defaultNamespace === undefined ? {} : { defaultNamespace: config.defaultNamespace }),
      ...(config.rescanIntervalMs === undefined ? {} : { rescanIntervalMs: config.rescanIntervalMs }),
      ...(config.holdMs === undefined ? {} : { holdMs: config.holdMs }),
    });
  }
  const namespaces = config.namespaces ?? [];
  if (config.kubeconfig !== undefined) {
    const { KubernetesSource } = await import('@skiff/config-sources/kubernetes');
    return new KubernetesSource({ kubeconfig: config.kubeconfig, namespaces });
  }
  if (existsSync(SERVICE_ACCOUNT_TOKEN_PATH)) {
    logger.info('no --config-dir or --kubeconfig: using the in-cluster service account');
    const { KubernetesSource } = await import('@skiff/config-sources/kubernetes');
    return new KubernetesSource({ inCluster: true, namespaces });
  }
  throw new Error('no configuration source: give --config-dir <dir> or --kubeconfig <path> (or run in a pod with a service account)');
}

export interface KubernetesElectionConfig {
  /** Lease name (`SKIFF_LEADER_ELECTION_LEASE`). */
  readonly leaseName: string;
  /** The pod's namespace (`POD_NAMESPACE`). */
  readonly namespace: string;
  /** The pod's name (`POD_NAME`). */
  readonly identity: string;
  readonly kubeconfig?: string | undefined;
  /**
   * How long the Lease lasts without renewal (`--lease-duration`): a standby takes over this long
   * after the leader stopped renewing. The renew deadline and retry period keep client-go's
   * proportions (15 s : 10 s : 2 s). Default 15 s.
   */
  readonly leaseDurationMs?: number;
}

/** A Kubernetes Lease elector for cluster mode: only its leader takes the store's writer lease. */
export async function createKubernetesElector(config: KubernetesElectionConfig, logger: Logger): Promise<KubernetesLeaseElector> {
  const { DEFAULT_LEASE_DURATION_MS, DEFAULT_RENEW_DEADLINE_MS, DEFAULT_RETRY_PERIOD_MS, KubernetesLeaseElector } = await import('@skiff/config-sources/kubernetes');
  const leaseDurationMs = config.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
  return new KubernetesLeaseElector({
    name: config.leaseName,
    namespace: config.namespace,
    identity: config.identity,
    leaseDurationMs,
    renewDeadlineMs: Math.round((leaseDurationMs * DEFAULT_RENEW_DEADLINE_MS) / DEFAULT_LEASE_DURATION_MS),
    retryPeriodMs: Math.round((leaseDurationMs * DEFAULT_RETRY_PERIOD_MS) / DEFAULT_LEASE_DURATION_MS),
    ...(config.kubeconfig === undefined ? { inCluster: true } : { kubeconfig: config.kubeconfig }),
    onProblem: (message, cause) => logger.warn({ err: String(cause) }, message),
  });
}

/**
 * `/debug/configz` (istiod's path: every config object in Kubernetes shape; here each object carries a
 * `rejection` with the validation errors while its latest version is rejected), `/debug/watcherz`
 * (sync, lease and convergence state), and readiness once the source's initial state is in, for as
 * long as the source follows its origin.
 */
export function registerWatcherDebug(monitoring: MonitoringServer, watcher: Watcher): void {
  monitoring.addReadinessCheck('watcher-synced', () => watcher.status().synced);
  // A lost Kubernetes watch (past the source's grace period): /readyz says which and why.
  monitoring.addReadinessCheck('config-source', () => {
    const health = watcher.status().source;
    if (!health.healthy) throw new Error(health.reason);
    return true;
  });
  monitoring.addDebugHandler('/debug/configz', 'Istio configuration objects held by the watcher, with validation rejections, and files that do not parse', () => {
    const objects: unknown[] = watcher.objects().map((status) => {
      const shown = (status.effective ?? status.rejection?.object ?? {}) as Record<string, unknown>;
      if (!status.rejection) return shown;
      return {
        ...shown,
        rejection: {
          origin: status.rejection.origin,
          inEffect: status.effective === null ? 'nothing (no valid version was ever seen)' : 'the last valid version',
          errors: status.rejection.errors.map(formatFieldError),
          rejectedObject: status.rejection.object,
        },
      };
    });
    // A file that does not parse holds no object to show; it is listed itself, with why.
    for (const { file, errors, keptPrevious } of watcher.brokenFileStatus()) {
      objects.push({ kind: 'File', metadata: { name: file }, rejection: { origin: file, inEffect: keptPrevious ? 'the objects of its last version that parsed' : 'nothing', errors } });
    }
    return { status: 200, body: objects };
  });
  monitoring.addDebugHandler('/debug/watcherz', 'Watcher state: initial sync, writer lease, convergence, backlog', () => ({ status: 200, body: watcher.status() }));
}
