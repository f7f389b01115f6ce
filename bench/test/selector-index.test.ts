/**
 * Runs the benchmark (`bench/run.mjs`) in quick mode end to end, so its code cannot rot: every scenario
 * runs, the reference implementations must agree with the index byte for byte (the run throws
 * otherwise), and the results and the docs section are written. Timings are never asserted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../run.mjs';

/** Clusters of a synthetic mesh: ServiceEntry i has two ports when i is odd, one when even. */
const clustersOf = (serviceEntries: number) => serviceEntries + Math.floor(serviceEntries / 2);

describe('bench/run.mjs --quick', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-bench-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('measures every scenario, checks the references against the index and writes results and docs', { timeout: 120_000 }, () => {
    const docs = join(dir, 'BENCHMARKS.md');
    writeFileSync(docs, '# Benchmarks\n\nHand-written introduction.\n');
    const lines: string[] = [];
    const { results, resultsFile, docsFile } = main(['--quick', '--results-dir', dir, '--docs', docs], (line) => lines.push(line));

    expect(resultsFile).toBe(join(dir, 'selector-index-quick.tmp.json'));
    expect(JSON.parse(readFileSync(resultsFile, 'utf8'))).toEqual(results);
    expect(results.mode).toBe('quick');

    expect(results.coldBuild.map((row) => [row.serviceEntries, row.workloads])).toEqual([
      [20, 500],
      [20, 2000],
      [200, 500],
      [200, 2000],
    ]);
    for (const row of results.coldBuild) {
      expect(row.clusters).toBe(clustersOf(row.serviceEntries));
      expect(row.loadAssignments).toBe(row.clusters);
      expect(Number.isFinite(row.totalMs)).toBe(true);
    }

    for (const row of results.updates.constantSelection) {
      expect(row.updates).toBe(60);
      // Half the updates move a workload between two ServiceEntries, half change one in place.
      expect(row.affectedPerUpdate).toBeGreaterThan(1);
      expect(row.affectedPerUpdate).toBeLessThanOrEqual(2);
      expect(row.references?.doubleLoop.updates).toBe(5);
      expect(row.references?.namespaceScan.updates).toBe(20);
      // Measured in two rounds that alternate between the meshes.
      expect(row.roundMedianMs).toHaveLength(2);
    }
    expect(results.updates.fixedServiceEntries.map((row) => row.workloadsPerServiceEntry)).toEqual([25, 100]);

    // A quick run measures none of the target sizes, so it judges nothing.
    expect(results.targets.map((target) => [target.id, target.met])).toEqual([
      ['update-cost-flat', null],
      ['faster-than-double-loop', null],
      ['cold-build', null],
      ['large-assignment-update', null],
    ]);

    const written = readFileSync(docsFile ?? '', 'utf8');
    expect(written.startsWith('# Benchmarks\n\nHand-written introduction.\n')).toBe(true);
    expect(written).toContain('### Targets');
    expect(lines.join('\n')).toContain('(c) The same updates through the reference implementations');

    // A second run replaces the generated section instead of appending another one.
    main(['--quick', '--results-dir', dir, '--docs', docs], () => {});
    const rewritten = readFileSync(docs, 'utf8');
    expect(rewritten.split('### Targets')).toHaveLength(2);
    expect(rewritten.startsWith('# Benchmarks\n\nHand-written introduction.\n')).toBe(true);
  });
});
