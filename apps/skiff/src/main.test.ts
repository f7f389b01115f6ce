import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { eventually, freePort } from '@skiff/testing';

const bin = fileURLToPath(new URL('../bin/skiff.js', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

function runToExit(args: string[], cwd?: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'], ...(cwd ? { cwd } : {}) });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

// Serving and routing are tested end to end in libs/e2e-tests (all-in-one.test.ts, the README command).
describe('skiff command line', () => {
  it('exits 2 with one line for an unknown flag, a bad address or two sources', async () => {
    expect(await runToExit(['--bogus'])).toEqual({ code: 2, stderr: "skiff: unknown option '--bogus'\n" });
    const badAddress = await runToExit(['--xds-addr', 'nowhere']);
    expect(badAddress.code).toBe(2);
    expect(badAddress.stderr).toMatch(/^skiff: invalid value "nowhere" for --xds-addr/);
    expect(await runToExit(['--config-dir', '.', '--kubeconfig', 'x'])).toEqual({ code: 2, stderr: 'skiff: give either --config-dir or --kubeconfig, not both\n' });
  });

  it('serves Secrets over ADS only to authenticated, identity-checked TLS clients, and says so', async () => {
    expect(await runToExit(['--sds-secrets-from-kubernetes', 'true'])).toEqual({
      code: 2,
      stderr: 'skiff: --sds-secrets-from-kubernetes needs --tls-cert-file and --tls-key-file: Secrets go only to authenticated proxies, and plaintext ADS is never authenticated\n',
    });
    expect(await runToExit(['--tls-cert-file', 'c.pem', '--tls-key-file', 'k.pem', '--xds-identity-check', 'false', '--sds-secrets-from-kubernetes', 'true'])).toEqual({
      code: 2,
      stderr: 'skiff: --sds-secrets-from-kubernetes needs --xds-identity-check true: a Secret goes only to a proxy whose identity was bound to its namespace\n',
    });
    expect(await runToExit(['--sds-secrets-kubeconfig', 'k.yaml'])).toEqual({ code: 2, stderr: 'skiff: --sds-secrets-kubeconfig needs --sds-secrets-from-kubernetes true\n' });
    const missing = await runToExit(['--tls-cert-file', 'c.pem', '--tls-key-file', 'k.pem', '--sds-secrets-from-kubernetes', 'true', '--sds-secrets-kubeconfig', '/nonexistent/kubeconfig']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^skiff: --sds-secrets-from-kubernetes: cannot load kubeconfig \/nonexistent\/kubeconfig: /);
  }, 120_000);

  it('says where to run it when there is no source and no examples/ directory', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'skiff-cwd-'));
    try {
      const result = await runToExit([], empty);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('no ./examples directory to serve');
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('skiff with an unreachable --redis-url', () => {
  it('says at once which Redis it cannot reach and why, and stops promptly on SIGTERM', async () => {
    const [redisPort, xdsPort, monitoringPort] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(process.execPath, [bin, '--redis-url', `redis://127.0.0.1:${redisPort}`, '--xds-addr', `127.0.0.1:${xdsPort}`, '--monitoring-addr', `127.0.0.1:${monitoringPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: repoRoot,
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const line = await eventually(
        () => {
          const found = output.split('\n').find((l) => l.includes('"component":"store"'));
          expect(found).toBeDefined();
          return JSON.parse(found!) as { level: string; msg: string };
        },
        // The first failed connection is logged (not a retry later): what takes time here is the
        // process start-up, seconds on a loaded 2-core machine.
        { timeoutMs: 15_000 },
      );
      expect(line).toMatchObject({ level: 'warn', msg: `cannot reach Redis at redis://127.0.0.1:${redisPort}/0: connect ECONNREFUSED 127.0.0.1:${redisPort}; retrying` });
      expect(output).not.toContain('maxRetriesPerRequest');
      const stopping = performance.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(performance.now() - stopping).toBeLessThan(3_000);
      expect(output).not.toContain('shutdown timed out');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/** Runs skiff until `done` says its output is complete, then stops it; resolves with the output lines and exit code. */
async function runUntil(args: string[], done: (output: string) => boolean, cwd?: string, nodeArgs: readonly string[] = []): Promise<{ lines: string[]; code: number | null }> {
  const child = spawn(process.execPath, [...nodeArgs, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await eventually(() => expect(done(output) || child.exitCode !== null).toBe(true), { timeoutMs: 15_000 });
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
  const code = await exited;
  return { lines: output.split('\n').filter((line) => line !== ''), code };
}

describe('skiff start-up problems', () => {
  it('a port in use is one JSON line naming the listener and the address, without a stack or grpc-js lines', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const ads = await runUntil(['--xds-addr', `127.0.0.1:${port}`, '--monitoring-addr', `127.0.0.1:${await freePort()}`], () => false, repoRoot);
      expect(ads.code).toBe(1);
      for (const line of ads.lines) expect(line).toMatch(/^\{/);
      const errors = ads.lines.map((line) => JSON.parse(line) as { level: string; msg: string; err?: unknown }).filter((entry) => entry.level === 'error');
      expect(errors).toEqual([expect.objectContaining({ msg: `start failed: cannot listen for ADS on 127.0.0.1:${port}: address already in use (another process listens there: stop it, or choose another address)` })]);
      expect(errors[0]).not.toHaveProperty('err');

      const monitoring = await runUntil(['--xds-addr', `127.0.0.1:${await freePort()}`, '--monitoring-addr', `127.0.0.1:${port}`], () => false, repoRoot);
      expect(monitoring.code).toBe(1);
      expect(monitoring.lines.join('\n')).toContain(`start failed: cannot listen for the monitoring server on 127.0.0.1:${port}: address already in use`);
    } finally {
      taken.close();
    }
  });

  it('says so when --config-dir holds nothing to serve', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'skiff-empty-'));
    try {
      const run = await runUntil(['--config-dir', empty, '--xds-addr', `127.0.0.1:${await freePort()}`, '--monitoring-addr', `127.0.0.1:${await freePort()}`], (output) => output.includes('all runners started'));
      const warnings = run.lines.map((line) => JSON.parse(line) as { level: string; msg: string }).filter((entry) => entry.level === 'warn');
      expect(warnings.map((w) => w.msg)).toContain(`${empty} holds no .yaml, .yml or .json files: nothing to serve until some appear`);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('skiff start-up cost', () => {
  // A module hook that says on stderr when anything imports @kubernetes/client-node (about 0.5 s of CPU to load).
  const hook = 'export async function resolve(specifier, context, next) { if (specifier.startsWith("@kubernetes/client-node")) process.stderr.write("MODULE @kubernetes/client-node\\n"); return next(specifier, context); }';
  const reportClientNode = ['--import', `data:text/javascript,import { register } from "node:module"; register(${JSON.stringify(`data:text/javascript,${hook}`)});`];

  it('serves a directory without loading the Kubernetes client; a Kubernetes source loads it', async () => {
    const addresses = async () => ['--xds-addr', `127.0.0.1:${await freePort()}`, '--tls-xds-addr', `127.0.0.1:${await freePort()}`, '--monitoring-addr', `127.0.0.1:${await freePort()}`];
    const directory = await runUntil(await addresses(), (output) => output.includes('all runners started'), repoRoot, reportClientNode);
    expect(directory.lines.join('\n')).toContain('all runners started');
    expect(directory.lines).not.toContain('MODULE @kubernetes/client-node');
    const kubernetes = await runUntil(['--kubeconfig', '/nonexistent/kubeconfig', ...(await addresses())], (output) => output.includes('MODULE @kubernetes/client-node'), repoRoot, reportClientNode);
    expect(kubernetes.lines).toContain('MODULE @kubernetes/client-node');
  }, 60_000);
});
