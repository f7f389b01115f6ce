import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUNDLE_IMPORT, BUNDLE_KEY_MARKER, codeCachePath, loadBundle } from './bundle-loader.js';

/** A CommonJS file as `bundle.mjs` writes one: exports, a function to compile, the key line. */
function bundleSource(answer: number, key: string): string {
  return `exports.answer = function answer() { return ${answer}; };\nexports.filename = __filename;\n${BUNDLE_KEY_MARKER}${key}\n`;
}

describe('loadBundle', () => {
  let dir: string;
  let bundle: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-bundle-'));
    bundle = join(dir, 'bundle.cjs');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function writeCacheFor(source: string): void {
    writeFileSync(bundle, source);
    const loaded = loadBundle<{ answer(): number }>(bundle);
    loaded.exports.answer();
    loaded.writeCodeCache();
  }

  it('runs the bundle as CommonJS and compiles it from the code cache its build wrote', () => {
    writeFileSync(bundle, bundleSource(1, 'aa'));
    const first = loadBundle<{ answer(): number; filename: string }>(bundle);
    expect(first.fromCodeCache).toBe(false);
    expect(first.exports.filename).toBe(bundle);
    first.writeCodeCache();
    expect(readFileSync(codeCachePath(bundle), 'latin1')).toMatch(/^aa \d+\n/);

    const second = loadBundle<{ answer(): number }>(bundle);
    expect(second.fromCodeCache).toBe(true);
    expect(second.exports.answer()).toBe(1);
  });

  it("ignores a cache made from another build of the bundle (another key), and runs this bundle's code", () => {
    writeCacheFor(bundleSource(1, 'aa'));
    writeFileSync(bundle, bundleSource(2, 'bb'));
    const loaded = loadBundle<{ answer(): number }>(bundle);
    expect(loaded.fromCodeCache).toBe(false);
    expect(loaded.exports.answer()).toBe(2);
  });

  it('compiles from the source when V8 rejects the cache (made from other source under the same key)', () => {
    writeCacheFor(bundleSource(1, 'aa').replace('exports.filename', 'exports.otherName'));
    writeFileSync(bundle, bundleSource(3, 'aa'));
    const loaded = loadBundle<{ answer(): number }>(bundle);
    expect(loaded.fromCodeCache).toBe(false);
    expect(loaded.exports.answer()).toBe(3);
  });

  // V8 checks no checksum of its own: it aborts the process on a damaged cache.
  it('compiles from the source when the cache is damaged or cut short', () => {
    writeCacheFor(bundleSource(6, 'aa'));
    const file = readFileSync(codeCachePath(bundle));
    const damaged = Buffer.from(file);
    for (let i = damaged.indexOf(10) + 64; i < damaged.length; i += 7) damaged[i] = (damaged[i] ?? 0) ^ 0x5a;
    writeFileSync(codeCachePath(bundle), damaged);
    const loaded = loadBundle<{ answer(): number }>(bundle);
    expect(loaded.fromCodeCache).toBe(false);
    expect(loaded.exports.answer()).toBe(6);
    writeFileSync(codeCachePath(bundle), file.subarray(0, file.length - 8));
    expect(loadBundle<{ answer(): number }>(bundle).fromCodeCache).toBe(false);
  });

  it('compiles from the source when the cache file is missing or a bare header, or the bundle has no key', () => {
    writeFileSync(bundle, bundleSource(4, 'aa'));
    expect(loadBundle<{ answer(): number }>(bundle).fromCodeCache).toBe(false);
    writeFileSync(codeCachePath(bundle), 'aa 0\n');
    expect(loadBundle<{ answer(): number }>(bundle).exports.answer()).toBe(4);
    writeFileSync(bundle, 'exports.answer = () => 5;\n');
    const unkeyed = loadBundle<{ answer(): number }>(bundle);
    expect(unkeyed.exports.answer()).toBe(5);
    expect(() => unkeyed.writeCodeCache()).toThrow(/no code cache can be tied/);
  });

  it('imports what the bundle calls BUNDLE_IMPORT for: a Node module as it is, a package as the bundle resolves it', async () => {
    writeFileSync(bundle, `exports.load = async () => [(await ${BUNDLE_IMPORT}("node:path")).sep, typeof (await ${BUNDLE_IMPORT}("vitest")).describe];\n${BUNDLE_KEY_MARKER}cc\n`);
    const loaded = loadBundle<{ load(): Promise<[string, string]> }>(bundle);
    // The temporary directory resolves no package: the loader resolves from the bundle, not from itself.
    await expect(loaded.exports.load()).rejects.toThrow(/vitest/);
    const beside = join(fileURLToPath(new URL('.', import.meta.url)), `bundle-import-${process.pid}.cjs`);
    try {
      writeFileSync(beside, readFileSync(bundle));
      expect(await loadBundle<{ load(): Promise<[string, string]> }>(beside).exports.load()).toEqual(['/', 'function']);
    } finally {
      rmSync(beside, { force: true });
    }
  });
});
