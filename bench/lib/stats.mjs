/** Timing and summary statistics for the benchmark (wall clock, `process.hrtime`, in milliseconds). */

export function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Runs `fn` and returns `[result, elapsedMs]`. */
export function timed(fn) {
  const start = nowMs();
  const result = fn();
  return [result, nowMs() - start];
}

/** Nearest-rank percentile (`p` in 0..100) of unsorted samples. */
export function percentile(samples, p) {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(samples) {
  return percentile(samples, 50);
}

export function mean(samples) {
  return samples.length === 0 ? Number.NaN : samples.reduce((sum, x) => sum + x, 0) / samples.length;
}

/** `{ count, medianMs, p99Ms, meanMs, minMs, maxMs }` of per-operation samples in milliseconds. */
export function summarize(samples) {
  return {
    count: samples.length,
    medianMs: median(samples),
    p99Ms: percentile(samples, 99),
    meanMs: mean(samples),
    minMs: samples.reduce((min, x) => Math.min(min, x), Number.POSITIVE_INFINITY),
    maxMs: samples.reduce((max, x) => Math.max(max, x), Number.NEGATIVE_INFINITY),
  };
}
