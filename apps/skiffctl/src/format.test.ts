/** The pieces of skiffctl's istioctl-style output that do not need a gateway: ages, table layout, status cells. */
import { TypeUrl } from '@skiff/protos';
import { describe, expect, it } from 'vitest';
import { formatNackDetails, formatProxyStatus, statusCell, type SynczEntry } from './commands/proxy-status.js';
import { humanDuration } from './human-duration.js';
import { formatTable } from './table.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('humanDuration (Kubernetes HumanDuration, as istioctl prints ages)', () => {
  it.each([
    [-2.5 * SECOND, '<invalid>'],
    [-1.5 * SECOND, '0s'],
    [0, '0s'],
    [5.9 * SECOND, '5s'],
    [119 * SECOND, '119s'],
    [2 * MINUTE, '2m'],
    [2 * MINUTE + 5 * SECOND, '2m5s'],
    [9 * MINUTE + 59 * SECOND, '9m59s'],
    [10 * MINUTE + 30 * SECOND, '10m'],
    [179 * MINUTE, '179m'],
    [3 * HOUR, '3h'],
    [3 * HOUR + 7 * MINUTE, '3h7m'],
    [8 * HOUR + 7 * MINUTE, '8h'],
    [47 * HOUR, '47h'],
    [2 * DAY, '2d'],
    [3 * DAY + 4 * HOUR, '3d4h'],
    [8 * DAY + 4 * HOUR, '8d'],
    [729 * DAY, '729d'],
    [2 * 365 * DAY + 10 * DAY, '2y10d'],
    [9 * 365 * DAY, '9y'],
  ])('%d ms is %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('formatTable (Go tabwriter with istioctl settings)', () => {
  it('pads every column but the last to its widest cell plus the padding, and leaves no trailing spaces', () => {
    expect(formatTable(['A', 'LONG HEADER', 'C'], [['wide cell', '', 'x'], ['b', 'y', '']], { padding: 5 })).toBe(
      ['A             LONG HEADER     C', 'wide cell                     x', 'b             y'].join('\n') + '\n',
    );
  });

  it('colours cells without moving the columns', () => {
    const plain = formatTable(['NAME', 'STATE'], [['a', 'SYNCED'], ['bb', 'ERROR']], { padding: 2 });
    const coloured = formatTable(['NAME', 'STATE'], [['a', 'SYNCED'], ['bb', 'ERROR']], { padding: 2, paint: (text, column) => (column === 1 ? `<${text}>` : text) });
    expect(coloured).toBe(plain.replace('SYNCED', '<SYNCED>').replace('ERROR', '<ERROR>'));
  });
});

describe('proxy-status cells and table', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  const sent = '2026-01-01T00:09:55Z';

  it("follows istioctl's formatStatus: IGNORED when never asked for, NOT SENT without an age, the rest with the age of the last send", () => {
    expect(statusCell(undefined, now)).toBe('IGNORED');
    expect(statusCell({ status: 'NOT_SENT' }, now)).toBe('NOT SENT');
    expect(statusCell({ status: 'SYNCED', sentTime: sent }, now)).toBe('SYNCED (5s)');
    expect(statusCell({ status: 'STALE', sentTime: '2026-01-01T00:07:00Z' }, now)).toBe('STALE (3m)');
    expect(statusCell({ status: 'ERROR', sentTime: sent, lastError: 'bad' }, now)).toBe('ERROR (5s)');
  });

  it('sorts rows by proxy, falls back to the proxy version starred, and lists NACKs flattened to one line', () => {
    const entries: SynczEntry[] = [
      { proxy: 'b.ns', cluster_id: 'c1', gateway: 'gw-2', istio_version: '', proxy_version: '1.14.1', resources: { [TypeUrl.Cluster]: { status: 'STALE', sentTime: sent } } },
      {
        proxy: 'a.ns',
        cluster_id: 'c1',
        gateway: 'gw-1',
        istio_version: '1.30.0',
        resources: { [TypeUrl.Cluster]: { status: 'SYNCED', sentTime: sent }, [TypeUrl.ClusterLoadAssignment]: { status: 'ERROR', sentTime: sent, lastError: 'first\n  second' } },
      },
    ];
    expect(formatProxyStatus(entries, now)).toBe(
      [
        'NAME     CLUSTER     CDS             LDS         EDS            RDS         GATEWAY     VERSION',
        'a.ns     c1          SYNCED (5s)     IGNORED     ERROR (5s)     IGNORED     gw-1        1.30.0',
        'b.ns     c1          STALE (5s)      IGNORED     IGNORED        IGNORED     gw-2        1.14.1*',
        "* no Istio version reported: the version is the proxy's own (its Envoy build, or the gRPC xDS client library of a proxyless client)",
        '',
      ].join('\n'),
    );
    expect(formatNackDetails(entries)).toBe(['NAME     TYPE     GATEWAY     NACK MESSAGE', 'a.ns     EDS      gw-1        first second', ''].join('\n'));
    const coloured = formatProxyStatus(entries, now, (color, text) => `[${color}:${text}]`);
    expect(coloured).toContain('[green:SYNCED (5s)]');
    expect(coloured).toContain('[red:ERROR (5s)]');
    expect(coloured).toContain('[yellow:STALE (5s)]');
    // Only the type columns are coloured.
    expect(coloured).not.toContain('[green:a.ns]');
  });
});
