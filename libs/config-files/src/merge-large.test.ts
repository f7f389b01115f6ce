/**
 * Merging the result of one very large file. `push(...list)` passes every element as an argument and
 * throws "Maximum call stack size exceeded" somewhere above 100k elements, which is how
 * `skiffctl translate -f` on a 200k-WorkloadEntry file used to fail.
 */
import { loadIstioConfig, type LoadResult } from '@skiff/model';
import { describe, expect, it } from 'vitest';
import { mergeLoadResults } from './load.js';

const COUNT = 500_000;

const ONE_WORKLOAD = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: w, namespace: ns}
spec: {address: 10.0.0.1}
`;

describe('mergeLoadResults at scale', () => {
  it(`merges one file of ${COUNT.toLocaleString('en')} objects`, () => {
    const single = loadIstioConfig(ONE_WORKLOAD, 'big.yaml');
    const [loaded] = single.workloadEntries;
    const [accepted] = single.accepted;
    if (loaded === undefined || accepted === undefined) throw new Error('the WorkloadEntry did not load');
    // One List document of COUNT items; only the first is w, the rest repeat one item (merging does not look inside).
    const first = { file: 'big.yaml', document: 1, line: 1, item: 0 };
    const big: LoadResult = {
      serviceEntries: [],
      workloadEntries: Array.from({ length: COUNT }, (_, item) => ({ ...loaded, source: { ...first, item } })),
      sidecars: [],
      gateways: [],
      accepted: [{ ...accepted, source: first }],
      rejected: new Array(COUNT).fill({ kind: 'WorkloadEntry', namespace: 'ns', name: 'bad', source: first, errors: [] }),
      ignored: new Array(COUNT).fill({ kind: 'VirtualService', namespace: 'ns', name: 'g', source: first }),
      errors: new Array(COUNT).fill({ file: 'big.yaml', document: 2, line: 1, message: 'not an object' }),
    };
    const merged = mergeLoadResults([big, single]);
    // The second file defines w again: rejected, and its WorkloadEntry dropped.
    expect(merged.accepted).toHaveLength(1);
    expect(merged.workloadEntries).toHaveLength(COUNT);
    expect(merged.workloadEntries[COUNT - 1]?.source.item).toBe(COUNT - 1);
    expect(merged.rejected).toHaveLength(COUNT + 1);
    expect(merged.rejected[COUNT]?.errors[0]?.reason).toMatch(/^duplicate object/);
    expect(merged.ignored).toHaveLength(COUNT);
    expect(merged.errors).toHaveLength(COUNT);
  });
});
