/** Types of `soak.mjs` for the test that runs the soak's quick mode (the soak itself is plain ESM). */

export interface SoakSample {
  readonly atSeconds: number;
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly externalMiB: number;
  readonly streams: number;
  readonly pushes: number;
  readonly refused: number;
}

export interface SoakWindow {
  readonly fromSeconds: number;
  readonly toSeconds: number;
  readonly samples: number;
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
}

export interface SoakResults {
  readonly name: 'soak';
  readonly mode: 'full' | 'quick';
  readonly plan: { readonly streams: number; readonly durationMs: number; readonly stormEveryMs: number; readonly changesPerSecond: number; readonly flatWithin: number };
  readonly load: { readonly serviceEntries: number };
  readonly durationMs: number;
  readonly changes: number;
  readonly changesPerSecond: number;
  readonly storms: readonly { readonly atSeconds: number; readonly reconnectMs: number }[];
  readonly samples: readonly SoakSample[];
  readonly settled: readonly { readonly atSeconds: number; readonly rssMiB: number; readonly heapUsedMiB: number }[];
  readonly flatness: { readonly first: SoakWindow; readonly last: SoakWindow; readonly rssGrowth: number; readonly heapGrowth: number; readonly flat: boolean };
  readonly loadgen: readonly { readonly connections: number; readonly streams: { readonly ready: number } }[];
}

export function main(
  argv: readonly string[],
  log?: (line: string) => void,
  env?: Readonly<Record<string, string | undefined>>,
): Promise<{ results: SoakResults; resultsFile: string; docsFile: string | undefined }>;
