#!/usr/bin/env node
import { runBundledMain } from '@skiff/runtime/bundle-loader.js';

await runBundledMain(import.meta.url, 'skiff-loadgen');
