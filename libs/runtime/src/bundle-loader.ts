/**
 * How an app's bin starts the bundle its `bundle.mjs` builds (`scripts/bundle-app.mjs`): compiled
 * from a V8 code cache made at build time, and for skiffctl with V8 tuned for a run of a few hundred
 * milliseconds. Node 20 has no compile cache for ES modules (`module.enableCompileCache` arrived in
 * 22.1), so the bundle is one CommonJS file that `vm.Script` compiles with `cachedData`: about a fifth
 * of a one-ServiceEntry `translate` was compiling the bundle and each function on its first call, which
 * the cache's bytecode replaces (docs/BENCHMARKS.md, "CLI start-up"; for the services, "Start-up of
 * the services").
 *
 * A cache that does not belong to the bundle is ignored, never trusted: it starts with the key of
 * the bundle it was made from (the bundle's last line carries its key; V8 itself compares only the
 * source's length), so a rebuilt bundle does not read an older cache; it carries a CRC-32 of its
 * bytes, since V8 aborts the process on a damaged cache rather than rejecting it (as Node 22's
 * compile cache checks one too); and V8 rejects a cache made by another V8 version or with other V8
 * flags (`cachedDataRejected`), which a Node upgrade or `NODE_OPTIONS` would give. Either way the
 * bundle compiles from its source, as without a cache.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';
import { crc32 } from 'node:zlib';

/** The bundle's last line: `//# skiff-bundle-key=KEY`, written by `scripts/bundle-app.mjs`. */
export const BUNDLE_KEY_MARKER = '//# skiff-bundle-key=';

/**
 * What a bundle calls in place of `import("...")` (`scripts/bundle-app.mjs` rewrites them): a script
 * compiled by `vm.Script` has no `import()` of its own (Node 20 gives it one only through an
 * experimental option, which a code cache drops). It imports a Node module as it is, and a package (one
 * the bundle left out) as the bundle's own directory resolves it.
 */
export const BUNDLE_IMPORT = '__bundleImport';

/** Where the code cache of the bundle at `bundlePath` lives. */
export function codeCachePath(bundlePath: string): string {
  return `${bundlePath}.cache`;
}

/**
 * V8 optimizes a function with TurboFan once it has run through its interrupt budget (67,584 bytes
 * of bytecode by default in Node 20's V8 11.3). A `translate` run is over in a few hundred
 * milliseconds, and the functions that get hot in it (protobuf-es's descriptor boot, the JSON
 * writer) were optimized on background threads that compete with the run on a small machine: at 100
 * ServiceEntries / 1,000 WorkloadEntries it took 360 instead of 280 ms of CPU, for no gain in wall
 * time. Four times the budget leaves the short runs in the baseline tiers while a long run (50,000
 * WorkloadEntries) still optimizes what it spends seconds in. The flag is read whenever a function
 * gets its feedback, so it applies to everything compiled after it; it is part of V8's flag hash,
 * so the code cache is made after it too. Measured on Node 20's V8 only: another V8 tiers up
 * differently (Node 22's has Maglev) and keeps its defaults.
 */
export function tuneV8ForShortRuns(): void {
  if (process.versions.v8.startsWith('11.3.')) setFlagsFromString('--interrupt-budget=270336');
}

/** The key on the bundle's last line; undefined when it has none. */
function bundleKeyOf(source: string): string | undefined {
  const at = source.lastIndexOf(BUNDLE_KEY_MARKER);
  if (at < 0) return undefined;
  const key = source.slice(at + BUNDLE_KEY_MARKER.length).trim();
  return /^[0-9a-f]+$/.test(key) ? key : undefined;
}

/** The first line of a code cache file: the bundle's key and the CRC-32 of the cache after the line. */
function codeCacheHeader(key: string, cache: Buffer): string {
  return `${key} ${crc32(cache)}\n`;
}

/** The V8 code cache in `path` if it was made from the bundle with `key` and is whole. */
function readCodeCache(path: string, key: string): Buffer | undefined {
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch {
    return undefined;
  }
  // The header is ASCII and short: the key, a space, up to 10 digits and a newline.
  const newline = file.indexOf(10);
  if (newline < 0 || newline > key.length + 12) return undefined;
  const cache = file.subarray(newline + 1);
  return file.toString('latin1', 0, newline + 1) === codeCacheHeader(key, cache) ? cache : undefined;
}

export interface LoadedBundle<Exports> {
  readonly exports: Exports;
  /** Whether V8 compiled the bundle from its code cache. */
  readonly fromCodeCache: boolean;
  /** Writes the code cache of the functions compiled so far (by `scripts/bundle-app.mjs`, after a representative run). */
  writeCodeCache(): void;
}

/** Compiles and runs the CommonJS bundle at `bundlePath` (an absolute path), from its code cache when it has a valid one. */
export function loadBundle<Exports>(bundlePath: string): LoadedBundle<Exports> {
  const source = readFileSync(bundlePath, 'utf8');
  const key = bundleKeyOf(source);
  const cachedData = key === undefined ? undefined : readCodeCache(codeCachePath(bundlePath), key);
  // CommonJS's function wrapper, as Node's loader puts around a module (`Module.wrap`), and the import
  // of what the bundle left out (`BUNDLE_IMPORT`).
  const wrapped = `(function (exports, require, module, __filename, __dirname, ${BUNDLE_IMPORT}) { ${source}\n});`;
  const script = new Script(wrapped, { filename: bundlePath, ...(cachedData === undefined ? {} : { cachedData }) });
  const module = { exports: {} as Exports };
  const require = createRequire(bundlePath);
  const importExternal = (specifier: string): Promise<unknown> => import(isBuiltin(specifier) ? specifier : pathToFileURL(require.resolve(specifier)).href);
  const wrapper = script.runInThisContext() as (
    exports: Exports,
    require: NodeJS.Require,
    module: { exports: Exports },
    filename: string,
    dirname: string,
    bundleImport: typeof importExternal,
  ) => void;
  wrapper.call(module.exports, module.exports, require, module, bundlePath, dirname(bundlePath), importExternal);
  return {
    exports: module.exports,
    fromCodeCache: cachedData !== undefined && script.cachedDataRejected !== true,
    writeCodeCache() {
      if (key === undefined) throw new Error(`${bundlePath}: no ${BUNDLE_KEY_MARKER} line, so no code cache can be tied to it`);
      const path = codeCachePath(bundlePath);
      // Written aside and renamed, so a concurrent run reads the old cache or the new one, never half of one.
      const temporary = `${path}.${process.pid}.tmp`;
      try {
        const cache = script.createCachedData();
        writeFileSync(temporary, Buffer.concat([Buffer.from(codeCacheHeader(key, cache), 'latin1'), cache]));
        renameSync(temporary, path);
      } finally {
        rmSync(temporary, { force: true });
      }
    },
  };
}

/**
 * What a service's bin does: loads the bundle `<prefix>.cjs` of the app's `dist/` (beside the bin's
 * `bin/`) and runs its `main`.
 */
export async function runBundledMain(binUrl: string, prefix: string): Promise<void> {
  const { main } = loadBundle<{ main(): Promise<void> }>(fileURLToPath(new URL(`../dist/${prefix}.cjs`, binUrl))).exports;
  await main();
}
