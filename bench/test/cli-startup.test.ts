/**
 * Runs the CLI start-up benchmark (`bench/cli-startup.mjs`) with one run per command, against the
 * built skiffctl, so its code cannot rot: every command it times must run and exit 0, and each gets
 * its line. Timings are never asserted.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../cli-startup.mjs', import.meta.url));

describe('bench/cli-startup.mjs', () => {
  it('times Node alone and every skiffctl command, translate -o json on the seed example and on the one-ServiceEntry and 100 SE / 1k WE files among them', { timeout: 120_000 }, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [script, '--runs', '1', '--warmup', '0']);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^CLI start-up, median of 1 runs after 0 warm-up runs; Node v\d+/);
    const names = lines.slice(1, -1).map((line) => line.replace(/\s+median .*$/, ''));
    expect(names).toEqual([
      'node -e 0 (Node alone)',
      'skiffctl --version',
      'skiffctl validate (seed example)',
      'skiffctl translate -o json (seed example)',
      'skiffctl translate -o json (1 SE file)',
      'skiffctl translate -o json (100 SE / 1k WE file)',
    ]);
    for (const line of lines.slice(1, -1)) expect(line).toMatch(/median +\d+ ms +min +\d+ +max +\d+ +CPU median +\d+ ms$/);
  });
});
