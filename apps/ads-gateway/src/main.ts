/**
 * skiff-gateway: wiring only. Loads the built resources from Redis, keeps them fresh through
 * invalidations, and serves them over ADS (libs/gateway).
 */
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
  createServiceBase,
  defineCommand,
  formatHostPort,
  LOG_LEVEL_OPTION,
  MONITORING_ADDRESS_OPTION,
  debugAccessFromCommandLine,
  parseCommandLine,
  parseDuration,
  parseHostPort,
  SHUTDOWN_TIMEOUT_OPTION,
} from '@skiff/runtime';
import { KEY_PREFIX_OPTION, REDIS_CLUSTER_OPTION, REDIS_SHARDS_OPTION, observeStoreHealth, REDIS_URL_OPTION, redisStoresFromCommandLine } from '@skiff/store';

const address = (value: string): string => formatHostPort(parseHostPort(value));

export const command = defineCommand({
  name: 'skiff-gateway',
  description: 'Serves Envoy proxies and proxyless gRPC clients over ADS from the resources stored in Redis',
  options: {
    redisUrl: { ...REDIS_URL_OPTION, required: true },
    redisCluster: REDIS_CLUSTER_OPTION,
    redisShards: REDIS_SHARDS_OPTION,
    keyPrefix: KEY_PREFIX_OPTION,
    xdsAddress: { flag: 'xds-addr', description: 'plaintext ADS address (istiod: 15010)', parse: address, default: '0.0.0.0:15010', valueName: 'host:port' },
    tlsXdsAddress: { flag: 'tls-xds-addr', description: 'TLS ADS address (istiod: 15012), served when a certificate and key are given', parse: address, default: '0.0.0.0:15012', valueName: 'host:port' },
    debounce: { flag: 'debounce', description: 'how long pushes of changed resources are coalesced per proxy', parse: parseDuration, default: '10ms', valueName: 'duration' },
    maxConnectionAge: { flag: 'max-connection-age', description: 'connection age after which proxies are asked to reconnect (with jitter), so they rebalance across replicas', parse: parseDuration, default: '30m', valueName: 'duration' },
    fleetHeartbeat: { flag: 'fleet-heartbeat', description: "how often this replica publishes its proxies' sync state for the fleet view (/debug/syncz, proxy-status on any replica); a report expires after three periods", parse: parseDuration, default: '5s', valueName: 'duration' },
    monitoringAddress: MONITORING_ADDRESS_OPTION,
    ...GATEWAY_SECURITY_OPTIONS,
    logLevel: LOG_LEVEL_OPTION,
    shutdownTimeout: SHUTDOWN_TIMEOUT_OPTION,
  },
});

export async function main(): Promise<void> {
  const config = parseCommandLine(command);
  const security = gatewaySecurityFromCommandLine(config);
  if ('error' in security) {
    process.stderr.write(`skiff-gateway: ${security.error}\n`);
    process.exit(2);
  }
  let tokenAuthenticator: BearerTokenAuthenticator | undefined;
  try {
    tokenAuthenticator = security.tokenReview === undefined ? undefined : await createTokenAuthenticator(security.tokenReview);
  } catch (error) {
    process.stderr.write(`skiff-gateway: --xds-token-review: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  if (config.fleetHeartbeat <= 0) {
    process.stderr.write('skiff-gateway: --fleet-heartbeat must be more than 0\n');
    process.exit(2);
  }
  const service = createServiceBase('skiff-gateway', { logLevel: config.logLevel, debugAccess: debugAccessFromCommandLine(config) });
  const { logger, metrics, tracing, monitoring, replicaId: podName } = service;
  let secrets: GatewaySecrets | undefined;
  try {
    secrets = security.sdsSecrets === undefined ? undefined : await createKubernetesSecrets(security.sdsSecrets, logger.child({ component: 'sds' }));
  } catch (error) {
    process.stderr.write(`skiff-gateway: --sds-secrets-from-kubernetes: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const { store, shards, runner } = redisStoresFromCommandLine(config, { logger, meter: metrics.meter, connectionName: `skiff-gateway-${podName}` });
  observeStoreHealth(metrics.meter, store);
  // Shard 0 of a sharded store shares the store's fleet reports; the cache follows every shard.
  const gateway = new Gateway({
    store: shards[0]!,
    shards,
    logger,
    meter: metrics.meter,
    tracer: tracing.tracer,
    replicaId: podName,
    xdsAddress: config.xdsAddress,
    debounceMs: config.debounce,
    maxConnectionAgeMs: config.maxConnectionAge,
    fleetHeartbeatMs: config.fleetHeartbeat,
    limits: security.limits,
    identityCheck: security.identityCheck,
    debugAuth: security.debugAuth,
    ...(security.tls === undefined ? {} : { tls: { address: config.tlsXdsAddress, credentials: security.tls } }),
    ...(tokenAuthenticator === undefined ? {} : { tokenAuthenticator }),
    ...(secrets === undefined ? {} : { secrets }),
  });
  registerGatewayDebug(monitoring, gateway);
  // Runners stop in reverse order: the gateway sends GOAWAY and leaves the fleet before the store closes.
  service.run([runner, gateway], { monitoringAddress: config.monitoringAddress, shutdownTimeoutMs: config.shutdownTimeout });
}
