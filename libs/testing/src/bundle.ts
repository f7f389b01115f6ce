/** Checks on an app's built bundle (`scripts/bundle-app.mjs`). */
import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

/**
 * Whether a Node started as the app's bin is (no `NODE_OPTIONS`; V8 tuned for short runs when the bin
 * tunes it) compiles the bundle at `bundlePath` from its code cache. What the build wrote must be what
 * a run of the bin accepts: a cache made with other V8 flags than the bin's is rejected, silently slower.
 */
export async function bundleLoadsFromCodeCache(bundlePath: string, options: { readonly tuneV8ForShortRuns: boolean }): Promise<boolean> {
  const script = `import { loadBundle, tuneV8ForShortRuns } from '@skiff/runtime/bundle-loader.js';
${options.tuneV8ForShortRuns ? 'tuneV8ForShortRuns();' : ''}
process.stdout.write(String(loadBundle(${JSON.stringify(bundlePath)}).fromCodeCache));`;
  const { NODE_OPTIONS: _nodeOptions, ...environment } = process.env;
  // Run beside the bundle, so the loader resolves as from the app's bin.
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: environment, cwd: dirname(bundlePath) });
  return stdout === 'true';
}
