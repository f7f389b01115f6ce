#!/usr/bin/env node
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv.slice(2));
// grpc-js-xds keeps its xDS channel after the client closes: exit once the output is written.
if (process.stdout.writableLength === 0) process.exit();
else process.stdout.once('drain', () => process.exit());
