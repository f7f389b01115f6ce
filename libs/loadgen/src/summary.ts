/**
 * What a load run amounts to: counts, how long the proxies took to get their first configuration,
 * and how far apart they received each version pushed once all were ready. As JSON for programs
 * (`-o json`) or as a table for people.
 */
import type { ProxyFlavor } from './node.js';
import type { LoadCounters, SimulatedProxy } from './proxy.js';
import type { ArrivalRecorder, VersionSpread } from './recorder.js';
import { distributionOf, type Distribution } from './stats.js';

export interface LoadSummary {
  readonly target: string;
  readonly flavor: ProxyFlavor;
  readonly mode: 'sotw' | 'delta';
  readonly proxies: number;
  readonly connections: number;
  /** Milliseconds from the first stream opening to the end of the run. */
  readonly durationMs: number;
  readonly streams: {
    readonly started: number;
    readonly open: number;
    readonly ready: number;
    readonly reconnects: number;
    /** Stream ends by gRPC status code (the server ended them while the run went on). */
    readonly endsByCode: Readonly<Record<string, number>>;
  };
  /** Per proxy, milliseconds from opening its stream to having a first response of every type it asked for. */
  readonly readyMs: Distribution;
  /** Milliseconds from the first stream opening to the last proxy being ready; null if some never were. */
  readonly allReadyMs: number | null;
  /** Per short type name (`cds`, `eds`). */
  readonly responses: Readonly<Record<string, number>>;
  readonly resources: Readonly<Record<string, number>>;
  /** Resources received at a version the proxy did not hold. */
  readonly newVersions: Readonly<Record<string, number>>;
  readonly removed: number;
  readonly bytesReceived: number;
  readonly acks: number;
  readonly unreadable: number;
  /** Versions first received after every proxy was ready (pushed changes): how far apart proxies got each. */
  readonly pushedVersions: VersionSpread | null;
}

export interface SummaryInputs {
  readonly target: string;
  readonly flavor: ProxyFlavor;
  readonly delta: boolean;
  readonly proxies: readonly SimulatedProxy[];
  readonly connections: number;
  readonly counters: LoadCounters;
  readonly recorder: ArrivalRecorder;
  readonly startedAt: number | undefined;
  readonly allReadyAt: number | undefined;
  readonly endedAt: number;
}

export function buildSummary(inputs: SummaryInputs): LoadSummary {
  const { counters } = inputs;
  const readyMs: number[] = [];
  let ready = 0;
  for (const proxy of inputs.proxies) {
    if (proxy.readyAt === undefined) continue;
    ready++;
    // The first stream's readiness: a reconnected stream's start would be later than it.
    if (proxy.firstStartedAt !== undefined) readyMs.push(proxy.readyAt - proxy.firstStartedAt);
  }
  return {
    target: inputs.target,
    flavor: inputs.flavor,
    mode: inputs.delta ? 'delta' : 'sotw',
    proxies: inputs.proxies.length,
    connections: inputs.connections,
    durationMs: inputs.startedAt === undefined ? 0 : inputs.endedAt - inputs.startedAt,
    streams: {
      started: counters.streamsStarted,
      open: counters.streamsOpen,
      ready,
      reconnects: counters.reconnects,
      endsByCode: Object.fromEntries([...counters.endsByCode].map(([code, count]) => [String(code), count])),
    },
    readyMs: distributionOf(readyMs),
    allReadyMs: inputs.allReadyAt === undefined || inputs.startedAt === undefined ? null : inputs.allReadyAt - inputs.startedAt,
    responses: Object.fromEntries(counters.responses),
    resources: Object.fromEntries(counters.resources),
    newVersions: Object.fromEntries(counters.newVersions),
    removed: counters.removed,
    bytesReceived: counters.bytesReceived,
    acks: counters.acks,
    unreadable: counters.unreadable,
    pushedVersions: inputs.allReadyAt === undefined ? null : inputs.recorder.versionSpread(inputs.allReadyAt),
  };
}

function milliseconds(value: number): string {
  return Number.isNaN(value) ? '-' : value < 10 ? value.toFixed(1) : String(Math.round(value));
}

function distribution(d: Distribution): string {
  return d.count === 0 ? '-' : `p50 ${milliseconds(d.p50)}  p90 ${milliseconds(d.p90)}  p99 ${milliseconds(d.p99)}  max ${milliseconds(d.max)}  (n=${d.count})`;
}

function perType(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts);
  return entries.length === 0 ? '0' : entries.map(([type, count]) => `${type} ${count}`).join(', ');
}

/** The summary as aligned `name  value` lines. */
export function formatSummary(summary: LoadSummary): string {
  const ends = Object.entries(summary.streams.endsByCode);
  const pushed = summary.pushedVersions;
  const rows: [string, string][] = [
    ['target', `${summary.target} (${summary.flavor}, ${summary.mode})`],
    ['proxies', `${summary.proxies} on ${summary.connections} connection${summary.connections === 1 ? '' : 's'}`],
    ['duration', `${(summary.durationMs / 1000).toFixed(1)} s`],
    ['streams', `${summary.streams.started} started, ${summary.streams.open} open, ${summary.streams.ready} ready, ${summary.streams.reconnects} reconnects`],
    ['stream ends', ends.length === 0 ? 'none' : ends.map(([code, count]) => `code ${code}: ${count}`).join(', ')],
    ['ready ms', distribution(summary.readyMs)],
    ['all ready', summary.allReadyMs === null ? 'not all proxies got their configuration' : `${milliseconds(summary.allReadyMs)} ms after the first stream opened`],
    ['responses', perType(summary.responses)],
    ['resources', perType(summary.resources)],
    ['new versions', perType(summary.newVersions)],
    ['removed', String(summary.removed)],
    ['received', `${(summary.bytesReceived / 1048576).toFixed(1)} MiB`],
    ['acks', String(summary.acks)],
    ['unreadable', String(summary.unreadable)],
    ['pushed versions', pushed === null ? '-' : `${pushed.versions} versions, ${pushed.arrivals} arrivals`],
    ['arrival spread ms', pushed === null ? '-' : distribution(pushed.spreadMs)],
  ];
  const width = rows.reduce((longest, [name]) => Math.max(longest, name.length), 0);
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n');
}
