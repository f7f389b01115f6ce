/**
 * Builders for normalized entries used by this package's tests (excluded from the build). Every field
 * gets a plain default so a test spells out only what it is about.
 */
import type { NormalizedEndpoint, NormalizedServiceEntry } from '@skiff/model';
import { normalizedServiceEntry, normalizedWorkload } from '@skiff/testing';

export function buildServiceEntry(init: Pick<NormalizedServiceEntry, 'namespace' | 'name'> & Partial<NormalizedServiceEntry>): NormalizedServiceEntry {
  return normalizedServiceEntry({ workloadSelector: {}, ...init });
}

export function buildWorkload(init: { namespace: string; name: string } & Partial<Omit<NormalizedEndpoint, 'source' | 'namespace'>>): NormalizedEndpoint {
  return normalizedWorkload(init);
}
