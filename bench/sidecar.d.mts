/** Types of `sidecar.mjs` for the test that runs the Sidecar benchmark's quick mode (the benchmark itself is plain ESM). */
export interface Summary {
  readonly count: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

export interface SidecarScenario {
  readonly proxies: number;
  readonly connectMs: number;
  /** False when the load generator's proxies did not all connect in time (then nothing was measured). */
  readonly ready: boolean;
  readonly rounds: readonly { readonly firstMs: number; readonly medianMs: number; readonly lastMs: number; readonly missing: number }[];
  readonly lastMs: Summary;
  readonly medianMs: Summary;
  readonly missing: number;
  readonly translatorBuilds: number;
  readonly translatorBuildsBefore: number;
}

export interface SidecarBenchResults {
  readonly kind: 'sidecar';
  readonly quick: boolean;
  readonly at: string;
  readonly plan: { readonly servicesPerNamespace: number; readonly proxies: readonly number[]; readonly rounds: number };
  readonly scenarios: readonly SidecarScenario[];
}

export function main(
  argv: readonly string[],
  log?: (line: string) => void,
  env?: Readonly<Record<string, string | undefined>>,
): Promise<{ results: SidecarBenchResults; resultsFile: string; docsFile: string | undefined }>;
