/**
 * The selector-index benchmark: `npm run bench` (which builds first), or `node bench/run.mjs` after
 * `npm run build`. It imports the built packages (`dist/`), measures, prints a table, writes
 * `bench/results/<name>.json` and regenerates its section of `docs/BENCHMARKS.md`.
 *
 *   --quick              small sizes, seconds: a smoke run. Writes `<name>-quick.tmp.json` (not committed)
 *                        and leaves the docs alone unless --docs is given.
 *   --name <name>        results file name (default `selector-index`)
 *   --results-dir <dir>  where the JSON goes (default `bench/results`)
 *   --docs <file>        the Markdown file whose generated section is rewritten (default
 *                        `docs/BENCHMARKS.md` for a full run); `--no-docs` skips it
 *
 * Scenarios and the reference implementations are described in `lib/suite.mjs`.
 *
 * Run from the command line, it then runs the watcher benchmark (`watcher.mjs`, through Redis), the
 * DestinationRule benchmark (`destination-rules.mjs`, in process) and the gateway benchmark
 * (`gateway.mjs`, every service a process, through Redis) with the same options; `node bench/watcher.mjs`,
 * `node bench/destination-rules.mjs` and `node bench/gateway.mjs` run them alone.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { currentLoadAverage, describeMachine, evaluateTargets, formatConsole, renderMarkdownSection, replaceMarkdownSection, writeResults } from './lib/report.mjs';
import { FULL_PLAN, QUICK_PLAN, runSuite } from './lib/suite.mjs';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function readOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      name: { type: 'string', default: 'selector-index' },
      'results-dir': { type: 'string', default: join(REPO_ROOT, 'bench', 'results') },
      docs: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const docs = values['no-docs'] ? undefined : (values.docs ?? (values.quick ? undefined : join(REPO_ROOT, 'docs', 'BENCHMARKS.md')));
  return { quick: values.quick, name: values.name, resultsDir: resolve(values['results-dir']), docs: docs === undefined ? undefined : resolve(docs) };
}

/** Runs the benchmark with command-line `argv`; returns the results and where they were written. */
export function main(argv, log = (line) => console.log(line)) {
  const options = readOptions(argv);
  const plan = options.quick ? QUICK_PLAN : FULL_PLAN;
  const machine = describeMachine();
  log(`selector-index benchmark, ${plan.mode} mode; ${machine.nproc} CPUs, ${machine.cpuModel}, Node ${machine.node}, load average ${machine.loadAverageAtStart}`);
  const date = new Date().toISOString();
  const measured = runSuite(plan, log);
  machine.loadAverageAtEnd = currentLoadAverage();
  const results = { name: options.name, date, machine, ...measured };
  results.targets = evaluateTargets(results);

  return writeResults({
    results,
    name: options.name,
    quick: options.quick,
    resultsDir: options.resultsDir,
    docs: options.docs,
    renderSection: renderMarkdownSection,
    replaceSection: replaceMarkdownSection,
    formatConsole: formatConsole,
    log,
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2));
  // Imported here, so that importing this module (its quick-mode test does) loads no Redis client.
  const { main: runWatcherBenchmark } = await import('./watcher.mjs');
  await runWatcherBenchmark(process.argv.slice(2));
  const { main: runDestinationRuleBenchmark } = await import('./destination-rules.mjs');
  await runDestinationRuleBenchmark(process.argv.slice(2));
  const { main: runGatewayBenchmark } = await import('./gateway.mjs');
  await runGatewayBenchmark(process.argv.slice(2));
}
