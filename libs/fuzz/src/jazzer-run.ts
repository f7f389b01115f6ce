/**
 * Runs a target under Jazzer.js: coverage-guided fuzzing, libFuzzer mutating bytes while Jazzer.js's
 * instrumentation of the pipeline's code reports which branches each input reached and which values
 * its comparisons saw. The native half of Jazzer.js is built first (`native/build.sh`, cached), since
 * the prebuilt one needs a newer glibc than Debian 12's. The committed corpus, seeds and findings, is
 * written as libFuzzer's seed inputs; what libFuzzer adds goes to a working directory. On a finding
 * (libFuzzer's crash, timeout or out-of-memory input), the input is kept in the committed corpus in the
 * target's own format, where the regression tests replay it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { corpusOf, saveFinding, type FuzzTarget } from './targets.js';

export interface JazzerRunOptions {
  readonly seconds: number;
  readonly seed?: number | undefined;
  /** Where libFuzzer keeps the inputs it adds (one directory per target); a fresh temporary one when absent. */
  readonly workDirectory?: string | undefined;
  /** The committed corpus the seeds come from and findings go to (default: the package's `corpus/`). */
  readonly corpusDirectory?: string | undefined;
  /** The module and export Jazzer.js fuzzes (default: this package's `jazzer-targets.js`, `fuzz<Name>`). */
  readonly module?: string | undefined;
  readonly entryPoint?: string | undefined;
  /** Receives libFuzzer's progress lines (its per-input NEW/REDUCE lines are left out). */
  readonly log?: ((line: string) => void) | undefined;
}

export interface JazzerRunResult {
  /** Inputs run, from libFuzzer's last status line. */
  readonly runs: number;
  /** Coverage counters reached (`cov:`) and features (`ft:`) at the end. */
  readonly coverage: number;
  readonly features: number;
  /** The committed corpus file of the finding, when there was one. */
  readonly finding?: string;
  /** The finding as Jazzer.js printed it. */
  readonly findingReport?: string;
}

const NATIVE_BUILD = fileURLToPath(new URL('../native/build.sh', import.meta.url));
/** The built module (`npm run build`), also when this file runs from its source under vitest. */
const TARGETS_MODULE = fileURLToPath(new URL('../dist/jazzer-targets.js', import.meta.url));
/** The per-input time limit: a slow input is a finding, but not one a loaded machine invents. */
const INPUT_TIMEOUT_MS = 30_000;
/** Longer inputs than the seeds: libFuzzer otherwise caps them at the largest seed. */
const MAX_INPUT_BYTES = 16_384;

function jazzerCli(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('@jazzer.js/core/package.json');
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin: { jazzer: string } };
  return join(dirname(manifest), bin.jazzer);
}

/** Builds (or takes from the cache) the native addon; throws with the build's own message. */
export function ensureJazzerNative(): void {
  const build = spawnSync('bash', [NATIVE_BUILD], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (build.status !== 0) throw new Error(`the Jazzer.js native addon could not be built: ${(build.stderr || build.stdout || String(build.error)).trim()}`);
}

function entryPointOf(target: FuzzTarget<unknown>): string {
  return `fuzz${target.name.charAt(0).toUpperCase()}${target.name.slice(1)}`;
}

/** libFuzzer's status line: `#1024 pulse  cov: 1021 ft: 1806 corp: 58/49Kb ...`. */
const STATUS_LINE = /^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)/;

export async function fuzzWithJazzer<Input>(target: FuzzTarget<Input>, options: JazzerRunOptions): Promise<JazzerRunResult> {
  ensureJazzerNative();
  const scratch = mkdtempSync(join(tmpdir(), `skiff-jazzer-${target.name}-`));
  try {
    const seeds = join(scratch, 'seeds');
    const artifacts = join(scratch, 'artifacts');
    const work = options.workDirectory === undefined ? join(scratch, 'work') : join(options.workDirectory, target.name);
    for (const directory of [seeds, artifacts, work]) mkdirSync(directory, { recursive: true });
    for (const { file, input } of corpusOf(target, options.corpusDirectory)) writeFileSync(join(seeds, file), target.toBytes(input));

    const args = [
      jazzerCli(),
      options.module ?? TARGETS_MODULE,
      '--fuzzEntryPoint',
      options.entryPoint ?? entryPointOf(target as FuzzTarget<unknown>),
      '--sync',
      '--timeout',
      String(INPUT_TIMEOUT_MS),
      work,
      seeds,
      '--',
      `-max_total_time=${Math.ceil(options.seconds)}`,
      `-max_len=${MAX_INPUT_BYTES}`,
      `-artifact_prefix=${artifacts}/`,
      '-print_final_stats=1',
      ...(options.seed === undefined ? [] : [`-seed=${options.seed}`]),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let runs = 0;
    let coverage = 0;
    let features = 0;
    const report: string[] = [];
    const tail: string[] = [];
    let inReport = false;
    const onLine = (line: string): void => {
      const status = STATUS_LINE.exec(line);
      if (status !== null) {
        runs = Number(status[1]);
        coverage = Number(status[2]);
        features = Number(status[3]);
      }
      // Jazzer.js prints a finding as `==<pid>== <kind>: <message>` followed by its stack.
      if (/^==\d+== /.test(line)) inReport = true;
      if (inReport && report.length < 200) report.push(line);
      tail.push(line);
      if (tail.length > 30) tail.shift();
      const perInput = status !== null && /\s(NEW|REDUCE)\s/.test(line);
      // The module table lists every instrumented module on one line.
      const noise = line.startsWith('INFO: Loaded ') || line.includes('# Uses: ');
      if (!perInput && !noise) options.log?.(line);
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });

    const artifact = readdirSync(artifacts).sort()[0];
    if (artifact !== undefined) {
      const input = target.fromBytes(new Uint8Array(readFileSync(join(artifacts, artifact))));
      const finding = saveFinding(target, input, options.corpusDirectory);
      return { runs, coverage, features, finding, findingReport: report.join('\n') || artifact };
    }
    if (code !== 0) throw new Error(`Jazzer.js ended with exit code ${String(code)} and no finding:\n${tail.join('\n')}`);
    return { runs, coverage, features };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

