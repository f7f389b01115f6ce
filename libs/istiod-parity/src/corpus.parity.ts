/**
 * The corpus against the live istiod reference, in both flag settings: Skiff must serve every proxy
 * what istiod serves it, and the committed goldens must still be istiod's output
 * (`UPDATE_GOLDEN=1` rewrites them from the reference). `PARITY_CASES=<prefix>` runs only the cases
 * whose name starts with it (`PARITY_CASES=parity-locality`).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCorpus } from './corpus.js';
import { expectIstiodGolden, FLAG_SETTINGS, goldenPathOf, OPEN_CASES } from './goldens.js';
import { compareCase, served } from './parity.js';
import { formatDifferences } from './compare.js';
import { runReference, type ReferenceOutput } from './reference.js';

const only = process.env['PARITY_CASES'];
const corpus = loadCorpus().filter((c) => only === undefined || c.name.startsWith(only));

for (const setting of FLAG_SETTINGS) {
  describe(`corpus, istiod flags ${setting.name}`, () => {
    let reference: ReferenceOutput;
    beforeAll(async () => {
      reference = await runReference(corpus, setting.env);
    });

    it('has cases', () => expect(corpus.length).toBeGreaterThan(only === undefined ? 30 : 0));

    it.each(corpus.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
      const istiod = reference.cases.find((c) => c.name === testCase.name);
      expect(istiod, `the reference answered ${testCase.name}`).toBeDefined();
      expectIstiodGolden(goldenPathOf(setting, testCase.name), istiod!, testCase.config);
      const istiodAnswer = istiod!;
      const report = await compareCase(testCase, istiodAnswer, setting.mesh);
      if (OPEN_CASES[testCase.name] !== undefined) {
        expect(report.differences.length, `${testCase.name} is listed as open (${OPEN_CASES[testCase.name]}) but matches istiod: take it off OPEN_CASES`).toBeGreaterThan(0);
        return;
      }
      if (report.differences.length > 0) throw new Error(formatDifferences(`${testCase.name} (${setting.name})`, report.differences));
      // A case where istiod serves anything has resources to compare; the rest compare refusals only.
      if (served(istiodAnswer)) expect(report.compared).toBeGreaterThan(0);
    });
  });
}
