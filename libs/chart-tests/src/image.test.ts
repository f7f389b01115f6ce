import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Helm } from './helm.js';
import { at, containers, parseManifests, podSpecs, type KubernetesObject } from './manifests.js';
import { CHART_CASES_DIRECTORY, CHART_DIRECTORY, DOCKERFILE, REPOSITORY_ROOT, dockerfileArgList, dockerfileCmd, workspaceBins } from './repository.js';

// No Docker engine runs where these tests run, so the image is checked by what it is built from: the
// commands it promises exist as workspace bins, and the chart asks only for those commands, as the
// user the image runs as.
const dockerfile = readFileSync(DOCKERFILE, 'utf8');
const imageCommands = dockerfileArgList(dockerfile, 'SKIFF_COMMANDS') ?? [];

let helm: Helm;
let rendered: KubernetesObject[];
beforeAll(() => {
  helm = Helm.locate();
  rendered = ['default', 'bundled-redis'].flatMap((name) =>
    parseManifests(
      helm.template(CHART_DIRECTORY, { releaseName: 'skiff', namespace: 'skiff-system', valuesFiles: [join(CHART_CASES_DIRECTORY, `${name}.values.yaml`)] }),
    ),
  );
});
afterAll(() => helm?.dispose());

/** Containers that run the Skiff image (not the bundled Redis). */
function skiffContainers(): Record<string, unknown>[] {
  return containers(rendered)
    .map(({ container }) => container)
    .filter((container) => String(container['image']).split(':')[0] === 'skiff');
}

describe('Dockerfile', () => {
  it('lists the commands it provides, and defaults to one of them', () => {
    expect(imageCommands).toEqual(expect.arrayContaining(['skiff', 'skiff-watcher', 'skiff-translator', 'skiff-gateway', 'skiffctl']));
    expect(imageCommands).toContain(dockerfileCmd(dockerfile)?.[0]);
  });

  it('provides every command the chart runs', () => {
    const chartCommands = skiffContainers().map((container) => at(container, 'command', 0));
    expect(chartCommands.length).toBeGreaterThan(0);
    expect(imageCommands).toEqual(expect.arrayContaining([...new Set(chartCommands)]));
  });

  it('runs as the user the chart runs its pods as', () => {
    const stages = dockerfile.split(/^FROM\s/m);
    const runtimeUser = /^USER\s+(\d+)(?::(\d+))?\s*$/m.exec(stages.at(-1) ?? '');
    expect(runtimeUser, 'the runtime stage sets a numeric USER').not.toBeNull();
    const skiffPods = podSpecs(rendered).filter(({ spec }) =>
      (spec['containers'] as Record<string, unknown>[]).some((container) => String(container['image']).split(':')[0] === 'skiff'),
    );
    expect(skiffPods.length).toBeGreaterThan(0);
    for (const { spec } of skiffPods) {
      expect(at(spec, 'securityContext', 'runAsUser')).toBe(Number(runtimeUser?.[1]));
      expect(at(spec, 'securityContext', 'runAsGroup')).toBe(Number(runtimeUser?.[2] ?? runtimeUser?.[1]));
    }
  });

  it('keeps installed and built output and repository state out of the build context', () => {
    const ignored = readFileSync(join(REPOSITORY_ROOT, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim());
    expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.nx', '.git', 'bench']));
  });
});

describe('workspace bins', () => {
  const bins = workspaceBins();

  it('declare every command the image provides, from a directory the image copies', () => {
    const problems = imageCommands.flatMap((command) => {
      const bin = bins.find((candidate) => candidate.command === command);
      if (bin === undefined) return [`${command}: no workspace package (apps/*, libs/*) declares it in package.json "bin"`];
      const target = bin.target.replace(/^\.\//, '');
      if (target.startsWith('dist/')) return [];
      if (!target.startsWith('bin/')) return [`${command}: ${bin.packageDirectory} points it at ${bin.target}; the image copies only bin/ and dist/`];
      return existsSync(join(REPOSITORY_ROOT, bin.packageDirectory, target)) ? [] : [`${command}: ${bin.packageDirectory}/${target} does not exist`];
    });
    expect(problems).toEqual([]);
  });
});
