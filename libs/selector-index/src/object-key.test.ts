import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ObjectKeyMap, objectKeyId } from './object-key.js';

describe('ObjectKeyMap', () => {
  it('keeps the same name in two namespaces apart and counts each key once', () => {
    const map = new ObjectKeyMap<number>();
    map.set({ namespace: 'a', name: 'x' }, 1);
    map.set({ namespace: 'b', name: 'x' }, 2);
    map.set({ namespace: 'a', name: 'x' }, 3);
    expect(map.size).toBe(2);
    expect(map.get({ namespace: 'a', name: 'x' })).toBe(3);
    expect(map.get({ namespace: 'b', name: 'x' })).toBe(2);
    expect(map.get({ namespace: 'c', name: 'x' })).toBeUndefined();
  });

  it('behaves as a map keyed by namespace/name under any sequence of sets and deletes', () => {
    const key = fc.record({ namespace: fc.constantFrom('a', 'b', 'c'), name: fc.constantFrom('x', 'y', 'z') });
    const operation = fc.record({ set: fc.boolean(), key, value: fc.integer() });
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 100 }), (operations) => {
        const map = new ObjectKeyMap<number>();
        const oracle = new Map<string, number>();
        for (const { set, key: objectKey, value } of operations) {
          if (set) {
            map.set(objectKey, value);
            oracle.set(objectKeyId(objectKey), value);
          } else {
            expect(map.delete(objectKey)).toBe(oracle.delete(objectKeyId(objectKey)));
          }
          expect(map.size).toBe(oracle.size);
        }
        for (const namespace of ['a', 'b', 'c']) {
          for (const name of ['x', 'y', 'z']) expect(map.get({ namespace, name })).toBe(oracle.get(`${namespace}/${name}`));
        }
      }),
    );
  });
});
