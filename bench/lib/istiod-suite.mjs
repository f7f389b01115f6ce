/**
 * Skiff against istiod, end to end, measured to the same point: an ADS response received by the same
 * client (skiff-loadgen, simulated Envoy sidecars: CDS wildcard, then EDS for their clusters).
 *
 * istiod is Istio's own discovery server (`istiod-reference serve`, tools/istiod-reference/serve.go,
 * istiod's default 100 ms push debounce) reading one YAML file; Skiff is the all-in-one `skiff`
 * (in-memory store) watching a directory holding the same objects. For each mesh size, one server at a
 * time on the same machine:
 *
 * - cold: the load generator is started first, holding its streams (`--hold`: process started, proxies
 *   planned), as sidecars wait for their control plane; then the server process is started, and once
 *   it says it is ready (istiod-reference on its standard output, from a 5 ms poll of its push state;
 *   Skiff's `/readyz`, polled as often) every proxy connects. The span from the server's process start
 *   to the last proxy configured (clusters and assignments). Where both servers take under a minute,
 *   each is cold started `plan.coldRepetitions` times, in turns, and the medians are kept;
 * - changes: WorkloadEntry address moves at a steady rate (churn), each on a ServiceEntry not changed
 *   in the last second; per change and subscribed proxy, the delay from the change being handed to the
 *   server (istiod: its config store, as a Kubernetes watch event would; Skiff: a file renamed into its
 *   directory, as an editor or a ConfigMap update does) to that proxy receiving the new assignment;
 * - Skiff on Kubernetes (`plan.kubernetes`): the mesh created through a real API server, Skiff cold
 *   started on it (`--kubeconfig`), and the same churn applied as merge patches through the API, so a
 *   change's delay includes the API server's write and watch event (`measureOnKubernetes`);
 * - the CLI: one process that reads the YAML and prints every resource: `istiod-reference` (the
 *   server started, one proxy queried, its resources printed) and `skiffctl translate -o json`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { istioTools } from '@skiff/istiod-parity';
import { buildGatewayMesh, spreadClusterFile, workloadEntry } from './gateway-mesh.mjs';
import { BINS, freePort, LoadgenProcess, residentMiB, ServiceProcess, sleep } from './gateway-processes.mjs';
import { startKubeMesh } from './kube-mesh.mjs';
import { median, nowMs, percentile } from './stats.mjs';

/** The issue's sizes: 100 and 10k ServiceEntries with 1k to 200k WorkloadEntries. */
export const ISTIOD_FULL_PLAN = {
  mode: 'full',
  sizes: [
    { serviceEntries: 100, workloads: 1_000 },
    { serviceEntries: 100, workloads: 10_000 },
    { serviceEntries: 100, workloads: 50_000 },
    { serviceEntries: 100, workloads: 200_000 },
    { serviceEntries: 10_000, workloads: 10_000 },
    { serviceEntries: 10_000, workloads: 50_000 },
    { serviceEntries: 10_000, workloads: 200_000 },
  ],
  namespaces: 10,
  proxies: 100,
  churnServiceEntries: 100,
  changes: 100,
  ratePerSecond: 10,
  readyTimeoutMs: 30 * 60_000,
  arrivalTimeoutMs: 120_000,
  /** Cold starts of each server per size, where both take under `COLD_REPEAT_BELOW_MS`. */
  coldRepetitions: 3,
  /** Runs of each command per CLI size, where both take under `CLI_REPEAT_BELOW_MS`. */
  cliRepetitions: 11,
  /** Also measure Skiff reading a real Kubernetes API server (tools/kube/build.sh) that holds the mesh. */
  kubernetes: true,
  cliSizes: [
    { serviceEntries: 1, workloads: 1 },
    { serviceEntries: 100, workloads: 1_000 },
    { serviceEntries: 100, workloads: 200_000 },
  ],
};

export const ISTIOD_QUICK_PLAN = {
  mode: 'quick',
  sizes: [{ serviceEntries: 20, workloads: 200 }],
  namespaces: 2,
  proxies: 6,
  churnServiceEntries: 10,
  changes: 10,
  ratePerSecond: 5,
  readyTimeoutMs: 120_000,
  arrivalTimeoutMs: 30_000,
  coldRepetitions: 2,
  cliRepetitions: 3,
  kubernetes: true,
  cliSizes: [{ serviceEntries: 20, workloads: 200 }],
};

/** Objects as YAML documents: JSON is YAML, and both servers read multi-document streams. */
function yamlOf(objects) {
  return objects.map((object) => JSON.stringify(object)).join('\n---\n');
}

/**
 * The mesh of one size, written for both servers: istiod's one file, and Skiff's directory where the
 * WorkloadEntries that will change have a file each (a change rewrites one small file).
 */
function writeMesh(scratch, size, plan) {
  const layout = {
    namespaces: plan.namespaces,
    serviceEntriesPerNamespace: Math.max(1, Math.round(size.serviceEntries / plan.namespaces)),
    workloadsPerServiceEntry: Math.max(1, Math.round(size.workloads / size.serviceEntries)),
  };
  const mesh = buildGatewayMesh(layout);
  // One workload of each churn ServiceEntry (spread over the mesh) changes; they go in files of their own.
  const stride = Math.max(1, Math.floor(mesh.services.length / plan.churnServiceEntries));
  const churn = [];
  for (let i = 0; i < mesh.services.length && churn.length < plan.churnServiceEntries; i += stride) {
    const service = mesh.services[i];
    churn.push({ service, workload: service.workloads[0], generation: 0 });
  }
  const churnNames = new Set(churn.map(({ workload }) => `vm-${workload}`));
  const dir = join(scratch, `mesh-${size.serviceEntries}-${size.workloads}`);
  const skiffDir = join(dir, 'skiff');
  mkdirSync(join(skiffDir, 'churn'), { recursive: true });
  const istiodFile = join(dir, 'istiod.yaml');
  writeFileSync(istiodFile, yamlOf(mesh.objects));
  writeFileSync(
    join(skiffDir, 'mesh.yaml'),
    yamlOf(mesh.objects.filter((object) => object.kind !== 'WorkloadEntry' || !churnNames.has(object.metadata.name))),
  );
  for (const entry of churn) writeChurnFile(skiffDir, entry);
  const clusterFile = join(dir, 'clusters.txt');
  writeFileSync(clusterFile, spreadClusterFile(mesh));
  return { mesh, churn, istiodFile, skiffDir, clusterFile, layout };
}

function churnObject({ service, workload, generation }) {
  return workloadEntry(service.namespace, service.index, workload, generation);
}

/** Every churn WorkloadEntry back at its first generation, in memory and in Skiff's files, for the next server. */
function restoreChurnFiles(files) {
  for (const entry of files.churn) {
    entry.generation = 0;
    writeChurnFile(files.skiffDir, entry);
  }
}

/** Replaces the churn file of `entry` by a rename, so the file source never reads it half written. */
function writeChurnFile(skiffDir, entry) {
  const path = join(skiffDir, 'churn', `vm-${entry.workload}.yaml`);
  const temporary = join(skiffDir, 'churn', `.vm-${entry.workload}.yaml.tmp`);
  writeFileSync(temporary, yamlOf([churnObject(entry)]));
  renameSync(temporary, path);
}

/** `istiod-reference serve`: its JSON lines on standard output, its commands on standard input. */
class IstiodProcess {
  constructor(child) {
    this.child = child;
    this.output = '';
    this.pending = new Map();
    this.nextId = 0;
    child.stderr.on('data', (chunk) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    });
    this.ready = new Promise((resolveReady, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const message = JSON.parse(line);
        if (message.event === 'ready') resolveReady(message);
        const settle = this.pending.get(message.id);
        this.pending.delete(message.id);
        settle?.(message);
      });
      child.once('exit', (code, signal) => reject(new Error(`istiod-reference exited (${code ?? signal}): ${this.output}`)));
    });
  }

  static start(reference, configFile, address) {
    const child = spawn(reference, ['serve', '--config', configFile, '--addr', address], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new IstiodProcess(child);
  }

  apply(object) {
    return new Promise((resolveReply, reject) => {
      const id = ++this.nextId;
      this.pending.set(id, (reply) => (reply.error === undefined ? resolveReply(reply) : reject(new Error(`istiod-reference: ${reply.error}`))));
      this.child.stdin.write(`${JSON.stringify({ id, apply: yamlOf([object]) })}\n`);
    });
  }

  stop() {
    this.child.stdin.end();
    this.child.kill('SIGKILL');
  }
}

/** How the cold start is measured, kept with the results: rows measured otherwise are not merged with them. */
export const COLD_METHOD = 'load generator started first, streams held until the server is ready';

/** How often Skiff's `/readyz` is polled: istiod-reference checks its push state every 5 ms (serve.go). */
const READY_POLL_MS = 5;

/** What both servers offer the run: start on `address`, a change, memory, stop. */
async function startIstiod(reference, files, address) {
  const started = nowMs();
  const istiod = IstiodProcess.start(reference, files.istiodFile, address);
  await istiod.ready;
  return {
    name: 'istiod',
    started,
    readyMs: nowMs() - started,
    pid: istiod.child.pid,
    change: (entry) => istiod.apply(churnObject(entry)),
    stop: () => istiod.stop(),
  };
}

async function startSkiff(files, plan, address) {
  return startSkiffProcess('skiff', ['--config-dir', files.skiffDir], plan, address, async (entry) => writeChurnFile(files.skiffDir, entry));
}

/** Skiff reading a Kubernetes API server that holds the mesh (`startKubeMesh`); a change is a patch through the API. */
async function startSkiffOnKubernetes(kube, plan, address) {
  return startSkiffProcess('skiffKube', ['--kubeconfig', kube.kubeconfig], plan, address, (entry) => kube.patch(churnObject(entry)));
}

async function startSkiffProcess(name, sourceArgs, plan, address, change) {
  const started = nowMs();
  const skiff = await ServiceProcess.start('skiff', BINS.skiff, [...sourceArgs, '--xds-addr', address], { readyTimeoutMs: plan.readyTimeoutMs, readyPollMs: READY_POLL_MS });
  return { name, started, readyMs: nowMs() - started, pid: skiff.pid, change, stop: () => skiff.stop() };
}

/**
 * Cold start to every proxy configured, then (with `changes`) the change delays under churn, for the
 * server `start` starts on the address it is given. The load generator is up, its streams held, before
 * the server starts.
 */
async function measureServer(start, files, plan, { changes = true } = {}) {
  const address = `127.0.0.1:${await freePort()}`;
  const loadgen = LoadgenProcess.start(['--xds-addr', address, '--proxies', String(plan.proxies), '--clusters', files.clusterFile, '--streams-per-connection', '1', '--hold']);
  let server;
  try {
    await loadgen.ask({ op: 'status' });
    server = await start(address);
    await loadgen.ask({ op: 'open' });
    const { ready, status } = await loadgen.ask({ op: 'ready', timeoutMs: plan.readyTimeoutMs });
    if (!ready) throw new Error(`${server.name}: only ${status.ready} of ${status.proxies} proxies got their configuration within ${plan.readyTimeoutMs} ms`);
    const coldMs = nowMs() - server.started;
    const rssMiB = residentMiB(server.pid);
    const cold = { name: server.name, readyMs: Math.round(server.readyMs), coldMs: Math.round(coldMs), rssMiB: Math.round(rssMiB) };
    if (!changes) return cold;

    const delays = [];
    /** How long each hand-off itself took (a file renamed, a config store call; for Kubernetes the PATCH's answer). */
    const handOffs = [];
    let missing = 0;
    const inFlight = [];
    const began = Date.now();
    for (let i = 0; i < plan.changes; i++) {
      const due = began + (i * 1000) / plan.ratePerSecond;
      if (due > Date.now()) await sleep(due - Date.now());
      const entry = files.churn[i % files.churn.length];
      entry.generation += 1;
      const since = Date.now();
      await server.change(entry);
      handOffs.push(Date.now() - since);
      for (const name of entry.service.clusters) {
        inFlight.push(
          loadgen.ask({ op: 'arrivals', type: 'eds', name, since, timeoutMs: plan.arrivalTimeoutMs }).then((reply) => {
            for (const delay of reply.delaysMs) delays.push(delay);
            missing += reply.missing;
          }),
        );
      }
    }
    await Promise.all(inFlight);
    delays.sort((a, b) => a - b);
    handOffs.sort((a, b) => a - b);
    const handOff = { p50Ms: percentile(handOffs, 50), p99Ms: percentile(handOffs, 99) };
    return { ...cold, changes: { count: plan.changes, deliveries: delays.length, missing, p50Ms: percentile(delays, 50), p99Ms: percentile(delays, 99), handOff } };
  } finally {
    loadgen.kill();
    await server?.stop();
  }
}

/** A command's wall time, from spawn to exit (its output is read and dropped). */
function timeProcess(command, args, input) {
  return new Promise((resolveTime, reject) => {
    const started = nowMs();
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (chunk) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.once('exit', (code) => (code === 0 ? resolveTime(nowMs() - started) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr}`))));
    child.stdin.end(input ?? '');
  });
}

/** Cold starts shorter than this (both servers' first) are repeated `plan.coldRepetitions` times in turns. */
const COLD_REPEAT_BELOW_MS = 60_000;

/** CLI runs shorter than this (both commands' first run) are repeated `plan.cliRepetitions` times in turns. */
const CLI_REPEAT_BELOW_MS = 5_000;

/**
 * The CLI comparison: istiod reading the YAML and answering one sidecar, and skiffctl translate; the
 * medians of `plan.cliRepetitions` runs of each, in turns, where both are short.
 */
async function measureCli(reference, scratch, size, plan) {
  const files = writeMesh(scratch, size, { ...plan, namespaces: Math.min(plan.namespaces, size.serviceEntries) });
  const namespace = files.mesh.namespaces[0];
  const proxy = {
    name: 'sidecar',
    id: `sidecar~10.0.0.1~app.${namespace}~${namespace}.svc.cluster.local`,
    metadata: { NAMESPACE: namespace, CLUSTER_ID: 'Kubernetes' },
    locality: { region: 'region-1', zone: 'zone-a' },
  };
  const input = JSON.stringify({ cases: [{ name: 'cli', config: yamlOf(files.mesh.objects), proxies: [proxy] }] });
  const istiod = () => timeProcess(reference, [], input);
  const skiff = () => timeProcess(process.execPath, [BINS.skiffctl, 'translate', '-f', files.istiodFile, '-o', 'json']);
  const samples = { istiodMs: [await istiod()], skiffMs: [await skiff()] };
  // A run of a few hundred milliseconds varies by a tenth or more from one run to the next, as much as
  // the two commands differ at the smallest sizes: those are run in turns and compared by medians.
  if (Math.max(samples.istiodMs[0], samples.skiffMs[0]) < CLI_REPEAT_BELOW_MS) {
    for (let i = 1; i < plan.cliRepetitions; i++) {
      samples.istiodMs.push(await istiod());
      samples.skiffMs.push(await skiff());
    }
  }
  return { ...size, runs: samples.istiodMs.length, istiodMs: Math.round(median(samples.istiodMs)), skiffMs: Math.round(median(samples.skiffMs)), samples };
}

/**
 * Skiff reading the mesh from a real Kubernetes API server, the way it runs in a cluster: the objects
 * are created through the API first (not timed as the cold start), then Skiff is cold started once
 * and the same churn is applied as merge patches. A change's delay starts before its patch is sent, so
 * it includes the API server's write to etcd and its watch event, which istiod's config store skips.
 */
async function measureOnKubernetes(files, plan, size, log) {
  const kube = await startKubeMesh(files.mesh);
  try {
    const { name, ...server } = await measureServer((address) => startSkiffOnKubernetes(kube, plan, address), files, plan);
    for (const entry of files.churn) entry.generation = 0;
    log(`  ${size.serviceEntries} SE / ${size.workloads} WE, ${name}: ${files.mesh.objects.length} objects created through the API in ${Math.round(kube.seedMs)} ms; cold ${server.coldMs} ms, change p50 ${server.changes.p50Ms} ms p99 ${server.changes.p99Ms} ms (the PATCH itself p50 ${server.changes.handOff.p50Ms} ms p99 ${server.changes.handOff.p99Ms} ms), RSS ${server.rssMiB} MiB`);
    return { ...server, seedMs: Math.round(kube.seedMs) };
  } finally {
    await kube.stop();
  }
}

/** Runs every size against both servers (one at a time) and the CLI comparison. */
export async function runIstiodSuite(plan, { log = () => {} } = {}) {
  const { reference, istioVersion } = await istioTools();
  const scratch = mkdtempSync(join(tmpdir(), 'skiff-bench-istiod-'));
  try {
    const rows = [];
    for (const size of plan.sizes) {
      const files = writeMesh(scratch, size, plan);
      const servers = [(address) => startIstiod(reference, files, address), (address) => startSkiff(files, plan, address)];
      const measured = {};
      for (const start of servers) {
        const { name, ...server } = await measureServer(start, files, plan);
        measured[name] = { ...server, coldSamplesMs: [server.coldMs], readySamplesMs: [server.readyMs] };
        restoreChurnFiles(files);
        log(`  ${size.serviceEntries} SE / ${size.workloads} WE, ${name}: cold ${server.coldMs} ms, change p50 ${server.changes.p50Ms} ms p99 ${server.changes.p99Ms} ms, RSS ${server.rssMiB} MiB`);
      }
      // One cold start varies by a tenth or more from the next (istiod's more): where both are short, more of them, in turns.
      if (Math.max(measured.istiod.coldMs, measured.skiff.coldMs) < COLD_REPEAT_BELOW_MS) {
        for (let i = 1; i < plan.coldRepetitions; i++) {
          for (const start of servers) {
            const { name, coldMs, readyMs } = await measureServer(start, files, plan, { changes: false });
            measured[name].coldSamplesMs.push(coldMs);
            measured[name].readySamplesMs.push(readyMs);
          }
        }
        for (const server of Object.values(measured)) Object.assign(server, { coldMs: Math.round(median(server.coldSamplesMs)), readyMs: Math.round(median(server.readySamplesMs)) });
        log(`  ${size.serviceEntries} SE / ${size.workloads} WE cold, medians of ${plan.coldRepetitions}: istiod ${measured.istiod.coldMs} ms, skiff ${measured.skiff.coldMs} ms`);
      }
      const skiffKube = plan.kubernetes ? await measureOnKubernetes(files, plan, size, log) : undefined;
      rows.push({ ...size, serviceEntriesBuilt: files.mesh.serviceEntryCount, workloadsBuilt: files.mesh.workloadCount, istiod: measured.istiod, skiff: measured.skiff, ...(skiffKube && { skiffKube }) });
      rmSync(join(scratch, `mesh-${size.serviceEntries}-${size.workloads}`), { recursive: true, force: true });
    }
    const cli = [];
    for (const size of plan.cliSizes) {
      cli.push(await measureCli(reference, scratch, size, plan));
      const row = cli[cli.length - 1];
      log(`  CLI ${size.serviceEntries} SE / ${size.workloads} WE: istiod ${row.istiodMs} ms, skiffctl ${row.skiffMs} ms (${row.runs === 1 ? 'one run' : `medians of ${row.runs} runs`})`);
    }
    return { istioVersion, coldMethod: COLD_METHOD, plan, rows, cli };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
