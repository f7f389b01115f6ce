/** Types of `istiod.mjs` for the test that runs its quick mode (the benchmark itself is plain ESM). */

export interface IstiodServerMeasure {
  /** Medians of the samples, where there are several. */
  readonly readyMs: number;
  readonly coldMs: number;
  /** Every cold start's time (absent in results written before cold starts were repeated: one run). */
  readonly coldSamplesMs?: readonly number[];
  readonly readySamplesMs?: readonly number[];
  readonly rssMiB: number;
  readonly changes: {
    readonly count: number;
    readonly deliveries: number;
    readonly missing: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    /** How long handing each change to the server took (for Kubernetes, the PATCH's answer); absent in results from before it was timed. */
    readonly handOff?: { readonly p50Ms: number; readonly p99Ms: number };
  };
}

export interface IstiodResults {
  readonly name: 'istiod';
  readonly mode: 'full' | 'quick';
  readonly date: string;
  readonly machine: { readonly nproc: number; readonly cpuModel: string; readonly node: string; readonly [other: string]: unknown };
  readonly istioVersion: string;
  /** How cold starts were measured (absent in results from before it was recorded). */
  readonly coldMethod?: string;
  readonly plan: { readonly [field: string]: unknown };
  readonly rows: readonly {
    readonly serviceEntries: number;
    readonly workloads: number;
    /** The run that measured the row, when it differs from `date` (`--merge`). */
    readonly date?: string;
    readonly serviceEntriesBuilt: number;
    readonly workloadsBuilt: number;
    readonly istiod: IstiodServerMeasure;
    readonly skiff: IstiodServerMeasure;
    /** Skiff reading a Kubernetes API server, with the time the mesh took to be created through the API (absent in results from before it was measured, and with --no-kubernetes). */
    readonly skiffKube?: IstiodServerMeasure & { readonly seedMs: number };
  }[];
  readonly cli: readonly {
    readonly serviceEntries: number;
    readonly workloads: number;
    readonly date?: string;
    /** Runs of each command; `istiodMs` and `skiffMs` are their medians (absent in results written before runs were repeated: one run). */
    readonly runs?: number;
    readonly istiodMs: number;
    readonly skiffMs: number;
    readonly samples?: { readonly istiodMs: readonly number[]; readonly skiffMs: readonly number[] };
  }[];
}

/** `current` with the rows of `earlier` whose sizes it did not measure, each dated by its run; throws for another machine or istiod. */
export function mergeResults<T extends IstiodResults>(earlier: T, current: T): T;

/** The Markdown section `main` writes into the docs. */
export function renderSection(results: IstiodResults): string;

export function main(argv: readonly string[], log?: (line: string) => void): Promise<{ results: IstiodResults; resultsFile: string; docsFile: string | undefined }>;
