/**
 * Whether V8's heap limit leaves a service room in its container. Node sizes the heap from the
 * container's memory limit (`process.constrainedMemory()`), at about half of it: 524 MiB under 1 GiB.
 * A watcher of 200,000 WorkloadEntries or a gateway of 20,000 streams outgrows that and stops with
 * "JavaScript heap out of memory" while half of the container's memory is unused (docs/install.md,
 * "Memory limits and V8's heap"). The Helm chart sets `--max-old-space-size`; a container started
 * another way is told at start.
 */

/** Above this, `process.constrainedMemory()` means "no limit" (libuv reports the cgroup's maximum, 2^63 or more). */
const NO_LIMIT_ABOVE = 2 ** 52;
/** Node's default share is about half; a limit at or above this share leaves room whoever set it. */
const DEFAULT_SHARE_BELOW = 0.6;

const mib = (bytes: number): number => Math.round(bytes / 1048576);

/** Whether Node was given a heap limit, on its command line or in `NODE_OPTIONS`. */
export function heapLimitChosen(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env['NODE_OPTIONS'] ?? ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => /^--max[-_]old[-_]space[-_]size(=|$)/.test(arg));
}

/**
 * The warning to log when the heap limit (`v8.getHeapStatistics().heap_size_limit`) is Node's default
 * share of the container's memory limit (`process.constrainedMemory()`), or undefined when there is
 * no such limit or the heap limit was chosen (`chosen`: `heapLimitChosen()`).
 */
export function heapLimitWarning(heapLimitBytes: number, containerLimitBytes: number | undefined, chosen = false): string | undefined {
  if (chosen || containerLimitBytes === undefined || containerLimitBytes <= 0 || containerLimitBytes >= NO_LIMIT_ABOVE) return undefined;
  if (heapLimitBytes >= DEFAULT_SHARE_BELOW * containerLimitBytes) return undefined;
  return (
    `V8's heap limit is ${mib(heapLimitBytes)} MiB of this container's ${mib(containerLimitBytes)} MiB memory limit (Node's default share): ` +
    `a large mesh can run out of heap while memory is left; start Node with --max-old-space-size=${mib(0.75 * containerLimitBytes)} ` +
    `(NODE_OPTIONS; the Helm chart sets it from heapLimitPercent)`
  );
}
