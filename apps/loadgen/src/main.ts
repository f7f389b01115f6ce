/**
 * skiff-loadgen: wiring only. Simulated proxies (libs/loadgen) against one ADS server, until
 * `--duration` elapses, a signal, or a `stop` request on the control protocol; then the summary.
 *
 *   skiff-loadgen --xds-addr <host:port> --proxies N --clusters <names|file> [--flavor envoy|grpc] [--delta] [--duration 60s] [-o json]
 *   skiff-loadgen ... --control [--hold]   (driven by JSON lines on stdin; with --hold, streams open on an `open` request)
 */
import { formatSummary, LoadGenerator, planProxies, PROXY_FLAVORS, readClusterSpec, serveControl, TRANSPORTS, type ProxyPlan } from '@skiff/loadgen-core';
import {
  ConfigValueError,
  createLogger,
  defineCommand,
  formatHostPort,
  LOG_LEVEL_OPTION,
  messageOf,
  oneOf,
  parseCommandLine,
  parseDuration,
  parseHostPort,
  parsePositiveInteger,
  runServices,
  SKIFF_VERSION,
  USAGE_EXIT_CODE,
} from '@skiff/runtime';

const identity = (value: string): string => value;
const address = (value: string): string => formatHostPort(parseHostPort(value));
const wholeNumber = (raw: string): number => {
  if (!/^\d+$/.test(raw.trim())) throw new ConfigValueError('expected a whole number');
  return Number(raw.trim());
};
const rate = (raw: string): number => {
  const value = Number(raw.trim());
  if (raw.trim() === '' || !Number.isFinite(value) || value < 0) throw new ConfigValueError('expected a number of streams per second, 0 for no limit');
  return value;
};

export const command = defineCommand({
  name: 'skiff-loadgen',
  description: 'Simulates Envoy sidecars or proxyless gRPC clients on ADS streams and records when each receives each resource version',
  options: {
    xdsAddress: { flag: 'xds-addr', description: 'ADS server to load (a gateway\'s plaintext address)', parse: address, required: true, valueName: 'host:port' },
    proxies: { flag: 'proxies', description: 'simulated proxies, one ADS stream each', parse: parsePositiveInteger, default: '1', valueName: 'n' },
    clusters: {
      flag: 'clusters',
      description: 'clusters to subscribe to: names, comma separated, or a file of them (one per line; a [namespace] line starts a group of proxies in that namespace)',
      parse: identity,
      default: '',
      valueName: 'names|file',
    },
    clustersPerProxy: { flag: 'clusters-per-proxy', description: 'clusters each proxy takes from its group\'s list, in turn; 0 for all of them', parse: wholeNumber, default: '0', valueName: 'n' },
    namespace: { flag: 'namespace', description: 'namespace of the proxies outside any [namespace] group', parse: identity, default: 'default', valueName: 'name' },
    flavor: { flag: 'flavor', description: 'envoy: CDS wildcard, then EDS for the clusters; grpc: proxyless gRPC (GENERATOR grpc), CDS and EDS by name', parse: oneOf(PROXY_FLAVORS), default: 'envoy', valueName: 'envoy|grpc' },
    delta: { flag: 'delta', description: 'incremental xDS (DeltaAggregatedResources) instead of state of the world', switch: true },
    duration: { flag: 'duration', description: 'stop after this long and print the summary (default: run until SIGTERM or SIGINT)', parse: parseDuration, valueName: 'duration' },
    output: { flag: 'output', short: 'o', description: 'summary format', parse: oneOf(['table', 'json'] as const), default: 'table', valueName: 'table|json' },
    streamsPerConnection: { flag: 'streams-per-connection', description: 'ADS streams sharing one HTTP/2 connection; 1 gives every proxy its own, as real sidecars have', parse: parsePositiveInteger, default: '100', valueName: 'n' },
    transport: {
      flag: 'transport',
      description: 'http2: Node\'s HTTP/2 client with gRPC framing, the lightest on the generator\'s CPU; grpc-js: @grpc/grpc-js\'s client, to compare with',
      parse: oneOf(TRANSPORTS),
      default: 'http2',
      valueName: 'http2|grpc-js',
    },
    connectRate: { flag: 'connect-rate', description: 'streams opened per second; 0 opens them all at once', parse: rate, default: '0', valueName: 'n' },
    control: { flag: 'control', description: 'answer JSON requests on stdin with JSON lines on stdout (status, ready, arrivals, summary, stop, open); the summary is then only given on request', switch: true },
    hold: { flag: 'hold', description: 'open no stream until an open request on the control protocol (with --control): start before the server to measure its start-up alone', switch: true },
    logLevel: LOG_LEVEL_OPTION,
  },
});

export function main(): void {
  const config = parseCommandLine(command);
  if (config.hold && !config.control) {
    process.stderr.write('skiff-loadgen: --hold needs --control: held streams open on a control request\n');
    process.exit(USAGE_EXIT_CODE);
  }
  // stdout carries the summary or the control replies; logs go to stderr.
  const logger = createLogger({ level: config.logLevel, name: 'skiff-loadgen', destination: { write: (text: string) => void process.stderr.write(text) }, pretty: process.stderr.isTTY === true });
  let plans: ProxyPlan[];
  try {
    plans = planProxies({ proxies: config.proxies, groups: readClusterSpec(config.clusters, config.namespace), clustersPerProxy: config.clustersPerProxy, flavor: config.flavor });
  } catch (error) {
    process.stderr.write(`skiff-loadgen: ${messageOf(error)}\n`);
    process.exit(USAGE_EXIT_CODE);
  }
  const generator = new LoadGenerator({
    target: config.xdsAddress,
    plans,
    flavor: config.flavor,
    delta: config.delta,
    streamsPerConnection: config.streamsPerConnection,
    transport: config.transport,
    connectRate: config.connectRate,
    version: SKIFF_VERSION,
    logger,
  });
  // Runners close in reverse order: the streams end, then the summary is printed.
  const report = {
    name: 'report',
    start: async () => {},
    close: async () => {
      if (config.control) return;
      const summary = generator.summary();
      process.stdout.write(`${config.output === 'json' ? JSON.stringify(summary, null, 2) : formatSummary(summary)}\n`);
    },
  };
  // Held streams are opened by the control protocol's `open`; the runner then only closes them.
  const streams = config.hold ? { name: generator.name, start: async () => {}, close: () => generator.close() } : generator;
  const services = runServices([report, streams], {
    logger,
    shutdownTimeoutMs: 10_000,
    // A run in which no proxy ever got its configuration failed, whatever ended it.
    exit: (code) => {
      if (code === 0 && generator.status().ready === 0) {
        process.stderr.write(`skiff-loadgen: no proxy got its configuration from ${config.xdsAddress}\n`);
        process.exit(1);
      }
      process.exit(code);
    },
  });
  services.started.then(
    () => {
      if (config.duration !== undefined) setTimeout(() => void services.stop('duration elapsed'), config.duration);
      if (!config.control) return;
      const write = (line: string): void => void process.stdout.write(`${line}\n`);
      // When the driver closes our stdin, nobody is left to ask for anything.
      const open = config.hold ? { open: () => generator.start() } : {};
      void serveControl({ generator, input: process.stdin, write, stop: () => void services.stop('stop requested'), ...open }).then(() => services.stop('control input closed'));
    },
    // runServices has logged the failure and is shutting down.
    () => {},
  );
}
