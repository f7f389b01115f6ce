/**
 * `npm run fuzz`: runs every fuzz target (or `--target <name>`) for `--seconds` each (default 60 with
 * `--bounded`, 1800 without). fast-check generates inputs from each target's grammar and mutates its
 * committed corpus; on a failure it shrinks the input, keeps it in the corpus as a finding (replayed by
 * the regression tests from then on) and exits 1.
 */
import fc from 'fast-check';
import { corpusOf, FUZZ_TARGETS, saveFinding, type FuzzTarget } from './targets.js';

interface FuzzOptions {
  readonly seconds: number;
  readonly targets: readonly string[];
  readonly seed: number | undefined;
}

export function parseFuzzArguments(argv: readonly string[]): FuzzOptions {
  let seconds: number | undefined;
  let bounded = false;
  const targets: string[] = [];
  let seed: number | undefined;
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
    else throw new Error(`unknown argument ${argument}; use --bounded, --seconds <n>, --target <${FUZZ_TARGETS.map((t) => t.name).join('|')}>, --seed <n>`);
  }
  if (seconds !== undefined && !(seconds > 0)) throw new Error('--seconds must be more than 0');
  for (const name of targets) if (!FUZZ_TARGETS.some((target) => target.name === name)) throw new Error(`no fuzz target ${name}`);
  return { seconds: seconds ?? (bounded ? 60 : 1800), targets: targets.length > 0 ? targets : FUZZ_TARGETS.map((target) => target.name), seed };
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

export function main(argv: readonly string[] = process.argv.slice(2)): void {
  let options: FuzzOptions;
  try {
    options = parseFuzzArguments(argv);
  } catch (error) {
    process.stderr.write(`skiff-fuzz: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  let failed = false;
  for (const target of FUZZ_TARGETS.filter((candidate) => options.targets.includes(candidate.name))) {
    const started = performance.now();
    try {
      const runs = fuzzTarget(target as FuzzTarget<unknown>, options.seconds, options.seed);
      process.stdout.write(`${target.name}: ${runs} inputs in ${((performance.now() - started) / 1000).toFixed(1)} s, no failure (${target.description})\n`);
    } catch (error) {
      failed = true;
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
}
