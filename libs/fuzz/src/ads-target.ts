/**
 * Fuzz target: ADS request decoding and one stream's session handling. A stream is a sequence of
 * requests (raw bytes as they arrive off the wire, decoded as grpc-js's deserializer decodes them, or
 * structured requests with hostile values), handled by a real `AdsSession` over real resources and
 * the real `SubscriptionIndex`, with time moving between requests. Nothing may throw; every response
 * must decode; a stream may only end with a status the server documents; the state a stream keeps
 * stays within what the server serves, its subscriptions within what the client asked for and the
 * per-request cap, and what it keeps of a client's NACKs and versions is bounded.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { AdsSession, DEFAULT_ADS_LIMITS, encodeResponse, PUSH_ORDER, StaticResourceProvider, SubscriptionIndex, type AdsMode, type SessionHost } from '@skiff/ads-server';
import { TypeUrl } from '@skiff/protos';
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import { silentLogger } from '@skiff/runtime';
import fc from 'fast-check';

/** One step of a stream: a request (raw bytes or structured) then some time passing. */
export interface AdsStep {
  readonly raw?: Uint8Array;
  readonly request?: MessageInitShape<typeof DiscoveryRequestSchema> & MessageInitShape<typeof DeltaDiscoveryRequestSchema>;
  readonly advanceMs: number;
}

export interface AdsFuzzInput {
  readonly mode: AdsMode;
  readonly steps: readonly AdsStep[];
}

/** The statuses a stream may end with (session.ts `GrpcStatus`), INTERNAL excepted: that one is a bug. */
const DOCUMENTED_END_CODES = new Set([3, 7, 8, 14, 16]);
const DEBUG_TYPE = 'istio.io/debug/syncz';

/** Time that moves only when told; timers run in due order. */
class StepClock {
  private time = 0;
  private readonly timers = new Set<{ due: number; run: () => void }>();

  now(): number {
    return this.time;
  }

  epochMs(): number {
    return 1_700_000_000_000 + this.time;
  }

  setTimer(run: () => void, delayMs: number): unknown {
    const timer = { due: this.time + Math.max(0, delayMs), run };
    this.timers.add(timer);
    return timer;
  }

  clearTimer(timer: unknown): void {
    this.timers.delete(timer as { due: number; run: () => void });
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (let guard = 0; guard < 10_000; guard += 1) {
      const next = [...this.timers].filter((timer) => timer.due <= end).sort((a, b) => a.due - b.due)[0];
      if (next === undefined) break;
      this.timers.delete(next);
      this.time = Math.max(this.time, next.due);
      next.run();
    }
    this.time = end;
  }
}

/** Runs one stream; throws only for a Skiff bug. */
export function runAdsSession(input: AdsFuzzInput, provider: StaticResourceProvider): void {
  const clock = new StepClock();
  const index = new SubscriptionIndex<AdsSession>();
  const written: Uint8Array[] = [];
  let ended: { code: number; details: string } | undefined;
  let nonce = 0;
  const host: SessionHost = {
    provider,
    clock,
    logger: silentLogger(),
    callbacks: {},
    settings: { debounceMs: () => 5, readyWaitMs: 1_000, controlPlaneIdentifier: '', limits: { ...DEFAULT_ADS_LIMITS, maxNamesPerRequest: 50 }, identityCheck: true },
    typeHandler: (typeUrl) => (typeUrl === DEBUG_TYPE ? () => [] : undefined),
    servesType: (typeUrl) => PUSH_ORDER.includes(typeUrl) || typeUrl === DEBUG_TYPE,
    nextNonce: () => `n${++nonce}`,
    subscriptionChanged: (session, typeUrl, change) => index.update(session, typeUrl, change),
    awaitReady: () => {},
  };
  const session = new AdsSession({
    id: '1',
    mode: input.mode,
    peer: '127.0.0.1:5000',
    host,
    sink: {
      write: (response) => {
        written.push(encodeResponse(response));
        return true;
      },
      end: (status) => {
        ended = status;
      },
    },
  });
  // Names the client has asked for so far (delta subscriptions accumulate; a state-of-the-world
  // request replaces the type's set, capped by maxNamesPerRequest).
  let requestedNames = 0;
  for (const step of input.steps) {
    if (input.mode === 'sotw') {
      const request = step.raw !== undefined ? decodeOrSkip(() => fromBinary(DiscoveryRequestSchema, step.raw!)) : create(DiscoveryRequestSchema, step.request ?? {});
      if (request !== undefined) session.handleSotwRequest(request);
    } else {
      const request = step.raw !== undefined ? decodeOrSkip(() => fromBinary(DeltaDiscoveryRequestSchema, step.raw!)) : create(DeltaDiscoveryRequestSchema, step.request ?? {});
      if (request !== undefined) {
        requestedNames += request.resourceNamesSubscribe.length;
        session.handleDeltaRequest(request);
      }
    }
    clock.advance(step.advanceMs);
    for (const bytes of written.splice(0)) {
      if (input.mode === 'sotw') fromBinary(DiscoveryResponseSchema, bytes);
      else fromBinary(DeltaDiscoveryResponseSchema, bytes);
    }
    if (ended !== undefined && !DOCUMENTED_END_CODES.has(ended.code)) throw new Error(`the stream ended with an undocumented status ${ended.code}: ${ended.details}`);
    for (const type of session.status().types) {
      if (!host.servesType(type.typeUrl)) throw new Error(`the stream keeps state for a type it does not serve: ${type.typeUrl.slice(0, 80)}`);
      const namesBound = input.mode === 'sotw' ? host.settings.limits.maxNamesPerRequest : requestedNames;
      if (type.names.length > namesBound) throw new Error(`the stream keeps ${type.names.length} subscribed names of ${type.typeUrl}, more than the ${namesBound} it may`);
      // What a client sends back is kept bounded (the marker of a cut adds a few dozen bytes).
      const nack = type.lastNack;
      if (nack !== undefined && Buffer.byteLength(nack.message) > host.settings.limits.maxErrorDetailBytes + 64) throw new Error(`a NACK message of ${Buffer.byteLength(nack.message)} bytes is kept`);
      for (const version of [type.ackedVersion, nack?.versionInfo]) {
        if (version !== undefined && Buffer.byteLength(version) > 256 + 64) throw new Error(`a client version of ${Buffer.byteLength(version)} bytes is kept`);
      }
    }
  }
  session.close();
}

/** grpc-js ends the stream when its deserializer throws; such a message never reaches the session. */
function decodeOrSkip<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch {
    return undefined;
  }
}

const typeUrl = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration) },
  { weight: 1, arbitrary: fc.constantFrom(DEBUG_TYPE, '', 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret') },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);
const resourceName = fc.oneof(fc.constantFrom('*', 'a', 'b', 'outbound|8080||example-app', 'example-app:8080', ''), fc.string({ maxLength: 12 }));
const names = fc.array(resourceName, { maxLength: 8 });
const nonce = fc.oneof(fc.constantFrom('', 'n1', 'n2', 'n3', 'n4', 'n5'), fc.string({ maxLength: 6 }));
const node = fc.option(
  fc.record({
    id: fc.oneof(fc.constantFrom('sidecar~10.0.0.1~app-1.shaoyu-test~shaoyu-test.svc.cluster.local', 'x', '', 'router~::1~gw.ns~ns.svc.cluster.local'), fc.string({ maxLength: 20 })),
    metadata: fc.option(fc.dictionary(fc.constantFrom('NAMESPACE', 'GENERATOR', 'ROUTER_MODE', 'ISTIO_VERSION', 'SERVICE_ACCOUNT'), fc.oneof(fc.constantFrom('grpc', 'sni-dnat', 'shaoyu-test', ''), fc.string({ maxLength: 10 })), { maxKeys: 3 }), { nil: undefined }),
  }),
  { nil: undefined, freq: 4 },
);
const request = fc.record({
  typeUrl,
  node,
  versionInfo: fc.oneof({ weight: 8, arbitrary: fc.oneof(fc.constant(''), fc.string({ maxLength: 8 })) }, { weight: 1, arbitrary: fc.string({ minLength: 200, maxLength: 2_000 }) }),
  resourceNames: names,
  responseNonce: nonce,
  errorDetail: fc.option(
    fc.record({
      code: fc.integer({ min: 0, max: 20 }),
      message: fc.oneof({ weight: 8, arbitrary: fc.string({ maxLength: 50 }) }, { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1_000, maxLength: 6_000 }) }),
    }),
    { nil: undefined, freq: 5 },
  ),
  resourceNamesSubscribe: names,
  resourceNamesUnsubscribe: names,
  initialResourceVersions: fc.dictionary(resourceName, fc.string({ maxLength: 6 }), { maxKeys: 3 }),
});
const step: fc.Arbitrary<AdsStep> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ request, advanceMs: fc.integer({ min: 0, max: 50 }) }) },
  { weight: 1, arbitrary: fc.record({ raw: fc.uint8Array({ maxLength: 200 }), advanceMs: fc.integer({ min: 0, max: 50 }) }) },
  {
    weight: 1,
    // A valid request with some bytes flipped: gets past the first field and into the nested ones.
    arbitrary: fc.tuple(request, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.integer({ min: 0, max: 50 })).map(([init, flips, advanceMs]) => {
      const raw = toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, init));
      for (const [at, value] of flips) if (raw.length > 0) raw[at % raw.length] = value;
      return { raw, advanceMs };
    }),
  },
);

export const adsInputArbitrary: fc.Arbitrary<AdsFuzzInput> = fc.record({ mode: fc.constantFrom<AdsMode>('sotw', 'delta'), steps: fc.array(step, { minLength: 1, maxLength: 25 }) });

/** Resources the stream is served: the ones the config pipeline builds from the repository's example. */
export function providerWith(resources: readonly { typeUrl: string; name: string; bytes: Uint8Array }[]): StaticResourceProvider {
  const provider = new StaticResourceProvider();
  provider.upsert(resources);
  return provider;
}

/** At most this many requests are read from libFuzzer's bytes: a stream, not a flood. */
const MAX_BYTE_STEPS = 64;

/**
 * A stream from the bytes libFuzzer mutates (Jazzer.js): the first byte's low bit picks the mode (0
 * state of the world, 1 delta), then each request is a 16-bit big-endian time to advance after it in
 * ms, a 16-bit big-endian length and that many bytes of request as they come off the wire (cut short
 * at the end of the input). Every step is raw, so the decoding of requests is fuzzed too.
 */
export function adsInputFromBytes(bytes: Uint8Array): AdsFuzzInput {
  const mode: AdsMode = ((bytes[0] ?? 0) & 1) === 0 ? 'sotw' : 'delta';
  const steps: AdsStep[] = [];
  let at = 1;
  while (at + 4 <= bytes.length && steps.length < MAX_BYTE_STEPS) {
    const advanceMs = (bytes[at]! << 8) | bytes[at + 1]!;
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const raw = bytes.slice(at + 4, Math.min(bytes.length, at + 4 + length));
    steps.push({ raw, advanceMs });
    at += 4 + raw.length;
  }
  return { mode, steps };
}

/** The bytes `adsInputFromBytes` reads back as `input` (structured requests encoded as the mode's request). */
export function adsInputToBytes(input: AdsFuzzInput): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(input.mode === 'sotw' ? 0 : 1)];
  for (const step of input.steps.slice(0, MAX_BYTE_STEPS)) {
    const raw =
      step.raw ??
      (input.mode === 'sotw' ? toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, step.request ?? {})) : toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, step.request ?? {})));
    if (raw.length > 0xffff) throw new Error(`an ADS request of ${raw.length} bytes does not fit the 16-bit length of the byte form`);
    const advanceMs = Math.min(0xffff, Math.max(0, Math.trunc(step.advanceMs)));
    parts.push(Uint8Array.of(advanceMs >> 8, advanceMs & 0xff, raw.length >> 8, raw.length & 0xff), raw);
  }
  return new Uint8Array(Buffer.concat(parts));
}
