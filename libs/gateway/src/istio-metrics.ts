/**
 * istiod's xDS metrics, under istiod's names and labels (`pilot/pkg/xds/monitoring.go`, docs/istio-behaviour.md#metrics), fed
 * by the ADS server's hooks. Counters get `_total` from the Prometheus exporter.
 *
 * - `pilot_xds{version}`: connected streams by proxy version;
 * - `pilot_xds_pushes{type}`: responses sent, per short type (`cds`, `eds`, `lds`, `rds`);
 * - `pilot_xds_push_time{type}`: from the change reaching the gateway to the response written;
 * - `pilot_proxy_convergence_time`: from the change reaching the gateway to the proxy's ACK, EDS
 *   included (istiod leaves EDS out);
 * - `pilot_total_xds_rejects{type}` and `pilot_xds_{cds,eds,lds,rds}_reject{err}`: NACKs (istiod also
 *   labels the legacy ones with the connection id: one series per proxy, dropped here);
 * - `pilot_xds_expired_nonce{type}`: requests with a stale nonce, ignored;
 * - `skiff_xds_refused{reason}`: clients and requests refused or ignored for a limit or rule.
 *
 * Every label value comes from a bounded set, never verbatim from a client: `type` is one of the
 * four served short types or `other`, `err` a gRPC code name, `version` a version-shaped string from
 * at most `MAX_VERSION_LABELS` distinct values (then `other`).
 */
import type { Meter } from '@opentelemetry/api';
import { ADS_REFUSAL_REASONS, shortTypeName, type AdsCallbacks, type AdsSessionInfo } from '@skiff/ads-server';
import { CONVERGENCE_TIME_BUCKETS_SECONDS, PUSH_TIME_BUCKETS_SECONDS } from '@skiff/runtime';

// istiod's `GetMetricType` (`pkg/model/xds.go`) names these five; every other type is `other`.
const LEGACY_REJECT_TYPES = new Set(['cds', 'eds', 'lds', 'rds', 'sds']);

/** Distinct `version` label values kept; a fleet runs a handful of proxy versions at a time. */
export const MAX_VERSION_LABELS = 32;

/** `1.24.3`, `1.85.0-dev`, `v1.2`: digits and dots first, a short suffix; anything else is not a version. */
const VERSION_SHAPE = /^v?\d{1,4}(\.\d{1,6}){0,3}([-+][0-9A-Za-z.-]{1,24})?$/;

/** The metric form of a type URL (istiod's `GetMetricType`), bounded: unknown types are `other`. */
export function metricTypeOf(typeUrl: string): string {
  const type = shortTypeName(typeUrl);
  return LEGACY_REJECT_TYPES.has(type) ? type : 'other';
}

/** gRPC status code names, as istiod's `codes.Code(n).String()` labels NACKs. */
const GRPC_CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied', 'ResourceExhausted',
  'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
];

export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? 'Unknown';
}

/** Bounds the `version` label: version-shaped values only, at most `MAX_VERSION_LABELS` of them. */
class VersionLabels {
  private readonly seen = new Set<string>();

  of(session: AdsSessionInfo): string {
    const metadata = session.node.metadata['ISTIO_VERSION'];
    const raw = typeof metadata === 'string' && metadata !== '' ? metadata : session.node.userAgentVersion;
    if (raw === '') return 'unknown';
    if (!VERSION_SHAPE.test(raw)) return 'other';
    if (this.seen.has(raw)) return raw;
    if (this.seen.size >= MAX_VERSION_LABELS) return 'other';
    this.seen.add(raw);
    return raw;
  }
}

/** Hooks recording istiod's metrics; `now` is monotonic milliseconds (performance.now by default). */
export function istioXdsCallbacks(meter: Meter, now: () => number = () => performance.now()): AdsCallbacks {
  const connected = meter.createUpDownCounter('pilot_xds', { description: 'Number of endpoints connected to this pilot using XDS' });
  // Counted in a plain map and read by the exporter at collection time: a fan-out sends a response
  // per proxy, and the SDK's `add` hashes its attributes on every call (a few microseconds each, per
  // proxy, in the fan-out profile of docs/BENCHMARKS.md); a scrape reads the four counts once.
  const pushCounts = new Map<string, number>();
  meter
    .createObservableCounter('pilot_xds_pushes', { description: 'Pilot build and send errors for lds, rds, cds and eds' })
    .addCallback((result) => {
      for (const [type, count] of pushCounts) result.observe(count, { type });
    });
  const pushTime = meter.createHistogram('pilot_xds_push_time', {
    description: 'Seconds from a change reaching the gateway to its response being sent, per type',
    unit: 's',
    advice: { explicitBucketBoundaries: [...PUSH_TIME_BUCKETS_SECONDS] },
  });
  const convergence = meter.createHistogram('pilot_proxy_convergence_time', {
    description: 'Seconds from a change reaching the gateway to the proxy acknowledging it (all types, EDS included)',
    unit: 's',
    advice: { explicitBucketBoundaries: [...CONVERGENCE_TIME_BUCKETS_SECONDS] },
  });
  const rejects = meter.createCounter('pilot_total_xds_rejects', { description: 'Total number of XDS responses from pilot rejected by proxy' });
  const legacyRejects = new Map(
    [...LEGACY_REJECT_TYPES].map((type) => [type, meter.createCounter(`pilot_xds_${type}_reject`, { description: `Pilot rejected ${type.toUpperCase()} configs` })]),
  );
  const expiredNonce = meter.createCounter('pilot_xds_expired_nonce', { description: 'Total number of XDS requests with an expired nonce' });
  const refused = meter.createCounter('skiff_xds_refused', {
    description: 'ADS clients and requests refused or ignored for a limit or rule, by reason (connections, streams_per_connection, message_size, names_per_request, request_rate, unknown_type, missing_node, invalid_node, identity, debug_unauthenticated, debug_permission)',
  });
  // Every reason is exported from the start at 0, so alerts can use rate() from the first refusal.
  for (const reason of ADS_REFUSAL_REASONS) refused.add(0, { reason });
  const versions = new VersionLabels();
  /** The version label each identified stream was counted under, so its disconnect subtracts the same one. */
  const countedAs = new Map<string, string>();
  /** Per stream and type, the last response carrying a change: its nonce and when the change reached the gateway. */
  const changeStarts = new Map<string, Map<string, { nonce: string; since: number }>>();

  return {
    // istiod counts a connection once its node is known (`addCon` after `initConnection`) and
    // uncounts it with the same version (`removeCon`); a stream refused before that is never counted.
    onStreamIdentified(session) {
      const version = versions.of(session);
      countedAs.set(session.id, version);
      connected.add(1, { version });
    },
    onStreamClosed(session) {
      const version = countedAs.get(session.id);
      if (version !== undefined) {
        countedAs.delete(session.id);
        connected.add(-1, { version });
      }
      changeStarts.delete(session.id);
    },
    onRefused(_session, refusal) {
      refused.add(1, { reason: refusal.reason });
    },
    onRequest(_session, request) {
      if (request.kind === 'stale') expiredNonce.add(1, { type: metricTypeOf(request.typeUrl) });
    },
    onResponse(session, response) {
      const type = metricTypeOf(response.typeUrl);
      pushCounts.set(type, (pushCounts.get(type) ?? 0) + 1);
      if (response.changeSince === undefined) return;
      pushTime.record(Math.max(now() - response.changeSince, 0) / 1000, { type });
      let starts = changeStarts.get(session.id);
      if (starts === undefined) {
        starts = new Map();
        changeStarts.set(session.id, starts);
      }
      // A newer response replaces an unacknowledged one: the proxy converges on the newer one.
      const previous = starts.get(response.typeUrl);
      starts.set(response.typeUrl, { nonce: response.nonce, since: Math.min(previous?.since ?? response.changeSince, response.changeSince) });
    },
    onAck(session, ack) {
      const starts = changeStarts.get(session.id);
      const pending = starts?.get(ack.typeUrl);
      if (pending === undefined || pending.nonce !== ack.nonce) return;
      starts?.delete(ack.typeUrl);
      convergence.record(Math.max(now() - pending.since, 0) / 1000);
    },
    onNack(session, nack) {
      const type = metricTypeOf(nack.typeUrl);
      rejects.add(1, { type });
      legacyRejects.get(type)?.add(1, { err: grpcCodeName(nack.code) });
      changeStarts.get(session.id)?.delete(nack.typeUrl);
    },
  };
}
