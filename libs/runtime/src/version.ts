/**
 * Skiff's version, set in one place: the `version` of the repository's root package.json (the image
 * keeps that file at its root too). Every binary prints it for `--version`, and the gateway reports it
 * as its control plane version (`control_plane.identifier`, read by `istioctl x version`).
 */
import { readFileSync } from 'node:fs';

/** The root manifest, seen from both `src/` and `dist/` of this library. */
const ROOT_MANIFEST = new URL('../../../package.json', import.meta.url);

function readVersion(): string {
  const manifest = JSON.parse(readFileSync(ROOT_MANIFEST, 'utf8')) as { name?: unknown; version?: unknown };
  if (manifest.name !== 'skiff' || typeof manifest.version !== 'string') {
    throw new Error(`${ROOT_MANIFEST.pathname} is not Skiff's root package.json (name "skiff" with a version)`);
  }
  return manifest.version;
}

export const SKIFF_VERSION: string = readVersion();
