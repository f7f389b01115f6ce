/**
 * skiff: the all-in-one. Wiring only: the watcher (libs/watcher-core), a translator
 * (libs/translator-core) and the ADS gateway (libs/gateway) in one process, sharing one store: the
 * in-memory store by default, Redis with --redis-url (then other replicas and services can join).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  createKubernetesSecrets,
  createTokenAuthenticator,
  Gateway,
  GATEWAY_SECURITY_OPTIONS,
  gatewaySecurityFromCommandLine,
  registerGatewayDebug,
  type BearerTokenAuthenticator,
  type GatewaySecrets,
} from '@skiff/gateway';
import {
  commaListOf,
  createServiceBase,
  defineCommand,
  formatHostPort,
  LOG_LEVEL_OPTION,
  debugAccessFromCommandLine,
  parseCommandLine,
  parseDuration,
  parseHostPort,
  SHUTDOWN_TIMEOUT_OPTION,
} from '@skiff/runtime';
import { createMemoryStore, KEY_PREFIX_OPTION, observeStoreHealth, REDIS_CLUSTER_OPTION, REDIS_SHARDS_OPTION, REDIS_URL_OPTION, redisStoresFromCommandLine, storeRunner, type Store, type WatcherStore } from '@skiff/store';
import { initialBuildDone, loadMeshSettings, MESH_CONFIG_OPTION, registerTranslatorDebug, shardTranslators, VARIANTS_BUILT_ON_REQUEST, type LoadedMeshSettings } from '@skiff/translator-core';
import { CONFIG_HOLD_OPTION, CONFIG_RESCAN_OPTION, createConfigSource, registerWatcherDebug, Watcher } from '@skiff/watcher-core';

const identity = (value: string): string => value;
const address = (value: string): string => formatHostPort(parseHostPort(value));

/** The bundled example mesh, served when no source is given (run from the repository root). */
export const DEFAULT_CONFIG_DIR = 'examples';

export const command = defineCommand({
  name: 'skiff',
  description: 'Skiff all in one: watches Istio ServiceEntries and WorkloadEntries and serves them to Envoy proxies and proxyless gRPC clients over ADS',
  options: {
    configDir: { flag: 'config-dir', description: `directory of Istio YAML/JSON files to watch (default: ${DEFAULT_CONFIG_DIR}/ when no source is given)`, parse: identity, valueName: 'dir' },
    kubeconfig: { flag: 'kubeconfig', description: 'kubeconfig of a cluster to watch instead of a directory', parse: identity, valueName: 'path' },
    namespaces: { flag: 'namespaces', description: 'namespaces to watch in the cluster, comma separated (default: all)', parse: commaListOf(identity), default: '', valueName: 'a,b' },
    configRescan: CONFIG_RESCAN_OPTION,
    configHold: CONFIG_HOLD_OPTION,
    meshConfig: MESH_CONFIG_OPTION,
    redisUrl: { ...REDIS_URL_OPTION, description: 'use Redis (redis:// or rediss://; password from the URL or REDIS_PASSWORD) instead of the in-memory store' },
    keyPrefix: KEY_PREFIX_OPTION,
    redisCluster: REDIS_CLUSTER_OPTION,
    redisShards: REDIS_SHARDS_OPTION,
    xdsAddress: { flag: 'xds-addr', description: 'ADS address (istiod: 15010)', parse: address, default: '127.0.0.1:15010', valueName: 'host:port' },
    tlsXdsAddress: { flag: 'tls-xds-addr', description: 'TLS ADS address (istiod: 15012), served when a certificate and key are given', parse: address, default: '127.0.0.1:15012', valueName: 'host:port' },
    monitoringAddress: { flag: 'monitoring-addr', description: 'address of /healthz, /readyz, /metrics and /debug (istiod: 15014)', parse: address, default: '127.0.0.1:15014', valueName: 'host:port' },
    debounce: { flag: 'debounce', description: 'how long pushes of changed resources are coalesced per proxy', parse: parseDuration, default: '10ms', valueName: 'duration' },
    ...GATEWAY_SECURITY_OPTIONS,
    logLevel: LOG_LEVEL_OPTION,
    shutdownTimeout: SHUTDOWN_TIMEOUT_OPTION,
  },
});

export async function main(): Promise<void> {
  const config = parseCommandLine(command);
  const security = gatewaySecurityFromCommandLine(config);
  if ('error' in security) {
    process.stderr.write(`skiff: ${security.error}\n`);
    process.exit(2);
  }
  let tokenAuthenticator: BearerTokenAuthenticator | undefined;
  try {
    tokenAuthenticator = security.tokenReview === undefined ? undefined : await createTokenAuthenticator(security.tokenReview);
  } catch (error) {
    process.stderr.write(`skiff: --xds-token-review: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const service = createServiceBase('skiff', { logLevel: config.logLevel, debugAccess: debugAccessFromCommandLine(config) });
  const { logger, metrics, tracing, monitoring, replicaId } = service;
  let secrets: GatewaySecrets | undefined;
  try {
    secrets = security.sdsSecrets === undefined ? undefined : await createKubernetesSecrets(security.sdsSecrets, logger.child({ component: 'sds' }));
  } catch (error) {
    process.stderr.write(`skiff: --sds-secrets-from-kubernetes: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }

  const configDir = config.configDir ?? (config.kubeconfig === undefined ? DEFAULT_CONFIG_DIR : undefined);
  if (configDir !== undefined && config.configDir === undefined && !existsSync(configDir)) {
    process.stderr.write(`skiff: no --config-dir or --kubeconfig, and no ./${DEFAULT_CONFIG_DIR} directory to serve (run from the repository root, or give a source)\n`);
    process.exit(2);
  }
  let source;
  try {
    source = await createConfigSource({ configDir, kubeconfig: config.kubeconfig, namespaces: config.namespaces, rescanIntervalMs: config.configRescan, holdMs: config.configHold }, logger);
  } catch (error) {
    process.stderr.write(`skiff: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  if (config.redisUrl === undefined && (config.redisShards !== 1 || config.redisCluster.length > 0)) {
    process.stderr.write(`skiff: --${config.redisShards !== 1 ? 'redis-shards' : 'redis-cluster'} needs --redis-url: the in-memory store has no shards or cluster\n`);
    process.exit(2);
  }
  const redis =
    config.redisUrl === undefined
      ? undefined
      : redisStoresFromCommandLine(
          { redisUrl: config.redisUrl, keyPrefix: config.keyPrefix, redisCluster: config.redisCluster, redisShards: config.redisShards },
          { logger, meter: metrics.meter, connectionName: `skiff-${replicaId}` },
        );
  const memory = redis === undefined ? createMemoryStore() : undefined;
  // The watcher writes through the whole store; a translator and the gateway's cache follow each shard.
  const store: WatcherStore = redis?.store ?? memory!;
  const shards: readonly Store[] = redis?.shards ?? [memory!];
  observeStoreHealth(metrics.meter, store);
  const suffix = randomBytes(4).toString('hex');

  // watcher: source events -> one store hash per ServiceEntry (fenced by the store's writer lease).
  const watcher = new Watcher({ source, store, logger: logger.child({ component: 'watcher' }), meter: metrics.meter, tracer: tracing.tracer, holder: `${replicaId}-${suffix}` });
  // translator: change log -> Envoy and gRPC resources + invalidations.
  let loaded: LoadedMeshSettings;
  try {
    // istiod's MeshConfig, then its output-changing feature flags by their environment variables (docs/istio-compatibility.md).
    loaded = loadMeshSettings(config.meshConfig, process.env);
  } catch (error) {
    process.stderr.write(`skiff: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const { mesh } = loaded;
  if (loaded.ignored.length > 0) logger.info({ meshConfig: config.meshConfig, fields: loaded.ignored }, 'mesh config fields Skiff does not read');
  // On its own in-memory store the all-in-one builds the sni-dnat and gRPC variants once a proxy needs
  // them, as istiod builds per connected proxy; on Redis, other translators may share the store and
  // gateways of other processes serve it, so every variant is built from the start.
  const buildOnRequest = memory === undefined ? [] : VARIANTS_BUILT_ON_REQUEST;
  const translators = shardTranslators(shards, { mesh, consumer: `${replicaId}-${suffix}`, logger: logger.child({ component: 'translator' }), meter: metrics.meter, tracer: tracing.tracer, buildOnRequest });
  // gateway: resources -> proxies over ADS.
  const gateway = new Gateway({
    store: shards[0]!,
    shards,
    logger,
    meter: metrics.meter,
    tracer: tracing.tracer,
    replicaId,
    xdsAddress: config.xdsAddress,
    debounceMs: config.debounce,
    // Like istiod, no proxy is served before the whole mesh read at start is built.
    servesAfter: initialBuildDone({ written: () => watcher.initialStateWritten(), translators }),
    ...(buildOnRequest.length === 0
      ? {}
      : { variantsOnRequest: { variants: buildOnRequest, request: async (variant: string) => void (await Promise.all(translators.map((translator) => translator.requestVariant(variant)))) } }),
    limits: security.limits,
    identityCheck: security.identityCheck,
    debugAuth: security.debugAuth,
    ...(security.tls === undefined ? {} : { tls: { address: config.tlsXdsAddress, credentials: security.tls } }),
    ...(tokenAuthenticator === undefined ? {} : { tokenAuthenticator }),
    ...(secrets === undefined ? {} : { secrets }),
  });

  registerWatcherDebug(monitoring, watcher);
  registerTranslatorDebug(monitoring, translators);
  registerGatewayDebug(monitoring, gateway, { configz: false });

  // Runners stop in reverse order: proxies are sent away first, the store closes last.
  service.run([redis?.runner ?? storeRunner(memory!), watcher, ...translators, gateway], { monitoringAddress: config.monitoringAddress, shutdownTimeoutMs: config.shutdownTimeout });
}
