#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { loadBundle } from '@skiff/runtime/bundle-loader.js';

const { main } = loadBundle(fileURLToPath(new URL('../dist/skiff.cjs', import.meta.url))).exports;
await main();
