/**
 * skiff-translator: wiring only. Consumes the store's change log as one member of the `translators`
 * consumer group and, per changed ServiceEntry, stores its Envoy and proxyless gRPC resources and
 * publishes the invalidation (libs/translator-core).
 */
import { randomBytes } from 'node:crypto';
import {
  createServiceBase,
  DEBUG_ACCESS_OPTIONS,
  debugAccessFromCommandLine,
  defineCommand,
  LOG_LEVEL_OPTION,
  MONITORING_ADDRESS_OPTION,
  parseCommandLine,
  parseDuration,
  parsePositiveInteger,
  SHUTDOWN_TIMEOUT_OPTION,
} from '@skiff/runtime';
import { KEY_PREFIX_OPTION, REDIS_CLUSTER_OPTION, REDIS_SHARDS_OPTION, observeStoreHealth, REDIS_URL_OPTION, redisStoresFromCommandLine } from '@skiff/store';
import { loadMeshSettings, MESH_CONFIG_OPTION, registerTranslatorDebug, shardTranslators, type LoadedMeshSettings } from '@skiff/translator-core';

export const command = defineCommand({
  name: 'skiff-translator',
  description: 'Builds the Envoy and proxyless gRPC resources of changed ServiceEntries; replicas share the work through the store change log',
  options: {
    redisUrl: { ...REDIS_URL_OPTION, required: true },
    redisCluster: REDIS_CLUSTER_OPTION,
    redisShards: REDIS_SHARDS_OPTION,
    monitoringAddress: MONITORING_ADDRESS_OPTION,
    ...DEBUG_ACCESS_OPTIONS,
    concurrency: { flag: 'concurrency', description: 'ServiceEntries built at once', parse: parsePositiveInteger, default: '4', valueName: 'n' },
    keyPrefix: KEY_PREFIX_OPTION,
    meshConfig: MESH_CONFIG_OPTION,
    claimIdleTimeout: {
      flag: 'claim-idle-timeout',
      description: 'how long a change read by a replica may stay unacknowledged before another replica takes it over (the first one died)',
      parse: parseDuration,
      default: '30s',
      valueName: 'duration',
    },
    logLevel: LOG_LEVEL_OPTION,
    shutdownTimeout: SHUTDOWN_TIMEOUT_OPTION,
  },
});

/**
 * The MeshConfig file and istiod's output-changing feature flags from the environment
 * (docs/istio-compatibility.md); a bad value ends the process.
 */
function meshSettingsOrExit(program: string, meshConfigFile: string | undefined): LoadedMeshSettings {
  try {
    return loadMeshSettings(meshConfigFile, process.env);
  } catch (error) {
    process.stderr.write(`${program}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}

export async function main(): Promise<void> {
  const config = parseCommandLine(command);
  const service = createServiceBase('skiff-translator', { logLevel: config.logLevel, debugAccess: debugAccessFromCommandLine(config) });
  const { logger, metrics, tracing, monitoring, replicaId: podName } = service;
  const { store, shards, runner } = redisStoresFromCommandLine(config, { logger, meter: metrics.meter, connectionName: `skiff-translator-${podName}` });
  observeStoreHealth(metrics.meter, store);
  const { mesh, ignored } = meshSettingsOrExit('skiff-translator', config.meshConfig);
  if (ignored.length > 0) logger.info({ meshConfig: config.meshConfig, fields: ignored }, 'mesh config fields Skiff does not read');
  const suffix = randomBytes(4).toString('hex');
  // Consumes the change log (group `translators`), builds each changed ServiceEntry, stores its
  // resources and invalidation, then acknowledges. The suffix keeps a restarted pod a new consumer, so
  // what its previous life left unacknowledged is taken over after --claim-idle-timeout. A sharded
  // store has a change log and group per shard: one translator consumes each, in this process.
  const translators = shardTranslators(shards, {
    mesh,
    consumer: `${podName}-${suffix}`,
    logger: logger.child({ component: 'translator' }),
    meter: metrics.meter,
    tracer: tracing.tracer,
    concurrency: config.concurrency,
    claimMinIdleMs: config.claimIdleTimeout,
  });
  registerTranslatorDebug(monitoring, translators);

  // Runners stop in reverse order: the translators finish their builds before the store connection closes.
  service.run([runner, ...translators], { monitoringAddress: config.monitoringAddress, shutdownTimeoutMs: config.shutdownTimeout });
}
