/**
 * Runs the watcher benchmark (`bench/watcher.mjs`, which `npm run bench` runs after the selector-index
 * one) in quick mode end to end, so its code cannot rot: the real watcher loads meshes into the shared
 * Redis, takes a stream of updates, the store is compared with the desired state hash by hash (the
 * run throws otherwise), commands are counted on a redis-server of its own, the results and the docs
 * section are written and the keys are gone afterwards. Timings are never asserted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAdmin, SHARED_REDIS_URL } from '@skiff/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../watcher.mjs';

describe('bench/watcher.mjs --quick', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-bench-watcher-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('syncs, streams updates, counts commands per update and writes results and docs', { timeout: 120_000 }, async () => {
    const docs = join(dir, 'BENCHMARKS.md');
    writeFileSync(docs, '# Benchmarks\n\nHand-written introduction.\n');
    const lines: string[] = [];
    const env = { SKIFF_REDIS_URL: SHARED_REDIS_URL };
    const { results, resultsFile, docsFile } = await main(['--quick', '--results-dir', dir, '--docs', docs], (line) => lines.push(line), env);

    expect(resultsFile).toBe(join(dir, 'watcher-quick.tmp.json'));
    expect(JSON.parse(readFileSync(resultsFile, 'utf8'))).toEqual(results);
    expect(results.mode).toBe('quick');

    // (1) One hash per ServiceEntry, one endpoint field per selected workload (checked in Redis by the run).
    expect(results.coldSync.map((row) => [row.serviceEntries, row.workloads])).toEqual([
      [10, 200],
      [50, 1000],
    ]);
    for (const row of results.coldSync) {
      expect(row.hashesWritten).toBe(row.serviceEntries);
      expect(row.endpointFields).toBe(row.workloads);
    }

    // (2) A fifth of the updates are label moves; coalescing may merge writes, never add any.
    const { updates } = results;
    expect([updates.updates, updates.moves, updates.hashesVerified]).toEqual([500, 100, 50]);
    expect(updates.hashWrites).toBeGreaterThan(0);
    expect(updates.hashWrites).toBeLessThanOrEqual(updates.serviceEntryChanges);

    // (3) Counted on a server of its own: one script call per update carries every selecting
    // ServiceEntry; the commands are a fixed part per call plus a part per selecting ServiceEntry, the
    // same in both meshes.
    expect(results.commands.server.isolated).toBe(true);
    const addressChanges = results.commands.rows.filter((row) => row.scenario.startsWith('address change'));
    expect(addressChanges.map((row) => [row.workloads, row.selectingServiceEntries])).toEqual([
      [200, 1],
      [200, 3],
      [200, 10],
      [1000, 1],
      [1000, 3],
      [1000, 10],
    ]);
    for (const row of results.commands.rows) {
      expect(row.hashWritesPerUpdate).toBe(row.selectingServiceEntries);
      expect(row.perCommand['evalsha']).toBe(1);
    }
    const commandsOf = (workloads: number, selecting: number) => addressChanges.find((row) => row.workloads === workloads && row.selectingServiceEntries === selecting)?.commandsPerUpdate ?? Number.NaN;
    for (const selecting of [1, 3, 10]) expect(commandsOf(1000, selecting)).toBe(commandsOf(200, selecting));
    const perServiceEntry = (commandsOf(200, 10) - commandsOf(200, 1)) / 9;
    expect((commandsOf(200, 3) - commandsOf(200, 1)) / 2).toBeCloseTo(perServiceEntry, 9);
    // The fixed part is paid once per call, not once per ServiceEntry.
    expect(commandsOf(200, 1) - perServiceEntry).toBeGreaterThan(0);
    expect(results.commands.loads).toHaveLength(2);

    // A quick run measures none of the target sizes, so it judges nothing.
    expect(results.targets.map((target) => [target.id, target.met])).toEqual([
      ['watcher-cold-sync', null],
      ['watcher-update-throughput', null],
      ['watcher-commands-per-update', null],
    ]);

    const written = readFileSync(docsFile ?? '', 'utf8');
    expect(written.startsWith('# Benchmarks\n\nHand-written introduction.\n')).toBe(true);
    expect(written).toContain('## Watcher through Redis');
    expect(lines.join('\n')).toContain('(3) Redis commands per WorkloadEntry update');

    // A second run replaces the generated section instead of appending another one.
    writeFileSync(docs, `${written}\nHand-written notes after the section.\n`);
    await main(['--quick', '--results-dir', dir, '--docs', docs], () => {}, env);
    const rewritten = readFileSync(docs, 'utf8');
    expect(rewritten.split('## Watcher through Redis')).toHaveLength(2);
    expect(rewritten.startsWith('# Benchmarks\n\nHand-written introduction.\n')).toBe(true);
    expect(rewritten.endsWith('Hand-written notes after the section.\n')).toBe(true);

    // Every key the run wrote on the shared server is gone.
    const admin = await connectAdmin(SHARED_REDIS_URL);
    try {
      const left: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', `{skiff-bench-*-${process.pid}-*}:*`, 'COUNT', 10_000);
        cursor = next;
        for (const item of keys) left.push(item);
      } while (cursor !== '0');
      expect(left).toEqual([]);
    } finally {
      admin.disconnect();
    }
  });
});
