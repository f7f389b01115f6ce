/**
 * Runs the istiod comparison (`bench/istiod.mjs`) in quick mode end to end, so its code cannot rot: the
 * istiod reference's `serve` mode and the built `skiff` serve the same small mesh, skiff-loadgen proxies
 * are configured by each and receive every change (and from a Skiff reading a real Kubernetes API server
 * holding the mesh), and the CLI comparison runs both commands. Timings are
 * never asserted.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main, mergeResults, renderSection, type IstiodResults, type IstiodServerMeasure } from '../istiod.mjs';

const measure = (coldMs: number): IstiodServerMeasure => ({ readyMs: 1, coldMs, rssMiB: 100, changes: { count: 10, deliveries: 10, missing: 0, p50Ms: 5, p99Ms: 9 } });
const serverRow = (serviceEntries: number, workloads: number, istiodMs: number, skiffMs: number) => ({
  serviceEntries,
  workloads,
  serviceEntriesBuilt: serviceEntries,
  workloadsBuilt: workloads,
  istiod: measure(istiodMs),
  skiff: measure(skiffMs),
});
const machine = { nproc: 2, cpuModel: 'AMD EPYC', node: 'v20.20.2', loadAverageAtStart: 0.1, loadAverageAtEnd: 0.2 };
function results(date: string, rows: IstiodResults['rows'], cli: IstiodResults['cli'], overrides: Partial<IstiodResults> = {}): IstiodResults {
  return { name: 'istiod', mode: 'full', date, machine, istioVersion: 'v1', coldMethod: 'held', plan: { proxies: 100, namespaces: 10, changes: 100, ratePerSecond: 10 }, rows, cli, ...overrides };
}

describe('bench/istiod.mjs --merge', () => {
  const earlier = results(
    '2026-12-06T10:59:00.000Z',
    [serverRow(100, 1_000, 4_000, 1_000), serverRow(100, 200_000, 700_000, 12_000)],
    [{ serviceEntries: 1, workloads: 1, istiodMs: 180, skiffMs: 170 }],
  );

  it('keeps the earlier rows of sizes not run again, dated by their run, replaces the others, and sorts by size', () => {
    const current = results('2026-12-06T14:30:00.000Z', [serverRow(10_000, 10_000, 12_000, 7_000), serverRow(100, 1_000, 5_000, 1_100)], []);
    const merged = mergeResults(earlier, current);
    expect(merged.rows.map((row) => [row.serviceEntries, row.workloads, row.istiod.coldMs, row.date])).toEqual([
      [100, 1_000, 5_000, '2026-12-06T14:30:00.000Z'],
      [100, 200_000, 700_000, '2026-12-06T10:59:00.000Z'],
      [10_000, 10_000, 12_000, '2026-12-06T14:30:00.000Z'],
    ]);
    expect(merged.cli).toEqual([{ serviceEntries: 1, workloads: 1, istiodMs: 180, skiffMs: 170, date: '2026-12-06T10:59:00.000Z' }]);
    expect(merged.plan['sizes']).toEqual([
      { serviceEntries: 100, workloads: 1_000 },
      { serviceEntries: 100, workloads: 200_000 },
      { serviceEntries: 10_000, workloads: 10_000 },
    ]);
    // The tables name the run of every row once rows come from two runs.
    const section = renderSection(merged);
    expect(section).toContain('| 100 | 200000 | 1 | 700000 | 12000 | 58.3x | 5/9 | 5/9 | 1.0x | 100 | 100 | 2026-12-06 10:59 |');
    expect(section).toContain('| 1 | 1 | 1 | 180 | 170 | 1.1x | 2026-12-06 10:59 |');
    expect(renderSection(earlier)).not.toContain('run (UTC)');
  });

  it('refuses results of another machine or another istiod', () => {
    const current = results('2026-12-06T14:30:00.000Z', [], []);
    expect(() => mergeResults(results(earlier.date, [], [], { machine: { ...machine, cpuModel: 'Intel Xeon' } }), current)).toThrow(
      '--merge: the earlier run\'s machine has cpuModel "Intel Xeon", this one "AMD EPYC"; results of different machines do not mix',
    );
    expect(() => mergeResults(results(earlier.date, [], [], { istioVersion: 'v0' }), current)).toThrow('--merge: the earlier run measured istiod v0, this one v1');
  });

  it('refuses server rows whose cold starts were measured another way, unless they are all measured again', () => {
    const { coldMethod: _recorded, ...unrecorded } = earlier;
    const partly = results('2026-12-06T14:30:00.000Z', [serverRow(100, 1_000, 5_000, 1_100)], []);
    expect(() => mergeResults({ ...unrecorded }, partly)).toThrow(
      '--merge: the earlier run measured cold starts with "load generator started once the server was ready", this one with "held"; measure 100x200000 again (--sizes) rather than mix them',
    );
    // Every server size measured again: only the CLI rows are kept.
    const wholly = results('2026-12-06T14:30:00.000Z', [serverRow(100, 1_000, 5_000, 1_100), serverRow(100, 200_000, 690_000, 11_000)], []);
    const merged = mergeResults({ ...unrecorded }, wholly);
    expect(merged.rows.map((row) => row.date)).toEqual(['2026-12-06T14:30:00.000Z', '2026-12-06T14:30:00.000Z']);
    expect(merged.cli).toHaveLength(1);
  });
});

describe('bench/istiod.mjs --quick', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-bench-istiod-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('configures every proxy from istiod and from Skiff, delivers every change from both and times both CLIs', { timeout: 900_000 }, async () => {
    const docs = join(dir, 'BENCHMARKS.md');
    const { results, resultsFile } = await main(['--quick', '--results-dir', dir, '--docs', docs], () => {});
    expect(resultsFile).toBe(join(dir, 'istiod-quick.tmp.json'));
    expect(results.istioVersion).toMatch(/^v/);
    expect(results.rows).toHaveLength(1);
    const [row] = results.rows;
    for (const server of [row!.istiod, row!.skiff]) {
      expect(server.coldMs).toBeGreaterThan(0);
      // A short cold start is repeated, in turns, and the median is reported.
      expect(server.coldSamplesMs).toHaveLength(2);
      const [first, second] = [...server.coldSamplesMs!].sort((a, b) => a - b);
      expect(server.coldMs).toBeGreaterThanOrEqual(first!);
      expect(server.coldMs).toBeLessThanOrEqual(second!);
      // Every change reached every proxy subscribed to its clusters, from both servers.
      expect(server.changes.missing).toBe(0);
      expect(server.changes.deliveries).toBeGreaterThanOrEqual(server.changes.count);
    }
    expect(row!.istiod.changes.deliveries).toBe(row!.skiff.changes.deliveries);
    // Skiff reading the mesh from a real API server: every object created, every proxy configured,
    // every change patched through the API reaching every subscribed proxy.
    const onKubernetes = row!.skiffKube!;
    expect(onKubernetes.seedMs).toBeGreaterThan(0);
    expect(onKubernetes.coldMs).toBeGreaterThan(0);
    expect(onKubernetes.changes.missing).toBe(0);
    expect(onKubernetes.changes.deliveries).toBe(row!.skiff.changes.deliveries);
    // The PATCH, part of a change's delay, is timed on its own: an API server's answer takes a write to etcd.
    expect(onKubernetes.changes.handOff!.p50Ms).toBeGreaterThan(0);
    expect(results.cli).toHaveLength(1);
    expect(results.cli[0]!.istiodMs).toBeGreaterThan(0);
    expect(results.cli[0]!.skiffMs).toBeGreaterThan(0);
    // A short CLI run is repeated, in turns, and the medians are reported.
    expect(results.cli[0]!.runs).toBe(3);
    expect(results.cli[0]!.samples!.skiffMs).toHaveLength(3);
    const section = readFileSync(docs, 'utf8');
    expect(section).toContain('## Skiff and istiod, end to end');
    expect(section).toContain('Skiff reading the same mesh from a real Kubernetes API server');
  });
});
