/** Types of `watcher.mjs` for the test that runs the watcher benchmark's quick mode (the benchmark itself is plain ESM). */
import type { BenchTarget } from './run.d.mts';

export interface ColdSyncRow {
  readonly serviceEntries: number;
  readonly workloads: number;
  readonly repetitions: number;
  readonly applyMs: number;
  readonly convergeMs: number;
  readonly fieldEncodingMs: number;
  readonly waitMs: number;
  readonly totalMs: number;
  readonly cpuMs: number;
  readonly applyPerObjectUs: number;
  readonly hashesWritten: number;
  readonly endpointFields: number;
}

export interface UpdateThroughputRow {
  readonly serviceEntries: number;
  readonly workloads: number;
  readonly updates: number;
  readonly moves: number;
  readonly chunkSize: number;
  readonly deliveredMs: number;
  readonly totalMs: number;
  readonly cpuMs: number;
  readonly cpuUsPerUpdate: number;
  readonly updatesPerCpuSecond: number;
  readonly updatesPerSecond: number;
  readonly hashWrites: number;
  /** Store calls (script calls) that carried those writes, several ServiceEntries each. */
  readonly storeCalls: number;
  readonly hashWritesPerSecond: number;
  readonly serviceEntryChanges: number;
  readonly lagMedianMs: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
  readonly hashesVerified: number;
}

export interface CommandRow {
  readonly serviceEntries: number;
  readonly workloads: number;
  readonly scenario: string;
  readonly selectingServiceEntries: number;
  readonly updates: number;
  readonly hashWritesPerUpdate: number;
  readonly commandsPerUpdate: number;
  readonly commandsPerServiceEntry: number;
  readonly scriptCallsPerUpdate: number;
  readonly serverUsecPerUpdate: number;
  readonly latencyMedianMs: number;
  readonly latencyP99Ms: number;
  /** Calls per update, by command name (lower case, as INFO commandstats names them). */
  readonly perCommand: Readonly<Record<string, number>>;
}

export interface CommandLoadRow {
  readonly serviceEntries: number;
  readonly workloads: number;
  readonly applyMs: number;
  readonly convergeMs: number;
  readonly totalMs: number;
  readonly cpuMs: number;
  readonly waitMs: number;
  readonly redisScriptMs: number;
  readonly redisCommands: number;
}

export interface WatcherBenchResults {
  readonly name: 'watcher';
  readonly date: string;
  readonly mode: 'full' | 'quick';
  readonly machine: { nproc: number; cpuModel: string; node: string; platform: string; memoryGiB: number; loadAverageAtStart: number; loadAverageAtEnd: number };
  readonly redis: { readonly url: string; readonly version: string };
  readonly namespace: string;
  readonly coldSync: readonly ColdSyncRow[];
  readonly updates: UpdateThroughputRow;
  readonly commands: {
    readonly server: { readonly isolated: boolean; readonly version: string };
    readonly rows: readonly CommandRow[];
    readonly loads: readonly CommandLoadRow[];
  };
  readonly targets: readonly BenchTarget[];
}

export function main(
  argv: readonly string[],
  log?: (line: string) => void,
  env?: Readonly<Record<string, string | undefined>>,
): Promise<{ results: WatcherBenchResults; resultsFile: string; docsFile: string | undefined }>;
