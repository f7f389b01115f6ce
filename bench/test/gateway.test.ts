/**
 * Runs the gateway benchmark (`bench/gateway.mjs`, which `npm run bench` runs after the watcher one) in
 * quick mode end to end, so its code cannot rot: the built watcher, translator and gateway load a
 * small mesh from a Kubernetes API server through the shared Redis, skiff-loadgen processes connect
 * and report every subscribed proxy receiving every change, the results and the docs section are
 * written, and the keys are gone afterwards. Timings are never asserted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAdmin, SHARED_REDIS_URL } from '@skiff/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IMAGE_MALLOC_CONF, imageAllocatorEnv, JEMALLOC_LIBRARY, main } from '../gateway.mjs';
import { main as soak } from '../soak.mjs';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

describe('bench/gateway.mjs', () => {
  it("runs the services with the image's allocator, jemalloc with the image's options", () => {
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    const env = imageAllocatorEnv();
    expect(basename(env.LD_PRELOAD)).toBe(JEMALLOC_LIBRARY);
    expect(env.MALLOC_CONF).toBe(IMAGE_MALLOC_CONF);
    const imageEnv = (name: string) => new RegExp(`^\\s+${name}=(\\S+) \\\\$`, 'm').exec(dockerfile)?.[1];
    expect(imageEnv('MALLOC_CONF')).toBe(IMAGE_MALLOC_CONF);
    expect(basename(imageEnv('LD_PRELOAD') ?? '')).toBe(JEMALLOC_LIBRARY);
    // glibc's own tunables would say nothing with jemalloc preloaded.
    expect(dockerfile).not.toMatch(/MALLOC_(MMAP|TRIM)_THRESHOLD_/);
  });
});

describe('bench/gateway.mjs --quick', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-bench-gateway-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a mesh through every service, delivers every change to every subscriber, and writes results and docs', { timeout: 240_000 }, async () => {
    const docs = join(dir, 'BENCHMARKS.md');
    writeFileSync(docs, '# Benchmarks\n\nHand-written introduction.\n');
    const lines: string[] = [];
    const env = { SKIFF_REDIS_URL: SHARED_REDIS_URL };
    const { results, resultsFile, docsFile } = await main(['--quick', '--results-dir', dir, '--docs', docs], (line) => lines.push(line), env);

    expect(resultsFile).toBe(join(dir, 'gateway-quick.tmp.json'));
    expect(JSON.parse(readFileSync(resultsFile, 'utf8'))).toEqual(JSON.parse(JSON.stringify(results)));
    expect(results.mode).toBe('quick');

    // (1) Every ServiceEntry reached the gateway: 40 ServiceEntries, half with a second port, two
    // types, and one variant per generator and naming.
    expect(results.load).toMatchObject({ namespaces: 4, serviceEntries: 40, workloads: 80 });
    expect(results.load.gatewayResources % 60).toBe(0);
    expect(results.load.gatewayResources).toBeGreaterThan(0);
    // Every service ran with the image's allocator (the suite reads each one's mappings).
    expect(results.load.allocator).toEqual(imageAllocatorEnv());

    // (2) Every change reached every subscriber of every cluster it changed, each proxy on its own connection.
    const { spread } = results;
    expect(spread.missing).toBe(0);
    expect(spread.arrivals).toBe(spread.subscribers);
    expect(spread.arrivals).toBeGreaterThanOrEqual(spread.changes);
    expect(spread.loadgen.connections).toBe(spread.proxies);
    expect(spread.loadgen.streams).toMatchObject({ started: spread.proxies, ready: spread.proxies, reconnects: 0 });
    // One EDS response may carry both clusters of a two-port ServiceEntry to a proxy subscribed to both.
    expect(spread.pushes).toBeGreaterThanOrEqual(spread.changes);

    // (3) Every change reached every proxy: with one load generator process, with two, and with two
    // gateway replicas serving them (each replica's pushes counted).
    for (const [run, processes, gateways] of [
      [results.fanout, 1, 1],
      [results.fanoutSplit, 2, 1],
      [results.fanoutReplicas, 2, 2],
    ] as const) {
      expect(run.processes).toBe(processes);
      expect(run.gateways).toBe(gateways);
      expect(run.loadgen).toHaveLength(processes);
      expect(run.missing).toBe(0);
      expect(run.arrivals).toBe(run.proxies * run.changes);
      expect(run.pushes).toBeGreaterThanOrEqual(run.arrivals);
      expect(run.loadgen.reduce((sum, facts) => sum + facts.streams.ready, 0)).toBe(run.proxies);
      // The gateway's CPU time per change, one sample per change (it pushes, so it is not all zero).
      expect(run.cpu.gatewayMsPerChange.count).toBe(run.changes);
      expect(run.cpu.gatewayMsPerChange.max).toBeGreaterThan(0);
      expect(run.cpu.gatewayUsPerProxy).toBeCloseTo((run.cpu.gatewayMsPerChange.mean * 1000) / run.proxies);
      for (const memory of [run.memory.before, run.memory.withStreams, run.memory.after]) {
        expect(memory.rssMiB).toBeGreaterThan(memory.heapUsedMiB);
        expect(memory.heapUsedMiB).toBeGreaterThan(0);
        expect(memory.peakRssMiB).toBeGreaterThanOrEqual(memory.rssMiB);
      }
    }

    // A quick run measures none of the target sizes, so it judges nothing.
    expect(results.targets.map((target) => [target.id, target.met])).toEqual([
      ['gateway-change-p50-spread', null],
      ['gateway-change-p99-spread', null],
      ['gateway-change-p99-fanout', null],
      ['gateway-change-p99-fanout-replicas', null],
      ['gateway-streams-memory', null],
      ['gateway-memory-after-leaving', null],
    ]);

    const written = readFileSync(docsFile ?? '', 'utf8');
    expect(written.startsWith('# Benchmarks\n\nHand-written introduction.\n')).toBe(true);
    expect(written).toContain('## ADS gateway through Redis');
    expect(lines.join('\n')).toContain('(3b) the same proxies from 2 load generator processes');
    expect(lines.join('\n')).toContain('(3c) the same proxies over 2 gateway replicas');

    // Every key the run wrote on the shared server is gone.
    const admin = await connectAdmin(SHARED_REDIS_URL);
    try {
      const left: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', `{skiff-bench-gateway-${process.pid}-*}:*`, 'COUNT', 10_000);
        cursor = next;
        for (const item of keys) left.push(item);
      } while (cursor !== '0');
      expect(left).toEqual([]);
    } finally {
      admin.disconnect();
    }
  });
});

describe('bench/soak.mjs --quick', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-bench-soak-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the streams under changes through reconnect storms, samples the gateway and writes results and docs', { timeout: 240_000 }, async () => {
    const docs = join(dir, 'BENCHMARKS.md');
    const { results, resultsFile } = await soak(['--quick', '--results-dir', dir, '--docs', docs], () => {}, { SKIFF_REDIS_URL: SHARED_REDIS_URL });
    expect(resultsFile).toBe(join(dir, 'soak-quick.tmp.json'));
    expect(results.mode).toBe('quick');
    // Two storms in a minute, every stream back after each, and the final load generators saw all of them ready.
    expect(results.storms).toHaveLength(2);
    expect(results.loadgen.reduce((sum, facts) => sum + facts.streams.ready, 0)).toBe(results.plan.streams);
    expect(results.samples.length).toBeGreaterThan(10);
    expect(results.samples.at(-1)?.streams).toBe(results.plan.streams);
    // pilot_xds never goes negative, whatever the storms did.
    for (const sample of results.samples) {
      expect(sample.streams).toBeGreaterThanOrEqual(0);
      expect(sample.rssMiB).toBeGreaterThan(sample.heapUsedMiB);
    }
    expect(results.changes).toBeGreaterThan(0);
    // One reading of live memory before each storm and one at the end.
    expect(results.settled).toHaveLength(3);
    expect(typeof results.flatness.flat).toBe('boolean');
    expect(Number.isFinite(results.flatness.rssGrowth)).toBe(true);
    expect(readFileSync(docs, 'utf8')).toContain('## Soak: the gateway under load for half an hour');
  });
});
