/**
 * Bundles an app after `tsc -b` (its `bundle.mjs` calls `bundleApp`): `dist/main.js` and everything it
 * imports, workspace libraries and npm packages alike, into one CommonJS file, `dist/<prefix>.cjs`, with
 * a V8 code cache beside it, which the app's bin loads through `@skiff/runtime/bundle-loader.js`.
 * Node 20 resolves, reads and compiles each ES module on its own: skiffctl's `translate` imports about
 * 500 of them (TypeBox alone is 266 files) and the all-in-one `skiff` took 0.67 s to import its
 * `main.js`, against 0.13 s for its bundle from the cache (docs/BENCHMARKS.md, "CLI start-up" and
 * "Start-up of the services"). Node 20 caches code only for scripts (`vm.Script` `cachedData`),
 * hence CommonJS and one file.
 *
 * The output sits directly in the app's `dist/`: like a library's own `dist/`, it is three levels under
 * the repository root, where `@skiff/runtime` finds the root package.json for the version.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LOADER = pathToFileURL(join(REPO_ROOT, 'libs', 'runtime', 'dist', 'bundle-loader.js')).href;

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

/**
 * Builds `<dist>/<prefix>.cjs` from `<dist>/main.js` and its code cache.
 *
 * - `external`: modules left out of the bundle and imported when the code asks for them (a module
 *   only some runs need, such as the Kubernetes client, is then loaded only by those runs);
 * - `warmUp`: module code run in a Node started as the bin is, with the loaded bundle as `bundle`,
 *   before the cache is written: the cache holds the bytecode of the functions compiled by then;
 * - `tuneV8ForShortRuns`: whether the bin calls it (`bundle-loader.ts`) before loading the bundle.
 *   V8 rejects a cache made with other V8 flags, so the cache is made with the bin's, and without
 *   `NODE_OPTIONS`.
 *
 * @param {{ dist: string, prefix: string, external?: string[], warmUp: string, tuneV8ForShortRuns: boolean }} options
 */
export async function bundleApp({ dist, prefix, external = [], warmUp, tuneV8ForShortRuns }) {
  const bundlePath = join(dist, `${prefix}.cjs`);
  // The bundle and its source map are written aside and renamed into place, so the binary keeps
  // working while it is rebuilt (the README's `npm start` rebuilds it while the tests run the binary):
  // a run reads the old bundle or the new one, and with the other's code cache it compiles without it
  // (`bundle-loader.ts`).
  for (const { path, contents } of await bundleFiles(bundlePath, { dist, external })) {
    const temporary = `${path}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, contents);
      renameSync(temporary, path);
    } finally {
      rmSync(temporary, { force: true });
    }
  }
  // Drop what earlier builds left (the ES module chunks of older builds among them) so none linger.
  const kept = new Set([`${prefix}.cjs`, `${prefix}.cjs.map`, `${prefix}.cjs.cache`]);
  for (const name of readdirSync(dist)) if (!kept.has(name) && !name.endsWith('.tmp') && (name.startsWith(`${prefix}.`) || name.startsWith(`${prefix}-`))) rmSync(join(dist, name));

  const makeCache = `
import { loadBundle, tuneV8ForShortRuns } from ${JSON.stringify(LOADER)};
${tuneV8ForShortRuns ? 'tuneV8ForShortRuns();' : ''}
const bundle = loadBundle(${JSON.stringify(bundlePath)});
${warmUp}
bundle.writeCodeCache();
`;
  const { NODE_OPTIONS: _nodeOptions, ...environment } = process.env;
  execFileSync(process.execPath, ['--input-type=module', '-e', makeCache], { stdio: 'inherit', env: environment });
}

/** The bundle at `bundlePath` (with the loader's import and its key line) and its source map, in memory. */
async function bundleFiles(bundlePath, { dist, external }) {
  const { outputFiles } = await build({
    entryPoints: [join(dist, 'main.js')],
    outfile: bundlePath,
    write: false,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
    external,
    plugins: [walkImportsOnce],
    // `@skiff/runtime` finds the root package.json from `import.meta.url`, which a CommonJS file has not got.
    define: { 'import.meta.url': '__bundleImportMetaUrl' },
    banner: { js: "const __bundleImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  const bundle = outputFiles.find((file) => file.path === bundlePath);
  if (bundle === undefined) throw new Error(`esbuild wrote no ${bundlePath}`);

  const { BUNDLE_IMPORT, BUNDLE_KEY_MARKER } = await import(LOADER);
  // A script compiled from a code cache has no `import()` of its own (bundle-loader.ts `BUNDLE_IMPORT`):
  // every dynamic import left in the bundle (what `external` leaves out, and Node's own modules that
  // dependencies import on demand) goes through the loader. A static `require` of what was left out
  // would load it on every start, which is what leaving it out is for.
  let text = bundle.text;
  for (const specifier of external) {
    if (text.includes(`require(${JSON.stringify(specifier)})`)) throw new Error(`${bundlePath}: ${specifier} is required statically; only a dynamic import of it can stay out of the bundle`);
  }
  text = text.replace(/\bimport\(("[^"\\\n]+")\)/g, `${BUNDLE_IMPORT}($1)`);
  if (/\bimport\(/.test(text)) throw new Error(`${bundlePath}: an import() of a computed name is left, which the loader cannot serve`);
  // The key ties the code cache to this bundle (`bundle-loader.ts`): a cache made from another build is ignored.
  text += `\n${BUNDLE_KEY_MARKER}${createHash('sha256').update(text).digest('hex').slice(0, 32)}\n`;
  return outputFiles.map((file) => (file === bundle ? { path: file.path, contents: text } : { path: file.path, contents: file.contents }));
}

/**
 * Bundles one of the long-running services (`skiff`, `skiff-watcher`, `skiff-translator`,
 * `skiff-gateway`): the Kubernetes sources stay out of the bundle, imported only when a
 * Kubernetes source, election or Secret reader is configured, as from the ES modules (about half a
 * second of CPU that a directory source does not need). A server runs for long, so V8 keeps its
 * defaults, and the cache holds what loading the bundle compiles.
 *
 * @param {string} bundleScriptUrl the `import.meta.url` of the app's `bundle.mjs`, beside its `dist/`
 * @param {string} prefix the bundle's name, the app's binary
 */
export async function bundleService(bundleScriptUrl, prefix) {
  await bundleApp({
    dist: fileURLToPath(new URL('dist', bundleScriptUrl)),
    prefix,
    external: ['@skiff/config-sources/kubernetes', '@kubernetes/client-node'],
    tuneV8ForShortRuns: false,
    warmUp: '',
  });
}
