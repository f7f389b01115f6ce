/**
 * Every corpus entry of every fuzz target, seeds and findings, through its target: a finding stays
 * fixed. A short fuzzing run per target checks the generators themselves reach the pipeline.
 */
import { describe, expect, it } from 'vitest';
import { fuzzTarget, parseFuzzArguments } from './run.js';
import { adsTarget, configTarget, corpusOf, type FuzzTarget } from './targets.js';
import { runConfigPipeline } from './config-target.js';

describe.each([configTarget, adsTarget] as FuzzTarget<unknown>[])('fuzz target $name', (target) => {
  const corpus = corpusOf(target);

  it('has a committed corpus', () => {
    expect(corpus.length).toBeGreaterThan(0);
  });

  it.each(corpus.map((entry) => [entry.file, entry.input] as const))('replays %s', (_file, input) => {
    target.run(input);
  });

  it('round-trips its corpus encoding', () => {
    for (const { input } of corpus) expect(target.decode(target.encode(input))).toEqual(input);
  });

  it('runs generated inputs without a failure for a moment', () => {
    expect(fuzzTarget(target, 2, 42)).toBeGreaterThan(10);
  });
});

describe('the config pipeline', () => {
  it('accepts the seed example and builds its resources', () => {
    const seed = corpusOf(configTarget).find((entry) => entry.file === 'seed-example-app.yaml');
    expect(runConfigPipeline(seed!.input)).toMatchObject({ accepted: 2, rejected: 0 });
    expect(runConfigPipeline(seed!.input).resources).toBeGreaterThan(0);
  });
});

describe('skiff-fuzz arguments', () => {
  it('runs a minute per target and engine with --bounded, half an hour without, and refuses unknown targets and engines', () => {
    expect(parseFuzzArguments(['--bounded'])).toEqual({ seconds: 60, targets: ['config', 'ads'], engines: ['jazzer', 'fast-check'], seed: undefined, workDirectory: undefined });
    expect(parseFuzzArguments([])).toMatchObject({ seconds: 1800 });
    expect(parseFuzzArguments(['--target', 'ads', '--seconds', '5', '--engine', 'jazzer', '--work', 'fuzz-work'])).toMatchObject({ seconds: 5, targets: ['ads'], engines: ['jazzer'], workDirectory: 'fuzz-work' });
    expect(() => parseFuzzArguments(['--target', 'nope'])).toThrow('no fuzz target nope');
    expect(() => parseFuzzArguments(['--engine', 'afl'])).toThrow('no fuzz engine afl; use jazzer or fast-check');
    expect(() => parseFuzzArguments(['--seed', '-1'])).toThrow('--seed must be a whole number');
  });
});
