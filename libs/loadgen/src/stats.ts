/** Small statistics over millisecond samples, for summaries and the benchmark driver. */

/** Count and nearest-rank percentiles of a sample, in milliseconds. */
export interface Distribution {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** The nearest-rank `p`-th percentile (0 < p <= 100) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1]!;
}

/** The distribution of `values` (any order); every field NaN when there are none, except `count`. */
export function distributionOf(values: ArrayLike<number>): Distribution {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
  };
}

/**
 * The wall clock in milliseconds, the time base of every arrival: it is the one clock two processes
 * of a machine read alike. `performance.timeOrigin + performance.now()` would give sub-millisecond
 * resolution, but it follows the monotonic clock from the process's start, so two processes started
 * minutes apart can disagree by as much as the wall clock was slewed in between.
 */
export function epochNow(): number {
  return Date.now();
}
