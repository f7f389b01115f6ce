/**
 * Bundles the all-in-one after `tsc -b` into `dist/skiff.cjs` and its code cache
 * (`scripts/bundle-app.mjs`), which `bin/skiff.js` loads: importing the ES modules took 0.67 s of
 * every start, the bundle 0.13 s from its cache (docs/BENCHMARKS.md, "Start-up of the all-in-one").
 * The Kubernetes sources stay out of it, imported only when `--kubeconfig` asks for them, as from the
 * ES modules (about half a second of CPU that a directory source does not need). A server runs for
 * long, so V8 keeps its defaults, and the cache holds what loading the bundle compiles.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleApp } from '../../scripts/bundle-app.mjs';

await bundleApp({
  dist: join(dirname(fileURLToPath(import.meta.url)), 'dist'),
  prefix: 'skiff',
  external: ['@skiff/config-sources/kubernetes', '@kubernetes/client-node'],
  tuneV8ForShortRuns: false,
  warmUp: '',
});
