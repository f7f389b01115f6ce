/**
 * skiff-demo: wiring only. With no command, the tour (`npm run demo`, tour.ts). `backends` serves the
 * example's WorkloadEntries on this machine and `client` calls the example service through a running
 * Skiff, so the README's `npm start` example gets traffic.
 */
import { versionLine } from '@skiff/runtime';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { planBackends, startPlannedBackends, stopBackends } from './backends.js';
import { processLifecycle, type Lifecycle } from './lifecycle.js';
import { runTour } from './tour.js';
import { EXAMPLE_TARGET, report, sample, xdsClient } from './traffic.js';

const DEFAULT_MESH = 'examples/demo';

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return parsed;
}

/** `skiff-demo backends`: one backend per WorkloadEntry port until stopped. */
async function runBackends(paths: readonly string[], life: Lifecycle): Promise<number> {
  const { plans, errors } = await planBackends(paths);
  if (errors.length > 0) {
    for (const error of errors) process.stderr.write(`skiff-demo: ${error}\n`);
    return 1;
  }
  let backends;
  try {
    backends = await startPlannedBackends(plans);
  } catch (error) {
    process.stderr.write(`skiff-demo: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  try {
    for (const plan of plans) life.out(`${plan.workloadEntry.padEnd(24)} gRPC backend on ${plan.host}:${plan.port}`);
    life.out('serving; Ctrl-C stops');
    await life.stopped();
    return 0;
  } finally {
    stopBackends(backends);
  }
}

interface ClientOptions {
  readonly xdsAddr: string;
  readonly calls: number;
  readonly follow?: boolean;
  readonly target: string;
  readonly nodeId: string;
  readonly namespace: string;
}

/**
 * `skiff-demo client`: a number of calls through Skiff, then where they went; exit 1 if any failed.
 * With `--follow`, one line per second until stopped, so the client stays connected for skiffctl.
 */
async function runClient(options: ClientOptions, life: Lifecycle): Promise<number> {
  const client = await xdsClient({ xdsAddress: options.xdsAddr, nodeId: options.nodeId, namespace: options.namespace, target: options.target });
  try {
    if (options.follow === true) {
      life.out(`calling ${options.target} through Skiff at ${options.xdsAddr} as node ${options.nodeId} (namespace ${options.namespace}); Ctrl-C stops`);
      while (!life.signal.aborted) {
        const end = Date.now() + 1_000;
        const result = await sample(client, () => Date.now() >= end, life.signal);
        if (life.signal.aborted) break;
        const shares = [...result.hits.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, count]) => `${name} ${count}`);
        life.out(`${new Date().toISOString().slice(11, 19)}  ${[...shares, `errors ${result.errors}`].join('  ')}${result.firstError === undefined ? '' : `  (${result.firstError})`}`);
      }
      return life.exitCode ?? 0;
    }
    life.out(`${options.calls} calls to ${options.target} through Skiff at ${options.xdsAddr}:`);
    const result = await sample(client, (made) => made >= options.calls, life.signal, 5_000);
    if (life.exitCode !== undefined) return life.exitCode;
    for (const line of report([...result.hits.keys()].sort(), result)) life.out(line);
    return result.errors === 0 ? 0 : 1;
  } finally {
    client.close();
  }
}

/** Runs skiff-demo with `argv` (without the node and script paths) and resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const life = processLifecycle();
  let exitCode = 0;
  const program = new Command('skiff-demo')
    .description('Skiff in one minute: the all-in-one, four gRPC backends and a proxyless gRPC client; edits WorkloadEntries and shows the traffic move')
    .version(versionLine('skiff-demo'), '--version', 'print the version and exit')
    .option('--short', 'run each step briefly')
    .allowExcessArguments(false)
    .exitOverride()
    .action(async (options: { short?: boolean }) => {
      exitCode = await runTour({ short: options.short === true }, life);
    });
  program
    .command('backends')
    .description(`serve the example's WorkloadEntries: a gRPC backend on each address and port they name (for \`npm start\`)`)
    .option('-f, --filename <paths...>', 'files or directories with the WorkloadEntries', [DEFAULT_MESH])
    .action(async (options: { filename: string[] }) => {
      exitCode = await runBackends(options.filename, life);
    });
  program
    .command('client')
    .description('a proxyless gRPC client (grpc-js-xds): calls the example service through Skiff and shows which backend answered')
    .option('--xds-addr <host:port>', "Skiff's ADS address", '127.0.0.1:15010')
    .option('--calls <n>', 'how many calls to make', positiveInteger, 30)
    .option('--follow', 'keep calling, one line per second, until Ctrl-C')
    .option('--target <target>', 'the xDS target', EXAMPLE_TARGET)
    .option('--node-id <id>', 'the xDS node id', 'demo-client')
    .option('--namespace <ns>', 'the node metadata NAMESPACE', 'demo')
    .action(async (options: ClientOptions) => {
      exitCode = await runClient(options, life);
    });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    exitCode = error.exitCode === 0 ? 0 : 2;
  } finally {
    life.dispose();
  }
  return exitCode;
}
