/**
 * skiff-loadgen as built, against an in-process ADS server on 127.0.0.1: a timed run with a JSON and
 * a table summary, a run driven over the control protocol, a cluster file with namespace groups,
 * and the exits for a bad command line and for a server that never answers.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AdsServer, StaticResourceProvider } from '@skiff/ads-server';
import { TypeUrl } from '@skiff/protos';
import { eventually, freePort } from '@skiff/testing';
import { testCluster, testLoadAssignment } from '@skiff/xds-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/skiff-loadgen.js', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** skiff-loadgen with `--control` and `args`: `ask` sends one request and resolves with its reply. */
function controlled(args: readonly string[]) {
  const child = spawn(process.execPath, [bin, ...args, '--control', '--log-level', 'warn'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const replies = new Map<number, (reply: Record<string, unknown>) => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const reply = JSON.parse(line) as Record<string, unknown>;
    replies.get(reply['id'] as number)?.(reply);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let id = 0;
  const ask = (request: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve) => {
      replies.set(++id, resolve);
      child.stdin.write(`${JSON.stringify({ id, ...request })}\n`);
    });
  return { ask, exited };
}

let server: AdsServer;
let provider: StaticResourceProvider;
let target: string;
let scratch: string;

beforeAll(async () => {
  provider = new StaticResourceProvider();
  provider.upsert([testCluster('a'), testCluster('b'), testLoadAssignment('a'), testLoadAssignment('b')]);
  server = new AdsServer({ address: '127.0.0.1:0', provider, debounceMs: 1, maxConnectionAgeMs: 0, shutdownGraceMs: 200 });
  target = `127.0.0.1:${(await server.listen()).port}`;
  scratch = mkdtempSync(join(tmpdir(), 'skiff-loadgen-'));
}, 180_000);

afterAll(async () => {
  await server?.close();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

describe('skiff-loadgen (the built binary)', () => {
  it('runs for --duration and prints the summary as JSON', async () => {
    const result = await run(['--xds-addr', target, '--proxies', '4', '--clusters', 'a,b', '--clusters-per-proxy', '1', '--duration', '1s', '-o', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({
      target,
      flavor: 'envoy',
      mode: 'sotw',
      proxies: 4,
      connections: 1,
      streams: { started: 4, ready: 4, reconnects: 0 },
      newVersions: { cds: 8, eds: 4 },
      unreadable: 0,
    });
    expect(summary['durationMs']).toBeGreaterThanOrEqual(1_000);
    // Every stream has gone from the server.
    await eventually(() => expect(server.sessions.size).toBe(0));
  });

  it('prints a table by default, and speaks delta for the grpc flavour', async () => {
    const result = await run(['--xds-addr', target, '--proxies', '2', '--clusters', 'a', '--flavor', 'grpc', '--delta', '--streams-per-connection', '1', '--duration', '500ms']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^target\s+127\.0\.0\.1:\d+ \(grpc, delta\)$/m);
    expect(result.stdout).toMatch(/^proxies\s+2 on 2 connections$/m);
    expect(result.stdout).toMatch(/^new versions\s+cds 2, eds 2$/m);
  });

  it('reads a cluster file whose [namespace] groups place the proxies', async () => {
    const file = join(scratch, 'clusters.txt');
    writeFileSync(file, '# two namespaces\n[shop]\na\n[pay]\nb\n');
    const seen = new Set<string>();
    const watch = setInterval(() => {
      for (const session of server.sessions.list()) {
        // Only this run's proxies, once they subscribed to endpoints (a sample may catch one before it does,
        // or a proxy of an earlier test still closing).
        const namespace = String(session.node.metadata['NAMESPACE']);
        const names = session.types.find((type) => type.typeUrl === TypeUrl.ClusterLoadAssignment)?.names ?? [];
        if ((namespace === 'shop' || namespace === 'pay') && names.length > 0) seen.add(`${namespace} ${names.join(',')}`);
      }
    }, 20);
    const result = await run(['--xds-addr', target, '--proxies', '2', '--clusters', file, '--duration', '700ms', '-o', 'json']);
    clearInterval(watch);
    expect(result.code).toBe(0);
    expect([...seen].sort()).toEqual(['pay b', 'shop a']);
  });

  it('answers control requests on stdin and stops on request', async () => {
    const { ask, exited } = controlled(['--xds-addr', target, '--proxies', '3', '--clusters', 'a']);

    expect(await ask({ op: 'ready', timeoutMs: 10_000 })).toMatchObject({ ok: true, ready: true });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const since = Date.now();
    const arrivals = ask({ op: 'arrivals', type: 'eds', name: 'a', since, timeoutMs: 10_000 });
    provider.upsert([testLoadAssignment('a', 5)]);
    const answer = await arrivals;
    expect(answer).toMatchObject({ ok: true, subscribers: 3, missing: 0 });
    for (const delay of answer['delaysMs'] as number[]) expect(delay).toBeGreaterThanOrEqual(0);
    expect(await ask({ op: 'stop' })).toMatchObject({ ok: true, summary: { proxies: 3, streams: { ready: 3 } } });
    expect(await exited).toBe(0);
  });

  it('holds its streams until an open request with --hold', async () => {
    const { ask, exited } = controlled(['--xds-addr', target, '--proxies', '2', '--clusters', 'a', '--hold']);

    expect(await ask({ op: 'ready', timeoutMs: 300 })).toMatchObject({ ok: true, ready: false, status: { streamsStarted: 0 } });
    expect(await ask({ op: 'open' })).toMatchObject({ ok: true, status: { streamsStarted: 2 } });
    expect(await ask({ op: 'ready', timeoutMs: 10_000 })).toMatchObject({ ok: true, ready: true });
    expect(await ask({ op: 'stop' })).toMatchObject({ ok: true, summary: { proxies: 2, streams: { ready: 2 } } });
    expect(await exited).toBe(0);
  });

  it('exits 2 with one line for a bad command line', async () => {
    const badFlavor = await run(['--xds-addr', target, '--flavor', 'istio']);
    expect(badFlavor).toMatchObject({ code: 2, stdout: '', stderr: 'skiff-loadgen: invalid value "istio" for --flavor: expected one of envoy, grpc\n' });
    const grpcWithout = await run(['--xds-addr', target, '--flavor', 'grpc']);
    expect(grpcWithout.code).toBe(2);
    expect(grpcWithout.stderr).toBe('skiff-loadgen: the grpc flavour subscribes by name: the proxies of namespace default have no clusters to ask for\n');
    expect((await run(['--proxies', '2'])).stderr).toBe('skiff-loadgen: missing --xds-addr (or SKIFF_XDS_ADDR)\n');
    expect(await run(['--xds-addr', target, '--hold'])).toMatchObject({ code: 2, stderr: 'skiff-loadgen: --hold needs --control: held streams open on a control request\n' });
  });

  it('exits 1 when no proxy got its configuration', async () => {
    const port = await freePort();
    const result = await run(['--xds-addr', `127.0.0.1:${port}`, '--proxies', '2', '--duration', '300ms', '-o', 'json']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`skiff-loadgen: no proxy got its configuration from 127.0.0.1:${port}`);
    expect(JSON.parse(result.stdout)).toMatchObject({ proxies: 2, streams: { ready: 0 } });
  });
});
