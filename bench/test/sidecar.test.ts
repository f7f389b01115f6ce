/**
 * Runs the Sidecar benchmark (`bench/sidecar.mjs`) in quick mode end to end, so its code cannot rot:
 * the built watcher, translator and gateway load a small mesh and a Sidecar from a directory through
 * the shared Redis, skiff-loadgen's proxies receive the clusters each Sidecar change imports, no
 * resource is rebuilt, the results and the docs section are written, and its Redis keys are gone.
 * Timings are never asserted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAdmin, listKeys, SHARED_REDIS_URL } from '@skiff/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { main } from '../sidecar.mjs';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-bench-sidecar-test-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('re-scopes every proxy on each Sidecar change without rebuilding resources, and writes results and docs', { timeout: 180_000 }, async () => {
  const docs = join(dir, 'BENCHMARKS.md');
  writeFileSync(docs, '# Benchmarks\n\nHand-written introduction.\n');
  const { results, resultsFile } = await main(['--quick', '--results-dir', dir, '--docs', docs], () => undefined, { SKIFF_REDIS_URL: SHARED_REDIS_URL });
  expect(resultsFile).toBe(join(dir, 'sidecar-quick.tmp.json'));
  expect(JSON.parse(readFileSync(resultsFile, 'utf8'))).toEqual(JSON.parse(JSON.stringify(results)));
  const [scenario] = results.scenarios;
  expect(scenario?.rounds).toHaveLength(results.plan.rounds);
  expect(scenario?.missing).toBe(0);
  expect(scenario?.translatorBuilds).toBe(0);
  expect(scenario?.translatorBuildsBefore).toBeGreaterThanOrEqual(8);
  const written = readFileSync(docs, 'utf8');
  expect(written).toContain('Hand-written introduction.');
  expect(written).toContain('## Sidecar change -> every proxy has its new cluster set');
  // The run's keys (under `{skiff-bench-sidecar-<pid>-<id>}`, this process's pid) are deleted afterwards.
  const admin = await connectAdmin(SHARED_REDIS_URL);
  try {
    expect(await listKeys(admin, `skiff-bench-sidecar-${process.pid}-*`)).toEqual([]);
  } finally {
    admin.disconnect();
  }
});
