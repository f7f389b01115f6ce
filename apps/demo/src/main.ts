/**
 * `npm run demo`: Skiff in one minute. Starts the all-in-one `skiff` on a temporary copy of
 * examples/demo, three gRPC backends and a proxyless gRPC client (@grpc/grpc-js with the
 * @grpc/grpc-js-xds resolver, target xds:///example-app:8080), then edits the WorkloadEntries and shows,
 * step by step, where the client's calls go. `--short` runs each step briefly (CI).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { parseAllDocuments, stringify } from 'yaml';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const SKIFF_BIN = join(repoRoot, 'apps/skiff/bin/skiff.js');
const EXAMPLE = join(repoRoot, 'examples/demo/example-app.yaml');
const WHO = '/skiff.demo.Backend/Who';
const encode = (text: string): Buffer => Buffer.from(text);
const decode = (bytes: Buffer): string => bytes.toString();

interface Backend {
  readonly name: string;
  readonly port: number;
  readonly server: grpc.Server;
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

async function startBackend(name: string): Promise<Backend> {
  const server = new grpc.Server();
  server.addService(
    { Who: { path: WHO, requestStream: false, responseStream: false, requestSerialize: encode, requestDeserialize: decode, responseSerialize: encode, responseDeserialize: decode } },
    { Who: (_call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>) => callback(null, name) },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { name, port, server };
}

/** The example's ServiceEntry and one WorkloadEntry per backend, each in its own file so a step can delete one. */
async function writeMesh(dir: string, backends: readonly Backend[]): Promise<void> {
  const documents = parseAllDocuments(await readFile(EXAMPLE, 'utf8')).map((document) => document.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> });
  const serviceEntry = documents.find((document) => document.kind === 'ServiceEntry');
  const template = documents.find((document) => document.kind === 'WorkloadEntry');
  if (!serviceEntry || !template) throw new Error(`${EXAMPLE} must hold a ServiceEntry and a WorkloadEntry`);
  await writeFile(join(dir, 'service-entry.yaml'), stringify(serviceEntry));
  for (const backend of backends) await writeFile(join(dir, `${backend.name}.yaml`), workloadEntry(template, backend));
}

function workloadEntry(template: { metadata: { name: string }; spec: Record<string, unknown> }, backend: Backend, labels?: Record<string, string>): string {
  return stringify({
    ...template,
    metadata: { ...template.metadata, name: backend.name },
    spec: { ...template.spec, ...(labels ? { labels } : {}), ports: { grpc: backend.port } },
  });
}

/** Runs RPCs for `durationMs` and counts where they went. */
async function sample(client: grpc.Client, durationMs: number): Promise<{ hits: Map<string, number>; errors: number }> {
  const hits = new Map<string, number>();
  let errors = 0;
  const end = Date.now() + durationMs;
  while (Date.now() < end) {
    const outcome = await new Promise<string | null>((resolve) =>
      client.makeUnaryRequest(WHO, encode, decode, 'who', new grpc.Metadata(), { deadline: Date.now() + 2_000 }, (error, value) => resolve(error ? null : (value ?? null))),
    );
    if (outcome === null) errors += 1;
    else hits.set(outcome, (hits.get(outcome) ?? 0) + 1);
  }
  return { hits, errors };
}

function bar(share: number, width = 24): string {
  const filled = Math.round(share * width);
  return `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
}

function report(names: readonly string[], result: { hits: Map<string, number>; errors: number }): string[] {
  const total = [...result.hits.values()].reduce((a, b) => a + b, 0) + result.errors;
  const lines = names.map((name) => {
    const count = result.hits.get(name) ?? 0;
    const share = total === 0 ? 0 : count / total;
    return `    ${name.padEnd(16)} ${bar(share)} ${String(Math.round(share * 100)).padStart(3)}%  (${count} calls)`;
  });
  lines.push(`    ${'errors'.padEnd(16)} ${String(result.errors).padStart(29)}   of ${total} calls`);
  return lines;
}

async function waitForReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`skiff exited with ${child.exitCode}:\n${output()}`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`skiff was not ready within 30 s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const short = argv.includes('--short');
  const stepMs = short ? 1_500 : 4_000;
  const out = (line = ''): void => void process.stdout.write(`${line}\n`);
  const dir = await mkdtemp(join(tmpdir(), 'skiff-demo-'));
  const backends = await Promise.all(['backend-1', 'backend-2', 'backend-3', 'backend-4'].map((name) => startBackend(name)));
  const [b1, b2, b3, b4] = backends as [Backend, Backend, Backend, Backend];
  const names = backends.map((b) => b.name);
  const [xdsPort, monitoringPort] = [await freePort(), await freePort()];
  let skiff: ChildProcess | undefined;
  let client: grpc.Client | undefined;
  let skiffOutput = '';
  try {
    await writeMesh(dir, [b1, b2, b3]);
    out('Skiff demo: a proxyless gRPC client follows WorkloadEntry edits through Skiff.');
    out(`  mesh files:  ${dir} (a copy of examples/demo)`);
    out(`  backends:    ${backends.map((b) => `${b.name} 127.0.0.1:${b.port}`).join(', ')}`);
    skiff = spawn(process.execPath, [SKIFF_BIN, '--config-dir', dir, '--xds-addr', `127.0.0.1:${xdsPort}`, '--monitoring-addr', `127.0.0.1:${monitoringPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    skiff.stdout?.on('data', (chunk: Buffer) => (skiffOutput += chunk.toString()));
    skiff.stderr?.on('data', (chunk: Buffer) => (skiffOutput += chunk.toString()));
    await waitForReady(`http://127.0.0.1:${monitoringPort}/readyz`, skiff, () => skiffOutput);
    out(`  skiff:       ADS on 127.0.0.1:${xdsPort}, debug on http://127.0.0.1:${monitoringPort}/debug/syncz`);

    process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = JSON.stringify({
      xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }] }],
      node: { id: 'demo-client', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'demo' } },
    });
    const xds = await import('@grpc/grpc-js-xds');
    xds.register();
    client = new grpc.Client('xds:///example-app:8080', grpc.credentials.createInsecure());
    out('  client:      xds:///example-app:8080');

    const step = async (title: string, edit: () => Promise<void>, settleMs = 400): Promise<void> => {
      out();
      out(title);
      await edit();
      await new Promise((r) => setTimeout(r, settleMs));
      for (const line of report(names, await sample(client as grpc.Client, stepMs))) out(line);
    };
    const template = parseAllDocuments(await readFile(EXAMPLE, 'utf8'))
      .map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> })
      .find((d) => d.kind === 'WorkloadEntry') as { metadata: { name: string }; spec: Record<string, unknown> };

    await step('1. Three WorkloadEntries: round robin over backend-1..3', async () => {}, 1_000);
    await step(`2. rm ${b3.name}.yaml: its endpoint leaves the ClusterLoadAssignment`, () => unlink(join(dir, `${b3.name}.yaml`)));
    await step(`3. add ${b4.name}.yaml: a new endpoint joins`, () => writeFile(join(dir, `${b4.name}.yaml`), workloadEntry(template, b4)));
    await step(`4. relabel ${b1.name} (app: canary): the selector no longer picks it`, () => writeFile(join(dir, `${b1.name}.yaml`), workloadEntry(template, b1, { app: 'canary' })));
    await step(`5. an invalid edit to ${b2.name} (port 99999): rejected, traffic unchanged`, async () => {
      await writeFile(join(dir, `${b2.name}.yaml`), workloadEntry(template, { ...b2, port: 99999 }));
      await new Promise((r) => setTimeout(r, 300));
      const configz = (await (await fetch(`http://127.0.0.1:${monitoringPort}/debug/configz`)).json()) as { metadata?: { name?: string }; rejection?: { errors: string[] } }[];
      const rejection = configz.find((o) => o.metadata?.name === b2.name)?.rejection;
      out(`    watcher: ${rejection ? rejection.errors.join('; ') : 'no rejection reported'}`);
    });
    out();
    out('Done: every step above was a file edit; Skiff rebuilt only the example-app ServiceEntry and pushed its endpoints.');
    return 0;
  } catch (error) {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    client?.close();
    if (skiff && skiff.exitCode === null) {
      const exited = new Promise((resolve) => skiff?.once('exit', resolve));
      skiff.kill('SIGTERM');
      await exited;
    }
    for (const backend of backends) backend.server.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  }
}
