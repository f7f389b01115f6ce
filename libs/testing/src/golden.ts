/**
 * Golden files: a test renders its output as text and compares it with a committed file.
 *
 * Modelled on Istio's `pilot/test/util/diff.go` (`CompareContent`: fail with a unified diff;
 * `REFRESH_GOLDEN=true` rewrites) and Envoy Gateway's translator tests (`-override-testdata`, then
 * `cleanupOutdatedTestData` deletes goldens no input produces any more). Here one switch does both:
 * `UPDATE_GOLDEN=1`.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { createTwoFilesPatch } from 'diff';

/** Environment variable that switches `expectGolden` and `pruneGoldens` from "compare" to "rewrite". */
export const UPDATE_GOLDEN_ENV = 'UPDATE_GOLDEN';

export interface GoldenOptions {
  /** Rewrite instead of compare. Defaults to `UPDATE_GOLDEN=1` in the environment. */
  readonly update?: boolean;
}

/** True when the environment asks for goldens to be rewritten (`UPDATE_GOLDEN=1`). */
export function isGoldenUpdateMode(): boolean {
  return process.env[UPDATE_GOLDEN_ENV] === '1';
}

/** Thrown when output differs from its golden file; the message carries the unified diff. */
export class GoldenMismatchError extends Error {
  override readonly name = 'GoldenMismatchError';
  constructor(
    readonly goldenPath: string,
    readonly diff: string,
  ) {
    super(`${diff}\nOutput differs from golden file ${goldenPath}; rerun with ${UPDATE_GOLDEN_ENV}=1 to accept the new output.`);
  }
}

/**
 * Compares `actual` with the file at `goldenPath`, or writes it there in update mode (creating the
 * directory). Fails with a unified diff (3 lines of context) naming the golden as the old side.
 */
export function expectGolden(goldenPath: string, actual: string, options: GoldenOptions = {}): void {
  const update = options.update ?? isGoldenUpdateMode();
  if (update) {
    if (existsSync(goldenPath) && readFileSync(goldenPath, 'utf8') === actual) return;
    mkdirSync(dirname(goldenPath), { recursive: true });
    writeFileSync(goldenPath, actual);
    return;
  }
  if (!existsSync(goldenPath)) {
    throw new GoldenMismatchError(goldenPath, `golden file ${goldenPath} does not exist`);
  }
  const expected = readFileSync(goldenPath, 'utf8');
  if (expected === actual) return;
  const name = relative(process.cwd(), goldenPath) || basename(goldenPath);
  const patch = createTwoFilesPatch(name, name, expected, actual, 'golden', 'actual', { context: 3 });
  throw new GoldenMismatchError(goldenPath, patch);
}

/** Thrown outside update mode when a golden directory holds files no test produces. */
export class OrphanedGoldensError extends Error {
  override readonly name = 'OrphanedGoldensError';
  constructor(
    readonly directory: string,
    readonly orphans: readonly string[],
  ) {
    super(
      `golden files in ${directory} that no test case produces: ${orphans.join(', ')}; ` +
        `delete them or rerun with ${UPDATE_GOLDEN_ENV}=1`,
    );
  }
}

/**
 * Finds the files directly in `directory` whose names are not in `expectedNames` (orphans: their
 * input was renamed or deleted). In update mode they are deleted and their names returned; otherwise
 * the call fails listing them. A missing directory has no orphans.
 */
export function pruneGoldens(directory: string, expectedNames: Iterable<string>, options: GoldenOptions = {}): string[] {
  const update = options.update ?? isGoldenUpdateMode();
  if (!existsSync(directory)) return [];
  const expected = new Set(expectedNames);
  const orphans = readdirSync(directory, { withFileTypes: true })
    .filter((entry) => entry.isFile() && !expected.has(entry.name))
    .map((entry) => entry.name)
    .sort();
  if (orphans.length === 0) return [];
  if (!update) throw new OrphanedGoldensError(directory, orphans);
  for (const orphan of orphans) rmSync(join(directory, orphan));
  return orphans;
}
