/**
 * Skiff against istiod's committed answers (testdata/istiod, written from the istiod reference by
 * `npm run parity`), for every corpus case in both flag settings: the same comparison as the parity
 * suite, without Go.
 */
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatDifferences } from './compare.js';
import { loadCorpus } from './corpus.js';
import { FLAG_SETTINGS, GOLDEN_DIR, goldenPathOf, OPEN_CASES, readIstiodGolden } from './goldens.js';
import { compareCase, served } from './parity.js';

const corpus = loadCorpus();

for (const setting of FLAG_SETTINGS) {
  describe(`Skiff against istiod's goldens, flags ${setting.name}`, () => {
    it('has a golden for every corpus case and none without one', () => {
      const goldens = existsSync(`${GOLDEN_DIR}${setting.name}`) ? readdirSync(`${GOLDEN_DIR}${setting.name}`).sort() : [];
      expect(goldens).toEqual(corpus.map((c) => `${c.name}.json`).sort());
    });

    it.each(corpus.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
      const istiodAnswer = readIstiodGolden(goldenPathOf(setting, testCase.name));
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
