/**
 * istiod's xDS metrics, under istiod's names and labels (`pilot/pkg/xds/monitoring.go`, docs/istio-behaviour.md#metrics), fed
 * by the ADS server's hooks. Counters get `_total` from the Prometheus exporter.
 *
 * - `pilot_xds{version}`: connected streams by proxy version;
 * - `pilot_xds_pushes{type}`: responses sent, per short type (`cds`, `eds`, `lds`, `rds`);
 * - `pilot_xds_push_time{type}`: from the change reaching the gateway to the response written;
 * - `pilot_proxy_convergence_time`: from the change reaching the gateway to the proxy's ACK, EDS
 *   included (istiod leaves EDS out);
 * - `pilot_total_xds_rejects{type}` and `pilot_xds_{cds,eds,lds,rds}_reject{node,err}`: NACKs;
 * - `pilot_xds_expired_nonce{type}`: requests with a stale nonce, ignored.
 */
import type { Meter } from '@opentelemetry/api';
import { shortTypeName, type AdsCallbacks, type AdsSessionInfo } from '@skiff/ads-server';
import { CONVERGENCE_TIME_BUCKETS_SECONDS, PUSH_TIME_BUCKETS_SECONDS } from '@skiff/runtime';

const LEGACY_REJECT_TYPES = new Set(['cds', 'eds', 'lds', 'rds']);

function versionOf(session: AdsSessionInfo): string {
  const version = session.node.metadata['ISTIO_VERSION'];
  return typeof version === 'string' && version !== '' ? version : session.node.userAgentVersion || 'unknown';
}

/** Hooks recording istiod's metrics; `now` is monotonic milliseconds (performance.now by default). */
export function istioXdsCallbacks(meter: Meter, now: () => number = () => performance.now()): AdsCallbacks {
  const connected = meter.createUpDownCounter('pilot_xds', { description: 'Number of endpoints connected to this pilot using XDS' });
  const pushes = meter.createCounter('pilot_xds_pushes', { description: 'Pilot build and send errors for lds, rds, cds and eds' });
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
  /** Per stream and type, the last response carrying a change: its nonce and when the change reached the gateway. */
  const changeStarts = new Map<string, Map<string, { nonce: string; since: number }>>();

  return {
    onStreamOpen(session) {
      connected.add(1, { version: versionOf(session) });
    },
    onStreamClosed(session) {
      connected.add(-1, { version: versionOf(session) });
      changeStarts.delete(session.id);
    },
    onRequest(_session, request) {
      if (request.kind === 'stale') expiredNonce.add(1, { type: shortTypeName(request.typeUrl) });
    },
    onResponse(session, response) {
      const type = shortTypeName(response.typeUrl);
      pushes.add(1, { type });
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
      const type = shortTypeName(nack.typeUrl);
      rejects.add(1, { type });
      legacyRejects.get(type)?.add(1, { node: session.node.id, err: nack.message });
      changeStarts.get(session.id)?.delete(nack.typeUrl);
    },
  };
}
