/**
 * Bundles skiffctl after `tsc -b` into `dist/skiffctl.cjs` and its code cache (`scripts/bundle-app.mjs`),
 * which `bin/skiffctl.js` loads: every command compiles from the same cache, `--version` included. A
 * CLI run is over in a few hundred milliseconds, so the bin tunes V8 for short runs.
 *
 * The code cache holds the bytecode of the functions compiled by the time it is made, so it is made
 * after a `translate` and a `validate` of the seed example.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleApp } from '../../scripts/bundle-app.mjs';

const APP = dirname(fileURLToPath(import.meta.url));
const SEED = join(APP, '..', '..', 'examples', 'seed', 'example-app.yaml');

await bundleApp({
  dist: join(APP, 'dist'),
  prefix: 'skiffctl',
  tuneV8ForShortRuns: true,
  warmUp: `
import { Readable, Writable } from 'node:stream';
const io = () => ({ stdout: new Writable({ write: (_chunk, _encoding, done) => done() }), stderr: process.stderr, stdin: Readable.from([]) });
for (const command of ['translate', 'validate']) {
  const code = await bundle.exports.run([command, '-f', ${JSON.stringify(SEED)}], io());
  if (code !== 0) throw new Error(\`skiffctl \${command} of the seed example exited \${code}\`);
}
`,
});
