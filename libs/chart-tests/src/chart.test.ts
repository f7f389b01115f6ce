import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectGolden, pruneGoldens } from '@skiff/testing';
import { Helm } from './helm.js';
import { parseManifests } from './manifests.js';
import { CHART_CASES_DIRECTORY, CHART_DIRECTORY, chartCases } from './repository.js';

// The render every golden holds: `helm template skiff deploy/helm/skiff -n skiff-system -f <case>.values.yaml
// --api-versions monitoring.coreos.com/v1/ServiceMonitor`, a cluster with the Prometheus Operator's CRDs
// (without them the ServiceMonitor is left out: install.test.ts).
const RELEASE = { releaseName: 'skiff', namespace: 'skiff-system', apiVersions: ['monitoring.coreos.com/v1/ServiceMonitor'] } as const;
const cases = chartCases();

let helm: Helm;
beforeAll(() => {
  // Throws HelmNotFoundError (naming the install command) when helm is absent: every test here fails
  // loudly rather than being skipped.
  helm = Helm.locate();
});
afterAll(() => helm?.dispose());

describe('chart cases', () => {
  it('has the cases the chart is reviewed by', () => {
    expect(cases.map((chartCase) => chartCase.name)).toEqual(
      expect.arrayContaining(['default', 'external-redis-tls', 'bundled-redis', 'high-availability', 'gateway-tls', 'crds']),
    );
  });

  it('holds no golden without its values file (UPDATE_GOLDEN=1 deletes them)', () => {
    const expected = cases.flatMap((chartCase) => [basename(chartCase.valuesFile), basename(chartCase.goldenFile)]);
    pruneGoldens(CHART_CASES_DIRECTORY, expected);
  });
});

describe.each(cases)('$name', (chartCase) => {
  it('renders as its golden file', () => {
    const rendered = helm.template(CHART_DIRECTORY, { ...RELEASE, valuesFiles: [chartCase.valuesFile] });
    // Parse first: a golden of unparsable YAML would be accepted by the comparison alone.
    expect(parseManifests(rendered).length).toBeGreaterThan(0);
    expectGolden(chartCase.goldenFile, rendered);
  });

  it('passes helm lint', () => {
    expect(helm.lint(CHART_DIRECTORY, { namespace: RELEASE.namespace, valuesFiles: [chartCase.valuesFile] })).toContain('0 chart(s) failed');
  });

  it('passes helm lint --strict', () => {
    expect(helm.lint(CHART_DIRECTORY, { namespace: RELEASE.namespace, valuesFiles: [chartCase.valuesFile], strict: true })).toContain(
      '0 chart(s) failed',
    );
  });
});
