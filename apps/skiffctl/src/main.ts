/**
 * skiffctl: Skiff's command line, in istioctl's style. Wiring only: each command lives in
 * `commands/` and returns an exit code. A command's module is imported when the command runs, so
 * each run loads only what its command uses (the analyzer, the translator, the Envoy protobuf
 * registry are each a good part of start-up; bench/cli-startup.mjs measures it).
 */
import { versionLine } from '@skiff/runtime/cli.js';
import { Command, CommanderError, Option } from 'commander';
import { addProxyConfigCommands } from './commands/proxy-config-command.js';
import { gatewayClient, withGatewayOptions, type GatewayOptions } from './gateway-options.js';
import { ExitCode, type CommandIO } from './io.js';

/** Builds the program; `run` resolves with the exit code instead of exiting, so tests run it in-process. */
export function buildProgram(io: CommandIO, setExitCode: (code: number) => void): Command {
  const program = new Command('skiffctl')
    .description('Validate and translate Istio ServiceEntry/WorkloadEntry configuration, and debug a running Skiff')
    .version(versionLine('skiffctl'), '--version', 'print the version and exit')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .showHelpAfterError('(run skiffctl --help for usage)');

  program
    .command('validate')
    .description('validate ServiceEntries and WorkloadEntries with istiod\'s rules; one line per object')
    .requiredOption('-f, --filename <paths...>', 'files, directories (recursive) or - for stdin')
    .option('-n, --namespace <ns>', 'namespace of objects that name none', 'default')
    .action(async (options: { filename: string[]; namespace: string }) => {
      const { runValidate } = await import('./commands/validate.js');
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
    .option('--proxy-locality <region/zone/subzone>', "build the endpoints a proxy in this locality gets (DestinationRule localityLbSetting)")
    .option('--proxy-labels <key=value...>', "that proxy's labels (localityLbSetting.failoverPriority)")
    .option('--mesh-config <file>', "istiod's MeshConfig YAML (the istio ConfigMap's mesh key): mesh-wide locality load balancing, connect timeout, ...")
    .action(
      async (options: {
        filename: string[];
        flavor: 'envoy' | 'grpc';
        naming: 'sidecar' | 'sni-dnat';
        namespace: string;
        output: 'json' | 'yaml';
        proxyLocality?: string;
        proxyLabels?: string[];
        meshConfig?: string;
      }) => {
        const { runTranslate } = await import('./commands/translate.js');
        setExitCode(
          await runTranslate(
            {
              files: options.filename,
              flavor: options.flavor,
              naming: options.naming,
              namespace: options.namespace,
              output: options.output,
              ...(options.proxyLocality === undefined ? {} : { proxyLocality: options.proxyLocality }),
              ...(options.proxyLabels === undefined ? {} : { proxyLabels: options.proxyLabels }),
              ...(options.meshConfig === undefined ? {} : { meshConfig: options.meshConfig }),
            },
            io,
          ),
        );
      },
    );

  program
    .command('analyze')
    .description('validate and check ServiceEntries and WorkloadEntries across objects, like istioctl analyze')
    .requiredOption('-f, --filename <paths...>', 'files, directories (recursive) or - for stdin')
    .option('-n, --namespace <ns>', 'namespace of objects that name none', 'default')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['log', 'json']).default('log'))
    .addOption(new Option('--failure-threshold <level>', 'lowest level that makes the exit code 1').choices(['Info', 'Warning', 'Error']).default('Error'))
    .addOption(new Option('--output-threshold <level>', 'lowest level printed').choices(['Info', 'Warning', 'Error']).default('Info'))
    .action(async (options: { filename: string[]; namespace: string; output: 'log' | 'json'; failureThreshold: 'Info' | 'Warning' | 'Error'; outputThreshold: 'Info' | 'Warning' | 'Error' }) => {
      const { runAnalyze } = await import('./commands/analyze.js');
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
    'any replica shows the whole fleet',
  ).action(async (options: GatewayOptions & { namespace?: string; output: 'table' | 'json' | 'yaml'; details?: boolean }) => {
    const { runProxyStatus } = await import('./commands/proxy-status.js');
    setExitCode(
      await runProxyStatus(
        { gateway: gatewayClient(options), output: options.output, details: options.details === true, ...(options.namespace === undefined ? {} : { namespace: options.namespace }) },
        io,
      ),
    );
  });

  addProxyConfigCommands(program, io, setExitCode);

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
