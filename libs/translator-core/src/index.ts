/**
 * `@skiff/translator-core`: the translator service (change log in, built resources and invalidations
 * out) and the pure step it runs per ServiceEntry.
 */
export { buildServiceEntry, SERVED_VARIANTS, VARIANTS_BUILT_ON_REQUEST, visibilityOf, type ServiceEntryBuild, type TranslationVariant } from './build.js';
export { policyScopesOf, type PolicyScopeResult, type ScopeRules } from './policy-scopes.js';
export { registerTranslatorDebug } from './debug.js';
export { loadMeshSettings, MESH_CONFIG_OPTION, type LoadedMeshSettings } from './mesh-config-file.js';
export { initialBuildDone, shardTranslators, Translator, type BuildOutcomeKind, type BuildRecord, type TranslatorOptions, type TranslatorStatus } from './translator.js';
/** istiod's output-changing feature flags (their environment variables) as the translator's mesh settings. */
export { ISTIOD_FLAGS, meshSettingsFromEnvironment, type MeshSettings } from '@skiff/xds-translate';
