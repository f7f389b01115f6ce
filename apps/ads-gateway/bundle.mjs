/** Bundles skiff-gateway after `tsc -b` into `dist/skiff-gateway.cjs` and its code cache, which `bin/skiff-gateway.js` loads (`scripts/bundle-app.mjs` `bundleService`). */
import { bundleService } from '../../scripts/bundle-app.mjs';

await bundleService(import.meta.url, 'skiff-gateway');
