#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

// V8 optimizes a function with TurboFan once it has run through its interrupt budget (67,584 bytes
// of bytecode by default in Node 20's V8 11.3). A `translate` run is over in a few hundred
// milliseconds, and the functions that get hot in it (protobuf-es's descriptor boot, the JSON
// writer) were optimized on background threads that compete with the run on a small machine: at
// 100 ServiceEntries / 1,000 WorkloadEntries it took 360 instead of 280 ms of CPU, for no gain in
// wall time. Four times the budget leaves the short runs in the baseline tiers while a long run
// (50,000 WorkloadEntries) still optimizes what it spends seconds in (docs/BENCHMARKS.md, "CLI
// start-up"). The flag is read whenever a function gets its feedback, so it applies to everything
// the bundle, imported after it, defines.
setFlagsFromString('--interrupt-budget=270336');

const { run } = await import('../dist/skiffctl.js');
process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
