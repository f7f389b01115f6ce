/**
 * Golden translation tests: `testdata/in/<case>.yaml` (Istio ServiceEntries and WorkloadEntries, as
 * a user writes them) -> `testdata/out/<case>.json` (Envoy proto-JSON). The input goes through the
 * real loader (validation, normalization) and the shared selection rule, so a case is what `skiff`
 * would serve for that YAML. `testdata/destination-rules/` holds the cases with DestinationRules,
 * each host getting the rule for it (`test-support/load-case.ts`); they are apart because
 * DestinationRule objects need a CRD the chart does not install.
 *
 * Options: an optional first line `# options: {"flavor": "grpc", "naming": "sni-dnat", "mesh": {...}}`
 * (defaults: envoy, sidecar, DEFAULT_MESH_SETTINGS). `UPDATE_GOLDEN=1` rewrites the outputs and
 * deletes goldens whose input is gone.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectGolden, pruneGoldens } from '@skiff/testing';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_SETTINGS, translateResultToJson, withMeshDefaults, type TranslateOptions } from './index.js';
import { loadCase } from './test-support/load-case.js';

const testdata = fileURLToPath(new URL('../testdata/', import.meta.url));

function casesIn(inputDir: string): string[] {
  return readdirSync(inputDir)
    .filter((file) => file.endsWith('.yaml'))
    .map((file) => basename(file, '.yaml'))
    .sort();
}

const OPTIONS_PREFIX = '# options:';

function optionsOf(text: string): TranslateOptions {
  const firstLine = text.split('\n', 1)[0] ?? '';
  if (!firstLine.startsWith(OPTIONS_PREFIX)) return { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS };
  const parsed = JSON.parse(firstLine.slice(OPTIONS_PREFIX.length)) as Partial<Omit<TranslateOptions, 'mesh'>> & {
    mesh?: Parameters<typeof withMeshDefaults>[0];
  };
  return { flavor: parsed.flavor ?? 'envoy', naming: parsed.naming ?? 'sidecar', mesh: withMeshDefaults(parsed.mesh) };
}

describe.each([
  ['', 25],
  ['destination-rules/', 10],
] as const)('golden translation %s', (subdirectory, minimumCases) => {
  const inputDir = join(testdata, subdirectory, 'in');
  const outputDir = join(testdata, subdirectory, 'out');
  const cases = casesIn(inputDir);

  it(`has at least ${minimumCases} cases`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(minimumCases);
  });

  it.each(cases)('%s', (name) => {
    const text = readFileSync(join(inputDir, `${name}.yaml`), 'utf8');
    const result = loadCase(text, `testdata/${subdirectory}in/${name}.yaml`, optionsOf(text));
    expectGolden(join(outputDir, `${name}.json`), `${JSON.stringify(translateResultToJson(result), null, 2)}\n`);
  });

  it('has no golden without an input', () => {
    pruneGoldens(
      outputDir,
      cases.map((name) => `${name}.json`),
    );
  });
});
