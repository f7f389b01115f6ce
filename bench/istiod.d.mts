/** Types of `istiod.mjs` for the test that runs its quick mode (the benchmark itself is plain ESM). */

export interface IstiodServerMeasure {
  readonly readyMs: number;
  readonly coldMs: number;
  readonly rssMiB: number;
  readonly changes: { readonly count: number; readonly deliveries: number; readonly missing: number; readonly p50Ms: number; readonly p99Ms: number };
}

export interface IstiodResults {
  readonly name: 'istiod';
  readonly mode: 'full' | 'quick';
  readonly istioVersion: string;
  readonly rows: readonly {
    readonly serviceEntriesBuilt: number;
    readonly workloadsBuilt: number;
    readonly istiod: IstiodServerMeasure;
    readonly skiff: IstiodServerMeasure;
  }[];
  readonly cli: readonly { readonly serviceEntries: number; readonly workloads: number; readonly istiodMs: number; readonly skiffMs: number }[];
}

export function main(argv: readonly string[], log?: (line: string) => void): Promise<{ results: IstiodResults; resultsFile: string; docsFile: string | undefined }>;
