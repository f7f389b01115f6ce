/**
 * Bundles skiffctl after `tsc -b`: `dist/main.js` and everything it imports, workspace libraries and
 * npm packages alike, into one CommonJS file, `dist/skiffctl.cjs`, with a V8 code cache beside it,
 * which `bin/skiffctl.js` loads through `dist/bundle-loader.js`. Node 20 resolves, reads and compiles
 * each ES module on its own, and a `translate` run imports about 500 of them (TypeBox alone is 266
 * files), which took about half of its CPU time; compiling the bundle and each function on its first
 * call took a fifth of what was left, which the code cache saves (docs/BENCHMARKS.md, "CLI
 * start-up"). Node 20 caches code only for scripts (`vm.Script` `cachedData`), hence CommonJS and one
 * file: every command compiles from the same cache, `--version` included.
 *
 * The output sits directly in `dist/`: like the library's own `dist/`, it is three levels under the
 * repository root, where `@skiff/runtime` finds the root package.json for the version.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const DIST = join(dirname(fileURLToPath(import.meta.url)), 'dist');
const PREFIX = 'skiffctl';
const BUNDLE = join(DIST, `${PREFIX}.cjs`);
const REPO_ROOT = join(DIST, '..', '..', '..');

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

// Drop the previous build's files (the ES module chunks of earlier builds among them) so none linger.
for (const name of readdirSync(DIST)) if (name.startsWith(`${PREFIX}.`) || name.startsWith(`${PREFIX}-`)) rmSync(join(DIST, name));

await build({
  entryPoints: [join(DIST, 'main.js')],
  outfile: BUNDLE,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  plugins: [walkImportsOnce],
  // `@skiff/runtime` finds the root package.json from `import.meta.url`, which a CommonJS file has not got.
  define: { 'import.meta.url': '__skiffctlImportMetaUrl' },
  banner: { js: "const __skiffctlImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});

// The key ties the code cache to this bundle (`bundle-loader.ts`): a cache made from another build is ignored.
const LOADER = pathToFileURL(join(DIST, 'bundle-loader.js')).href;
const { BUNDLE_KEY_MARKER } = await import(LOADER);
appendFileSync(BUNDLE, `\n${BUNDLE_KEY_MARKER}${createHash('sha256').update(readFileSync(BUNDLE)).digest('hex').slice(0, 32)}\n`);

/**
 * The code cache holds the bytecode of the functions compiled by the time it is made, so it is made
 * after a `translate` and a `validate` of the seed example, in a Node started as the bin is: V8
 * rejects a cache made with other V8 flags, so `NODE_OPTIONS` is left out.
 */
const SEED = join(REPO_ROOT, 'examples', 'seed', 'example-app.yaml');
const makeCache = `
import { Readable, Writable } from 'node:stream';
import { loadBundle, tuneV8ForShortRuns } from ${JSON.stringify(LOADER)};
tuneV8ForShortRuns();
const bundle = loadBundle(${JSON.stringify(BUNDLE)});
const io = () => ({ stdout: new Writable({ write: (_chunk, _encoding, done) => done() }), stderr: process.stderr, stdin: Readable.from([]) });
for (const command of ['translate', 'validate']) {
  const code = await bundle.exports.run([command, '-f', ${JSON.stringify(SEED)}], io());
  if (code !== 0) throw new Error(\`skiffctl \${command} of the seed example exited \${code}\`);
}
bundle.writeCodeCache();
`;
const { NODE_OPTIONS: _nodeOptions, ...environment } = process.env;
execFileSync(process.execPath, ['--input-type=module', '-e', makeCache], { stdio: 'inherit', env: environment });
