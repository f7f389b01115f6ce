/**
 * skiffctl: Skiff's command line, in istioctl's style. Wiring only: each command lives in
 * `commands/` and returns an exit code.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { runAnalyze } from './commands/analyze.js';
import { runProxyConfig, type ProxyConfigKind } from './commands/proxy-config.js';
import { runProxyStatus } from './commands/proxy-status.js';
import { runTranslate } from './commands/translate.js';
import { runValidate } from './commands/validate.js';
import { DEFAULT_GATEWAY_URL, DEFAULT_TIMEOUT_MS, GatewayClient, parseGatewayUrl } from './gateway-client.js';
import { ExitCode, type CommandIO } from './io.js';

/** Options every command that asks a running gateway takes. */
interface GatewayOptions {
  readonly gateway: string;
  readonly timeout: number;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new InvalidArgumentError('expected a port, 1 to 65535');
  return port;
}

/** istioctl's `--timeout` takes Go durations; skiffctl takes the common forms `500ms`, `30s`, `1m`. */
function parseTimeout(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value);
  if (match === null || Number(match[1]) <= 0) throw new InvalidArgumentError('expected a duration such as 500ms, 30s or 1m');
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
}

function withGatewayOptions(command: Command): Command {
  return command
    .option('--gateway <url>', "a gateway's monitoring address (port 15014); any replica shows the whole fleet", DEFAULT_GATEWAY_URL)
    .addOption(new Option('--timeout <duration>', 'how long to wait for the gateway').argParser(parseTimeout).default(DEFAULT_TIMEOUT_MS, '30s'));
}

function gatewayClient(options: GatewayOptions): GatewayClient {
  return new GatewayClient(parseGatewayUrl(options.gateway), options.timeout);
}

/** Builds the program; `run` resolves with the exit code instead of exiting, so tests run it in-process. */
export function buildProgram(io: CommandIO, setExitCode: (code: number) => void): Command {
  const program = new Command('skiffctl')
    .description('Validate and translate Istio ServiceEntry/WorkloadEntry configuration, and debug a running Skiff')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .showHelpAfterError('(run skiffctl --help for usage)');

  program
    .command('validate')
    .description('validate ServiceEntries and WorkloadEntries with istiod\'s rules; one line per object')
    .requiredOption('-f, --filename <paths...>', 'files, directories (recursive) or - for stdin')
    .option('-n, --namespace <ns>', 'namespace of objects that name none', 'default')
    .action(async (options: { filename: string[]; namespace: string }) => {
      setExitCode(await runValidate({ files: options.filename, namespace: options.namespace }, io));
    });

  program
    .command('translate')
    .description('print the Envoy clusters and endpoints (and gRPC listeners and routes) Skiff builds for the input')
    .requiredOption('-f, --filename <paths...>', 'files, directories (recursive) or - for stdin')
    .addOption(new Option('--flavor <flavor>', 'output for Envoy proxies or proxyless gRPC clients').choices(['envoy', 'grpc']).default('envoy'))
    .addOption(new Option('--naming <naming>', 'cluster names of sidecars (outbound|PORT||HOST) or sni-dnat routers (outbound_.PORT_._.HOST)').choices(['sidecar', 'sni-dnat']).default('sidecar'))
    .option('-n, --namespace <ns>', 'namespace of objects that name none', 'default')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['json', 'yaml']).default('json'))
    .action(async (options: { filename: string[]; flavor: 'envoy' | 'grpc'; naming: 'sidecar' | 'sni-dnat'; namespace: string; output: 'json' | 'yaml' }) => {
      setExitCode(await runTranslate({ files: options.filename, flavor: options.flavor, naming: options.naming, namespace: options.namespace, output: options.output }, io));
    });

  program
    .command('analyze')
    .description('validate and check ServiceEntries and WorkloadEntries across objects, like istioctl analyze')
    .requiredOption('-f, --filename <paths...>', 'files, directories (recursive) or - for stdin')
    .option('-n, --namespace <ns>', 'namespace of objects that name none', 'default')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['log', 'json']).default('log'))
    .addOption(new Option('--failure-threshold <level>', 'lowest level that makes the exit code 1').choices(['Info', 'Warning', 'Error']).default('Error'))
    .addOption(new Option('--output-threshold <level>', 'lowest level printed').choices(['Info', 'Warning', 'Error']).default('Info'))
    .action(async (options: { filename: string[]; namespace: string; output: 'log' | 'json'; failureThreshold: 'Info' | 'Warning' | 'Error'; outputThreshold: 'Info' | 'Warning' | 'Error' }) => {
      setExitCode(
        await runAnalyze(
          { files: options.filename, namespace: options.namespace, output: options.output, failureThreshold: options.failureThreshold, outputThreshold: options.outputThreshold },
          io,
        ),
      );
    });

  withGatewayOptions(
    program
      .command('proxy-status')
      .alias('ps')
      .description("sync status of every proxy of every gateway replica, in istioctl proxy-status's layout")
      .option('-n, --namespace <ns>', 'only proxies in this namespace')
      .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'))
      .option('-v, --details', 'also print the message of every NACK'),
  ).action(async (options: GatewayOptions & { namespace?: string; output: 'table' | 'json' | 'yaml'; details?: boolean }) => {
    setExitCode(
      await runProxyStatus(
        { gateway: gatewayClient(options), output: options.output, details: options.details === true, ...(options.namespace === undefined ? {} : { namespace: options.namespace }) },
        io,
      ),
    );
  });

  const proxyConfig = program
    .command('proxy-config')
    .alias('pc')
    .description("what a gateway sent one proxy (clusters, endpoints, listeners, routes), in istioctl proxy-config's tables or as Envoy JSON");
  const kinds: readonly { kind: ProxyConfigKind; aliases: string[]; description: string; filters: (command: Command) => Command }[] = [
    {
      kind: 'cluster',
      aliases: ['clusters', 'c'],
      description: 'the clusters sent to the proxy',
      filters: (command) =>
        command
          .option('--fqdn <host>', 'only clusters whose name contains this host')
          .option('--port <port>', 'only clusters of this port', parsePort)
          .option('--subset <subset>', 'only clusters whose name contains this subset')
          .option('--direction <direction>', 'only clusters whose name contains this direction (inbound, outbound)'),
    },
    {
      kind: 'endpoint',
      aliases: ['endpoints', 'ep'],
      description: 'the endpoints sent to the proxy',
      filters: (command) =>
        command
          .option('--address <ip>', 'only endpoints with this address')
          .option('--port <port>', 'only endpoints on this port', parsePort)
          .option('--cluster <name>', 'only endpoints of this cluster')
          .option('--status <status>', 'only endpoints with this health status (HEALTHY, UNHEALTHY, DRAINING, ...)'),
    },
    {
      kind: 'listener',
      aliases: ['listeners', 'l'],
      description: 'the listeners sent to the proxy (gRPC API listeners, named host:port)',
      filters: (command) => command.option('--address <ip>', 'only listeners with this address').option('--port <port>', 'only listeners on this port', parsePort),
    },
    {
      kind: 'route',
      aliases: ['routes', 'r'],
      description: 'the route configurations sent to the proxy',
      filters: (command) => command.option('--name <name>', 'only the route configuration of this name'),
    },
  ];
  for (const { kind, aliases, description, filters } of kinds) {
    const command = proxyConfig
      .command(kind)
      .aliases(aliases)
      .description(description)
      .argument('<proxy-id>', "the proxy: istiod's proxy ID (pod.namespace) or its full node id")
      .option('-n, --namespace <ns>', 'namespace of a proxy ID given without one')
      .addOption(new Option('-o, --output <format>', 'output format').choices(['short', 'json', 'yaml']).default('short'));
    withGatewayOptions(filters(command)).action(async (proxyId: string, options: GatewayOptions & Record<string, string | number | undefined>) => {
      const text = (name: string): string | undefined => (typeof options[name] === 'string' ? (options[name] as string) : undefined);
      const number = (name: string): number | undefined => (typeof options[name] === 'number' ? (options[name] as number) : undefined);
      const namespace = text('namespace');
      const id = namespace !== undefined && !proxyId.includes('.') && !proxyId.includes('~') ? `${proxyId}.${namespace}` : proxyId;
      setExitCode(
        await runProxyConfig(
          {
            gateway: gatewayClient(options),
            kind,
            proxyId: id,
            output: (text('output') ?? 'short') as 'short' | 'json' | 'yaml',
            clusterFilter: { fqdn: text('fqdn'), port: number('port'), subset: text('subset'), direction: text('direction') },
            endpointFilter: { address: text('address'), port: number('port'), cluster: text('cluster'), status: text('status') },
            listenerFilter: { address: text('address'), port: number('port') },
            ...(text('name') === undefined ? {} : { routeName: text('name') as string }),
          },
          io,
        ),
      );
    });
  }

  return program;
}

/** Runs skiffctl with `argv` (without the node and script paths) and resolves with the exit code. */
export async function run(argv: readonly string[], io: CommandIO): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    io.stderr.write(`skiffctl: ${error instanceof Error ? error.message : String(error)}\n`);
    return ExitCode.Usage;
  }
  return exitCode;
}
