/**
 * One simulated proxy: one ADS stream (state of the world or delta) that asks for clusters the way
 * its flavour does, ACKs every response at once, and records each resource version it receives.
 *
 * - Envoy sidecar: CDS wildcard first; after the first CDS response, EDS for its clusters (Envoy
 *   asks for the endpoints of the EDS clusters CDS gave it; here the cluster names are given, and in
 *   Istio a cluster's EDS service name is the cluster name, docs/istio-behaviour.md#cluster-names).
 * - Proxyless gRPC: CDS for its clusters by name, then EDS for the same names (the grpc-js-xds client
 *   gets there through LDS and RDS first; a load generator starts at CDS).
 *
 * Like Istio's sidecars (`set_node_on_first_message_only`), only a stream's first request carries
 * the node. Subscriptions are encoded with protobuf-es, ACKs from parts encoded once (`request.ts`);
 * responses are read with `response.ts` and never decoded into messages.
 */
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { shortTypeName, WILDCARD } from '@skiff/ads-server';
import { TypeUrl } from '@skiff/protos';
import { NodeSchema, type Node } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import { AggregatedDiscoveryService } from '@skiff/protos/gen/envoy/service/discovery/v3/ads_pb.js';
import { DeltaDiscoveryRequestSchema, DiscoveryRequestSchema } from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import { Backoff, type BackoffOptions } from '@skiff/runtime';
import type { AdsCall, AdsChannel } from './channel.js';
import type { ProxyFlavor } from './node.js';
import type { ProxyPlan } from './plan.js';
import type { ArrivalRecorder } from './recorder.js';
import { DeltaAckEncoder, SotwAckEncoder } from './request.js';
import { readDeltaDiscoveryResponse, readDiscoveryResponse, type FingerprintCache, type ReceivedResponse } from './response.js';
import { epochNow } from './stats.js';

const SERVICE = AggregatedDiscoveryService.typeName;
export const SOTW_METHOD_PATH = `/${SERVICE}/${AggregatedDiscoveryService.method.streamAggregatedResources.name}`;
export const DELTA_METHOD_PATH = `/${SERVICE}/${AggregatedDiscoveryService.method.deltaAggregatedResources.name}`;



/** Counters every proxy of a generator adds to. */
export class LoadCounters {
  streamsStarted = 0;
  streamsOpen = 0;
  reconnects = 0;
  /** Stream ends by gRPC status code, while the generator was running. */
  readonly endsByCode = new Map<number, number>();
  /** Per short type name. */
  readonly responses = new Map<string, number>();
  readonly resources = new Map<string, number>();
  readonly newVersions = new Map<string, number>();
  removed = 0;
  bytesReceived = 0;
  acks = 0;
  /** Responses that could not be read (no ACK possible without their nonce). */
  unreadable = 0;

  add(map: Map<string, number>, key: string, count = 1): void {
    map.set(key, (map.get(key) ?? 0) + count);
  }
}

export interface SimulatedProxyOptions {
  readonly plan: ProxyPlan;
  readonly flavor: ProxyFlavor;
  readonly delta: boolean;
  readonly node: MessageInitShape<typeof NodeSchema>;
  /** The connection the proxy's stream rides. */
  readonly channel: AdsChannel;
  readonly recorder: ArrivalRecorder;
  /** Fingerprints of the state-of-the-world resources every proxy of the generator received. */
  readonly versions: FingerprintCache;
  readonly counters: LoadCounters;
  /** Called once, when the proxy has its first response of every type it asked for. */
  readonly onReady: (proxy: SimulatedProxy) => void;
  /** Runs work after the responses at hand have been read (the generator batches it per event-loop turn). */
  readonly defer: (task: () => void) => void;
  /** Delays before reconnecting a stream the server ended. Default: 1 s growing to 30 s (gRPC's). */
  readonly reconnect?: BackoffOptions;
}

interface TypeState {
  readonly typeUrl: string;
  readonly names: readonly string[];
  readonly wildcard: boolean;
  requested: boolean;
  received: boolean;
  /** Made at the first ACK of the type. */
  sotwAck?: SotwAckEncoder;
  deltaAck?: DeltaAckEncoder;
}

export class SimulatedProxy {
  readonly index: number;
  /** Epoch ms when the first stream was opened. */
  firstStartedAt: number | undefined;
  /** Epoch ms of the first stream's readiness (first response of every requested type). */
  readyAt: number | undefined;
  private readonly options: SimulatedProxyOptions;
  private readonly node: Node;
  private readonly clusters: TypeState;
  private readonly endpoints: TypeState | undefined;
  private readonly backoff: Backoff;
  private call: AdsCall | undefined;
  private nodeSent = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(options: SimulatedProxyOptions) {
    this.options = options;
    this.index = options.plan.index;
    this.node = create(NodeSchema, options.node);
    const names = options.plan.clusters;
    const wildcard = options.flavor === 'envoy';
    this.clusters = { typeUrl: TypeUrl.Cluster, names: wildcard ? [] : names, wildcard, requested: false, received: false };
    this.endpoints = names.length === 0 ? undefined : { typeUrl: TypeUrl.ClusterLoadAssignment, names, wildcard: false, requested: false, received: false };
    this.backoff = new Backoff(options.reconnect ?? {});
    for (const state of this.types()) options.recorder.setSubscription(this.index, state.typeUrl, state.names, state.wildcard);
  }

  /** Opens the stream and asks for clusters. */
  open(): void {
    if (this.closed) return;
    const { channel, delta, counters } = this.options;
    const call: AdsCall = channel.open(delta ? DELTA_METHOD_PATH : SOTW_METHOD_PATH, {
      message: (bytes) => this.received(call, bytes),
      ended: (code) => this.ended(call, code),
    });
    this.call = call;
    this.nodeSent = false;
    for (const state of this.types()) {
      state.requested = false;
      state.received = false;
    }
    this.firstStartedAt ??= epochNow();
    counters.streamsStarted++;
    counters.streamsOpen++;
    this.subscribe(this.clusters);
  }

  /** Ends the stream for good (half-close, then cancel, as a proxy that shuts down). */
  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const call = this.call;
    this.call = undefined;
    call?.close();
  }

  private types(): TypeState[] {
    return this.endpoints === undefined ? [this.clusters] : [this.clusters, this.endpoints];
  }

  private nodeOnce(): Node | undefined {
    if (this.nodeSent) return undefined;
    this.nodeSent = true;
    return this.node;
  }

  /** The initial request of a type: its names (or the wildcard). */
  private subscribe(state: TypeState): void {
    state.requested = true;
    if (this.options.delta) {
      // Delta has no legacy wildcard for a stream that names nothing: Envoy subscribes to `*` explicitly.
      this.sendDelta({ typeUrl: state.typeUrl, resourceNamesSubscribe: state.wildcard ? [WILDCARD] : [...state.names] });
    } else {
      // An empty CDS list is Envoy's (legacy) wildcard request.
      this.sendSotw({ typeUrl: state.typeUrl, resourceNames: [...state.names] });
    }
  }

  private sendSotw(init: MessageInitShape<typeof DiscoveryRequestSchema>): void {
    const request = create(DiscoveryRequestSchema, init);
    const node = this.nodeOnce();
    if (node !== undefined) request.node = node;
    this.call?.write(toBinary(DiscoveryRequestSchema, request));
  }

  private sendDelta(init: MessageInitShape<typeof DeltaDiscoveryRequestSchema>): void {
    const request = create(DeltaDiscoveryRequestSchema, init);
    const node = this.nodeOnce();
    if (node !== undefined) request.node = node;
    this.call?.write(toBinary(DeltaDiscoveryRequestSchema, request));
  }

  private received(call: AdsCall, bytes: Buffer): void {
    const at = epochNow();
    if (call !== this.call) return;
    const { counters, recorder, delta } = this.options;
    counters.bytesReceived += bytes.length;
    let response: ReceivedResponse;
    try {
      response = delta ? readDeltaDiscoveryResponse(bytes) : readDiscoveryResponse(bytes, this.options.versions);
    } catch {
      counters.unreadable++;
      return;
    }
    this.backoff.reset();
    const type = shortTypeName(response.typeUrl);
    counters.add(counters.responses, type);
    counters.add(counters.resources, type, response.resources.length);
    let fresh = 0;
    for (const resource of response.resources) if (recorder.record(this.index, response.typeUrl, resource.name, resource.version, at)) fresh++;
    if (fresh > 0) counters.add(counters.newVersions, type, fresh);
    for (const name of response.removed) recorder.forget(this.index, response.typeUrl, name);
    counters.removed += response.removed.length;
    // The ACK waits for the turn of the event loop to end: the other responses already read from the
    // sockets are timed first. One process plays every proxy, so ACKing inline would make a proxy's
    // arrival time include the ACKs of all proxies served before it, which real proxies, each on its
    // own CPU, do not wait for.
    this.options.defer(() => {
      if (call === this.call) this.acknowledge(response);
    });

    const state = this.stateOf(response.typeUrl);
    if (state === undefined || state.received) return;
    state.received = true;
    if (state === this.clusters && this.endpoints !== undefined && !this.endpoints.requested) this.subscribe(this.endpoints);
    if (this.readyAt === undefined && this.types().every((type) => type.received)) {
      this.readyAt = at;
      this.options.onReady(this);
    }
  }

  /** ACKs with the response's nonce (and, in state of the world, its version and the type's names). */
  private acknowledge(response: ReceivedResponse): void {
    this.options.counters.acks++;
    const state = this.stateOf(response.typeUrl);
    // Only a stream's first request carries the node, and an ACK is never the first.
    this.nodeSent = true;
    if (this.options.delta) {
      const encoder = state?.deltaAck ?? new DeltaAckEncoder(response.typeUrl);
      if (state !== undefined) state.deltaAck = encoder;
      this.call?.write(encoder.encode(response.nonce));
      return;
    }
    const encoder = state?.sotwAck ?? new SotwAckEncoder(response.typeUrl, state?.names ?? []);
    if (state !== undefined) state.sotwAck = encoder;
    this.call?.write(encoder.encode(response.versionInfo, response.nonce));
  }

  private stateOf(typeUrl: string): TypeState | undefined {
    if (typeUrl === TypeUrl.Cluster) return this.clusters;
    if (typeUrl === TypeUrl.ClusterLoadAssignment) return this.endpoints;
    return undefined;
  }

  private ended(call: AdsCall, code: number): void {
    if (call !== this.call && this.call !== undefined) return;
    const { counters } = this.options;
    counters.streamsOpen--;
    if (this.closed) return;
    this.call = undefined;
    counters.endsByCode.set(code, (counters.endsByCode.get(code) ?? 0) + 1);
    // A control plane that ends a stream (shutdown, maximum connection age) expects the proxy back.
    counters.reconnects++;
    this.reconnectTimer = setTimeout(() => this.open(), this.backoff.next());
  }
}
