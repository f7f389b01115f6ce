#!/usr/bin/env node
// `npm test`'s test step: every package's tests through Nx (two at a time), then one line per package
// and the total, read from the JSON each package's vitest writes (vitest.shared.ts). Nx shows the full
// output of failed packages only; this table shows what the passed ones ran.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const resultsDir = mkdtempSync(join(tmpdir(), 'skiff-test-results-'));
const nxArgs = ['nx', 'run-many', '-t', 'test', '--parallel=2', ...process.argv.slice(2)];
const code = await new Promise((resolve) => {
  const child = spawn('npx', nxArgs, { stdio: 'inherit', env: { ...process.env, SKIFF_TEST_RESULTS: resultsDir } });
  child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
});

const rows = readdirSync(resultsDir)
  .filter((file) => file.endsWith('.json'))
  .sort()
  .map((file) => {
    const result = JSON.parse(readFileSync(join(resultsDir, file), 'utf8'));
    const seconds = result.testResults.reduce((last, t) => Math.max(last, t.endTime ?? 0), result.startTime) - result.startTime;
    return {
      name: file.replace(/\.json$/, '').replace('__', '/'),
      files: result.testResults.length,
      passed: result.numPassedTests,
      failed: result.numFailedTests,
      skipped: result.numPendingTests + (result.numTodoTests ?? 0),
      seconds: seconds / 1000,
      ok: result.success,
    };
  });
rmSync(resultsDir, { recursive: true, force: true });

const width = rows.reduce((longest, row) => Math.max(longest, row.name.length), 7);
const line = (mark, name, files, passed, failed, skipped, time) =>
  `${mark} ${name.padEnd(width)} ${String(files).padStart(6)} ${String(passed).padStart(7)} ${String(failed).padStart(7)} ${String(skipped).padStart(8)} ${time.padStart(8)}`;
const total = rows.reduce((sum, row) => ({ files: sum.files + row.files, passed: sum.passed + row.passed, failed: sum.failed + row.failed, skipped: sum.skipped + row.skipped }), { files: 0, passed: 0, failed: 0, skipped: 0 });
console.log('');
console.log(line(' ', 'package', 'files', 'passed', 'failed', 'skipped', 'time'));
for (const row of rows) console.log(line(row.ok ? '✔' : '✖', row.name, row.files, row.passed, row.failed, row.skipped, `${row.seconds.toFixed(1)}s`));
console.log(line(code === 0 ? '✔' : '✖', `total (${rows.length} packages)`.padEnd(width), total.files, total.passed, total.failed, total.skipped, ''));
process.exitCode = code;
