/**
 * Bundles skiffctl after `tsc -b`: `dist/main.js` and everything it imports, workspace libraries and
 * npm packages alike, into a few files that `bin/skiffctl.js` loads. Node 20 resolves, reads and
 * compiles each ES module on its own, and a `translate` run imports about 500 of them (TypeBox alone
 * is 266 files), which took about half of its CPU time (docs/BENCHMARKS.md, "CLI start-up").
 *
 * Each command stays a chunk of its own (code splitting keeps `main.ts`'s dynamic imports), so
 * `--version` does not parse the translator. The output sits directly in `dist/`: like the
 * library's own `dist/`, it is three levels under the repository root, where `@skiff/runtime` finds
 * the root package.json for the version.
 */
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const DIST = join(dirname(fileURLToPath(import.meta.url)), 'dist');
const PREFIX = 'skiffctl';

// Chunk names carry content hashes: drop the previous build's files so none linger.
for (const name of readdirSync(DIST)) if (name.startsWith(`${PREFIX}.`) || name.startsWith(`${PREFIX}-`)) rmSync(join(DIST, name));

await build({
  entryPoints: { [PREFIX]: join(DIST, 'main.js') },
  outdir: DIST,
  chunkNames: `${PREFIX}-[name]-[hash]`,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // CommonJS packages (commander) call `require` for Node's built-ins, which an ES module has not got.
  banner: { js: "import { createRequire as __skiffctlCreateRequire } from 'node:module'; const require = __skiffctlCreateRequire(import.meta.url);" },
});
