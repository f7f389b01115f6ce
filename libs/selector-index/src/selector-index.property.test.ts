/**
 * The index against a brute-force oracle: random sequences of ServiceEntry and WorkloadEntry upserts and
 * deletes over a few namespaces and a tiny label alphabet (so selectors collide and label changes move
 * workloads between ServiceEntries), with health flips, hostname and IP addresses and every resolution.
 * After every event, the reported changes and the whole selection must equal what a double loop over
 * every ServiceEntry x every workload computes with `selectsWorkload`.
 */
import { selectsWorkload, type NormalizedEndpoint, type NormalizedServiceEntry, type ObjectKey, type Resolution } from '@skiff/model';
/* eslint-disable no-restricted-syntax -- fc.constantFrom takes its choices as arguments; here always the constant lists below, of a few values each */
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { compareObjectKeys, objectKeyId, SelectorIndex, type SelectionChange } from './index.js';
import { buildServiceEntry, buildWorkload } from './test-support.js';

const NAMESPACES = ['alpha', 'beta'];
const SERVICE_ENTRY_NAMES = ['se-0', 'se-1', 'se-2', 'se-3', 'se-4'];
const WORKLOAD_NAMES = ['we-0', 'we-1', 'we-2', 'we-3', 'we-4', 'we-5', 'we-6'];
const LABEL_KEYS = ['app', 'tier', 'zone'];
const LABEL_VALUES = ['x', 'y'];
const RESOLUTIONS: Resolution[] = ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'];
const ADDRESSES = ['10.0.0.1', '10.0.0.2', '2001:db8::1', 'vm.example.com', 'unix:///var/run/app.sock', ''];

// fast-check builds dictionaries without a prototype; normalized entries come from JSON and have one.
const labelsArb = fc
  .dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES), { maxKeys: 3 })
  .map((labels): Record<string, string> => ({ ...labels }));

type Command =
  | { op: 'upsertServiceEntry'; serviceEntry: NormalizedServiceEntry }
  | { op: 'deleteServiceEntry'; key: ObjectKey }
  | { op: 'upsertWorkload'; workload: NormalizedEndpoint }
  | { op: 'deleteWorkload'; key: ObjectKey };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({
        namespace: fc.constantFrom(...NAMESPACES),
        name: fc.constantFrom(...SERVICE_ENTRY_NAMES),
        // null: inline endpoints; {}: every workload of the namespace.
        workloadSelector: fc.option(labelsArb, { freq: 6 }),
        resolution: fc.constantFrom(...RESOLUTIONS),
        host: fc.constantFrom('a.example.com', 'b.example.com'),
      })
      .map(({ host, ...init }): Command => ({ op: 'upsertServiceEntry', serviceEntry: buildServiceEntry({ ...init, hosts: [host] }) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ namespace: fc.constantFrom(...NAMESPACES), name: fc.constantFrom(...SERVICE_ENTRY_NAMES) })
      .map((key): Command => ({ op: 'deleteServiceEntry', key })),
  },
  {
    weight: 5,
    arbitrary: fc
      .record({
        namespace: fc.constantFrom(...NAMESPACES),
        name: fc.constantFrom(...WORKLOAD_NAMES),
        labels: labelsArb,
        address: fc.constantFrom(...ADDRESSES),
        healthy: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        weight: fc.constantFrom(0, 1, 5),
      })
      .map((init): Command => ({ op: 'upsertWorkload', workload: buildWorkload(init) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ namespace: fc.constantFrom(...NAMESPACES), name: fc.constantFrom(...WORKLOAD_NAMES) })
      .map((key): Command => ({ op: 'deleteWorkload', key })),
  },
);

/** The double loop: every ServiceEntry against every workload, with the shared selection rule. */
class BruteForceOracle {
  readonly serviceEntries = new Map<string, NormalizedServiceEntry>();
  readonly workloads = new Map<string, NormalizedEndpoint>();

  /** `se-id -> workload-id` pairs, as a set of `se-id|workload-id` strings. */
  selectedPairs(): Set<string> {
    const pairs = new Set<string>();
    for (const [serviceEntryId, serviceEntry] of this.serviceEntries) {
      for (const [workloadId, workload] of this.workloads) {
        if (selectsWorkload(serviceEntry, workload)) pairs.add(`${serviceEntryId}|${workloadId}`);
      }
    }
    return pairs;
  }

  apply(command: Command): void {
    switch (command.op) {
      case 'upsertServiceEntry':
        this.serviceEntries.set(objectKeyId(command.serviceEntry), command.serviceEntry);
        break;
      case 'deleteServiceEntry':
        this.serviceEntries.delete(objectKeyId(command.key));
        break;
      case 'upsertWorkload':
        this.workloads.set(objectKeyId(command.workload.source), command.workload);
        break;
      case 'deleteWorkload':
        this.workloads.delete(objectKeyId(command.key));
        break;
    }
  }
}

function parseId(id: string): ObjectKey {
  const [namespace = '', name = ''] = id.split('/');
  return { namespace, name };
}

/** What the index must report for `command`, given the oracle's selection before and after it. */
function expectedChanges(command: Command, before: Set<string>, after: Set<string>, contentChanged: boolean): SelectionChange[] {
  const byServiceEntry = new Map<string, { added: ObjectKey[]; removed: ObjectKey[]; updated: ObjectKey[] }>();
  const entry = (serviceEntryId: string) => {
    let lists = byServiceEntry.get(serviceEntryId);
    if (lists === undefined) {
      lists = { added: [], removed: [], updated: [] };
      byServiceEntry.set(serviceEntryId, lists);
    }
    return lists;
  };
  for (const pair of after) {
    const [serviceEntryId = '', workloadId = ''] = pair.split('|');
    if (!before.has(pair)) entry(serviceEntryId).added.push(parseId(workloadId));
    else if (command.op === 'upsertWorkload' && contentChanged && workloadId === objectKeyId(command.workload.source)) {
      entry(serviceEntryId).updated.push(parseId(workloadId));
    }
  }
  for (const pair of before) {
    const [serviceEntryId = '', workloadId = ''] = pair.split('|');
    if (!after.has(pair)) entry(serviceEntryId).removed.push(parseId(workloadId));
  }
  return [...byServiceEntry]
    .map(([serviceEntryId, lists]) => ({
      serviceEntry: parseId(serviceEntryId),
      added: lists.added.sort(compareObjectKeys),
      removed: lists.removed.sort(compareObjectKeys),
      updated: lists.updated.sort(compareObjectKeys),
    }))
    .sort((a, b) => compareObjectKeys(a.serviceEntry, b.serviceEntry));
}

function applyToIndex(index: SelectorIndex, command: Command): SelectionChange[] {
  switch (command.op) {
    case 'upsertServiceEntry':
      return index.upsertServiceEntry(command.serviceEntry);
    case 'deleteServiceEntry':
      return index.deleteServiceEntry(command.key);
    case 'upsertWorkload':
      return index.upsertWorkload(command.workload);
    case 'deleteWorkload':
      return index.deleteWorkload(command.key);
  }
}

function expectSameState(index: SelectorIndex, oracle: BruteForceOracle, pairs: Set<string>): void {
  for (const namespace of NAMESPACES) {
    for (const name of SERVICE_ENTRY_NAMES) {
      const serviceEntryId = `${namespace}/${name}`;
      const expected = [...oracle.workloads]
        .filter(([workloadId]) => pairs.has(`${serviceEntryId}|${workloadId}`))
        .map(([, workload]) => workload)
        .sort((a, b) => compareObjectKeys(a.source, b.source));
      expect(index.selectedWorkloads({ namespace, name })).toEqual(expected);
      expect(index.serviceEntry({ namespace, name })).toBe(oracle.serviceEntries.get(serviceEntryId));
    }
    for (const name of WORKLOAD_NAMES) {
      const workloadId = `${namespace}/${name}`;
      const expected = [...oracle.serviceEntries.keys()]
        .filter((serviceEntryId) => pairs.has(`${serviceEntryId}|${workloadId}`))
        .map(parseId)
        .sort(compareObjectKeys);
      expect(index.selectingServiceEntries({ namespace, name })).toEqual(expected);
      expect(index.workload({ namespace, name })).toEqual(oracle.workloads.get(workloadId));
    }
  }
  expect(index.serviceEntryCount).toBe(oracle.serviceEntries.size);
  expect(index.workloadCount).toBe(oracle.workloads.size);
}

describe('SelectorIndex against a brute-force oracle', () => {
  it('reports exactly the selection changes of every event and keeps the same selection', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { minLength: 1, maxLength: 100, size: 'max' }), (commands) => {
        const index = new SelectorIndex();
        const oracle = new BruteForceOracle();
        let before = oracle.selectedPairs();
        for (const command of commands) {
          const contentChanged =
            command.op === 'upsertWorkload' &&
            oracle.workloads.has(objectKeyId(command.workload.source)) &&
            !isDeepStrictEqual(oracle.workloads.get(objectKeyId(command.workload.source)), command.workload);
          oracle.apply(command);
          const after = oracle.selectedPairs();
          expect(applyToIndex(index, command)).toEqual(expectedChanges(command, before, after, contentChanged));
          expectSameState(index, oracle, after);
          before = after;
        }
        // Re-adding every ServiceEntry finds its workloads through the workload label index alone, so a
        // stale entry there (a relabelled workload filed under its old labels) shows up here.
        for (const serviceEntry of [...oracle.serviceEntries.values()]) {
          const deleteCommand: Command = { op: 'deleteServiceEntry', key: serviceEntry };
          const upsertCommand: Command = { op: 'upsertServiceEntry', serviceEntry };
          for (const command of [deleteCommand, upsertCommand]) {
            oracle.apply(command);
            const after = oracle.selectedPairs();
            expect(applyToIndex(index, command)).toEqual(expectedChanges(command, before, after, false));
            before = after;
          }
        }
        expectSameState(index, oracle, before);
      }),
      { numRuns: 200 },
    );
  });
});
