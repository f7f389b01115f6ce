import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUNDLE_KEY_MARKER, codeCachePath, loadBundle } from './bundle-loader.js';

/** A CommonJS file as `bundle.mjs` writes one: exports, a function to compile, the key line. */
function bundleSource(answer: number, key: string): string {
  return `exports.answer = function answer() { return ${answer}; };\nexports.filename = __filename;\n${BUNDLE_KEY_MARKER}${key}\n`;
}

describe('loadBundle', () => {
  let dir: string;
  let bundle: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'skiffctl-bundle-'));
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

  // What the build wrote must be what a run of the bin accepts: a cache made with other V8 flags than the bin's would be rejected, silently slower.
  it("accepts the built bundle's code cache in a process started as the bin is", async () => {
    const dist = fileURLToPath(new URL('../dist/', import.meta.url));
    const script = `import { loadBundle, tuneV8ForShortRuns } from ${JSON.stringify(join(dist, 'bundle-loader.js'))};
tuneV8ForShortRuns();
process.stdout.write(String(loadBundle(${JSON.stringify(join(dist, 'skiffctl.cjs'))}).fromCodeCache));`;
    const { NODE_OPTIONS: _nodeOptions, ...environment } = process.env;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: environment });
    expect(stdout).toBe('true');
  });
});
