/**
 * The coverage-guided fuzz targets, for Jazzer.js (`@jazzer.js/core`): the module `npm run fuzz`
 * hands to Jazzer.js, which instruments the pipeline's code for coverage and runs libFuzzer over these
 * entry points. Each turns libFuzzer's bytes into its target's input and runs the same harness as the
 * fast-check targets (`targets.ts`), so a thrown invariant is a finding under either engine.
 */
import { adsTarget, configTarget } from './targets.js';

/** Istio YAML -> validation -> normalization -> selection -> translation; the bytes are the text. */
export function fuzzConfig(data: Buffer): void {
  configTarget.run(configTarget.fromBytes(data));
}

/** ADS request decoding and session handling; the bytes are a stream of requests (`adsInputFromBytes`). */
export function fuzzAds(data: Buffer): void {
  adsTarget.run(adsTarget.fromBytes(data));
}
