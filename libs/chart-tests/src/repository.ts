/**
 * Where the deploy artifacts live in the repository, and what the workspace declares about them.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is libs/chart-tests/src/repository.ts, or dist/ once built). */
export const REPOSITORY_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CHART_DIRECTORY = join(REPOSITORY_ROOT, 'deploy', 'helm', 'skiff');
/** Golden cases: `<case>.values.yaml` rendered into `<case>.golden.yaml`. */
export const CHART_CASES_DIRECTORY = join(CHART_DIRECTORY, 'tests');
export const DOCKERFILE = join(REPOSITORY_ROOT, 'Dockerfile');
export const INSTALL_GUIDE = join(REPOSITORY_ROOT, 'docs', 'install.md');

/** A golden case: its name and the two files it pairs. */
export interface ChartCase {
  readonly name: string;
  readonly valuesFile: string;
  readonly goldenFile: string;
}

const VALUES_SUFFIX = '.values.yaml';
const GOLDEN_SUFFIX = '.golden.yaml';

/** Every `<case>.values.yaml` under the chart's tests/, sorted by name. */
export function chartCases(directory: string = CHART_CASES_DIRECTORY): ChartCase[] {
  return readdirSync(directory)
    .filter((file) => file.endsWith(VALUES_SUFFIX))
    .sort()
    .map((file) => {
      const name = file.slice(0, -VALUES_SUFFIX.length);
      return { name, valuesFile: join(directory, file), goldenFile: join(directory, `${name}${GOLDEN_SUFFIX}`) };
    });
}

/** A command a workspace package installs (`bin` in its package.json). */
export interface WorkspaceBin {
  readonly command: string;
  /** The package directory relative to the repository root, e.g. `apps/skiffctl`. */
  readonly packageDirectory: string;
  /** The bin's target relative to the package, e.g. `./bin/skiffctl.js`. */
  readonly target: string;
}

/** The `bin` entries of every workspace package (the root package.json's `workspaces` globs `libs/*` and `apps/*`). */
export function workspaceBins(root: string = REPOSITORY_ROOT): WorkspaceBin[] {
  const bins: WorkspaceBin[] = [];
  for (const group of ['libs', 'apps']) {
    const groupDirectory = join(root, group);
    if (!existsSync(groupDirectory)) continue;
    for (const entry of readdirSync(groupDirectory, { withFileTypes: true })) {
      const manifestPath = join(groupDirectory, entry.name, 'package.json');
      if (!entry.isDirectory() || !existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { name?: string; bin?: string | Record<string, string> };
      const packageDirectory = `${group}/${entry.name}`;
      if (typeof manifest.bin === 'string') {
        // A string bin is installed under the package's name without its scope.
        const command = (manifest.name ?? entry.name).replace(/^@[^/]+\//, '');
        bins.push({ command, packageDirectory, target: manifest.bin });
      } else if (manifest.bin) {
        for (const [command, target] of Object.entries(manifest.bin)) bins.push({ command, packageDirectory, target });
      }
    }
  }
  return bins;
}

/** A Dockerfile's `ARG NAME="a b c"` default, split on whitespace; undefined when the ARG is absent. */
export function dockerfileArgList(dockerfile: string, name: string): string[] | undefined {
  const match = new RegExp(`^ARG\\s+${name}=(?:"([^"]*)"|(\\S*))\\s*$`, 'm').exec(dockerfile);
  if (!match) return undefined;
  return (match[1] ?? match[2] ?? '').split(/\s+/).filter((word) => word !== '');
}

/** The exec-form `CMD [...]` of a Dockerfile's last stage, or undefined. */
export function dockerfileCmd(dockerfile: string): string[] | undefined {
  const commands = [...dockerfile.matchAll(/^CMD\s+(\[.*\])\s*$/gm)];
  const last = commands.at(-1)?.[1];
  return last === undefined ? undefined : (JSON.parse(last) as string[]);
}
