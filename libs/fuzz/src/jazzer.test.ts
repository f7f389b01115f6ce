/**
 * The coverage-guided engine end to end: the native addon builds and loads, Jazzer.js finds a failure
 * planted behind comparisons (which random bytes would not reach in the time given) and the runner
 * keeps it in the corpus in the target's own format; the real targets run under it; the ADS target's
 * byte form reads back the committed streams.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, fromBinary } from '@bufbuild/protobuf';
import { DeltaDiscoveryRequestSchema, DiscoveryRequestSchema } from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import { afterEach, describe, expect, it } from 'vitest';
import { adsInputFromBytes, adsInputToBytes } from './ads-target.js';
import { fuzzWithJazzer } from './jazzer-run.js';
import { adsTarget, configTarget, CORPUS_DIRECTORY, corpusOf } from './targets.js';

const PLANTED = fileURLToPath(new URL('../test-fixtures/planted-finding.mjs', import.meta.url));
const scratch: string[] = [];

function corpusCopy(): string {
  const directory = mkdtempSync(join(tmpdir(), 'skiff-fuzz-corpus-'));
  scratch.push(directory);
  cpSync(CORPUS_DIRECTORY, directory, { recursive: true });
  return directory;
}

afterEach(() => {
  for (const directory of scratch.splice(0)) rmSync(directory, { recursive: true, force: true });
});

describe('Jazzer.js', () => {
  it('finds a failure planted behind comparisons and keeps the input as a corpus finding', async () => {
    const corpus = corpusCopy();
    const lines: string[] = [];
    const result = await fuzzWithJazzer(configTarget, { seconds: 240, seed: 7, corpusDirectory: corpus, module: PLANTED, entryPoint: 'fuzz', log: (line) => lines.push(line) });
    expect(result.finding, lines.slice(-20).join('\n')).toBeDefined();
    expect(result.findingReport).toContain('planted failure reached');
    const findings = readdirSync(join(corpus, 'config')).filter((file) => file.startsWith('finding-'));
    expect(findings).toHaveLength(1);
    const text = readFileSync(join(corpus, 'config', findings[0]!), 'utf8');
    expect(text.startsWith('kind: Sidecar')).toBe(true);
    expect(text.slice(13, 25)).toBe(' planted-bug');
    // Instrumented: libFuzzer saw the target's own counters, not just the addon's table.
    expect(lines.some((line) => /INITED cov: \d+/.test(line))).toBe(true);
  }, 600_000);

  it('runs the ADS target over the committed corpus without a finding', async () => {
    const corpus = corpusCopy();
    const result = await fuzzWithJazzer(adsTarget, { seconds: 5, seed: 1, corpusDirectory: corpus });
    expect(result.finding).toBeUndefined();
    expect(result.runs).toBeGreaterThan(corpusOf(adsTarget).length);
    // Coverage of the session's code, far more than the handful of counters the harness alone has.
    expect(result.coverage).toBeGreaterThan(200);
  }, 600_000);
});

describe('the ADS byte form', () => {
  it('reads back every committed stream, request for request', () => {
    for (const { file, input } of corpusOf(adsTarget)) {
      const back = adsInputFromBytes(adsInputToBytes(input));
      expect(back.mode, file).toBe(input.mode);
      expect(back.steps.map((step) => step.advanceMs), file).toEqual(input.steps.map((step) => step.advanceMs));
      const schema = input.mode === 'sotw' ? DiscoveryRequestSchema : DeltaDiscoveryRequestSchema;
      input.steps.forEach((step, index) => {
        const expected = step.raw !== undefined ? decodeOrUndefined(schema, step.raw) : create(schema, step.request ?? {});
        expect(decodeOrUndefined(schema, back.steps[index]!.raw!), `${file} step ${index}`).toEqual(expected);
      });
    }
  });

  it('cuts a request short at the end of the input and ignores a header without room', () => {
    expect(adsInputFromBytes(new Uint8Array())).toEqual({ mode: 'sotw', steps: [] });
    expect(adsInputFromBytes(Uint8Array.of(1, 0, 9, 0, 200, 10, 3))).toEqual({ mode: 'delta', steps: [{ advanceMs: 9, raw: Uint8Array.of(10, 3) }] });
    expect(adsInputFromBytes(Uint8Array.of(0, 0, 1, 0))).toEqual({ mode: 'sotw', steps: [] });
  });
});

function decodeOrUndefined(schema: typeof DiscoveryRequestSchema | typeof DeltaDiscoveryRequestSchema, bytes: Uint8Array): unknown {
  try {
    return fromBinary(schema, bytes);
  } catch {
    return undefined;
  }
}
