/** Every binary runs a bundle of its app (`scripts/bundle-app.mjs`) with a code cache its bin accepts. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleLoadsFromCodeCache } from '@skiff/testing';
import { REPO_ROOT } from './services.js';

const BUNDLES = [
  // skiffctl tunes V8 for its short runs before it loads the bundle (bundle-loader.ts), and its cache is made so.
  { app: 'skiffctl', bundle: 'skiffctl', tuneV8ForShortRuns: true },
  { app: 'skiff', bundle: 'skiff', tuneV8ForShortRuns: false },
  { app: 'watcher', bundle: 'skiff-watcher', tuneV8ForShortRuns: false },
  { app: 'translator', bundle: 'skiff-translator', tuneV8ForShortRuns: false },
  { app: 'ads-gateway', bundle: 'skiff-gateway', tuneV8ForShortRuns: false },
  { app: 'loadgen', bundle: 'skiff-loadgen', tuneV8ForShortRuns: false },
];

describe('bundled binaries', () => {
  it.each(BUNDLES)('$bundle compiles from the code cache the build made, in a process started as its bin is', async ({ app, bundle, tuneV8ForShortRuns }) => {
    expect(await bundleLoadsFromCodeCache(join(REPO_ROOT, 'apps', app, 'dist', `${bundle}.cjs`), { tuneV8ForShortRuns })).toBe(true);
  });
});
