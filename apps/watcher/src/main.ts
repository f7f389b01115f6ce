/**
 * skiff-watcher: wiring only. Reads ServiceEntries and WorkloadEntries from a directory or Kubernetes,
 * and writes one store hash per ServiceEntry (libs/watcher-core).
 */
import { randomBytes } from 'node:crypto';
import {
  commaListOf,
  createServiceBase,
  DEBUG_ACCESS_OPTIONS,
  debugAccessFromCommandLine,
  defineCommand,
  LOG_LEVEL_OPTION,
  MONITORING_ADDRESS_OPTION,
  parseCommandLine,
  parseDuration,
  SHUTDOWN_TIMEOUT_OPTION,
  type Runner,
} from '@skiff/runtime';
import { KEY_PREFIX_OPTION, REDIS_CLUSTER_OPTION, REDIS_REPLICA_WAIT_OPTION, REDIS_SHARDS_OPTION, REDIS_URL_OPTION, redisStoresFromCommandLine } from '@skiff/store';
import { CONFIG_HOLD_OPTION, CONFIG_RESCAN_OPTION, createConfigSource, createKubernetesElector, registerWatcherDebug, Watcher } from '@skiff/watcher-core';

const identity = (value: string): string => value;

export const command = defineCommand({
  name: 'skiff-watcher',
  description: 'Watches Istio ServiceEntries and WorkloadEntries and writes one Redis hash per ServiceEntry',
  options: {
    configDir: { flag: 'config-dir', description: 'directory of Istio YAML/JSON files to watch (file source)', parse: identity, valueName: 'dir' },
    kubeconfig: { flag: 'kubeconfig', description: 'kubeconfig of the cluster to watch (in-cluster config when neither source is given)', parse: identity, valueName: 'path' },
    namespaces: { flag: 'namespaces', description: 'namespaces to watch, comma separated (default: all)', parse: commaListOf(identity), default: '', valueName: 'a,b' },
    configRescan: CONFIG_RESCAN_OPTION,
    configHold: CONFIG_HOLD_OPTION,
    redisUrl: { ...REDIS_URL_OPTION, required: true },
    redisCluster: REDIS_CLUSTER_OPTION,
    redisShards: REDIS_SHARDS_OPTION,
    redisReplicaWait: REDIS_REPLICA_WAIT_OPTION,
    keyPrefix: KEY_PREFIX_OPTION,
    leaseDuration: { flag: 'lease-duration', description: "how long the writer lease lasts without renewal: a standby replica takes over this long after the writer died", parse: parseDuration, default: '15s', valueName: 'duration' },
    monitoringAddress: MONITORING_ADDRESS_OPTION,
    ...DEBUG_ACCESS_OPTIONS,
    logLevel: LOG_LEVEL_OPTION,
    shutdownTimeout: SHUTDOWN_TIMEOUT_OPTION,
  },
});

export async function main(): Promise<void> {
  const config = parseCommandLine(command);
  const service = createServiceBase('skiff-watcher', { logLevel: config.logLevel, debugAccess: debugAccessFromCommandLine(config) });
  const { logger, metrics, tracing, monitoring, replicaId: podName } = service;
  let source;
  try {
    source = await createConfigSource(
      { configDir: config.configDir, kubeconfig: config.kubeconfig, namespaces: config.namespaces, rescanIntervalMs: config.configRescan, holdMs: config.configHold },
      logger,
    );
  } catch (error) {
    process.stderr.write(`skiff-watcher: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  // A sharded store routes each write to its ServiceEntry's shard; the lease stays one.
  const { store, runner: storeRunner } = redisStoresFromCommandLine(config, { logger, meter: metrics.meter, connectionName: `skiff-watcher-${podName}` });
  const leaseName = process.env['SKIFF_LEADER_ELECTION_LEASE'];
  const podNamespace = process.env['POD_NAMESPACE'];
  const elector =
    leaseName && podNamespace ? await createKubernetesElector(
          { leaseName, namespace: podNamespace, identity: podName, kubeconfig: config.kubeconfig, leaseDurationMs: config.leaseDuration },
          logger.child({ component: 'election' }),
        ) : undefined;
  const watcher = new Watcher({
    source,
    store,
    logger: logger.child({ component: 'watcher' }),
    meter: metrics.meter,
    tracer: tracing.tracer,
    holder: `${podName}-${randomBytes(4).toString('hex')}`,
    leaseTtlMs: config.leaseDuration,
    ...(elector ? { elector } : {}),
  });
  registerWatcherDebug(monitoring, watcher);
  monitoring.addReadinessCheck('store', () => store.ping().then(() => true));

  // Runners stop in reverse order: the watcher releases its lease before the store connection closes.
  const runners: Runner[] = [storeRunner];
  if (elector) runners.push({ name: 'leader-election', start: async () => elector.start(), close: () => elector.close() });
  runners.push(watcher);
  service.run(runners, { monitoringAddress: config.monitoringAddress, shutdownTimeoutMs: config.shutdownTimeout });
}
