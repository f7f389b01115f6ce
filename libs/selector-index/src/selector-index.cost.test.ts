/**
 * The index's reason to exist: an event visits the candidates that can match it, not the mesh. These
 * tests count the `selectsWorkload` checks (`stats`), never time.
 */
import { describe, expect, it } from 'vitest';
import { SelectorIndex, type SelectorIndexStats } from './index.js';
import { buildServiceEntry, buildWorkload } from './test-support.js';

const NS = 'mesh';
const MESH_SIZE = 10_000;

function visitsOf(index: SelectorIndex, event: () => unknown): Omit<SelectorIndexStats, 'events'> {
  const before = index.stats;
  event();
  const after = index.stats;
  return {
    serviceEntryCandidatesVisited: after.serviceEntryCandidatesVisited - before.serviceEntryCandidatesVisited,
    workloadCandidatesVisited: after.workloadCandidatesVisited - before.workloadCandidatesVisited,
    candidatesVisited: after.candidatesVisited - before.candidatesVisited,
  };
}

/**
 * 10k ServiceEntries whose selectors all share `app: payments` and differ by `track`: filed under their
 * first pair, they would all land in one bucket that every workload event visits.
 */
function serviceEntriesSharingTeam(index: SelectorIndex): void {
  for (let i = 0; i < MESH_SIZE; i++) {
    index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: `se-${i}`, workloadSelector: { app: 'payments', track: `t-${i}` } }));
  }
}

function workloadsOfEveryApp(index: SelectorIndex): void {
  for (let i = 0; i < MESH_SIZE; i++) {
    index.upsertWorkload(buildWorkload({ namespace: NS, name: `we-${i}`, labels: { app: 'payments', track: `t-${i}`, version: `v${i % 2}` } }));
  }
}

describe('SelectorIndex work per event', () => {
  it('visits a handful of ServiceEntries for a WorkloadEntry update among 10k ServiceEntries', () => {
    const index = new SelectorIndex();
    serviceEntriesSharingTeam(index);
    workloadsOfEveryApp(index);
    const relabel = buildWorkload({ namespace: NS, name: 'we-42', labels: { app: 'payments', track: 't-43', version: 'v0' } });
    const visits = visitsOf(index, () =>
      expect(index.upsertWorkload(relabel).map((c) => c.serviceEntry.name)).toEqual(['se-42', 'se-43']),
    );
    expect(visits.serviceEntryCandidatesVisited).toBeLessThanOrEqual(3);
    expect(visits.workloadCandidatesVisited).toBe(0);
  });

  it('visits a handful of ServiceEntries when the workloads came first', () => {
    const index = new SelectorIndex();
    workloadsOfEveryApp(index);
    serviceEntriesSharingTeam(index);
    const visits = visitsOf(index, () => index.upsertWorkload(buildWorkload({ namespace: NS, name: 'we-7', labels: { app: 'payments', track: 't-7' } })));
    expect(visits.serviceEntryCandidatesVisited).toBeLessThanOrEqual(3);
    expect(visits.candidatesVisited).toBe(visits.serviceEntryCandidatesVisited);
  });

  it('visits only the workloads carrying the rarest selector pair for a ServiceEntry event', () => {
    const index = new SelectorIndex();
    workloadsOfEveryApp(index);
    // `version: v1` is carried by 5,000 workloads, `track: t-9` by one.
    const visits = visitsOf(index, () =>
      index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'nine', workloadSelector: { version: 'v1', track: 't-9' } })),
    );
    expect(visits.workloadCandidatesVisited).toBe(1);
    expect(index.selectedWorkloads({ namespace: NS, name: 'nine' }).map((w) => w.source.name)).toEqual(['we-9']);
  });

  it('does the same work for one event whatever the size of the rest of the mesh', () => {
    const visitsAt = (otherServiceEntries: number): number => {
      const index = new SelectorIndex();
      for (let i = 0; i < otherServiceEntries; i++) {
        index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: `other-${i}`, workloadSelector: { app: `other-${i}` } }));
        index.upsertWorkload(buildWorkload({ namespace: NS, name: `other-${i}`, labels: { app: `other-${i}` } }));
        index.upsertServiceEntry(buildServiceEntry({ namespace: `ns-${i % 50}`, name: `all-${i}`, workloadSelector: {} }));
      }
      index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'cart', workloadSelector: { app: 'cart' } }));
      index.upsertWorkload(buildWorkload({ namespace: NS, name: 'cart-1', labels: { app: 'cart' } }));
      return visitsOf(index, () => index.upsertWorkload(buildWorkload({ namespace: NS, name: 'cart-1', labels: { app: 'cart' }, weight: 3 })))
        .candidatesVisited;
    };
    expect(visitsAt(MESH_SIZE)).toBe(visitsAt(10));
  });
});
