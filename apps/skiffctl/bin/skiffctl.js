#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { loadBundle, tuneV8ForShortRuns } from '@skiff/runtime/bundle-loader.js';

// Before the bundle compiles: the tuning applies to what is compiled after it (bundle-loader.ts).
tuneV8ForShortRuns();
const { run } = loadBundle(fileURLToPath(new URL('../dist/skiffctl.cjs', import.meta.url))).exports;
process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
