/**
 * Runs the istiod comparison (`bench/istiod.mjs`) in quick mode end to end, so its code cannot rot: the
 * istiod reference's `serve` mode and the built `skiff` serve the same small mesh, skiff-loadgen proxies
 * are configured by each and receive every change, and the CLI comparison runs both commands. Timings are
 * never asserted.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../istiod.mjs';

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
      // Every change reached every proxy subscribed to its clusters, from both servers.
      expect(server.changes.missing).toBe(0);
      expect(server.changes.deliveries).toBeGreaterThanOrEqual(server.changes.count);
    }
    expect(row!.istiod.changes.deliveries).toBe(row!.skiff.changes.deliveries);
    expect(results.cli).toHaveLength(1);
    expect(results.cli[0]!.istiodMs).toBeGreaterThan(0);
    expect(results.cli[0]!.skiffMs).toBeGreaterThan(0);
    expect(readFileSync(docs, 'utf8')).toContain('## Skiff and istiod, end to end');
  });
});
