import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GoldenMismatchError, OrphanedGoldensError, expectGolden, isGoldenUpdateMode, pruneGoldens } from './index.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'golden-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  vi.unstubAllEnvs();
});

describe('expectGolden', () => {
  it('passes when the output equals the golden file', () => {
    const path = join(dir, 'same.json');
    writeFileSync(path, '{"a": 1}\n');
    expect(() => expectGolden(path, '{"a": 1}\n', { update: false })).not.toThrow();
  });

  it('fails with a unified diff naming the changed lines', () => {
    const path = join(dir, 'changed.json');
    writeFileSync(path, 'line1\nline2\nline3\n');
    let thrown: unknown;
    try {
      expectGolden(path, 'line1\nLINE2\nline3\n', { update: false });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(GoldenMismatchError);
    const mismatch = thrown as GoldenMismatchError;
    expect(mismatch.diff).toContain('--- ');
    expect(mismatch.diff).toContain('+++ ');
    expect(mismatch.diff).toContain('@@ -1,3 +1,3 @@');
    expect(mismatch.diff).toContain('-line2');
    expect(mismatch.diff).toContain('+LINE2');
    expect(mismatch.message).toContain('UPDATE_GOLDEN=1');
    expect(mismatch.goldenPath).toBe(path);
  });

  it('fails when the golden file is missing and does not create it', () => {
    const path = join(dir, 'missing.json');
    expect(() => expectGolden(path, 'x', { update: false })).toThrow(/does not exist/);
    expect(existsSync(path)).toBe(false);
  });

  it('writes the golden file, creating directories, in update mode', () => {
    const path = join(dir, 'nested', 'deeper', 'new.json');
    expectGolden(path, 'fresh\n', { update: true });
    expect(readFileSync(path, 'utf8')).toBe('fresh\n');
    expectGolden(path, 'changed\n', { update: true });
    expect(readFileSync(path, 'utf8')).toBe('changed\n');
  });

  it('takes update mode from UPDATE_GOLDEN=1 when no option is given', () => {
    const path = join(dir, 'env.json');
    vi.stubEnv('UPDATE_GOLDEN', '1');
    expect(isGoldenUpdateMode()).toBe(true);
    expectGolden(path, 'from env\n');
    expect(readFileSync(path, 'utf8')).toBe('from env\n');
    vi.stubEnv('UPDATE_GOLDEN', '0');
    expect(isGoldenUpdateMode()).toBe(false);
    expect(() => expectGolden(path, 'other\n')).toThrow(GoldenMismatchError);
  });
});

describe('pruneGoldens', () => {
  function populate(names: string[]): void {
    for (const name of names) writeFileSync(join(dir, name), name);
  }

  it('returns nothing when every file is expected', () => {
    populate(['a.json', 'b.json']);
    expect(pruneGoldens(dir, ['a.json', 'b.json'], { update: false })).toEqual([]);
  });

  it('fails listing orphans outside update mode and keeps them', () => {
    populate(['a.json', 'old.json', 'older.json']);
    let thrown: unknown;
    try {
      pruneGoldens(dir, ['a.json'], { update: false });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(OrphanedGoldensError);
    expect((thrown as OrphanedGoldensError).orphans).toEqual(['old.json', 'older.json']);
    expect(readdirSync(dir).sort()).toEqual(['a.json', 'old.json', 'older.json']);
  });

  it('deletes orphans in update mode and leaves subdirectories alone', () => {
    populate(['a.json', 'old.json']);
    mkdirSync(join(dir, 'sub'));
    expect(pruneGoldens(dir, new Set(['a.json']), { update: true })).toEqual(['old.json']);
    expect(readdirSync(dir).sort()).toEqual(['a.json', 'sub']);
  });

  it('treats a missing directory as having no orphans', () => {
    expect(pruneGoldens(join(dir, 'absent'), [], { update: false })).toEqual([]);
  });
});
