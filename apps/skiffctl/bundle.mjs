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
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const DIST = join(dirname(fileURLToPath(import.meta.url)), 'dist');
const PREFIX = 'skiffctl';

/**
 * protobuf-es 2.17 boots each generated file (`fileDesc`) into a registry of its own, adding every
 * imported file with all of that file's imports, recursively and without remembering what it has
 * added: a file imported along several paths (`envoy/config/core/v3/base.proto` is imported by most
 * Envoy files) has its types added once per path. Adding the same file object again adds the same
 * types under the same names, so the bundle skips repeated walks; that is about a third of the
 * instructions of a `translate` run (docs/BENCHMARKS.md). The build fails if the code it rewrites
 * changes, so a protobuf-es upgrade is checked again rather than silently unpatched.
 */
const walkImportsOnce = {
  name: 'protobuf-es-walk-imports-once',
  setup(bundler) {
    bundler.onLoad({ filter: /[\\/]@bufbuild[\\/]protobuf[\\/]dist[\\/]esm[\\/]registry\.js$/ }, ({ path }) => {
      const rewrites = [
        ['    const files = new Map();\n', '    const files = new Map();\n    const walked = new Set();\n'],
        [
          '        addFile(file, skipTypes, withDeps) {\n',
          '        addFile(file, skipTypes, withDeps) {\n            if (!skipTypes && withDeps) {\n                if (walked.has(file)) return;\n                walked.add(file);\n            }\n',
        ],
      ];
      let contents = readFileSync(path, 'utf8');
      for (const [from, to] of rewrites) {
        if (contents.split(from).length !== 2) throw new Error(`${path}: expected exactly one ${JSON.stringify(from)}; protobuf-es changed, review the walkImportsOnce rewrite`);
        contents = contents.replace(from, to);
      }
      return { contents, loader: 'js' };
    });
  },
};

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
  plugins: [walkImportsOnce],
  // CommonJS packages (commander) call `require` for Node's built-ins, which an ES module has not got.
  banner: { js: "import { createRequire as __skiffctlCreateRequire } from 'node:module'; const require = __skiffctlCreateRequire(import.meta.url);" },
});
