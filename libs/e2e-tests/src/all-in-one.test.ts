/**
 * The README's "Trying it" example, line by line, as a newcomer runs it on a fresh clone: `npm start`
 * (skiff with its defaults: the bundled `examples/`, the in-memory store), `npx skiff-demo backends` (a
 * gRPC backend on each example WorkloadEntry's address) and `npx skiff-demo client` (a proxyless gRPC
 * client with the real @grpc/grpc-js-xds resolver). The only change from the README: every port is a
 * free one (ADS, monitoring, and the WorkloadEntries' in a copy of `examples/`), so the test never meets
 * a Skiff or backends a developer is running.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort } from '@skiff/testing';
import { BINS, REPO_ROOT, ServiceProcess } from './services.js';

const EXAMPLE_PORTS = [50051, 50052, 50053];

describe("the README's example under npm start", () => {
  let workdir: string;
  let skiff: ServiceProcess;
  let backends: ChildProcess | undefined;
  let backendsOutput = '';
  let xdsAddress: string;

  beforeAll(async () => {
    // A copy of the repository's examples/ whose WorkloadEntries name free ports instead of 50051-50053.
    workdir = await mkdtemp(join(tmpdir(), 'skiff-readme-'));
    await cp(join(REPO_ROOT, 'examples'), join(workdir, 'examples'), { recursive: true });
    const example = join(workdir, 'examples/demo/example-app.yaml');
    let text = await readFile(example, 'utf8');
    for (const port of EXAMPLE_PORTS) {
      expect(text).toContain(`grpc: ${port}\n`);
      text = text.replace(`grpc: ${port}\n`, `grpc: ${await freePort()}\n`);
    }
    await writeFile(example, text);

    // npm start (run in the directory holding examples/, as npm start runs at the repository root)
    xdsAddress = `127.0.0.1:${await freePort()}`;
    skiff = await ServiceProcess.start('skiff', BINS.skiff, ['--xds-addr', xdsAddress], {}, { cwd: workdir });
    // npx skiff-demo backends
    backends = spawn(process.execPath, [BINS.demo, 'backends'], { cwd: workdir, stdio: ['ignore', 'pipe', 'pipe'] });
    backends.stdout?.on('data', (chunk: Buffer) => (backendsOutput += chunk.toString()));
    backends.stderr?.on('data', (chunk: Buffer) => (backendsOutput += chunk.toString()));
    await eventually(() => expect(backendsOutput).toContain('serving'), { timeoutMs: 20_000 });
  }, 60_000);

  afterAll(async () => {
    backends?.kill('SIGKILL');
    await skiff?.stop('SIGKILL');
    await rm(workdir, { recursive: true, force: true });
  });

  it('skiff-demo backends serves each example WorkloadEntry', () => {
    expect(backendsOutput.split('\n').filter((line) => line.includes('gRPC backend on'))).toEqual([
      expect.stringMatching(/^demo\/example-app-1 +gRPC backend on 127\.0\.0\.1:\d+$/),
      expect.stringMatching(/^demo\/example-app-2 +gRPC backend on 127\.0\.0\.1:\d+$/),
      expect.stringMatching(/^demo\/example-app-3 +gRPC backend on 127\.0\.0\.1:\d+$/),
    ]);
  });

  it('skiff-demo client reaches all three backends through skiff, without errors', async () => {
    // The gRPC resources are built once the first proxyless client needs them, as istiod builds per connected proxy.
    const notRequested = async (): Promise<string[]> => (await skiff.debug<{ notRequested: string[] }>('/debug/translatorz')).notRequested;
    expect(await notRequested()).toEqual(['envoy-sni-dnat', 'grpc']);
    // npx skiff-demo client
    const { stdout } = await promisify(execFile)(process.execPath, [BINS.demo, 'client', '--xds-addr', xdsAddress], { cwd: workdir, timeout: 60_000 });
    expect(await notRequested()).toEqual(['envoy-sni-dnat']);
    expect(stdout).toContain(`30 calls to xds:///example-app:8080 through Skiff at ${xdsAddress}:`);
    for (const backend of ['example-app-1', 'example-app-2', 'example-app-3']) expect(stdout).toMatch(new RegExp(`${backend} +#*\\.* +\\d+%  \\([1-9]\\d* calls\\)`));
    expect(stdout).toMatch(/errors +0 +of 30 calls/);
  }, 70_000);

  it('skiff-demo client --follow stays connected: skiffctl proxy-status and proxy-config show it', async () => {
    // npx skiff-demo client --follow
    const follow = spawn(process.execPath, [BINS.demo, 'client', '--follow', '--xds-addr', xdsAddress], { cwd: workdir, stdio: ['ignore', 'pipe', 'pipe'] });
    let followOutput = '';
    follow.stdout.on('data', (chunk: Buffer) => (followOutput += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => follow.once('exit', (code) => resolve(code)));
    try {
      await eventually(() => expect(followOutput).toMatch(/example-app-1 \d+ {2}example-app-2 \d+ {2}example-app-3 \d+ {2}errors 0/), { timeoutMs: 30_000, intervalMs: 200 });
      const gateway = ['--gateway', `http://127.0.0.1:${skiff.monitoringPort}`];
      // npx skiffctl proxy-status
      const status = await promisify(execFile)(process.execPath, [BINS.skiffctl, 'proxy-status', ...gateway]);
      expect(status.stdout).toMatch(/^demo-client +SYNCED/m);
      // npx skiffctl proxy-config cluster demo-client
      const clusters = await promisify(execFile)(process.execPath, [BINS.skiffctl, 'proxy-config', 'cluster', 'demo-client', ...gateway]);
      expect(clusters.stdout).toMatch(/^example-app +8080 +- +outbound +EDS/m);
    } finally {
      follow.kill('SIGINT');
    }
    expect(await exited).toBe(130);
  }, 70_000);

  it('stops cleanly on SIGTERM', async () => {
    expect(await skiff.stop('SIGTERM')).toBe(0);
  });
});
