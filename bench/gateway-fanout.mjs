/**
 * The gateway's fan-out alone, for profiling and for comparing builds: the services of the gateway
 * benchmark (`bench/gateway.mjs`) on a smaller mesh whose namespaces are the same size (so each
 * sidecar's CDS, 150 clusters, and each push are the same as there), then (3) one change at a time
 * pushed to `--proxies` sidecars all on the changed cluster, with the gateway's CPU milliseconds per
 * change (`/proc/<pid>/stat`), and (4) the gateway's memory with `--streams` streams connected, and its CPU
 * while they sit idle.
 * CPU time is what a fan-out costs the gateway whatever else runs on the machine; latencies count
 * the time it waited for a core as well, so both are reported with the load average.
 *
 *   node bench/gateway-fanout.mjs [--proxies 10000] [--changes 20] [--streams 20000] [--namespaces 10] [--gateway-bin <path>]
 *                                 [--eds-clusters 1] [--loadgen-transport http2|grpc-js] [--gateways 1] [--gateway-cpu-prof <dir>] [--results <file>]
 *
 * `--gateway-bin` runs another build's `skiff-gateway` (a checkout of the commit to compare with);
 * `--eds-clusters` subscribes each proxy in (3) to the endpoints of that many clusters of the changed
 * one's namespace (it included), up to its 150, as a sidecar subscribes to those of all its clusters;
 * `--loadgen-transport` is the simulated proxies' client (skiff-loadgen `--transport`, default http2);
 * `--gateways N` scales the gateway out to N replicas on the same Redis and splits the proxies of (3)
 * over them, one load generator process each (CPU and pushes are summed over the replicas; memory is
 * the first one's, which (4) connects to alone);
 * `--streams 0` skips (4). Writes `bench/results/gateway-fanout.json` unless `--results` says where.
 * Redis: `SKIFF_REDIS_URL`, default redis://127.0.0.1:6379; keys under a unique prefix, deleted after.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildGatewayMesh, workloadMoves } from './lib/gateway-mesh.mjs';
import { BINS } from './lib/gateway-processes.mjs';
import { cleanUp, cleanUpOnSignal, GATEWAY_FULL_PLAN, loadMesh, measureFanout, measureStreamsMemory, scaleGatewaysTo } from './lib/gateway-suite.mjs';
import { connectAdmin, DEFAULT_REDIS_URL, uniquePrefix } from './lib/redis-bench.mjs';
import { currentLoadAverage, describeMachine } from './lib/report.mjs';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values } = parseArgs({
  options: {
    proxies: { type: 'string', default: '10000' },
    namespaces: { type: 'string', default: '10' },
    changes: { type: 'string', default: '20' },
    'eds-clusters': { type: 'string', default: '1' },
    streams: { type: 'string', default: '20000' },
    'gateway-bin': { type: 'string' },
    'gateway-cpu-prof': { type: 'string' },
    'loadgen-transport': { type: 'string', default: 'http2' },
    gateways: { type: 'string', default: '1' },
    results: { type: 'string', default: join(REPO_ROOT, 'bench', 'results', 'gateway-fanout.json') },
  },
  strict: true,
});
const gateways = Number(values.gateways);
if (!Number.isInteger(gateways) || gateways < 1) throw new Error(`--gateways: expected a whole number of at least 1, got ${values.gateways}`);
if (values['gateway-bin'] !== undefined) BINS.gateway = resolve(values['gateway-bin']);
const plan = {
  ...GATEWAY_FULL_PLAN,
  mode: 'fanout',
  // Namespaces of the full mesh's size (100 ServiceEntries, 150 clusters each); ten by default.
  mesh: { namespaces: Number(values.namespaces), serviceEntriesPerNamespace: 100, workloadsPerServiceEntry: 2 },
  readyTimeoutMs: 600_000,
  fanout: { ...GATEWAY_FULL_PLAN.fanout, proxies: Number(values.proxies), changes: Number(values.changes), edsClusters: Number(values['eds-clusters']) },
  streams: { proxies: Number(values.streams), connectRate: GATEWAY_FULL_PLAN.fanout.connectRate },
};
const redisUrl = process.env.SKIFF_REDIS_URL ?? DEFAULT_REDIS_URL;
const log = (line) => console.log(line);
const machine = describeMachine();
log(`gateway fan-out benchmark: ${plan.fanout.proxies} proxies on ${gateways} gateway${gateways === 1 ? '' : 's'} (endpoints of ${plan.fanout.edsClusters} clusters each, load generator over ${values['loadgen-transport']}), ${plan.fanout.changes} changes, ${plan.streams.proxies} streams; gateway ${BINS.gateway}; ${machine.nproc} CPUs, load average ${machine.loadAverageAtStart}`);
const admin = await connectAdmin(redisUrl);
const mesh = buildGatewayMesh(plan.mesh);
const context = { mesh, moves: workloadMoves(mesh, 11), prefix: uniquePrefix('gateway-fanout'), scratch: mkdtempSync(join(tmpdir(), 'skiff-bench-fanout-')), cleanups: [], loadgenTransport: values['loadgen-transport'] };
const date = new Date().toISOString();
const removeSignalHandlers = cleanUpOnSignal(context, admin, log);
try {
  log('(1) load the mesh');
  const gatewayCpuProfileDir = values['gateway-cpu-prof'] === undefined ? undefined : resolve(values['gateway-cpu-prof']);
  const load = await loadMesh(context, plan, { redisUrl, gatewayCpuProfileDir }, log);
  if (gateways > 1) await scaleGatewaysTo(context, plan, gateways);
  log(`(3) ${plan.fanout.proxies} proxies on one cluster${gateways === 1 ? '' : `, split over ${gateways} gateways`}`);
  const fanout = await measureFanout(context, plan, log, { processes: gateways, gateways, changes: plan.fanout.changes });
  let streams;
  if (plan.streams.proxies > 0) {
    log(`(4) ${plan.streams.proxies} streams connected`);
    streams = await measureStreamsMemory(context, plan, log);
  }
  machine.loadAverageAtEnd = currentLoadAverage();
  const results = { name: 'gateway-fanout', date, machine, gateway: values['gateway-bin'] === undefined ? 'this checkout' : 'another build (--gateway-bin)', loadgenTransport: context.loadgenTransport, gateways, plan, load, fanout, streams };
  mkdirSync(dirname(values.results), { recursive: true });
  writeFileSync(values.results, `${JSON.stringify(results, null, 2)}\n`);
  log(`results: ${values.results}`);
} finally {
  removeSignalHandlers();
  await cleanUp(context, admin, log);
}
