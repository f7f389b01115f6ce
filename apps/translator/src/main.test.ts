/**
 * skiff-translator as built, against the shared Redis (a key prefix of its own): it builds a change
 * written through the store, shows it on its monitoring server, stops cleanly on SIGTERM; two
 * replicas share a stream of changes and, when one is SIGKILLed mid-stream, the other takes its
 * unacknowledged changes over and nothing is lost; a bad command line exits 2 with one line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NormalizedEndpoint, NormalizedServiceEntry, ObjectKey } from '@skiff/model';
import { createRedisStore, diffFields, serviceEntryFields, type LeaseGrant, type RedisStore } from '@skiff/store';
import { connectAdmin, deleteKeys, eventually, freePort, normalizedServiceEntry, normalizedWorkload, SHARED_REDIS_URL, uniquePrefix } from '@skiff/testing';

const bin = fileURLToPath(new URL('../bin/skiff-translator.js', import.meta.url));
const WAIT = { timeoutMs: 30_000 };

function entry(name: string): NormalizedServiceEntry {
  return normalizedServiceEntry({ namespace: 'shop', name, creationTime: 1_700_000_000_000, hosts: [`${name}.shop.example`], ports: [{ number: 8080, name: 'http', protocol: 'HTTP', targetPort: 0 }] });
}

function endpoint(name: string, address: string): NormalizedEndpoint {
  return normalizedWorkload({ namespace: 'shop', name, address, serviceAccount: 'default' });
}

interface Translator {
  readonly child: ChildProcess;
  readonly port: number;
  output: string;
  readonly exited: Promise<number | null>;
}

async function launch(prefix: string, extra: string[] = []): Promise<Translator> {
  const port = await freePort();
  const child = spawn(process.execPath, [bin, '--redis-url', SHARED_REDIS_URL, '--key-prefix', prefix, '--monitoring-addr', `127.0.0.1:${port}`, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const translator: Translator = { child, port, output: '', exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout?.on('data', (d: Buffer) => (translator.output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (translator.output += d.toString()));
  return translator;
}

async function translatorz(translator: Translator): Promise<{ consumer: string; totals: Record<string, number>; recentBuilds: { serviceEntry: string; outcome: string }[] }> {
  const response = await fetch(`http://127.0.0.1:${translator.port}/debug/translatorz`);
  expect(response.status).toBe(200);
  return (await response.json()) as never;
}

/** Plays the watcher: writes hashes under the store's writer lease. */
class Writer {
  constructor(
    readonly store: RedisStore,
    private readonly lease: LeaseGrant,
  ) {}

  static async open(prefix: string): Promise<Writer> {
    const store = createRedisStore({ url: SHARED_REDIS_URL, keyPrefix: prefix });
    const lease = await store.lease.acquire('test-watcher', 600_000);
    if (lease === null) throw new Error('lease held');
    return new Writer(store, lease);
  }

  async put(name: string, addresses: readonly string[]): Promise<void> {
    const key = { namespace: 'shop', name };
    const current = await this.store.serviceEntries.read(key);
    const endpoints = addresses.map((address, i) => endpoint(`${name}-${i}`, address));
    await this.store.serviceEntries.write(key, diffFields(current?.fields ?? null, serviceEntryFields(entry(name), endpoints)), this.lease);
  }

  /** True when the stored build of `key` is of the hash's current revision (or both are gone). */
  async builtUpToDate(key: ObjectKey): Promise<boolean> {
    const [hash, owned] = await Promise.all([this.store.serviceEntries.read(key), this.store.resources.readOwner(key, [])]);
    if (hash === null) return owned === null;
    return owned?.record.revision === hash.revision && owned.record.resources.length > 0;
  }
}

describe('skiff-translator (the built binary, real Redis)', () => {
  const prefix = uniquePrefix('translator-app');
  let writer: Writer;
  let translator: Translator;

  beforeAll(async () => {
    writer = await Writer.open(prefix);
    translator = await launch(prefix);
  });

  afterAll(async () => {
    if (translator.child.exitCode === null) translator.child.kill('SIGKILL');
    await writer.store.close();
    const admin = await connectAdmin();
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });

  it('builds a change written through the store and shows it on the monitoring server', async () => {
    await eventually(async () => expect((await fetch(`http://127.0.0.1:${translator.port}/readyz`)).status).toBe(200), WAIT);
    await writer.put('cart', ['10.2.0.1', '10.2.0.2']);
    await eventually(async () => expect(await writer.builtUpToDate({ namespace: 'shop', name: 'cart' })).toBe(true), WAIT);
    const owned = await writer.store.resources.readOwner({ namespace: 'shop', name: 'cart' }, []);
    expect(new Set(owned?.record.resources.map((r) => r.variant))).toEqual(new Set(['envoy-sidecar', 'envoy-sni-dnat', 'grpc']));
    // The entry is acknowledged right after the resources are stored.
    await eventually(async () => expect((await writer.store.changeLog.pending()).count).toBe(0), WAIT);
    const status = await translatorz(translator);
    expect(status.recentBuilds[0]).toMatchObject({ serviceEntry: 'shop/cart', outcome: 'applied' });
    const metrics = await (await fetch(`http://127.0.0.1:${translator.port}/metrics`)).text();
    expect(metrics).toMatch(/skiff_translator_builds_total\{outcome="applied"\} 1/);
    expect(metrics).toMatch(/skiff_store_connection_up\{connection="commands"\} 1/);
  });

  it('stops cleanly on SIGTERM', async () => {
    translator.child.kill('SIGTERM');
    expect(await translator.exited).toBe(0);
    expect(translator.output).not.toContain('"level":"error"');
  });
});

describe('two skiff-translator replicas, one killed mid-stream', () => {
  const prefix = uniquePrefix('translator-kill');
  let writer: Writer;
  const replicas: Translator[] = [];

  beforeAll(async () => {
    writer = await Writer.open(prefix);
  });

  afterAll(async () => {
    for (const replica of replicas) if (replica.child.exitCode === null) replica.child.kill('SIGKILL');
    await writer.store.close();
    const admin = await connectAdmin();
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });

  it('loses no change: the survivor takes over what the dead one read and never acknowledged', { timeout: 120_000 }, async () => {
    const names = Array.from({ length: 120 }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
    const addresses = (i: number, round: number) => Array.from({ length: 20 }, (_, n) => `10.${round}.${i}.${n + 1}`);
    for (const [i, name] of names.entries()) await writer.put(name, addresses(i, 1));

    const doomed = await launch(prefix, ['--concurrency', '1', '--claim-idle-timeout', '500ms', '--log-level', 'warn']);
    replicas.push(doomed);
    // Mid-stream: it has read the changes and built some, not all.
    const consumer = await eventually(async () => {
      const status = await translatorz(doomed);
      expect(status.totals['applied']).toBeGreaterThan(0);
      return status.consumer;
    }, WAIT);
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const abandoned = (await writer.store.changeLog.pending()).perConsumer[consumer] ?? 0;
    expect(abandoned).toBeGreaterThan(0);

    const survivor = await launch(prefix, ['--claim-idle-timeout', '500ms', '--log-level', 'warn']);
    replicas.push(survivor);
    // The stream goes on.
    for (const [i, name] of names.slice(0, 30).entries()) await writer.put(name, addresses(i, 2));

    await eventually(async () => expect((await writer.store.changeLog.pending()).count).toBe(0), WAIT);
    for (const name of names) expect(await writer.builtUpToDate({ namespace: 'shop', name }), name).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${survivor.port}/metrics`)).text();
    const claimed = Number(/skiff_translator_claimed_entries_total (\d+)/.exec(metrics)?.[1] ?? 0);
    expect(claimed).toBeGreaterThanOrEqual(abandoned);
    survivor.child.kill('SIGTERM');
    expect(await survivor.exited).toBe(0);
  });
});

describe('skiff-translator command line', () => {
  const runToExit = (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });

  it('exits 2 with one line for an unknown flag, a bad value, a bad variable or a missing Redis URL', async () => {
    expect(await runToExit(['--bogus'])).toEqual({ code: 2, stderr: "skiff-translator: unknown option '--bogus'\n" });
    expect(await runToExit(['--redis-url', SHARED_REDIS_URL, '--concurrency', '0'])).toEqual({
      code: 2,
      stderr: 'skiff-translator: invalid value "0" for --concurrency: expected a positive integer\n',
    });
    expect(await runToExit(['--redis-url', SHARED_REDIS_URL], { SKIFF_MONITORING_ADDR: 'nowhere' })).toMatchObject({ code: 2, stderr: expect.stringMatching(/^skiff-translator: invalid value "nowhere" for SKIFF_MONITORING_ADDR: [^\n]+\n$/) });
    expect(await runToExit([], { SKIFF_REDIS_URL: '' })).toEqual({ code: 2, stderr: 'skiff-translator: missing --redis-url (or SKIFF_REDIS_URL)\n' });
  });
});
