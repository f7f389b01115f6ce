/**
 * Drives an `AdsSession` without a transport (go-control-plane's `mockStream` idea): a manual
 * clock, a sink that records decoded responses and can report a full buffer, and a host wired to a
 * `SubscriptionIndex` and a `StaticResourceProvider`, as the gRPC server wires them.
 */
import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { silentLogger } from '@skiff/runtime';
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
  type DeltaDiscoveryResponse,
  type DiscoveryResponse,
} from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import { resourceNameOf } from '@skiff/xds-conformance';
import type { Clock } from '../clock.js';
import type { AdsCallbacks, AdsMode, TypeHandler } from '../events.js';
import { DEFAULT_ADS_LIMITS, type AdsLimits } from '../limits.js';
import type { ResourceProvider } from '../provider.js';
import { PUSH_ORDER } from '../resource-types.js';
import { AdsSession, deliverChanges, type SessionHost } from '../session.js';
import { StaticResourceProvider } from '../static-provider.js';
import { SubscriptionIndex } from '../subscription-index.js';
import { encodeResponse, type OutgoingResponse } from '../wire.js';

/** The node a harness stream's first request carries when the test names none. */
export const HARNESS_NODE = { id: 'sidecar~127.0.0.1~harness.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default' } };

interface ManualTimer {
  readonly due: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/** Time moves only when a test says so. */
export class ManualClock implements Clock {
  private time = 1_000;
  private timers: ManualTimer[] = [];

  now(): number {
    return this.time;
  }

  epochMs(): number {
    return 1_700_000_000_000 + this.time;
  }

  setTimer(callback: () => void, delayMs: number): unknown {
    const timer: ManualTimer = { due: this.time + Math.max(0, delayMs), callback, cancelled: false };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(timer: unknown): void {
    (timer as ManualTimer).cancelled = true;
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.timers = this.timers.filter((timer) => !timer.cancelled);
      const next = this.timers.filter((timer) => timer.due <= end).sort((a, b) => a.due - b.due)[0];
      if (next === undefined) break;
      this.time = Math.max(this.time, next.due);
      next.cancelled = true;
      next.callback();
    }
    this.time = end;
  }

  /** Pending timers, for checking that a closed session left none. */
  get pendingTimers(): number {
    return this.timers.filter((timer) => !timer.cancelled).length;
  }
}

/** A decoded state-of-the-world response with its resource names. */
export interface RecordedSotw {
  readonly message: DiscoveryResponse;
  readonly names: string[];
}

/** A decoded delta response with its resource names and removals. */
export interface RecordedDelta {
  readonly message: DeltaDiscoveryResponse;
  readonly names: string[];
  readonly removed: string[];
}

export class FakeSink {
  readonly written: Uint8Array[] = [];
  ended: { code: number; details: string } | undefined;
  /** What `write` returns: false simulates a full transport buffer. */
  accepting = true;

  write(response: OutgoingResponse): boolean {
    this.written.push(encodeResponse(response));
    return this.accepting;
  }

  end(status: { code: number; details: string }): void {
    this.ended = status;
  }

  /** Responses written since the last call, decoded. */
  takeSotw(): RecordedSotw[] {
    return this.written.splice(0).map((bytes) => {
      const message = fromBinary(DiscoveryResponseSchema, bytes);
      return { message, names: message.resources.map((any) => resourceNameOf(message.typeUrl, any.value) ?? any.typeUrl) };
    });
  }

  takeDelta(): RecordedDelta[] {
    return this.written.splice(0).map((bytes) => {
      const message = fromBinary(DeltaDiscoveryResponseSchema, bytes);
      return { message, names: message.resources.map((resource) => resource.name), removed: [...message.removedResources] };
    });
  }
}

export interface HarnessOptions {
  readonly mode?: AdsMode;
  readonly provider?: ResourceProvider;
  readonly debounceMs?: number;
  readonly debounceMsByType?: Readonly<Record<string, number>>;
  readonly readyWaitMs?: number;
  readonly callbacks?: AdsCallbacks;
  readonly typeHandlers?: ReadonlyMap<string, TypeHandler>;
  readonly limits?: Partial<AdsLimits>;
  readonly servedTypeUrls?: readonly string[];
  readonly identities?: readonly string[];
}

/** One session on a fake transport, with what the server would give it. */
export class SessionHarness {
  readonly clock = new ManualClock();
  readonly sink = new FakeSink();
  readonly index = new SubscriptionIndex<AdsSession>();
  readonly provider: ResourceProvider;
  readonly session: AdsSession;
  /** Sessions that asked to be retried when the provider becomes ready. */
  readonly waiting = new Set<AdsSession>();
  private nonce = 0;

  constructor(options: HarnessOptions = {}) {
    this.provider = options.provider ?? new StaticResourceProvider();
    const byType = options.debounceMsByType ?? {};
    const host: SessionHost = {
      provider: this.provider,
      clock: this.clock,
      logger: silentLogger(),
      callbacks: options.callbacks ?? {},
      settings: {
        debounceMs: (typeUrl) => byType[typeUrl] ?? options.debounceMs ?? 10,
        readyWaitMs: options.readyWaitMs ?? 5_000,
        controlPlaneIdentifier: '',
        limits: { ...DEFAULT_ADS_LIMITS, ...options.limits },
        identityCheck: true,
      },
      typeHandler: (typeUrl) => options.typeHandlers?.get(typeUrl),
      servesType: (typeUrl) => PUSH_ORDER.includes(typeUrl) || (options.typeHandlers?.has(typeUrl) ?? false) || (options.servedTypeUrls?.includes(typeUrl) ?? false),
      nextNonce: () => `n${++this.nonce}`,
      subscriptionChanged: (session, typeUrl, change) => this.index.update(session, typeUrl, change),
      awaitReady: (session) => this.waiting.add(session),
    };
    this.session = new AdsSession({ id: '1', mode: options.mode ?? 'sotw', peer: 'ipv4:127.0.0.1:5000', sink: this.sink, host, identities: options.identities ?? [] });
    // Deliver provider changes the way AdsServer does: through the index.
    this.provider.onChange((changes) => deliverChanges(this.index, changes));
  }

  /** Sends a state-of-the-world request; the stream's first one carries `HARNESS_NODE` unless it names a node (`node: undefined` for none). */
  sotw(init: MessageInitShape<typeof DiscoveryRequestSchema>): void {
    this.session.handleSotwRequest(create(DiscoveryRequestSchema, this.withNode(init)));
  }

  delta(init: MessageInitShape<typeof DeltaDiscoveryRequestSchema>): void {
    this.session.handleDeltaRequest(create(DeltaDiscoveryRequestSchema, this.withNode(init)));
  }

  private withNode<T extends { node?: unknown }>(init: T): T {
    if (this.session.profile !== undefined || 'node' in init) return init;
    return { ...init, node: HARNESS_NODE };
  }

  /** Runs what is due now (responses to requests). */
  tick(): void {
    this.clock.advance(0);
  }
}
