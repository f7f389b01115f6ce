export { adsInputArbitrary, runAdsSession, type AdsFuzzInput, type AdsStep } from './ads-target.js';
export { istioObjectArbitrary, mutate, runConfigPipeline, type ConfigPipelineOutcome } from './config-target.js';
export { fuzzTarget, main, parseFuzzArguments } from './run.js';
export { adsTarget, configTarget, CORPUS_DIRECTORY, corpusOf, FUZZ_TARGETS, saveFinding, type FuzzTarget } from './targets.js';
