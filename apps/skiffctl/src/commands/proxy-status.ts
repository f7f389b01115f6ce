/**
 * `skiffctl proxy-status [--gateway URL] [-n NS] [-o table|json|yaml] [--details]`: the sync state of
 * every proxy of every gateway replica, read from one replica's `/debug/syncz` (the fleet view), in
 * istioctl's proxy-status layout (`istioctl/pkg/writer/pilot/status.go`, istioctl <= 1.27 columns):
 * `NAME CLUSTER CDS LDS EDS RDS GATEWAY VERSION`, each type `SYNCED (5s)`, `STALE (5s)`,
 * `ERROR (5s)`, `NOT SENT`, or `IGNORED` when the proxy never asked for it. `--details` adds the
 * NACK messages; `-o json` prints the syncz entries for scripts.
 */
import { stringify } from 'yaml';
import { TypeUrl } from '@skiff/protos/type-urls.js';
import { GatewayHttpError, GatewayUnreachableError, type GatewayClient } from '../gateway-client.js';
import { humanDuration } from '../human-duration.js';
import { ExitCode, writeLine, type CommandIO } from '../io.js';
import { paint, type Color } from '../style.js';
import { formatTable } from '../table.js';

/** One type's state in a `/debug/syncz` entry (the fields skiffctl reads). */
export interface SynczTypeState {
  readonly status?: string;
  readonly sentTime?: string;
  readonly lastError?: string;
}

/** One proxy in `/debug/syncz`: istiod's fields plus Skiff's `gateway` and `namespace`. */
export interface SynczEntry {
  readonly proxy: string;
  readonly node_id?: string;
  readonly cluster_id?: string;
  readonly namespace?: string;
  readonly gateway?: string;
  readonly istio_version?: string;
  readonly proxy_version?: string;
  readonly resources?: Readonly<Record<string, SynczTypeState>>;
}

export interface ProxyStatusOptions {
  readonly gateway: GatewayClient;
  readonly namespace?: string;
  readonly output: 'table' | 'json' | 'yaml';
  readonly details: boolean;
  /** Epoch ms for ages; injected by tests. */
  readonly now?: number;
}

/** The columns istioctl prints per type, in its order (`coreOrder`: CDS, LDS, EDS, RDS). */
const TYPE_COLUMNS = [
  ['CDS', TypeUrl.Cluster],
  ['LDS', TypeUrl.Listener],
  ['EDS', TypeUrl.ClusterLoadAssignment],
  ['RDS', TypeUrl.RouteConfiguration],
] as const;

const STATUS_COLORS: Readonly<Record<string, Color>> = { SYNCED: 'green', STALE: 'yellow', ERROR: 'red', IGNORED: 'dim' };

/**
 * One type's cell, by istioctl's `formatStatus`: absent -> `IGNORED`, `NOT_SENT` -> `NOT SENT`,
 * otherwise the status with the age of the last send.
 */
export function statusCell(state: SynczTypeState | undefined, now: number): string {
  if (state === undefined || state.status === undefined || state.status === 'UNKNOWN') return 'IGNORED';
  if (state.status === 'NOT_SENT') return 'NOT SENT';
  const sentAt = state.sentTime === undefined ? Number.NaN : Date.parse(state.sentTime);
  return Number.isNaN(sentAt) ? state.status : `${state.status} (${humanDuration(now - sentAt)})`;
}

/** Explains the star of `versionCell`, printed under a table that has one. */
export const VERSION_FOOTNOTE = '* no Istio version reported: the version is the proxy\'s own (its Envoy build, or the gRPC xDS client library of a proxyless client)';

/** istioctl falls back to the proxy's own version, starred, when it reports no Istio version. */
function versionCell(entry: SynczEntry): string {
  if (entry.istio_version) return entry.istio_version;
  return entry.proxy_version ? `${entry.proxy_version}*` : '';
}

/** Rows sorted by proxy, then by the replica serving it. */
function sortEntries(entries: readonly SynczEntry[]): SynczEntry[] {
  const key = (entry: SynczEntry): string => `${entry.proxy}\u0000${entry.gateway ?? ''}`;
  return [...entries].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function isSynczEntry(value: unknown): value is SynczEntry {
  return typeof value === 'object' && value !== null && typeof (value as { proxy?: unknown }).proxy === 'string';
}

/** The table istioctl prints, as text (coloured through `colour` when given). */
export function formatProxyStatus(entries: readonly SynczEntry[], now: number, colour?: (color: Color, text: string) => string): string {
  const header = ['NAME', 'CLUSTER', ...TYPE_COLUMNS.map(([short]) => short), 'GATEWAY', 'VERSION'];
  const rows = sortEntries(entries).map((entry) => [
    entry.proxy,
    entry.cluster_id ?? '',
    ...TYPE_COLUMNS.map(([, typeUrl]) => statusCell(entry.resources?.[typeUrl], now)),
    entry.gateway ?? '',
    versionCell(entry),
  ]);
  const typeColumns = new Set(TYPE_COLUMNS.map((_, index) => index + 2));
  const footnote = rows.some((row) => row.at(-1)?.endsWith('*')) ? `${VERSION_FOOTNOTE}\n` : '';
  const table = formatTable(header, rows, {
    padding: 5,
    ...(colour === undefined
      ? {}
      : {
          paint: (text: string, column: number) => {
            const color = typeColumns.has(column) ? STATUS_COLORS[text.split(' ')[0] ?? ''] : undefined;
            return color === undefined ? text : colour(color, text);
          },
        }),
  });
  return `${table}${footnote}`;
}

/** The NACK messages, one row per proxy and type (`--details`). */
export function formatNackDetails(entries: readonly SynczEntry[]): string {
  const rows: string[][] = [];
  for (const entry of sortEntries(entries)) {
    for (const [short, typeUrl] of TYPE_COLUMNS) {
      const error = entry.resources?.[typeUrl]?.lastError;
      // A NACK message may span lines (Envoy joins per-resource errors with newlines); keep one row each.
      if (error !== undefined && error !== '') rows.push([entry.proxy, short, entry.gateway ?? '', error.replace(/\s*\n\s*/g, ' ').trim()]);
    }
  }
  return rows.length === 0 ? '' : formatTable(['NAME', 'TYPE', 'GATEWAY', 'NACK MESSAGE'], rows, { padding: 5 });
}

export async function runProxyStatus(options: ProxyStatusOptions, io: CommandIO): Promise<ExitCode> {
  let body: unknown;
  try {
    body = await options.gateway.getJson('/debug/syncz', options.namespace === undefined ? {} : { namespace: options.namespace });
  } catch (error) {
    if (error instanceof GatewayUnreachableError || error instanceof GatewayHttpError) {
      writeLine(io.stderr, `skiffctl: ${error.message}`);
      return ExitCode.Usage;
    }
    throw error;
  }
  if (!Array.isArray(body) || !body.every(isSynczEntry)) {
    writeLine(io.stderr, `skiffctl: ${options.gateway.baseUrl}/debug/syncz did not answer with the sync status of proxies`);
    return ExitCode.Usage;
  }
  const entries = sortEntries(body);
  if (options.output === 'json') {
    io.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    return ExitCode.Ok;
  }
  if (options.output === 'yaml') {
    io.stdout.write(stringify(entries));
    return ExitCode.Ok;
  }
  if (entries.length === 0) {
    writeLine(io.stdout, `No proxies are connected to the gateway replicas that report to ${options.gateway.baseUrl}${options.namespace === undefined ? '' : ` in namespace ${options.namespace}`}.`);
    return ExitCode.Ok;
  }
  const now = options.now ?? Date.now();
  io.stdout.write(formatProxyStatus(entries, now, (color, text) => paint(io.stdout, color, text)));
  const details = formatNackDetails(entries);
  if (options.details && details !== '') io.stdout.write(`\n${details}`);
  if (!options.details && details !== '') {
    const rejecting = new Set(entries.filter((e) => TYPE_COLUMNS.some(([, t]) => e.resources?.[t]?.lastError)).map((e) => e.proxy)).size;
    writeLine(io.stderr, `${rejecting} ${rejecting === 1 ? 'proxy' : 'proxies'} rejected configuration; run with --details to see the NACK messages`);
  }
  return ExitCode.Ok;
}
