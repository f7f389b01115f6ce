/** Types of `run.mjs` for the test that runs the benchmark's quick mode (the benchmark itself is plain ESM). */
export interface BenchTarget {
  readonly id: string;
  readonly description: string;
  readonly target: string;
  readonly measured: number | null;
  readonly display: string;
  /** null when the run did not measure the target's sizes (quick mode). */
  readonly met: boolean | null;
  readonly missedBy: string;
}

export interface UpdateRow {
  readonly serviceEntries: number;
  readonly workloads: number;
  readonly workloadsPerServiceEntry: number;
  readonly updates: number;
  readonly affectedPerUpdate: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly updatesPerSecond: number;
  /** Median of each measurement round (rounds alternate between the meshes of a series). */
  readonly roundMedianMs: readonly number[];
  /** 1-minute load average when the measurement ended. */
  readonly loadAverage: number;
  readonly references?: Readonly<
    Record<'doubleLoop' | 'namespaceScan', { updates: number; medianMs: number; p99Ms: number; meanMs: number; slowdown: number }>
  >;
}

export interface ColdBuildRow {
  readonly serviceEntries: number;
  readonly workloads: number;
  readonly repetitions: number;
  readonly indexMs: number;
  readonly translateMs: number;
  readonly encodeMs: number;
  readonly totalMs: number;
  readonly minTotalMs: number;
  readonly clusters: number;
  readonly loadAssignments: number;
  readonly bytes: number;
  readonly loadAverage: number;
}

export interface BenchResults {
  readonly name: string;
  readonly date: string;
  readonly mode: 'full' | 'quick';
  readonly machine: {
    nproc: number;
    cpuModel: string;
    node: string;
    platform: string;
    memoryGiB: number;
    loadAverageAtStart: number;
    loadAverageAtEnd: number;
  };
  readonly coldBuild: readonly ColdBuildRow[];
  readonly updates: {
    readonly constantSelection: readonly UpdateRow[];
    readonly fixedServiceEntries: readonly UpdateRow[];
  };
  readonly targets: readonly BenchTarget[];
}

export function main(
  argv: readonly string[],
  log?: (line: string) => void,
): { results: BenchResults; resultsFile: string; docsFile: string | undefined };
