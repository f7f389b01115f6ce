/**
 * Runs the DestinationRule benchmark (`bench/destination-rules.mjs`) in quick mode end to end, so its code
 * cannot rot: the real watcher takes each rule event, the run checks that no hash outside the affected
 * set was rewritten, and the results and the docs section are written. Timings are never asserted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DR_DOCS_BEGIN, DR_DOCS_END, main } from '../destination-rules.mjs';

describe('bench/destination-rules.mjs --quick', () => {
  it('rewrites exactly the hashes of the ServiceEntries a rule matches, and writes results and docs', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-bench-dr-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const docs = join(dir, 'BENCHMARKS.md');
    writeFileSync(docs, '# Benchmarks\n\nHand-written introduction.\n');
    const { results, resultsFile } = await main(['--quick', '--results-dir', dir, '--docs', docs], () => undefined);
    expect(JSON.parse(readFileSync(resultsFile, 'utf8'))).toEqual(results);
    // One host, one host, one host, a namespace of 10, the whole mesh, the whole mesh.
    expect(results.rows.map((row) => [row.affected, row.hashesRewritten])).toEqual([
      [1, 1],
      [1, 1],
      [1, 1],
      [10, 10],
      [500, 500],
      [500, 500],
    ]);
    const text = readFileSync(docs, 'utf8');
    expect(text.startsWith('# Benchmarks\n\nHand-written introduction.\n')).toBe(true);
    expect(text).toContain(DR_DOCS_BEGIN);
    expect(text).toContain(DR_DOCS_END);
  });
});
