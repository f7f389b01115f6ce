/** Change-log entries: reading one from its stream fields, ordering stream ids, and coalescing a batch per ServiceEntry, the same for both stores. */
import type { ObjectKey } from '@skiff/model';
import {
  ChangeLogFields,
  parseServiceEntryId,
  type ChangeLogEntry,
  type ChangeOp,
  type CoalescedChange,
} from './contract.js';

/** Parses the flat field list of a stream entry; null if it is not a change-log entry. */
export function parseChangeLogEntry(id: string, fields: Readonly<Record<string, string>>): ChangeLogEntry | null {
  const se = fields[ChangeLogFields.serviceEntry];
  const op = fields[ChangeLogFields.op];
  const revision = Number(fields[ChangeLogFields.revision]);
  if (se === undefined || (op !== 'upsert' && op !== 'delete') || !Number.isSafeInteger(revision)) return null;
  let serviceEntry: ObjectKey;
  try {
    serviceEntry = parseServiceEntryId(se);
  } catch {
    return null;
  }
  const trace = fields[ChangeLogFields.trace];
  return trace === undefined || trace === '' ? { id, serviceEntry, op, revision } : { id, serviceEntry, op, revision, trace };
}

/**
 * Groups entries per ServiceEntry in order of first appearance; the entry with the highest revision
 * (the latest write) gives the group's `op` and `revision`.
 */
export function coalesce(entries: readonly ChangeLogEntry[]): CoalescedChange[] {
  const groups = new Map<string, { serviceEntry: ObjectKey; op: ChangeOp; revision: number; ids: string[]; traces: string[] }>();
  for (const entry of entries) {
    const id = `${entry.serviceEntry.namespace}/${entry.serviceEntry.name}`;
    let group = groups.get(id);
    if (group === undefined) {
      group = { serviceEntry: entry.serviceEntry, op: entry.op, revision: entry.revision, ids: [], traces: [] };
      groups.set(id, group);
    }
    group.ids.push(entry.id);
    if (entry.trace !== undefined) group.traces.push(entry.trace);
    if (entry.revision >= group.revision) {
      group.op = entry.op;
      group.revision = entry.revision;
    }
  }
  return [...groups.values()];
}

/** Stream ids `<ms>-<n>` in numeric order. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('-').map(Number);
  const [bm = 0, bn = 0] = b.split('-').map(Number);
  return am - bm || an - bn;
}

