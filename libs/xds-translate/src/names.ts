/**
 * Resource names as istiod spells them, so Envoy stats, `istioctl proxy-config` habits and EDS
 * requests line up with Istio's (`pilot/pkg/model/service.go`: `BuildSubsetKey`,
 * `BuildDNSSrvSubsetKey`, `ParseSubsetKey`, `IsDNSSrvSubsetKey`).
 */

/** Traffic direction prefix of a cluster key. */
export type TrafficDirection = 'outbound' | 'inbound' | 'inbound-vip';

/** The four parts of a cluster key; `subset` is `''` for the default cluster. */
export interface SubsetKey {
  readonly direction: TrafficDirection;
  readonly port: number;
  readonly subset: string;
  readonly hostname: string;
}

/**
 * How cluster names are spelled: `sidecar` gives `outbound|PORT|SUBSET|HOST` (istiod's default
 * cluster mode), `sni-dnat` gives `outbound_.PORT_.SUBSET_.HOST` (the DNS-SRV form of the clusters
 * istiod adds for routers selected by an AUTO_PASSTHROUGH Gateway, `model.BuildDNSSrvSubsetKey`).
 */
export type ClusterNaming = 'sidecar' | 'sni-dnat';

const DIRECTIONS: readonly TrafficDirection[] = ['outbound', 'inbound', 'inbound-vip'];
const PIPE = '|';
const DNS_SRV_SEPARATOR = '_.';

/** `outbound|80||foo.example.com`, `outbound|80|v1|foo.example.com`. */
export function buildSubsetKey(key: SubsetKey): string {
  return [key.direction, String(key.port), key.subset, key.hostname].join(PIPE);
}

/** `outbound_.80_._.foo.example.com`, `outbound_.80_.v1_.foo.example.com`. */
export function buildDnsSrvSubsetKey(key: SubsetKey): string {
  return [key.direction, String(key.port), key.subset, key.hostname].join(DNS_SRV_SEPARATOR);
}

/** True when `name` is in the DNS-SRV form: istiod recognises only the `outbound_.` and `inbound_.` prefixes. */
export function isDnsSrvSubsetKey(name: string): boolean {
  return name.startsWith(`outbound${DNS_SRV_SEPARATOR}`) || name.startsWith(`inbound${DNS_SRV_SEPARATOR}`);
}

/**
 * Parses either spelling back into its parts, as istiod does for EDS requests. Returns `undefined`
 * when the name is not a cluster key (wrong number of parts, unknown direction, or a port that is
 * not 1..65535). Like istiod, a fourth separator in the hostname part makes the name invalid.
 */
export function parseSubsetKey(name: string): SubsetKey | undefined {
  const separator = isDnsSrvSubsetKey(name) ? DNS_SRV_SEPARATOR : PIPE;
  const parts: string[] = [];
  let rest = name;
  for (let i = 0; i < 3; i++) {
    const at = rest.indexOf(separator);
    if (at === -1) return undefined;
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + separator.length);
  }
  const [direction, portText, subset] = parts as [string, string, string];
  if (rest.includes(separator)) return undefined;
  if (!DIRECTIONS.includes(direction as TrafficDirection)) return undefined;
  if (!/^[1-9]\d{0,4}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535 || rest === '') return undefined;
  return { direction: direction as TrafficDirection, port, subset, hostname: rest };
}

/** The outbound cluster name for `hostname:port` (and a subset; none for the default cluster) in the given naming. */
export function buildOutboundClusterName(naming: ClusterNaming, hostname: string, port: number, subset = ''): string {
  const key: SubsetKey = { direction: 'outbound', port, subset, hostname };
  return naming === 'sni-dnat' ? buildDnsSrvSubsetKey(key) : buildSubsetKey(key);
}

/**
 * `host:port` the way Go's `net.JoinHostPort` writes it (brackets around an IPv6 literal). This is
 * the Listener name a proxyless gRPC client asks for with target `xds:///host:port`
 * (`pilot/pkg/networking/grpcgen/lds.go`).
 */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
