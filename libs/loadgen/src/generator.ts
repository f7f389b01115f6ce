/**
 * The load generator: N simulated proxies against one ADS server, in the spirit of Istio's
 * pilot-load (`istio/tools` `perf/load`).
 *
 * Streams share HTTP/2 connections: `streamsPerConnection` streams (default 100) ride one channel
 * (`channel.ts`: Node's HTTP/2 client by default, or grpc-js's), multiplexed over one connection. That keeps the client cheap (a connection,
 * its socket and its HTTP/2 session cost far more than a stream), so one process can simulate ten
 * thousand proxies on a small machine. Real sidecars each open their own connection, which costs the
 * server a socket and an HTTP/2 session per proxy on top of the stream: `streamsPerConnection: 1`
 * reproduces that, at a higher cost for the generator too.
 */
import { releaseDecodedChunks } from '@skiff/ads-server';
import { silentLogger, type BackoffOptions, type Logger, type Runner } from '@skiff/runtime';
import type { AdsChannel, Transport } from './channel.js';
import { GrpcJsAdsChannel } from './grpc-js-channel.js';
import { Http2AdsChannel } from './http2-channel.js';
import { simulatedNode, type ProxyFlavor } from './node.js';
import type { ProxyPlan } from './plan.js';
import { LoadCounters, SimulatedProxy } from './proxy.js';
import { ArrivalRecorder } from './recorder.js';
import { FingerprintCache } from './response.js';
import { epochNow } from './stats.js';
import { buildSummary, type LoadSummary } from './summary.js';

export interface LoadGeneratorOptions {
  /** The ADS server, `host:port` (or, with the grpc-js transport, any gRPC target). */
  readonly target: string;
  /** How the streams reach the server (`channel.ts`). Default `http2`. */
  readonly transport?: Transport;
  readonly plans: readonly ProxyPlan[];
  readonly flavor: ProxyFlavor;
  /** Incremental (`DeltaAggregatedResources`) instead of state of the world. */
  readonly delta: boolean;
  /** Streams per HTTP/2 connection; 1 gives every proxy its own connection. Default 100. */
  readonly streamsPerConnection?: number;
  /** Streams opened per second; 0 opens them all at once. Default 0. */
  readonly connectRate?: number;
  /** `user_agent_version` of the simulated proxies. */
  readonly version?: string;
  readonly logger?: Logger;
  readonly reconnect?: BackoffOptions;
}

/** What the generator is doing right now. */
export interface LoadStatus {
  readonly proxies: number;
  readonly connections: number;
  readonly streamsStarted: number;
  readonly streamsOpen: number;
  /** Proxies that got their first response of every type they asked for. */
  readonly ready: number;
  /** Epoch ms when the last proxy became ready; null before. */
  readonly allReadyAt: number | null;
  readonly reconnects: number;
  readonly acks: number;
  /** New resource versions received, all proxies counted. */
  readonly arrivals: number;
}

const DEFAULT_STREAMS_PER_CONNECTION = 100;
const ENVOY_HTTP2_WINDOW_BYTES = 256 * 1024 * 1024;
/** Pacing tick when `connectRate` is set. */
const PACE_TICK_MS = 10;
/** Streams opened per event-loop turn when not paced, so responses are read while the rest open. */
const UNPACED_BATCH = 200;

export class LoadGenerator implements Runner {
  readonly name = 'loadgen';
  readonly recorder: ArrivalRecorder;
  readonly counters = new LoadCounters();
  private readonly versions = new FingerprintCache();
  private readonly options: LoadGeneratorOptions;
  private readonly logger: Logger;
  private readonly channels: AdsChannel[] = [];
  private readonly proxies: SimulatedProxy[] = [];
  private readonly readyWaiters = new Set<() => void>();
  private deferred: (() => void)[] = [];
  private ready = 0;
  private startedAt: number | undefined;
  private allReadyAt: number | undefined;
  private stoppedAt: number | undefined;
  private pacer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: LoadGeneratorOptions) {
    if (options.plans.length === 0) throw new Error('no proxies to simulate');
    const perConnection = options.streamsPerConnection ?? DEFAULT_STREAMS_PER_CONNECTION;
    if (!Number.isInteger(perConnection) || perConnection < 1) throw new Error(`streams per connection must be a positive integer, got ${perConnection}`);
    if (!(options.connectRate === undefined || options.connectRate >= 0)) throw new Error(`the connect rate must not be negative, got ${options.connectRate}`);
    this.options = options;
    this.logger = options.logger ?? silentLogger();
    this.recorder = new ArrivalRecorder(options.plans.length);
    const transport = options.transport ?? 'http2';
    // grpc-js's decoder would otherwise keep each stream's last response (a whole CDS) until the next.
    if (transport === 'grpc-js') releaseDecodedChunks();
    const connections = Math.ceil(options.plans.length / perConnection);
    for (let i = 0; i < connections; i++) {
      // Envoy's HTTP/2 windows (`initial_stream_window_size` and `initial_connection_window_size` default
      // to 256 MiB, envoy/config/core/v3/protocol.proto): with HTTP/2's 64 KiB default, a hundred streams
      // sharing a connection would drain their initial responses one window at a time, and the server
      // would hold them meanwhile, which no real sidecar makes it do.
      this.channels.push(transport === 'http2' ? new Http2AdsChannel(options.target, ENVOY_HTTP2_WINDOW_BYTES) : new GrpcJsAdsChannel(options.target, ENVOY_HTTP2_WINDOW_BYTES));
    }
    for (const plan of options.plans) {
      this.proxies.push(
        new SimulatedProxy({
          plan,
          flavor: options.flavor,
          delta: options.delta,
          node: simulatedNode({ index: plan.index, namespace: plan.namespace, flavor: options.flavor, version: options.version ?? '0.0.0' }),
          // Round robin, so each connection carries proxies of every group.
          channel: this.channels[plan.index % connections]!,
          recorder: this.recorder,
          versions: this.versions,
          counters: this.counters,
          onReady: () => this.proxyReady(),
          defer: (task) => this.defer(task),
          ...(options.reconnect === undefined ? {} : { reconnect: options.reconnect }),
        }),
      );
    }
  }

  /** Opens the streams (paced by `connectRate`); resolves once every stream has been opened. Once only. */
  async start(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.startedAt !== undefined) throw new Error('the streams are already open');
    this.startedAt = epochNow();
    const rate = this.options.connectRate ?? 0;
    this.logger.info({ target: this.options.target, transport: this.options.transport ?? 'http2', proxies: this.proxies.length, connections: this.channels.length, flavor: this.options.flavor, delta: this.options.delta, rate }, 'opening streams');
    let next = 0;
    if (rate === 0) {
      while (next < this.proxies.length && !this.closed) {
        const end = Math.min(next + UNPACED_BATCH, this.proxies.length);
        for (; next < end; next++) this.proxies[next]!.open();
        await new Promise((resolve) => setImmediate(resolve));
      }
      return;
    }
    await new Promise<void>((resolve) => {
      const begin = performance.now();
      const tick = (): void => {
        const due = Math.min(this.proxies.length, Math.floor(((performance.now() - begin) / 1000) * rate) + 1);
        for (; next < due && !this.closed; next++) this.proxies[next]!.open();
        if (next >= this.proxies.length || this.closed) {
          this.pacer = undefined;
          resolve();
        } else {
          this.pacer = setTimeout(tick, PACE_TICK_MS);
        }
      };
      tick();
    });
  }

  /** Resolves true once every proxy is ready, or false after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.ready === this.proxies.length) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        resolve(this.ready === this.proxies.length);
      };
      const timer = setTimeout(done, timeoutMs);
      this.readyWaiters.add(done);
    });
  }

  /** Ends every stream and closes the connections; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stoppedAt = epochNow();
    clearTimeout(this.pacer);
    for (const proxy of this.proxies) proxy.close();
    this.recorder.cancelWaits();
    for (const done of [...this.readyWaiters]) done();
    // Give the cancellations a turn to reach the sockets before the channels go.
    await new Promise((resolve) => setImmediate(resolve));
    for (const channel of this.channels) channel.close();
    this.logger.info({ streams: this.proxies.length }, 'streams closed');
  }

  status(): LoadStatus {
    const counters = this.counters;
    return {
      proxies: this.proxies.length,
      connections: this.channels.length,
      streamsStarted: counters.streamsStarted,
      streamsOpen: counters.streamsOpen,
      ready: this.ready,
      allReadyAt: this.allReadyAt ?? null,
      reconnects: counters.reconnects,
      acks: counters.acks,
      arrivals: this.recorder.size,
    };
  }

  /** Counts, readiness times and the fan-out spread of versions pushed after every proxy was ready. */
  summary(): LoadSummary {
    return buildSummary({
      target: this.options.target,
      flavor: this.options.flavor,
      delta: this.options.delta,
      proxies: this.proxies,
      connections: this.channels.length,
      counters: this.counters,
      recorder: this.recorder,
      startedAt: this.startedAt,
      allReadyAt: this.allReadyAt,
      endedAt: this.stoppedAt ?? epochNow(),
    });
  }

  /** Queues `task` for the end of this event-loop turn (`setImmediate` runs after the turn's I/O callbacks). */
  private defer(task: () => void): void {
    this.deferred.push(task);
    if (this.deferred.length === 1) setImmediate(() => this.runDeferred());
  }

  private runDeferred(): void {
    const tasks = this.deferred;
    this.deferred = [];
    for (const task of tasks) task();
  }

  private proxyReady(): void {
    this.ready++;
    if (this.ready === this.proxies.length) {
      this.allReadyAt = epochNow();
      this.logger.info({ proxies: this.ready, ms: Math.round(this.allReadyAt - (this.startedAt ?? this.allReadyAt)) }, 'every proxy is ready');
      for (const done of [...this.readyWaiters]) done();
    }
  }
}
