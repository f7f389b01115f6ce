/**
 * istiod's feature flags that change what it builds for ServiceEntries, as Skiff settings. Each flag
 * keeps istiod's environment variable name and the default of the istiod version Skiff is checked
 * against (docs/istio-compatibility.md), so a user of another istiod version sets the same
 * variables on Skiff's translator (or the all-in-one, or `skiffctl translate`) to match it. Values
 * are read as istiod reads them (`pkg/env`: Go's `strconv.ParseBool`, `time.ParseDuration`,
 * unsigned integers); a value istiod would not parse is refused with the variable's name, where
 * istiod would fall back to the default silently.
 */
import { parseGoDuration } from '@skiff/model';
import { DEFAULT_MESH_SETTINGS, type MeshSettings } from './mesh.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface IstiodFlag {
  /** The environment variable, as istiod names it. */
  readonly name: string;
  /** istiod's default, as text. */
  readonly defaultValue: string;
  /** Where istiod defines it. */
  readonly source: string;
  /** What it changes in Skiff's output. */
  readonly effect: string;
  /** Applies a value (already checked) to the settings. */
  apply(settings: Mutable<MeshSettings>, value: string): void;
}

/** Go's `strconv.ParseBool`. */
function parseGoBool(name: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new Error(`${name}=${value}: not a boolean (true, false, 1, 0, t, f)`);
}

function parseDurationMs(name: string, value: string): number {
  const nanos = parseGoDuration(value);
  if (nanos === undefined || nanos < 0n) throw new Error(`${name}=${value}: not a duration (for example 100ms, 1s, 1m30s)`);
  return Number(nanos / 1_000_000n);
}

function parseUint32(name: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 4_294_967_295) throw new Error(`${name}=${value}: not an unsigned 32-bit integer`);
  return Number(value);
}

export const ISTIOD_FLAGS: readonly IstiodFlag[] = [
  {
    name: 'DISABLE_TRACK_REMAINING_CB_METRICS',
    defaultValue: 'true',
    source: 'pilot/pkg/features/pilot.go',
    effect: 'false sets `track_remaining` on every cluster circuit breaker threshold',
    apply: (s, v) => {
      s.trackRemainingCircuitBreakers = !parseGoBool('DISABLE_TRACK_REMAINING_CB_METRICS', v);
    },
  },
  {
    name: 'PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS',
    defaultValue: 'true',
    source: 'pilot/pkg/features/experimental.go',
    effect: 'true turns Envoy panic mode off on every cluster (`common_lb_config.healthy_panic_threshold: 0`) and keeps unhealthy endpoints in assignments, marked UNHEALTHY',
    apply: (s, v) => {
      s.autoSendUnhealthyEndpoints = parseGoBool('PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS', v);
    },
  },
  {
    name: 'PILOT_SEND_UNHEALTHY_ENDPOINTS',
    defaultValue: 'false',
    source: 'pilot/pkg/features/experimental.go',
    effect: 'true does the same as PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS for every service, whatever that flag says',
    apply: (s, v) => {
      s.sendUnhealthyEndpoints = parseGoBool('PILOT_SEND_UNHEALTHY_ENDPOINTS', v);
    },
  },
  {
    name: 'PILOT_DNS_JITTER_DURATION',
    defaultValue: '100ms',
    source: 'pilot/pkg/features/pilot.go',
    effect: '`dns_jitter` of STRICT_DNS and LOGICAL_DNS clusters',
    apply: (s, v) => {
      s.dnsJitterMs = parseDurationMs('PILOT_DNS_JITTER_DURATION', v);
    },
  },
  {
    name: 'PILOT_DNS_CARES_UDP_MAX_QUERIES',
    defaultValue: '100',
    source: 'pilot/pkg/features/pilot.go',
    effect: '`udp_max_queries` of the c-ares resolver of DNS clusters',
    apply: (s, v) => {
      s.dnsResolverUdpMaxQueries = parseUint32('PILOT_DNS_CARES_UDP_MAX_QUERIES', v);
    },
  },
  {
    name: 'PILOT_ENABLE_METADATA_EXCHANGE',
    defaultValue: 'true',
    source: 'pilot/pkg/features/telemetry.go',
    effect: 'the `istio.metadata_exchange` cluster filter and the `istio-peer-exchange` ALPN of Istio mTLS',
    apply: (s, v) => {
      s.metadataExchange = parseGoBool('PILOT_ENABLE_METADATA_EXCHANGE', v);
    },
  },
  {
    name: 'PILOT_ENABLE_ABSOLUTE_FQDN_VHOST_DOMAIN',
    defaultValue: 'true',
    source: 'pilot/pkg/features/pilot.go',
    effect: 'the absolute forms `HOST.` and `HOST.:PORT` among the domains of proxyless gRPC routes',
    apply: (s, v) => {
      s.absoluteFqdnVhostDomain = parseGoBool('PILOT_ENABLE_ABSOLUTE_FQDN_VHOST_DOMAIN', v);
    },
  },
];

/**
 * `base` with every flag set in `env` applied (unset or empty variables keep the base value, as
 * istiod keeps its default). Throws on a value istiod could not parse, naming the variable.
 */
export function meshSettingsFromEnvironment(env: Readonly<Record<string, string | undefined>>, base: MeshSettings = DEFAULT_MESH_SETTINGS): MeshSettings {
  const settings: Mutable<MeshSettings> = { ...base };
  for (const flag of ISTIOD_FLAGS) {
    const value = env[flag.name];
    if (value !== undefined && value !== '') flag.apply(settings, value);
  }
  return settings;
}
