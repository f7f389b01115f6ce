/** Bundles skiff-watcher after `tsc -b` into `dist/skiff-watcher.cjs` and its code cache, which `bin/skiff-watcher.js` loads (`scripts/bundle-app.mjs` `bundleService`). */
import { bundleService } from '../../scripts/bundle-app.mjs';

await bundleService(import.meta.url, 'skiff-watcher');
