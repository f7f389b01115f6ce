import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SlotList, type Slotted } from './slot-list.js';

interface Item extends Slotted {
  readonly id: number;
}

const itemOf = (id: number): Item => ({ id, slots: [] });
const ids = (list: SlotList<Item>): number[] => list.items.map((item) => item.id).sort((a, b) => a - b);

describe('SlotList', () => {
  it('moves the last item into a removed item’s place and updates its slot', () => {
    const list = new SlotList<Item>();
    const [a, b, c] = [itemOf(1), itemOf(2), itemOf(3)];
    for (const item of [a, b, c]) list.add(item, 0);
    list.remove(a, 0);
    expect(list.items.map((item) => item.id)).toEqual([3, 2]);
    expect(c.slots[0]).toBe(0);
    list.remove(c, 0);
    expect(list.items.map((item) => item.id)).toEqual([2]);
    expect(b.slots[0]).toBe(0);
  });

  it('keeps an item’s places in several lists apart by filing number', () => {
    const [first, second] = [new SlotList<Item>(), new SlotList<Item>()];
    const [a, b] = [itemOf(1), itemOf(2)];
    first.add(a, 0);
    second.add(b, 1);
    second.add(a, 1);
    first.add(b, 0);
    second.remove(b, 1);
    expect(a.slots).toEqual([0, 0]);
    first.remove(a, 0);
    expect(b.slots[0]).toBe(0);
    expect(ids(first)).toEqual([2]);
    expect(ids(second)).toEqual([1]);
  });

  it('refuses to remove an item that is not there, or under another filing number, and stays unchanged', () => {
    const list = new SlotList<Item>();
    const [a, b] = [itemOf(1), itemOf(2)];
    list.add(a, 0);
    expect(() => list.remove(b, 0)).toThrow(/not at slot/);
    expect(() => list.remove(a, 1)).toThrow(/not at slot/);
    list.remove(a, 0);
    expect(() => list.remove(a, 0)).toThrow(/not at slot/);
    expect(list.size).toBe(0);
  });

  it('holds exactly the items added and not removed, whatever the order of the operations', () => {
    const operation = fc.record({ add: fc.boolean(), id: fc.integer({ min: 0, max: 7 }), list: fc.integer({ min: 0, max: 2 }) });
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 200 }), (operations) => {
        const items = Array.from({ length: 8 }, (_, id) => itemOf(id));
        const lists = [new SlotList<Item>(), new SlotList<Item>(), new SlotList<Item>()];
        const oracle = [new Set<number>(), new Set<number>(), new Set<number>()];
        for (const { add, id, list } of operations) {
          // The filing number is the list's number: each item is in each list at most once.
          if (add && !oracle[list].has(id)) {
            lists[list].add(items[id], list);
            oracle[list].add(id);
          } else if (!add && oracle[list].has(id)) {
            lists[list].remove(items[id], list);
            oracle[list].delete(id);
          }
        }
        lists.forEach((list, index) => {
          expect(ids(list)).toEqual([...oracle[index]].sort((a, b) => a - b));
          list.items.forEach((item, slot) => expect(item.slots[index]).toBe(slot));
        });
      }),
    );
  });
});
