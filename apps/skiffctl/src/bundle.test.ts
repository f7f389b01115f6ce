import { fileURLToPath } from 'node:url';
import { bundleLoadsFromCodeCache } from '@skiff/testing';
import { describe, expect, it } from 'vitest';

describe('the built bundle', () => {
  it('has a code cache that a process started as the bin accepts', async () => {
    expect(await bundleLoadsFromCodeCache(fileURLToPath(new URL('../dist/skiffctl.cjs', import.meta.url)), { tuneV8ForShortRuns: true })).toBe(true);
  });
});
