/**
 * Sidecar scoping over the resource table: which Sidecar a proxy gets, what its egress hosts import
 * (cases after istiod's `pilot/pkg/model/sidecar_test.go`), and how a change re-scopes views. The
 * cache's end-to-end behaviour with a store is in `gateway-cache-sidecar.test.ts`.
 */
/* eslint-disable no-restricted-syntax -- `owner()` returns the two arguments of `setOwner` as a tuple */
import { describe, expect, it } from 'vitest';
import type { NormalizedSidecar } from '@skiff/model';
import { TypeUrl } from '@skiff/protos';
import { hostPortOfName, ResourceTable } from './resource-table.js';
import { hostSubsetOf, SidecarIndex, SidecarViews } from './sidecar-scope.js';
import { built, CDS, owner, visibility } from './test-support/fixtures.js';

const VARIANT = 'envoy-sidecar';
const cluster = (host: string, port = 80) => `outbound|${port}||${host}`;

function sidecar(namespace: string, name: string, hosts: string[] | { port?: number; hosts: string[] }[], overrides: Partial<NormalizedSidecar> = {}): NormalizedSidecar {
  const egress = hosts.length > 0 && typeof hosts[0] === 'string' ? [{ bind: '', hosts: hosts as string[] }] : (hosts as { port?: number; hosts: string[] }[]).map((listener) => ({
    bind: '',
    hosts: listener.hosts,
    ...(listener.port === undefined ? {} : { port: { number: listener.port, protocol: 'HTTP' as const, name: `http-${listener.port}` } }),
  }));
  return { schemaVersion: 1, namespace, name, creationTime: 0, workloadSelector: null, egress, outboundTrafficPolicy: null, ...overrides };
}

/** A table with ServiceEntries `<namespace>/<name>` for `<host>` on the given ports. */
function table(entries: { namespace: string; name: string; host: string; ports?: number[]; exportTo?: string[]; creationTime?: number }[]): ResourceTable {
  const resourceTable = new ResourceTable(['*']);
  for (const entry of entries) {
    const vis = visibility(entry.namespace, entry.name, { hosts: [entry.host], exportTo: entry.exportTo ?? [], creationTime: entry.creationTime ?? 1_000 });
    resourceTable.setOwner(...owner(vis, (entry.ports ?? [80]).map((port) => built(cluster(entry.host, port), `${entry.namespace}/${entry.name}`))));
  }
  return resourceTable;
}

/** What a proxy sees: cluster name -> the `namespace/name` of the ServiceEntry it comes from. */
function seen(views: SidecarViews, namespace: string, labels: Record<string, string> = {}, router = false): Record<string, string> {
  return Object.fromEntries([...views.view({ variant: VARIANT, namespace, labels, router }).all(CDS)].map(([name, resource]) => [name, resource.version]));
}

describe('host matching', () => {
  it('follows host.Name.SubsetOf', () => {
    expect(hostSubsetOf('a.example.com', '*')).toBe(true);
    expect(hostSubsetOf('a.example.com', '*.example.com')).toBe(true);
    expect(hostSubsetOf('example.com', '*.example.com')).toBe(false);
    expect(hostSubsetOf('*.a.example.com', '*.example.com')).toBe(true);
    expect(hostSubsetOf('*.example.com', '*.a.example.com')).toBe(false);
    expect(hostSubsetOf('*.example.com', 'a.example.com')).toBe(false);
    expect(hostSubsetOf('a.example.com', 'a.example.com')).toBe(true);
  });
  it('reads host and port from cluster and gRPC names', () => {
    expect(hostPortOfName('outbound|80||a.example.com')).toEqual({ host: 'a.example.com', port: 80 });
    expect(hostPortOfName('outbound_.443_.v1_.a.example.com')).toEqual({ host: 'a.example.com', port: 443 });
    expect(hostPortOfName('a.example.com:8080')).toEqual({ host: 'a.example.com', port: 8080 });
    expect(hostPortOfName('[2001:db8::1]:80')).toEqual({ host: '2001:db8::1', port: 80 });
    expect(hostPortOfName('no-port')).toBeUndefined();
  });
});

describe('choosing the Sidecar', () => {
  const index = new SidecarIndex();
  index.set(sidecar('ns1', 'default', ['./*'], { creationTime: 5 }));
  index.set(sidecar('ns1', 'older-default', ['./*'], { creationTime: 1 }));
  index.set(sidecar('ns1', 'for-b', ['./*'], { creationTime: 9, workloadSelector: { app: 'b' } }));
  index.set(sidecar('ns1', 'for-b-older', ['./*'], { creationTime: 3, workloadSelector: { app: 'b' } }));
  index.set(sidecar('istio-system', 'root', ['istio-system/*']));
  index.set(sidecar('istio-system', 'root-selector', ['./*'], { workloadSelector: { app: 'x' } }));

  it('prefers the oldest matching selector Sidecar, then the oldest selector-less one of the namespace', () => {
    expect(index.choose('ns1', { app: 'b', version: 'v1' })?.name).toBe('for-b-older');
    expect(index.choose('ns1', { app: 'c' })?.name).toBe('older-default');
    expect(index.choose('ns1', {})?.name).toBe('older-default');
  });
  it('falls back to the root namespace Sidecar without a selector, else none', () => {
    expect(index.choose('ns2', { app: 'x' })?.name).toBe('root');
    index.delete({ namespace: 'istio-system', name: 'root' });
    expect(index.choose('ns2', {})).toBeUndefined();
  });
});

describe('what a Sidecar imports', () => {
  const mesh = () =>
    table([
      { namespace: 'ns1', name: 'a', host: 'a.ns1.example.com' },
      { namespace: 'ns2', name: 'b', host: 'b.ns2.example.com' },
      { namespace: 'ns2', name: 'c', host: 'c.other.com' },
      { namespace: 'ns3', name: 'private', host: 'private.ns3.example.com', exportTo: ['.'] },
    ]);

  it('sees everything exported to the namespace without a Sidecar', () => {
    expect(Object.keys(seen(new SidecarViews(mesh()), 'ns1'))).toEqual([cluster('a.ns1.example.com'), cluster('b.ns2.example.com'), cluster('c.other.com')]);
  });

  it.each([
    [['./*'], ['a.ns1.example.com']],
    [['ns2/*'], ['b.ns2.example.com', 'c.other.com']],
    [['*/*.example.com'], ['a.ns1.example.com', 'b.ns2.example.com']],
    [['ns2/b.ns2.example.com'], ['b.ns2.example.com']],
    [['*/*', '~ns2/*'], ['a.ns1.example.com']],
    [['*/*', '~*/c.other.com'], ['a.ns1.example.com', 'b.ns2.example.com']],
    [['~/*'], []],
    // exportTo still applies: a Sidecar cannot import what is not exported to the namespace.
    [['ns3/*'], []],
  ])('%j imports %j', (hosts, expected) => {
    const views = new SidecarViews(mesh());
    views.set(sidecar('ns1', 'default', hosts));
    expect(Object.keys(seen(views, 'ns1'))).toEqual(expected.map((host) => cluster(host)));
    // Other namespaces are not affected by ns1's Sidecar; gateways never are.
    expect(Object.keys(seen(views, 'ns2'))).toHaveLength(3);
    expect(Object.keys(seen(views, 'ns1', {}, true))).toHaveLength(3);
  });

  it('reads "." in the root namespace Sidecar as the proxy namespace', () => {
    const views = new SidecarViews(mesh());
    views.set(sidecar('istio-system', 'default', ['./*']));
    expect(Object.keys(seen(views, 'ns2'))).toEqual([cluster('b.ns2.example.com'), cluster('c.other.com')]);
    expect(Object.keys(seen(views, 'ns1'))).toEqual([cluster('a.ns1.example.com')]);
  });

  it('imports only the listener port from a listener with a port', () => {
    const views = new SidecarViews(table([{ namespace: 'ns1', name: 'a', host: 'a.example.com', ports: [80, 443] }]));
    views.set(sidecar('ns1', 'default', [{ port: 443, hosts: ['./*'] }]));
    expect(Object.keys(seen(views, 'ns1'))).toEqual([cluster('a.example.com', 443)]);
  });

  it('takes a hostname imported from several namespaces from the one istiod prefers among the imported', () => {
    const resourceTable = table([
      { namespace: 'ns1', name: 'own', host: 'shared.example.com', creationTime: 3 },
      { namespace: 'ns2', name: 'old', host: 'shared.example.com', creationTime: 1 },
      { namespace: 'ns3', name: 'older', host: 'shared.example.com', creationTime: 0 },
    ]);
    const views = new SidecarViews(resourceTable);
    // All three are public: the proxy's namespace has the host, so it wins (`selectServices`); elsewhere the oldest.
    expect(seen(views, 'ns1')).toEqual({ [cluster('shared.example.com')]: 'ns1/own' });
    expect(seen(views, 'ns4')).toEqual({ [cluster('shared.example.com')]: 'ns3/older' });
    views.set(sidecar('ns1', 'default', ['./*', 'ns2/*']));
    expect(seen(views, 'ns1')).toEqual({ [cluster('shared.example.com')]: 'ns1/own' });
    views.set(sidecar('ns1', 'default', ['ns2/*', 'ns3/*']));
    expect(seen(views, 'ns1')).toEqual({ [cluster('shared.example.com')]: 'ns3/older' });
    // The first listener that imports the hostname decides the namespace.
    views.set(sidecar('ns1', 'default', [{ port: 9090, hosts: ['ns2/*'] }, { hosts: ['*/*'] }]));
    expect(seen(views, 'ns1')).toEqual({ [cluster('shared.example.com')]: 'ns2/old' });
  });
});

describe('one host several ServiceEntries define, under a Sidecar', () => {
  it("imports the host's service through the listeners in order, a port listener taking only its port, and merges as istiod", () => {
    const resourceTable = new ResourceTable(['*']);
    const entry = (name: string, created: number, resolution: string, ports: number[]) =>
      owner(
        visibility('ns-b', name, { hosts: ['db.internal'], creationTime: created, resolution, mergeKey: '{}', ports: ports.map((number) => ({ name: `p${number}`, number, protocol: 'TCP' })) }),
        ports.map((port) => built(cluster('db.internal', port), `${name}-${port}`)),
      );
    resourceTable.setOwner(...entry('older', 1, 'DNS_ROUND_ROBIN', [9000, 443]));
    resourceTable.setOwner(...entry('newer', 2, 'DNS', [15000, 9000]));
    const views = new SidecarViews(resourceTable);
    // Without a Sidecar the older entry is the host's service; the newer one resolves differently and lends nothing.
    expect(seen(views, 'ns-b')).toEqual({ [cluster('db.internal', 9000)]: 'older-9000', [cluster('db.internal', 443)]: 'older-443' });
    // The port listener imports the newer entry first (its port 15000 only); the catch-all then adds the
    // newer entry's other port and ignores the older one.
    views.set(sidecar('istio-system', 'default', [{ port: 15000, hosts: ['./*'] }, { hosts: ['ns-b/*'] }]));
    expect(seen(views, 'ns-b')).toEqual({ [cluster('db.internal', 15000)]: 'newer-15000', [cluster('db.internal', 9000)]: 'newer-9000' });
  });

  it("routes a proxyless gRPC client from the last service of the route's listener, else from the host's service", () => {
    const resourceTable = new ResourceTable(['*']);
    const entry = (namespace: string, name: string, created: number, ports: number[]) =>
      owner(
        visibility(namespace, name, { hosts: ['svc.example.com'], creationTime: created, resolution: 'DNS', mergeKey: '{}', ports: ports.map((number) => ({ name: `p${number}`, number, protocol: 'TCP' })) }),
        ports.map((port) => built(cluster('svc.example.com', port), `${name}-${port}`, 'grpc', TypeUrl.RouteConfiguration)),
      );
    resourceTable.setOwner(...entry('ns-c', 'first', 1, [443, 8080]));
    resourceTable.setOwner(...entry('ns-c', 'second', 2, [8080]));
    const views = new SidecarViews(resourceTable);
    const routes = () => Object.fromEntries([...views.view({ variant: 'grpc', namespace: 'ns-b', labels: {}, router: false }).all(TypeUrl.RouteConfiguration)].map(([name, r]) => [name, r.version]));
    // The 443 listener imports only ns-a: its route falls back to the host's service; 8080's comes from the catch-all's last entry with the port.
    views.set(sidecar('ns-b', 'default', [{ port: 443, hosts: ['ns-a/*'] }, { hosts: ['*/*'] }]));
    expect(routes()).toEqual({ [cluster('svc.example.com', 443)]: 'first-443', [cluster('svc.example.com', 8080)]: 'second-8080' });
  });
});

describe('changes', () => {
  it('re-scopes on a Sidecar change and reports the names the namespace sees, without touching resources', () => {
    const resourceTable = table([
      { namespace: 'ns1', name: 'a', host: 'a.example.com' },
      { namespace: 'ns2', name: 'b', host: 'b.example.com' },
    ]);
    const views = new SidecarViews(resourceTable);
    expect(Object.keys(seen(views, 'ns1'))).toHaveLength(2);
    expect(views.set(sidecar('ns1', 'default', ['./*'])).map((c) => c.name).sort()).toEqual([cluster('a.example.com'), cluster('b.example.com')]);
    expect(Object.keys(seen(views, 'ns1'))).toEqual([cluster('a.example.com')]);
    // The same Sidecar again changes nothing; a Sidecar of a namespace nobody reads reports nothing.
    expect(views.set(sidecar('ns1', 'default', ['./*']))).toEqual([]);
    expect(views.set(sidecar('ns9', 'default', ['./*']))).toEqual([]);
    expect(views.delete({ namespace: 'ns1', name: 'default' })).toHaveLength(2);
    expect(Object.keys(seen(views, 'ns1'))).toHaveLength(2);
  });

  it('keeps scoped views current when resources change', () => {
    const resourceTable = table([{ namespace: 'ns1', name: 'a', host: 'a.example.com' }]);
    const views = new SidecarViews(resourceTable);
    views.set(sidecar('ns1', 'default', ['./*']));
    expect(Object.keys(seen(views, 'ns1'))).toEqual([cluster('a.example.com')]);
    views.refresh(resourceTable.setOwner(...owner(visibility('ns1', 'n', { hosts: ['n.example.com'] }), [built(cluster('n.example.com'), 'ns1/n')])));
    views.refresh(resourceTable.setOwner(...owner(visibility('ns2', 'm', { hosts: ['m.example.com'] }), [built(cluster('m.example.com'), 'ns2/m')])));
    expect(Object.keys(seen(views, 'ns1'))).toEqual([cluster('a.example.com'), cluster('n.example.com')]);
    views.refresh(resourceTable.removeOwner('ns1/a'));
    expect(Object.keys(seen(views, 'ns1'))).toEqual([cluster('n.example.com')]);
  });
});
