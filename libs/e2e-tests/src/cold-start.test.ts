/**
 * A cold start of the all-in-one on a mesh that takes a while to build: a sidecar that connects while
 * the ServiceEntries are still being built is held (as istiod holds proxies until its first push
 * context) and then gets the whole mesh in its first CDS response, never the part built so far; the
 * all-in-one reports ready only then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, freePort } from '@skiff/testing';
import { BINS, JsonLineProcess } from './services.js';

const SERVICE_ENTRIES = 4_000;

function meshYaml(): string {
  const documents: string[] = [];
  for (let i = 0; i < SERVICE_ENTRIES; i++) {
    documents.push(
      JSON.stringify({
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: { name: `svc-${i}`, namespace: 'mesh' },
        spec: { hosts: [`svc-${i}.mesh.internal`], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 8080, name: 'http', protocol: 'HTTP' }], workloadSelector: { labels: { app: `svc-${i}` } } },
      }),
      JSON.stringify({
        apiVersion: 'networking.istio.io/v1',
        kind: 'WorkloadEntry',
        metadata: { name: `vm-${i}`, namespace: 'mesh' },
        spec: { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, labels: { app: `svc-${i}` } },
      }),
    );
  }
  return `${documents.join('\n---\n')}\n`;
}

/** Resolves once something accepts TCP connections on `port`. */
async function listening(port: number, timeoutMs: number): Promise<void> {
  await eventually(
    () =>
      new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve();
        });
        socket.once('error', reject);
      }),
    { timeoutMs, intervalMs: 5 },
  );
}

/** `skiff-loadgen --control`: simulated sidecars, asked for readiness and their summary. */
class Loadgen extends JsonLineProcess {
  constructor(xdsAddress: string) {
    super(process.execPath, [BINS.loadgen, '--xds-addr', xdsAddress, '--proxies', '1', '--namespace', 'mesh', '--control', '--log-level', 'warn'], {});
  }

  ready(timeoutMs: number): Promise<{ ready: boolean }> {
    return this.ask({ id: 1, op: 'ready', timeoutMs });
  }

  summary(): Promise<{ summary: { responses: Record<string, number>; resources: Record<string, number> } }> {
    return this.ask({ id: 2, op: 'summary' });
  }
}

describe('a cold start of the all-in-one', () => {
  let workdir: string | undefined;
  let skiff: ChildProcess | undefined;
  let loadgen: Loadgen | undefined;

  afterAll(async () => {
    loadgen?.close();
    skiff?.kill('SIGKILL');
    if (workdir !== undefined) await rm(workdir, { recursive: true, force: true });
  });

  it('holds a sidecar that connects during the build, then sends it every cluster in one response', async () => {
    workdir = await mkdtemp(join(tmpdir(), 'skiff-cold-start-'));
    await writeFile(join(workdir, 'mesh.yaml'), meshYaml());
    const [xdsPort, monitoringPort] = [await freePort(), await freePort()];
    skiff = spawn(process.execPath, [BINS.skiff, '--config-dir', workdir, '--xds-addr', `127.0.0.1:${xdsPort}`, '--monitoring-addr', `127.0.0.1:${monitoringPort}`, '--log-level', 'info'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    skiff.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    skiff.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));

    // The ADS port opens once the watcher has read the mesh, while the translator is still building it.
    await listening(xdsPort, 60_000);
    loadgen = new Loadgen(`127.0.0.1:${xdsPort}`);

    expect((await loadgen.ready(60_000)).ready, output.slice(-4000)).toBe(true);
    const { summary } = await loadgen.summary();
    // One CDS response, with every cluster: nothing was pushed before the build was done.
    expect(summary.responses['cds']).toBe(1);
    expect(summary.resources['cds']).toBe(SERVICE_ENTRIES);
    expect((await fetch(`http://127.0.0.1:${monitoringPort}/readyz`)).status).toBe(200);
    expect(output).toContain('serving: everything built before the start is applied');
  }, 120_000);
});
