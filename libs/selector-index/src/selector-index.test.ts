import { describe, expect, it } from 'vitest';
import { SelectorIndex, SelectorIndexError, type SelectionChange } from './index.js';
import { buildServiceEntry, buildWorkload } from './test-support.js';

const NS = 'shop';
const key = (name: string, namespace = NS) => ({ namespace, name });

function change(serviceEntry: string, lists: Partial<Pick<SelectionChange, 'added' | 'removed' | 'updated'>>): SelectionChange {
  return { serviceEntry: key(serviceEntry), added: [], removed: [], updated: [], ...lists };
}

describe('SelectorIndex', () => {
  it('reports a workload added after the ServiceEntry that selects it', () => {
    const index = new SelectorIndex();
    expect(index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'cart', workloadSelector: { app: 'cart' } }))).toEqual([]);
    const workload = buildWorkload({ namespace: NS, name: 'cart-1', labels: { app: 'cart', version: 'v1' } });
    expect(index.upsertWorkload(workload)).toEqual([change('cart', { added: [key('cart-1')] })]);
    expect(index.selectedWorkloads(key('cart'))).toEqual([workload]);
    expect(index.selectingServiceEntries(key('cart-1'))).toEqual([key('cart')]);
  });

  it('reports the workloads a ServiceEntry selects when it arrives after them', () => {
    const index = new SelectorIndex();
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'b', labels: { app: 'cart' } }));
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'a', labels: { app: 'cart' } }));
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'c', labels: { app: 'web' } }));
    expect(index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'cart', workloadSelector: { app: 'cart' } }))).toEqual([
      change('cart', { added: [key('a'), key('b')] }),
    ]);
    expect(index.selectedWorkloads(key('cart')).map((w) => w.source.name)).toEqual(['a', 'b']);
  });

  it('reports both ServiceEntries when a label change moves a workload from one to the other', () => {
    const index = new SelectorIndex();
    index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'blue', workloadSelector: { app: 'web', color: 'blue' } }));
    index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'green', workloadSelector: { app: 'web', color: 'green' } }));
    index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'web', workloadSelector: { app: 'web' } }));
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'w', labels: { app: 'web', color: 'blue' } }));
    expect(index.selectingServiceEntries(key('w'))).toEqual([key('blue'), key('web')]);

    expect(index.upsertWorkload(buildWorkload({ namespace: NS, name: 'w', labels: { app: 'web', color: 'green' } }))).toEqual([
      change('blue', { removed: [key('w')] }),
      change('green', { added: [key('w')] }),
      change('web', { updated: [key('w')] }),
    ]);
    expect(index.selectedWorkloads(key('blue'))).toEqual([]);
    expect(index.selectingServiceEntries(key('w'))).toEqual([key('green'), key('web')]);
  });

  it('reports content changes as updated and identical upserts as nothing', () => {
    const index = new SelectorIndex();
    index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'cart', workloadSelector: { app: 'cart' } }));
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'cart-1', labels: { app: 'cart' }, address: '10.0.0.1' }));
    const moved = buildWorkload({ namespace: NS, name: 'cart-1', labels: { app: 'cart' }, address: '10.0.0.2' });
    expect(index.upsertWorkload(moved)).toEqual([change('cart', { updated: [key('cart-1')] })]);
    expect(index.selectedWorkloads(key('cart'))).toEqual([moved]);
    expect(index.upsertWorkload(structuredClone(moved))).toEqual([]);
  });

  it('drops an unhealthy workload from every selection and restores it when healthy again', () => {
    const index = new SelectorIndex();
    index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'cart', workloadSelector: { app: 'cart' } }));
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'cart-1', labels: { app: 'cart' } }));
    expect(index.upsertWorkload(buildWorkload({ namespace: NS, name: 'cart-1', labels: { app: 'cart' }, healthy: false }))).toEqual([
      change('cart', { removed: [key('cart-1')] }),
    ]);
    expect(index.workload(key('cart-1'))?.healthy).toBe(false);
    expect(index.upsertWorkload(buildWorkload({ namespace: NS, name: 'cart-1', labels: { app: 'cart' } }))).toEqual([
      change('cart', { added: [key('cart-1')] }),
    ]);
  });

  it('lets only DNS ServiceEntries select hostname workloads, re-evaluating on a resolution change', () => {
    const index = new SelectorIndex();
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'vm', labels: { app: 'db' }, address: 'db.corp.example' }));
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'ip', labels: { app: 'db' }, address: '10.1.1.1' }));
    const db = buildServiceEntry({ namespace: NS, name: 'db', workloadSelector: { app: 'db' }, resolution: 'STATIC' });
    expect(index.upsertServiceEntry(db)).toEqual([change('db', { added: [key('ip')] })]);
    expect(index.upsertServiceEntry({ ...db, resolution: 'DNS' })).toEqual([change('db', { added: [key('vm')] })]);
    expect(index.upsertServiceEntry({ ...db, resolution: 'DNS_ROUND_ROBIN' })).toEqual([]);
    expect(index.upsertServiceEntry({ ...db, resolution: 'NONE' })).toEqual([change('db', { removed: [key('vm')] })]);
  });

  it('selects every workload of its own namespace with an empty selector, and nothing without one', () => {
    const index = new SelectorIndex();
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'a', labels: { app: 'a' } }));
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'b' }));
    index.upsertWorkload(buildWorkload({ namespace: 'other', name: 'c' }));
    expect(index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'all', workloadSelector: {} }))).toEqual([
      change('all', { added: [key('a'), key('b')] }),
    ]);
    expect(index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'inline', workloadSelector: null }))).toEqual([]);
    expect(index.upsertWorkload(buildWorkload({ namespace: NS, name: 'd', labels: { any: 'thing' } }))).toEqual([
      change('all', { added: [key('d')] }),
    ]);
    expect(index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'all', workloadSelector: null }))).toEqual([
      change('all', { removed: [key('a'), key('b'), key('d')] }),
    ]);
  });

  it('keeps a ServiceEntry whose selection inputs did not change without re-evaluating it', () => {
    const index = new SelectorIndex();
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'cart-1', labels: { app: 'cart' } }));
    const cart = buildServiceEntry({ namespace: NS, name: 'cart', workloadSelector: { app: 'cart' } });
    index.upsertServiceEntry(cart);
    const visited = index.stats.workloadCandidatesVisited;
    const renamedHost = { ...cart, hosts: ['cart.shop.internal'] };
    expect(index.upsertServiceEntry(renamedHost)).toEqual([]);
    expect(index.stats.workloadCandidatesVisited).toBe(visited);
    expect(index.serviceEntry(key('cart'))).toBe(renamedHost);
    expect(index.selectedWorkloads(key('cart')).map((w) => w.source.name)).toEqual(['cart-1']);
  });

  it('reports every selected workload when a ServiceEntry is deleted, and every selecting ServiceEntry when a workload is', () => {
    const index = new SelectorIndex();
    index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'cart', workloadSelector: { app: 'cart' } }));
    index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'all', workloadSelector: {} }));
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'cart-1', labels: { app: 'cart' } }));
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'cart-2', labels: { app: 'cart' } }));
    expect(index.deleteWorkload(key('cart-1'))).toEqual([change('all', { removed: [key('cart-1')] }), change('cart', { removed: [key('cart-1')] })]);
    expect(index.deleteServiceEntry(key('cart'))).toEqual([change('cart', { removed: [key('cart-2')] })]);
    expect(index.selectingServiceEntries(key('cart-2'))).toEqual([key('all')]);
    expect(index.deleteServiceEntry(key('cart'))).toEqual([]);
    expect(index.deleteWorkload(key('cart-1'))).toEqual([]);
    expect(index.selectedWorkloads(key('cart'))).toEqual([]);
    expect(index.selectingServiceEntries(key('cart-1'))).toEqual([]);
    expect([index.serviceEntryCount, index.workloadCount]).toEqual([1, 1]);
  });

  it('never changes an array it has returned: later events build a new one', () => {
    const index = new SelectorIndex();
    index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'cart', workloadSelector: { app: 'cart' } }));
    for (const name of ['a', 'c']) index.upsertWorkload(buildWorkload({ namespace: NS, name, labels: { app: 'cart' } }));
    const first = index.selectedWorkloads(key('cart'));
    const snapshot = [...first];
    expect(index.selectedWorkloads(key('cart'))).toBe(first);

    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'b', labels: { app: 'cart' } }));
    index.upsertWorkload(buildWorkload({ namespace: NS, name: 'c', labels: { app: 'cart' }, address: '10.9.9.9' }));
    index.deleteWorkload(key('a'));
    expect(first).toEqual(snapshot);
    expect(index.selectedWorkloads(key('cart')).map((w) => [w.source.name, w.address])).toEqual([
      ['b', '10.0.0.1'],
      ['c', '10.9.9.9'],
    ]);
  });

  it('sorts selections by name with code-unit order, not the locale', () => {
    const index = new SelectorIndex();
    for (const name of ['b', 'B', 'a-2', 'a-10', 'a']) index.upsertWorkload(buildWorkload({ namespace: NS, name, labels: { app: 'x' } }));
    index.upsertServiceEntry(buildServiceEntry({ namespace: NS, name: 'x', workloadSelector: { app: 'x' } }));
    expect(index.selectedWorkloads(key('x')).map((w) => w.source.name)).toEqual(['B', 'a', 'a-10', 'a-2', 'b']);
  });

  it('rejects inline endpoints and endpoints whose namespace contradicts their WorkloadEntry', () => {
    const index = new SelectorIndex();
    const inline = { ...buildWorkload({ namespace: NS, name: 'x' }), source: { kind: 'ServiceEntry' as const, namespace: NS, name: 'x', index: 0 } };
    expect(() => index.upsertWorkload(inline)).toThrow(expect.objectContaining({ code: 'NOT_A_WORKLOAD_ENTRY' }));
    expect(() => index.upsertWorkload({ ...buildWorkload({ namespace: NS, name: 'x' }), namespace: 'elsewhere' })).toThrow(SelectorIndexError);
    expect(index.workloadCount).toBe(0);
    expect(index.stats.events).toBe(0);
  });
});
