/**
 * Bundles skiff-loadgen after `tsc -b` into `dist/skiff-loadgen.cjs` and its code cache, which
 * `bin/skiff-loadgen.js` loads (`scripts/bundle-app.mjs` `bundleService`). The benchmarks start it once
 * a server is ready, so its own start-up would count in the server's time to every proxy configured.
 */
import { bundleService } from '../../scripts/bundle-app.mjs';

await bundleService(import.meta.url, 'skiff-loadgen');
