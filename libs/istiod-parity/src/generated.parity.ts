/**
 * Generated meshes against the live istiod reference, in both flag settings: 200 meshes drawn by
 * fast-check from a fixed seed (generate.ts), each asked as a sidecar and a gRPC client in every
 * namespace. Set PARITY_SEED to draw another 200, PARITY_MESHES to draw more. Every mesh of every
 * draw must match istiod everywhere.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatDifferences } from './compare.js';
import type { ParityCase } from './corpus.js';
import { generatedCase, generatedMesh } from './generate.js';
import { FLAG_SETTINGS } from './goldens.js';
import { compareCase } from './parity.js';
import { runReference, type ReferenceOutput } from './reference.js';

const DEFAULT_SEED = 20261203;
const DEFAULT_COUNT = 200;
const seed = Number(process.env['PARITY_SEED'] ?? DEFAULT_SEED);
const count = Number(process.env['PARITY_MESHES'] ?? DEFAULT_COUNT);
const meshes: ParityCase[] = fc
  .sample(generatedMesh(), { seed, numRuns: count })
  .map((mesh, index) => generatedCase(`generated-${seed}-${index}`, mesh));

for (const setting of FLAG_SETTINGS) {
  describe(`${count} generated meshes (seed ${seed}), istiod flags ${setting.name}`, () => {
    let reference: ReferenceOutput;
    beforeAll(async () => {
      reference = await runReference(meshes, setting.env);
    });

    it('every mesh is served the same by Skiff and istiod', async () => {
      const failures: string[] = [];
      let compared = 0;
      for (const mesh of meshes) {
        const istiod = reference.cases.find((c) => c.name === mesh.name);
        if (istiod === undefined) {
          failures.push(`${mesh.name}: the reference did not answer`);
          continue;
        }
        const report = await compareCase(mesh, istiod, setting.mesh);
        compared += report.compared;
        if (report.differences.length > 0) failures.push(`${formatDifferences(mesh.name, report.differences, 12)}\n--- ${mesh.name} YAML ---\n${mesh.config}`);
      }
      expect(compared).toBeGreaterThan(meshes.length);
      expect(failures.length, `${failures.length} of ${meshes.length} meshes differ:\n\n${failures.slice(0, 5).join('\n\n')}`).toBe(0);
    });
  });
}
