/**
 * The fuzz targets with their committed corpus (`libs/fuzz/corpus/<target>/`): seed inputs the
 * generators mutate, and every input that once broke a target (`finding-*`), replayed as regression
 * tests by `regressions.test.ts` on every test run.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildServiceEntry, SERVED_VARIANTS } from '@skiff/translator-core';
import { loadIstioConfig } from '@skiff/model';
import { DEFAULT_MESH_SETTINGS } from '@skiff/xds-translate';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { adsInputArbitrary, adsInputFromBytes, adsInputToBytes, providerWith, runAdsSession, type AdsFuzzInput } from './ads-target.js';
import { istioObjectArbitrary, mutate, runConfigPipeline, textMutation } from './config-target.js';

/** A corpus entry, drawn by index: `fc.constantFrom(...corpus)` would put the whole corpus on the call stack. */
function corpusEntry<T>(corpus: readonly T[]): fc.Arbitrary<T> {
  return fc.integer({ min: 0, max: corpus.length - 1 }).map((index) => corpus[index] as T);
}

export const CORPUS_DIRECTORY = fileURLToPath(new URL('../corpus', import.meta.url));

/**
 * A fuzz target: how to generate inputs from its corpus (fast-check), read one from the bytes
 * libFuzzer mutates (Jazzer.js) and write one as such bytes (the seeds), run one, and store one as a
 * file.
 */
export interface FuzzTarget<Input> {
  readonly name: string;
  readonly description: string;
  arbitrary(corpus: readonly Input[]): fc.Arbitrary<Input>;
  fromBytes(bytes: Uint8Array): Input;
  toBytes(input: Input): Uint8Array;
  run(input: Input): void;
  encode(input: Input): string;
  decode(text: string): Input;
  /** File name extension of corpus entries. */
  readonly extension: string;
}

/** The corpus entries of `target`, seeds and findings (from `corpus/<target>/` under `root`). */
export function corpusOf<Input>(target: FuzzTarget<Input>, root: string = CORPUS_DIRECTORY): { file: string; input: Input }[] {
  const directory = join(root, target.name);
  return readdirSync(directory)
    .filter((file) => file.endsWith(target.extension))
    .sort()
    .map((file) => ({ file, input: target.decode(readFileSync(join(directory, file), 'utf8')) }));
}

/** Keeps a failing input in the corpus as `finding-<hash>`; returns the file's path. */
export function saveFinding<Input>(target: FuzzTarget<Input>, input: Input, root: string = CORPUS_DIRECTORY): string {
  const text = target.encode(input);
  const file = join(root, target.name, `finding-${createHash('sha256').update(text).digest('hex').slice(0, 12)}${target.extension}`);
  writeFileSync(file, text);
  return file;
}

export const configTarget: FuzzTarget<string> = {
  name: 'config',
  description: 'Istio YAML -> validation -> normalization -> selection -> translation -> protobuf',
  extension: '.yaml',
  arbitrary: (corpus) => {
    const generated = fc.array(istioObjectArbitrary, { minLength: 1, maxLength: 4 }).map((objects) => objects.map((object) => toYaml(object)).join('---\n'));
    if (corpus.length === 0) return generated;
    const mutated = fc.tuple(corpusEntry(corpus), fc.array(textMutation, { minLength: 1, maxLength: 6 })).map(([seed, mutations]) => mutate(seed, mutations));
    return fc.oneof(generated, mutated, fc.string({ maxLength: 200 }));
  },
  fromBytes: (bytes) => Buffer.from(bytes).toString('utf8'),
  toBytes: (text) => new Uint8Array(Buffer.from(text, 'utf8')),
  run: (text) => {
    runConfigPipeline(text);
  },
  encode: (text) => text,
  decode: (text) => text,
};

/** The resources the ADS target serves: what the pipeline builds from the committed config seeds. */
function seedResources(): { typeUrl: string; name: string; bytes: Uint8Array }[] {
  return corpusOf(configTarget).flatMap(({ input }) =>
    loadIstioConfig(input, 'seed.yaml').serviceEntries.flatMap(({ serviceEntry, inlineEndpoints }) =>
      buildServiceEntry({ key: { namespace: serviceEntry.namespace, name: serviceEntry.name }, revision: 1, serviceEntry, endpoints: inlineEndpoints }, SERVED_VARIANTS, DEFAULT_MESH_SETTINGS).resources,
    ),
  );
}

let resources: ReturnType<typeof seedResources> | undefined;

export const adsTarget: FuzzTarget<AdsFuzzInput> = {
  name: 'ads',
  description: 'ADS request decoding and session handling (state of the world and delta)',
  extension: '.json',
  arbitrary: (corpus) => (corpus.length === 0 ? adsInputArbitrary : fc.oneof(adsInputArbitrary, corpusEntry(corpus))),
  fromBytes: adsInputFromBytes,
  toBytes: adsInputToBytes,
  run: (input) => {
    resources ??= seedResources();
    runAdsSession(input, providerWith(resources));
  },
  encode: (input) =>
    `${JSON.stringify(
      { mode: input.mode, steps: input.steps.map((step) => ({ ...step, ...(step.raw === undefined ? {} : { raw: Buffer.from(step.raw).toString('base64') }) })) },
      (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
      1,
    )}\n`,
  decode: (text) => {
    const parsed = JSON.parse(text) as { mode: AdsFuzzInput['mode']; steps: { raw?: string; request?: AdsFuzzInput['steps'][number]['request']; advanceMs: number }[] };
    return {
      mode: parsed.mode,
      steps: parsed.steps.map((step) => ({
        advanceMs: step.advanceMs,
        ...(step.raw === undefined ? {} : { raw: new Uint8Array(Buffer.from(step.raw, 'base64')) }),
        ...(step.request === undefined ? {} : { request: step.request }),
      })),
    };
  },
};

export const FUZZ_TARGETS = [configTarget, adsTarget] as const;
