// One vitest configuration for every workspace package (each package's vitest.config.ts re-exports it).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources, so tests never read a stale dist/.
// No `module` condition: it selects bundler-only builds that Node cannot load (the OpenTelemetry
// packages' build/esm uses extensionless imports), and tests should load what Node loads at run time.
const conditions = ['@skiff/source', 'import', 'node', 'default'];

// `npm test` (scripts/test.mjs) sets SKIFF_TEST_RESULTS to a directory: each package then also writes
// its results there as JSON, for the per-package table and the total printed at the end.
const resultsDir = process.env['SKIFF_TEST_RESULTS'];
const packageName = (JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { name: string }).name;
const reporters = resultsDir === undefined ? ['default'] : ['default', ['json', { outputFile: join(resultsDir, `${packageName.replace('/', '__')}.json`) }]];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@skiff/source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    reporters: reporters as never,
  },
});
