/** Argument checks both store implementations run before touching data, so they reject the same input with the same errors. */
import {
  isWritableField,
  SERVICE_ENTRY_FIELD,
  serviceEntryId,
  StoreError,
  type ServiceEntryChange,
  type ServiceEntryDiff,
} from './contract.js';

/** Throws `StoreError('invalid-argument')` for a diff the contract does not allow. */
export function checkDiff(diff: ServiceEntryDiff): void {
  for (const field of Object.keys(diff.set)) {
    if (!isWritableField(field)) throw new StoreError('invalid-argument', `field ${JSON.stringify(field)} is not writable (only 'se', 'ep:...', 'dr:...' and 'sib:...')`);
  }
  for (const field of diff.delete) {
    if (!isWritableField(field) || field === SERVICE_ENTRY_FIELD) {
      throw new StoreError('invalid-argument', `field ${JSON.stringify(field)} cannot be deleted (delete the ServiceEntry to remove 'se')`);
    }
    if (Object.hasOwn(diff.set, field)) throw new StoreError('invalid-argument', `field ${JSON.stringify(field)} is both set and deleted`);
  }
}

/** Throws `StoreError('invalid-argument')` for a batch with a diff the contract does not allow or a ServiceEntry named twice. */
export function checkChanges(changes: readonly ServiceEntryChange[]): void {
  const seen = new Set<string>();
  for (const change of changes) {
    const id = serviceEntryId(change.key);
    if (seen.has(id)) throw new StoreError('invalid-argument', `ServiceEntry ${id} appears twice in one batch`);
    seen.add(id);
    if ('diff' in change) checkDiff(change.diff);
  }
}

export function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new StoreError('invalid-argument', `lease TTL must be a positive integer of milliseconds, got ${ttlMs}`);
}

export function checkHolder(holder: string): void {
  if (holder === '') throw new StoreError('invalid-argument', 'lease holder must be non-empty');
}

export function checkRevision(revision: number): void {
  if (!Number.isSafeInteger(revision) || revision < 0) throw new StoreError('invalid-argument', `revision must be a non-negative integer, got ${revision}`);
}

/** An empty trace is the same as none. */
export function traceOf(options: { readonly trace?: string } | undefined): string {
  return options?.trace ?? '';
}


/** A Sidecar or Gateway is stored as the JSON text of an object; anything else is a caller's mistake. */
export function checkScopeObjectJson(kind: string, json: string): void {
  if (!json.startsWith('{')) throw new StoreError('invalid-argument', `a ${kind} is stored as a JSON object, got ${JSON.stringify(json.slice(0, 40))}`);
}
