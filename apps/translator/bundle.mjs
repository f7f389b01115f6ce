/** Bundles skiff-translator after `tsc -b` into `dist/skiff-translator.cjs` and its code cache, which `bin/skiff-translator.js` loads (`scripts/bundle-app.mjs` `bundleService`). */
import { bundleService } from '../../scripts/bundle-app.mjs';

await bundleService(import.meta.url, 'skiff-translator');
