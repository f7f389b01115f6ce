/**
 * The gateway benchmark, end to end through a real Redis: `npm run bench` runs it after the watcher
 * one (`bench/run.mjs`); `node bench/gateway.mjs` runs it alone after `npm run build`. It starts the
 * built services (`skiff-watcher`, `skiff-translator`, `skiff-gateway`) and `skiff-loadgen` as
 * processes, measures, prints tables, writes `bench/results/gateway.json` and regenerates its own
 * section of `docs/BENCHMARKS.md`.
 *
 * Options are `run.mjs`'s, so one command line drives every benchmark:
 *   --quick              small sizes, seconds: a smoke run. Writes `gateway-quick.tmp.json` (not committed)
 *                        and leaves the docs alone unless --docs is given.
 *   --results-dir <dir>  where the JSON goes (default `bench/results`)
 *   --docs <file>        the Markdown file whose gateway section is rewritten (default
 *                        `docs/BENCHMARKS.md` for a full run); `--no-docs` skips it
 *   --name <name>        names the selector-index results only; ignored here
 * And, run alone:
 *   --gateway-cpu-prof <dir>  runs skiff-gateway with `--cpu-prof`; the profile lands in <dir> when it stops
 * Redis: `SKIFF_REDIS_URL` (as for the services' `--redis-url`), default redis://127.0.0.1:6379. Keys go
 * under a unique prefix and are deleted afterwards.
 *
 * Scenarios are described in `lib/gateway-suite.mjs`.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { evaluateGatewayTargets, formatGatewayConsole, renderGatewayMarkdownSection, replaceGatewayMarkdownSection } from './lib/gateway-report.mjs';
import { GATEWAY_FULL_PLAN, GATEWAY_QUICK_PLAN, runGatewaySuite } from './lib/gateway-suite.mjs';

export { IMAGE_MALLOC_CONF, imageAllocatorEnv, JEMALLOC_LIBRARY } from './lib/gateway-suite.mjs';
import { connectAdmin, DEFAULT_REDIS_URL, serverVersion } from './lib/redis-bench.mjs';
import { currentLoadAverage, describeMachine, readBenchOptions, writeResults } from './lib/report.mjs';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_NAME = 'gateway';

function readOptions(argv, env) {
  const options = readBenchOptions(argv, REPO_ROOT, { 'gateway-cpu-prof': { type: 'string' } });
  const profileDir = options.values['gateway-cpu-prof'];
  return {
    ...options,
    redisUrl: env.SKIFF_REDIS_URL ?? DEFAULT_REDIS_URL,
    gatewayCpuProfileDir: profileDir === undefined ? undefined : resolve(profileDir),
  };
}

/** Runs the gateway benchmark with command-line `argv`; returns the results and where they were written. */
export async function main(argv, log = (line) => console.log(line), env = process.env) {
  const options = readOptions(argv, env);
  const plan = options.quick ? GATEWAY_QUICK_PLAN : GATEWAY_FULL_PLAN;
  const machine = describeMachine();
  log(`gateway benchmark, ${plan.mode} mode; ${machine.nproc} CPUs, ${machine.cpuModel}, Node ${machine.node}, load average ${machine.loadAverageAtStart}`);
  const admin = await connectAdmin(options.redisUrl);
  const redis = { url: `${new URL(options.redisUrl).protocol}//${new URL(options.redisUrl).host}`, version: await serverVersion(admin) };
  admin.disconnect();
  const date = new Date().toISOString();
  const measured = await runGatewaySuite(plan, { redisUrl: options.redisUrl, log, gatewayCpuProfileDir: options.gatewayCpuProfileDir });
  machine.loadAverageAtEnd = currentLoadAverage();
  const results = { name: RESULTS_NAME, date, machine, redis, ...measured };
  results.targets = evaluateGatewayTargets(results);

  return writeResults({
    results,
    name: RESULTS_NAME,
    quick: options.quick,
    resultsDir: options.resultsDir,
    docs: options.docs,
    renderSection: renderGatewayMarkdownSection,
    replaceSection: replaceGatewayMarkdownSection,
    formatConsole: formatGatewayConsole,
    log,
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main(process.argv.slice(2));
}
