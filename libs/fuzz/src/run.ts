/**
 * `npm run fuzz`: runs every fuzz target (or `--target <name>`) for `--seconds` each (default 60 with
 * `--bounded`, 1800 without) under each engine (or `--engine <name>`):
 * - `jazzer`: coverage-guided, Jazzer.js and libFuzzer mutating bytes, seeded with the committed corpus
 *   (`jazzer-run.ts`); `--work <dir>` keeps the inputs it adds between runs;
 * - `fast-check`: inputs generated from each target's grammar of Istio objects and ADS requests, and
 *   mutations of the committed corpus; a failure is shrunk first.
 * A failing input is kept in the corpus as a finding (replayed by the regression tests from then on)
 * and the run exits 1.
 */
import fc from 'fast-check';
import { fuzzWithJazzer } from './jazzer-run.js';
import { corpusOf, FUZZ_TARGETS, saveFinding, type FuzzTarget } from './targets.js';

export const FUZZ_ENGINES = ['jazzer', 'fast-check'] as const;
export type FuzzEngine = (typeof FUZZ_ENGINES)[number];

interface FuzzOptions {
  readonly seconds: number;
  readonly targets: readonly string[];
  readonly engines: readonly FuzzEngine[];
  readonly seed: number | undefined;
  readonly workDirectory: string | undefined;
}

export function parseFuzzArguments(argv: readonly string[]): FuzzOptions {
  let seconds: number | undefined;
  let bounded = false;
  const targets: string[] = [];
  let seed: number | undefined;
  const engines: FuzzEngine[] = [];
  let workDirectory: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const argument = argv[i];
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${argument} needs a value`);
      return next;
    };
    if (argument === '--bounded') bounded = true;
    else if (argument === '--seconds') seconds = Number(value());
    else if (argument === '--target') targets.push(value());
    else if (argument === '--seed') seed = Number(value());
    else if (argument === '--work') workDirectory = value();
    else if (argument === '--engine') {
      const engine = value();
      if (!(FUZZ_ENGINES as readonly string[]).includes(engine)) throw new Error(`no fuzz engine ${engine}; use ${FUZZ_ENGINES.join(' or ')}`);
      engines.push(engine as FuzzEngine);
    } else throw new Error(`unknown argument ${argument}; use --bounded, --seconds <n>, --target <${FUZZ_TARGETS.map((t) => t.name).join('|')}>, --engine <${FUZZ_ENGINES.join('|')}>, --seed <n>, --work <dir>`);
  }
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0)) throw new Error('--seed must be a whole number, 0 or more');
  if (seconds !== undefined && !(seconds > 0)) throw new Error('--seconds must be more than 0');
  for (const name of targets) if (!FUZZ_TARGETS.some((target) => target.name === name)) throw new Error(`no fuzz target ${name}`);
  return {
    seconds: seconds ?? (bounded ? 60 : 1800),
    targets: targets.length > 0 ? targets : FUZZ_TARGETS.map((target) => target.name),
    engines: engines.length > 0 ? engines : [...FUZZ_ENGINES],
    seed,
    workDirectory,
  };
}

/** Fuzzes one target for `seconds`; resolves with the number of inputs tried, or throws after saving a finding. */
export function fuzzTarget<Input>(target: FuzzTarget<Input>, seconds: number, seed?: number): number {
  const corpus = corpusOf(target).map((entry) => entry.input);
  let runs = 0;
  const property = fc.property(target.arbitrary(corpus), (input) => {
    runs += 1;
    target.run(input);
  });
  const details = fc.check(property, { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000, ...(seed === undefined ? {} : { seed }) });
  if (details.failed && details.counterexample !== null) {
    const [input] = details.counterexample;
    const file = saveFinding(target, input);
    throw new Error(`fuzz target ${target.name} failed after ${runs} inputs (seed ${details.seed}): ${String(details.errorInstance)}\nthe shrunk input is kept in ${file}`);
  }
  return runs;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  let options: FuzzOptions;
  try {
    options = parseFuzzArguments(argv);
  } catch (error) {
    process.stderr.write(`skiff-fuzz: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  // Repeated as the run's last lines: a CI log is often read from its end, past the targets' output.
  const failures: string[] = [];
  for (const target of FUZZ_TARGETS.filter((candidate) => options.targets.includes(candidate.name))) {
    for (const engine of options.engines) {
      const started = performance.now();
      const took = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
      try {
        if (engine === 'fast-check') {
          const runs = fuzzTarget(target as FuzzTarget<unknown>, options.seconds, options.seed);
          process.stdout.write(`${target.name} (fast-check): ${runs} inputs in ${took()}, no failure (${target.description})\n`);
        } else {
          const result = await fuzzWithJazzer(target as FuzzTarget<unknown>, {
            seconds: options.seconds,
            seed: options.seed,
            workDirectory: options.workDirectory,
            log: (line) => process.stderr.write(`[${target.name}] ${line}\n`),
          });
          if (result.finding !== undefined) {
            failures.push(`${target.name} (jazzer): a failure after ${result.runs} inputs, kept in ${result.finding}`);
            process.stderr.write(`fuzz target ${target.name} (jazzer) found a failure after ${result.runs} inputs:\n${result.findingReport ?? ''}\nthe input is kept in ${result.finding}\n`);
          } else {
            process.stdout.write(`${target.name} (jazzer): ${result.runs} inputs in ${took()}, coverage ${result.coverage} counters, ${result.features} features, no failure (${target.description})\n`);
          }
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failures.push(`${target.name} (${engine}): ${message.split('\n')[0] ?? message}`);
        process.stderr.write(`${message}\n`);
      }
    }
  }
  if (failures.length > 0) process.stderr.write(`skiff-fuzz: ${failures.length} failed:\n${failures.map((line) => `  ${line}`).join('\n')}\n`);
  process.exit(failures.length > 0 ? 1 : 0);
}
