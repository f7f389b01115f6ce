/** Types of `gateway.mjs` for the test that runs the gateway benchmark's quick mode (the benchmark itself is plain ESM). */
import type { BenchTarget } from './run.d.mts';

export interface Latency {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** After a full GC: VmRSS, and the JavaScript heap in use and the memory outside it, from the gateway's /metrics (MiB); and the peak RSS (VmHWM) of the phase. */
export interface GatewayMemory {
  readonly rssMiB: number;
  readonly peakRssMiB: number;
  readonly heapUsedMiB: number;
  readonly externalMiB: number;
}

export interface PhaseMemory {
  readonly before: GatewayMemory;
  readonly withStreams: GatewayMemory;
  readonly after: GatewayMemory;
}

/** Mean milliseconds of each service's own histogram over a phase. */
export type StageMeans = Readonly<Record<'watcher' | 'translator' | 'gateway', { readonly count: number; readonly meanMs: number }>>;

/** What the results keep of skiff-loadgen's summary. */
export interface LoadgenFacts {
  readonly connections: number;
  readonly streams: { readonly started: number; readonly open: number; readonly ready: number; readonly reconnects: number; readonly endsByCode: Readonly<Record<string, number>> };
  readonly readyMs: Latency;
  readonly allReadyMs: number | null;
  readonly responses: Readonly<Record<string, number>>;
  readonly newVersions: Readonly<Record<string, number>>;
  readonly bytesReceived: number;
  readonly acks: number;
  readonly pushedVersions: { readonly versions: number; readonly arrivals: number; readonly spreadMs: Latency } | null;
}

export interface SpreadResult {
  readonly proxies: number;
  readonly clustersPerProxy: number;
  readonly changes: number;
  readonly ratePerSecond: number;
  readonly connectMs: number;
  readonly subscribers: number;
  readonly arrivals: number;
  readonly missing: number;
  readonly latencyMs: Latency;
  readonly stages: StageMeans;
  readonly durationMs: number;
  readonly pushes: number;
  readonly pushesPerSecond: number;
  readonly memory: PhaseMemory;
  readonly loadgen: LoadgenFacts;
}

export interface FanoutResult {
  readonly proxies: number;
  readonly processes: number;
  /** Gateway replicas the proxies were split over; CPU and pushes are their sums, memory and stages the first one's. */
  readonly gateways: number;
  readonly changes: number;
  readonly connectMs: number;
  readonly arrivals: number;
  readonly missing: number;
  readonly latencyMs: Latency;
  readonly firstArrivalMs: Latency;
  readonly lastArrivalMs: Latency;
  readonly stages: StageMeans;
  readonly pushes: number;
  readonly pushesPerSecond: number;
  readonly memory: PhaseMemory;
  readonly rssPerStreamKiB: number;
  readonly heapPerStreamKiB: number;
  /** CPU milliseconds per change (`/proc/<pid>/stat`): the gateway's, the load generators' together, and the load average meanwhile. */
  readonly cpu: {
    readonly gatewayMsPerChange: Latency;
    readonly loadgenMsPerChange: Latency;
    readonly gatewayUsPerProxy: number;
    readonly loadAverage: { readonly min: number; readonly max: number };
  };
  readonly loadgen: readonly LoadgenFacts[];
}

export interface GatewayBenchResults {
  readonly name: 'gateway';
  readonly date: string;
  readonly mode: 'full' | 'quick';
  readonly machine: { nproc: number; cpuModel: string; node: string; platform: string; memoryGiB: number; loadAverageAtStart: number; loadAverageAtEnd: number };
  readonly redis: { readonly url: string; readonly version: string };
  readonly plan: unknown;
  readonly load: {
    readonly namespaces: number;
    readonly serviceEntries: number;
    readonly workloads: number;
    readonly gatewayResources: number;
    readonly loadMs: number;
    readonly memory: GatewayMemory;
    /** The allocator environment every service ran with (`imageAllocatorEnv()`). */
    readonly allocator: { readonly LD_PRELOAD: string; readonly MALLOC_CONF: string };
  };
  readonly spread: SpreadResult;
  readonly fanout: FanoutResult;
  readonly fanoutSplit: FanoutResult;
  readonly fanoutReplicas: FanoutResult;
  readonly targets: readonly BenchTarget[];
}

export function main(
  argv: readonly string[],
  log?: (line: string) => void,
  env?: Readonly<Record<string, string | undefined>>,
): Promise<{ results: GatewayBenchResults; resultsFile: string; docsFile: string | undefined }>;

/** The image's jemalloc options (the Dockerfile's `MALLOC_CONF`), which the benchmark gives every service. */
export const IMAGE_MALLOC_CONF: string;
/** The file name of the jemalloc library the image preloads. */
export const JEMALLOC_LIBRARY: string;
/** `LD_PRELOAD` (this machine's jemalloc) and `MALLOC_CONF`, as the benchmark gives every service; throws when jemalloc is not installed. */
export function imageAllocatorEnv(): { readonly LD_PRELOAD: string; readonly MALLOC_CONF: string };
