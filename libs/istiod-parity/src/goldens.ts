/**
 * istiod's answers committed as goldens (`testdata/istiod/<setting>/<case>.json`), so the unit
 * tests compare Skiff with istiod without Go. The parity suite (`npm run parity`) regenerates them
 * from the live reference and fails if they changed; `UPDATE_GOLDEN=1` rewrites them.
 *
 * Two flag settings: istiod's defaults, and every output-changing flag flipped (the values an
 * older istiod had, or a user might set), so each flag is proven in both states.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expectGolden } from '@skiff/testing';
import { DEFAULT_MESH_SETTINGS, meshSettingsFromEnvironment, type MeshSettings } from '@skiff/xds-translate';
import { multiAddressHosts } from './corpus.js';
import { maskUnpredictableAddresses } from './deviations.js';
import type { JsonValue } from '@bufbuild/protobuf';
import type { ReferenceCaseResult } from './reference.js';
import { resourceName, type ResourceKind } from './resources.js';

export interface FlagSetting {
  readonly name: 'default' | 'flipped';
  /** istiod's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** The same flags as Skiff settings. */
  readonly mesh: MeshSettings;
}

const FLIPPED_ENV: Readonly<Record<string, string>> = {
  DISABLE_TRACK_REMAINING_CB_METRICS: 'false',
  PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS: 'false',
  PILOT_DNS_JITTER_DURATION: '250ms',
  PILOT_DNS_CARES_UDP_MAX_QUERIES: '10',
  PILOT_ENABLE_METADATA_EXCHANGE: 'false',
};

export const FLAG_SETTINGS: readonly FlagSetting[] = [
  { name: 'default', env: {}, mesh: DEFAULT_MESH_SETTINGS },
  { name: 'flipped', env: FLIPPED_ENV, mesh: meshSettingsFromEnvironment(FLIPPED_ENV) },
];

/**
 * Corpus cases Skiff does not match yet, with why. Their tests assert that they still differ, so a
 * fix must take them off this list.
 */
export const OPEN_CASES: Readonly<Record<string, string>> = {};

export const GOLDEN_DIR = fileURLToPath(new URL('../testdata/istiod/', import.meta.url));

export function goldenPathOf(setting: Pick<FlagSetting, 'name'>, caseName: string): string {
  return `${GOLDEN_DIR}${setting.name}/${caseName}.json`;
}

const render = (result: ReferenceCaseResult): string => `${JSON.stringify(result, null, 2)}\n`;

/** The reference's answer with what istiod picks at random masked (`maskUnpredictableAddresses`), so a golden is stable. */
export function stableReferenceResult(result: ReferenceCaseResult, config: string): ReferenceCaseResult {
  const hosts = multiAddressHosts(config);
  // istiod lists resources in map order, which changes from run to run: the golden lists them by name.
  const byName = (kind: ResourceKind, resources: readonly JsonValue[]) =>
    [...resources].sort((a, b) => (resourceName(kind, a) < resourceName(kind, b) ? -1 : resourceName(kind, a) > resourceName(kind, b) ? 1 : 0));
  return {
    ...result,
    proxies: result.proxies.map((proxy) => {
      const masked = maskUnpredictableAddresses(proxy, hosts);
      return { ...proxy, clusters: byName('clusters', masked.clusters), endpoints: byName('endpoints', masked.endpoints), listeners: byName('listeners', masked.listeners), routes: byName('routes', masked.routes) };
    }),
  };
}

/** The reference's answer must equal the committed golden (or replaces it with UPDATE_GOLDEN=1). */
export function expectIstiodGolden(path: string, result: ReferenceCaseResult, config: string): void {
  expectGolden(path, render(stableReferenceResult(result, config)));
}

export function readIstiodGolden(path: string): ReferenceCaseResult {
  return JSON.parse(readFileSync(path, 'utf8')) as ReferenceCaseResult;
}
