/**
 * The watcher benchmark, through a real Redis: `npm run bench` runs it after the selector-index one
 * (`bench/run.mjs`); `node bench/watcher.mjs` runs it alone after `npm run build`. It imports the built
 * packages (`dist/`), measures, prints tables, writes `bench/results/watcher.json` and regenerates its
 * own section of `docs/BENCHMARKS.md`.
 *
 * Options are `run.mjs`'s, so one command line drives both:
 *   --quick              small sizes, seconds: a smoke run. Writes `watcher-quick.tmp.json` (not committed)
 *                        and leaves the docs alone unless --docs is given.
 *   --results-dir <dir>  where the JSON goes (default `bench/results`)
 *   --docs <file>        the Markdown file whose watcher section is rewritten (default
 *                        `docs/BENCHMARKS.md` for a full run); `--no-docs` skips it
 *   --name <name>        names the selector-index results only; ignored here
 * Redis: `SKIFF_REDIS_URL` (as for the services' `--redis-url`), default redis://127.0.0.1:6379. Keys go
 * under a unique prefix and are deleted afterwards. The command counts run on a redis-server the
 * benchmark starts on a free port (see `lib/redis-bench.mjs`).
 *
 * Scenarios are described in `lib/watcher-suite.mjs`.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULT_REDIS_URL } from './lib/redis-bench.mjs';
import { currentLoadAverage, describeMachine, readBenchOptions, writeResults } from './lib/report.mjs';
import { evaluateWatcherTargets, formatWatcherConsole, renderWatcherMarkdownSection, replaceWatcherMarkdownSection } from './lib/watcher-report.mjs';
import { runWatcherSuite, WATCHER_FULL_PLAN, WATCHER_QUICK_PLAN } from './lib/watcher-suite.mjs';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_NAME = 'watcher';

function readOptions(argv, env) {
  return { ...readBenchOptions(argv, REPO_ROOT), redisUrl: env.SKIFF_REDIS_URL ?? DEFAULT_REDIS_URL };
}

/** Runs the watcher benchmark with command-line `argv`; returns the results and where they were written. */
export async function main(argv, log = (line) => console.log(line), env = process.env) {
  const options = readOptions(argv, env);
  const plan = options.quick ? WATCHER_QUICK_PLAN : WATCHER_FULL_PLAN;
  const machine = describeMachine();
  log(`watcher benchmark, ${plan.mode} mode; ${machine.nproc} CPUs, ${machine.cpuModel}, Node ${machine.node}, load average ${machine.loadAverageAtStart}`);
  const date = new Date().toISOString();
  const measured = await runWatcherSuite(plan, { redisUrl: options.redisUrl, log });
  machine.loadAverageAtEnd = currentLoadAverage();
  const results = { name: RESULTS_NAME, date, machine, ...measured };
  results.targets = evaluateWatcherTargets(results);

  return writeResults({
    results,
    name: RESULTS_NAME,
    quick: options.quick,
    resultsDir: options.resultsDir,
    docs: options.docs,
    renderSection: renderWatcherMarkdownSection,
    replaceSection: replaceWatcherMarkdownSection,
    formatConsole: formatWatcherConsole,
    log,
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main(process.argv.slice(2));
}
