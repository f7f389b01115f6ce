/**
 * Bundles the all-in-one after `tsc -b` into `dist/skiff.cjs` and its code cache, which `bin/skiff.js`
 * loads (`scripts/bundle-app.mjs` `bundleService`): importing its ES modules took 0.67 s of every
 * start, the bundle 0.13 s from its cache (docs/BENCHMARKS.md, "Start-up of the services").
 */
import { bundleService } from '../../scripts/bundle-app.mjs';

await bundleService(import.meta.url, 'skiff');
