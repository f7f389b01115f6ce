/**
 * `npm run demo`: Skiff in one minute. Starts the all-in-one `skiff` on a temporary copy of
 * examples/demo, four gRPC backends and a proxyless gRPC client, then edits the WorkloadEntries and shows,
 * step by step, where the client's calls go. Stopped early (a signal, a closed stdout), it still stops
 * skiff and removes the temporary directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import { parseAllDocuments, stringify } from 'yaml';
import { startBackend, stopBackends, type Backend } from './backends.js';
import type { Lifecycle } from './lifecycle.js';
import { report, sample, xdsClient, EXAMPLE_TARGET } from './traffic.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const SKIFF_BIN = join(repoRoot, 'apps/skiff/bin/skiff.js');
export const EXAMPLE = join(repoRoot, 'examples/demo/example-app.yaml');

interface MeshObject {
  readonly kind: string;
  readonly metadata: { name: string };
  readonly spec: Record<string, unknown>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** The example's ServiceEntry and one WorkloadEntry per backend, each in its own file so a step can delete one. */
async function writeMesh(dir: string, backends: readonly Backend[]): Promise<MeshObject> {
  const documents = parseAllDocuments(await readFile(EXAMPLE, 'utf8')).map((document) => document.toJS() as MeshObject);
  const serviceEntry = documents.find((document) => document.kind === 'ServiceEntry');
  const template = documents.find((document) => document.kind === 'WorkloadEntry');
  if (!serviceEntry || !template) throw new Error(`${EXAMPLE} must hold a ServiceEntry and a WorkloadEntry`);
  await writeFile(join(dir, 'service-entry.yaml'), stringify(serviceEntry));
  for (const backend of backends) await writeFile(join(dir, `${backend.name}.yaml`), workloadEntry(template, backend));
  return template;
}

function workloadEntry(template: MeshObject, backend: { name: string; port: number }, labels?: Record<string, string>): string {
  return stringify({
    ...template,
    metadata: { ...template.metadata, name: backend.name },
    spec: { ...template.spec, ...(labels ? { labels } : {}), ports: { grpc: backend.port } },
  });
}

async function waitForReady(url: string, child: ChildProcess, output: () => string, life: Lifecycle): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`skiff exited with ${child.exitCode}:\n${output()}`);
    try {
      if ((await fetch(url, { signal: life.signal })).status === 200) return;
    } catch (error) {
      if (life.signal.aborted) throw error;
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`skiff was not ready within 30 s:\n${output()}`);
    await life.pause(100);
  }
}

/** Runs the tour; resolves with the exit code (the lifecycle's when it was stopped early). */
export async function runTour(options: { readonly short: boolean }, life: Lifecycle): Promise<number> {
  const stepMs = options.short ? 1_500 : 4_000;
  const { out } = life;
  const dir = await mkdtemp(join(tmpdir(), 'skiff-demo-'));
  const backends: Backend[] = [];
  let skiff: ChildProcess | undefined;
  let client: grpc.Client | undefined;
  let skiffOutput = '';
  try {
    for (const name of ['backend-1', 'backend-2', 'backend-3', 'backend-4']) backends.push(await startBackend(name));
    const [b1, b2, b3, b4] = backends as [Backend, Backend, Backend, Backend];
    const names = backends.map((b) => b.name);
    const [xdsPort, monitoringPort] = [await freePort(), await freePort()];
    const template = await writeMesh(dir, [b1, b2, b3]);
    out('Skiff demo: a proxyless gRPC client follows WorkloadEntry edits through Skiff.');
    out(`  mesh files:  ${dir} (a copy of examples/demo)`);
    out(`  backends:    ${backends.map((b) => `${b.name} 127.0.0.1:${b.port}`).join(', ')}`);
    skiff = spawn(process.execPath, [SKIFF_BIN, '--config-dir', dir, '--xds-addr', `127.0.0.1:${xdsPort}`, '--monitoring-addr', `127.0.0.1:${monitoringPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    skiff.stdout?.on('data', (chunk: Buffer) => (skiffOutput += chunk.toString()));
    skiff.stderr?.on('data', (chunk: Buffer) => (skiffOutput += chunk.toString()));
    await waitForReady(`http://127.0.0.1:${monitoringPort}/readyz`, skiff, () => skiffOutput, life);
    out(`  skiff:       ADS on 127.0.0.1:${xdsPort}, debug on http://127.0.0.1:${monitoringPort}/debug/syncz (pid ${skiff.pid})`);

    client = await xdsClient({ xdsAddress: `127.0.0.1:${xdsPort}`, nodeId: 'demo-client', namespace: 'demo' });
    out(`  client:      ${EXAMPLE_TARGET}`);

    const step = async (title: string, edit: () => Promise<void>, settleMs = 400): Promise<void> => {
      out();
      out(title);
      await edit();
      await life.pause(settleMs);
      const end = Date.now() + stepMs;
      const result = await sample(client as grpc.Client, () => Date.now() >= end, life.signal);
      life.signal.throwIfAborted();
      for (const line of report(names, result)) out(line);
    };

    await step('1. Three WorkloadEntries: round robin over backend-1..3', async () => {}, 1_000);
    await step(`2. rm ${b3.name}.yaml: its endpoint leaves the ClusterLoadAssignment`, () => unlink(join(dir, `${b3.name}.yaml`)));
    await step(`3. add ${b4.name}.yaml: a new endpoint joins`, () => writeFile(join(dir, `${b4.name}.yaml`), workloadEntry(template, b4)));
    await step(`4. relabel ${b1.name} (app: canary): the selector no longer picks it`, () => writeFile(join(dir, `${b1.name}.yaml`), workloadEntry(template, b1, { app: 'canary' })));
    await step(`5. an invalid edit to ${b2.name} (port 99999): rejected, traffic unchanged`, async () => {
      await writeFile(join(dir, `${b2.name}.yaml`), workloadEntry(template, { ...b2, port: 99999 }));
      await life.pause(300);
      const configz = (await (await fetch(`http://127.0.0.1:${monitoringPort}/debug/configz`, { signal: life.signal })).json()) as {
        metadata?: { name?: string };
        rejection?: { errors: string[] };
      }[];
      const rejection = configz.find((o) => o.metadata?.name === b2.name)?.rejection;
      out(`    watcher: ${rejection ? rejection.errors.join('; ') : 'no rejection reported'}`);
    });
    out();
    out('Done: every step above was a file edit; Skiff rebuilt only the example-app ServiceEntry and pushed its endpoints.');
    return 0;
  } catch (error) {
    if (life.exitCode !== undefined) return life.exitCode;
    process.stderr.write(`skiff-demo: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    client?.close();
    if (skiff && skiff.exitCode === null && skiff.signalCode === null) {
      const exited = new Promise((resolve) => skiff?.once('exit', resolve));
      skiff.kill('SIGTERM');
      await exited;
    }
    stopBackends(backends);
    await rm(dir, { recursive: true, force: true });
  }
}
