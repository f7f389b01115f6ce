// `npm run parity`: Skiff against the istiod reference (built with Go on first use), live.
import { defineConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

export default defineConfig({
  ...shared,
  test: {
    ...shared.test,
    include: ['src/**/*.parity.ts'],
    // The first run builds the reference and istioctl with Go (about 15 min cold on 2 cores).
    testTimeout: 30 * 60_000,
    hookTimeout: 60 * 60_000,
    fileParallelism: false,
  },
});
