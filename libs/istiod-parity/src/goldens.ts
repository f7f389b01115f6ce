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
import type { ReferenceCaseResult } from './reference.js';

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

export const GOLDEN_DIR = fileURLToPath(new URL('../testdata/istiod/', import.meta.url));

export function goldenPathOf(setting: Pick<FlagSetting, 'name'>, caseName: string): string {
  return `${GOLDEN_DIR}${setting.name}/${caseName}.json`;
}

const render = (result: ReferenceCaseResult): string => `${JSON.stringify(result, null, 2)}\n`;

/** The reference's answer must equal the committed golden (or replaces it with UPDATE_GOLDEN=1). */
export function expectIstiodGolden(path: string, result: ReferenceCaseResult): void {
  expectGolden(path, render(result));
}

export function readIstiodGolden(path: string): ReferenceCaseResult {
  return JSON.parse(readFileSync(path, 'utf8')) as ReferenceCaseResult;
}
