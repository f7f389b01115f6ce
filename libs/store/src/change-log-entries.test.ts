import { describe, expect, it } from 'vitest';
import type { ChangeLogEntry } from './contract.js';
import { coalesce, compareStreamIds, parseChangeLogEntry } from './change-log-entries.js';

const A = { namespace: 'ns', name: 'a' };
const B = { namespace: 'ns', name: 'b' };

describe('change-log entries', () => {
  it('parses entries and refuses what is not one', () => {
    expect(parseChangeLogEntry('1-0', { se: 'ns/a', op: 'upsert', rev: '3' })).toEqual({ id: '1-0', serviceEntry: A, op: 'upsert', revision: 3 });
    expect(parseChangeLogEntry('1-0', { se: 'ns/a', op: 'delete', rev: '3', trace: 't' })).toMatchObject({ trace: 't' });
    expect(parseChangeLogEntry('1-0', { se: 'ns/a', op: 'patch', rev: '3' })).toBeNull();
    expect(parseChangeLogEntry('1-0', { se: 'nonsense', op: 'upsert', rev: '3' })).toBeNull();
    expect(parseChangeLogEntry('1-0', { se: 'ns/a', op: 'upsert', rev: 'x' })).toBeNull();
  });

  it('coalesces per ServiceEntry in order of first appearance, taking op and revision from the latest', () => {
    const entries: ChangeLogEntry[] = [
      { id: '1-0', serviceEntry: A, op: 'upsert', revision: 1, trace: 't1' },
      { id: '2-0', serviceEntry: B, op: 'upsert', revision: 2 },
      { id: '3-0', serviceEntry: A, op: 'delete', revision: 3 },
      { id: '4-0', serviceEntry: A, op: 'upsert', revision: 4, trace: 't4' },
    ];
    expect(coalesce(entries)).toEqual([
      { serviceEntry: A, op: 'upsert', revision: 4, ids: ['1-0', '3-0', '4-0'], traces: ['t1', 't4'] },
      { serviceEntry: B, op: 'upsert', revision: 2, ids: ['2-0'], traces: [] },
    ]);
    expect(coalesce([])).toEqual([]);
  });

  it('orders stream ids numerically', () => {
    expect(['10-0', '9-1', '9-10', '9-2'].sort(compareStreamIds)).toEqual(['9-1', '9-2', '9-10', '10-0']);
  });
});

