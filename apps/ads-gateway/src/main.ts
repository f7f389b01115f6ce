/**
 * skiff-gateway: wiring only. Loads the built resources from Redis, keeps them fresh through
 * invalidations, and serves them over ADS (libs/gateway).
 */
import { readFileSync } from 'node:fs';
import { Gateway, registerGatewayDebug } from '@skiff/gateway';
import {
  createServiceBase,
  defineCommand,
  formatHostPort,
  LOG_LEVEL_OPTION,
  MONITORING_ADDRESS_OPTION,
  parseCommandLine,
  parseDuration,
  parseHostPort,
  SHUTDOWN_TIMEOUT_OPTION,
} from '@skiff/runtime';
import { KEY_PREFIX_OPTION, observeStoreHealth, REDIS_URL_OPTION, redisStoreFromCommandLine, storeRunner } from '@skiff/store';

const identity = (value: string): string => value;
const address = (value: string): string => formatHostPort(parseHostPort(value));

export const command = defineCommand({
  name: 'skiff-gateway',
  description: 'Serves Envoy proxies and proxyless gRPC clients over ADS from the resources stored in Redis',
  options: {
    redisUrl: { ...REDIS_URL_OPTION, required: true },
    keyPrefix: KEY_PREFIX_OPTION,
    xdsAddress: { flag: 'xds-addr', description: 'plaintext ADS address (istiod: 15010)', parse: address, default: '0.0.0.0:15010', valueName: 'host:port' },
    tlsXdsAddress: { flag: 'tls-xds-addr', description: 'TLS ADS address (istiod: 15012), served when a certificate and key are given', parse: address, default: '0.0.0.0:15012', valueName: 'host:port' },
    tlsCertFile: { flag: 'tls-cert-file', description: 'PEM certificate chain for the TLS ADS address', parse: identity, valueName: 'path' },
    tlsKeyFile: { flag: 'tls-key-file', description: 'PEM private key for the TLS ADS address', parse: identity, valueName: 'path' },
    debounce: { flag: 'debounce', description: 'how long pushes of changed resources are coalesced per proxy', parse: parseDuration, default: '10ms', valueName: 'duration' },
    maxConnectionAge: { flag: 'max-connection-age', description: 'connection age after which proxies are asked to reconnect (with jitter), so they rebalance across replicas', parse: parseDuration, default: '30m', valueName: 'duration' },
    fleetHeartbeat: { flag: 'fleet-heartbeat', description: "how often this replica publishes its proxies' sync state for the fleet view (/debug/syncz, proxy-status on any replica); a report expires after three periods", parse: parseDuration, default: '5s', valueName: 'duration' },
    monitoringAddress: MONITORING_ADDRESS_OPTION,
    logLevel: LOG_LEVEL_OPTION,
    shutdownTimeout: SHUTDOWN_TIMEOUT_OPTION,
  },
});

export async function main(): Promise<void> {
  const config = parseCommandLine(command);
  if ((config.tlsCertFile === undefined) !== (config.tlsKeyFile === undefined)) {
    process.stderr.write('skiff-gateway: give both --tls-cert-file and --tls-key-file, or neither\n');
    process.exit(2);
  }
  if (config.fleetHeartbeat <= 0) {
    process.stderr.write('skiff-gateway: --fleet-heartbeat must be more than 0\n');
    process.exit(2);
  }
  const service = createServiceBase('skiff-gateway', { logLevel: config.logLevel });
  const { logger, metrics, tracing, monitoring, replicaId: podName } = service;
  const store = redisStoreFromCommandLine(config, { logger, meter: metrics.meter, connectionName: `skiff-gateway-${podName}` });
  observeStoreHealth(metrics.meter, store);
  const tls =
    config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined
      ? { address: config.tlsXdsAddress, credentials: { certChain: readFileSync(config.tlsCertFile), privateKey: readFileSync(config.tlsKeyFile) } }
      : undefined;
  const gateway = new Gateway({
    store,
    logger,
    meter: metrics.meter,
    tracer: tracing.tracer,
    replicaId: podName,
    xdsAddress: config.xdsAddress,
    debounceMs: config.debounce,
    maxConnectionAgeMs: config.maxConnectionAge,
    fleetHeartbeatMs: config.fleetHeartbeat,
    ...(tls === undefined ? {} : { tls }),
  });
  registerGatewayDebug(monitoring, gateway);
  // Runners stop in reverse order: the gateway sends GOAWAY and leaves the fleet before the store closes.
  service.run([storeRunner(store), gateway], { monitoringAddress: config.monitoringAddress, shutdownTimeoutMs: config.shutdownTimeout });
}
