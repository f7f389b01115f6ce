#!/usr/bin/env node
import { main } from '../dist/run.js';

await main();
