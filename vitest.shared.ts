// One vitest configuration for every workspace package (each package's vitest.config.ts re-exports it).
import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources, so tests never read a stale dist/.
// No `module` condition: it selects bundler-only builds that Node cannot load (the OpenTelemetry
// packages' build/esm uses extensionless imports), and tests should load what Node loads at run time.
const conditions = ['@skiff/source', 'import', 'node', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@skiff/source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
