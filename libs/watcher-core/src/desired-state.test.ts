import { canonicalJson } from '@skiff/store';
import { describe, expect, it } from 'vitest';
import { DesiredState } from './desired-state.js';

const serviceEntry = (name: string, hosts: string[]) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'ServiceEntry',
  metadata: { name, namespace: 'mesh' },
  spec: { hosts, ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', workloadSelector: { labels: { app: name } } },
});
const workloadEntry = (name: string, address: string) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'WorkloadEntry',
  metadata: { name, namespace: 'mesh' },
  spec: { address, labels: { app: 'a' } },
});

describe('DesiredState rejection count', () => {
  it('counts objects whose latest version is rejected, through rejections, fixes and deletes', () => {
    const state = new DesiredState();
    const upsert = (object: unknown) => state.apply({ type: 'upsert', object, origin: 'test' });
    const countedByWalk = () => state.objects().filter((status) => status.rejection !== null).length;
    const expectRejected = (count: number) => {
      expect(state.rejectedCount()).toBe(count);
      expect(countedByWalk()).toBe(count);
    };

    upsert(serviceEntry('a', ['a.example.com']));
    upsert(workloadEntry('a-1', '10.0.0.1'));
    expectRejected(0);
    // Rejected twice in a row is still one rejected object.
    expect(upsert(workloadEntry('a-1', 'not an address!')).result).toBe('rejected');
    expect(upsert(workloadEntry('a-1', 'still not one!')).result).toBe('rejected');
    expectRejected(1);
    // Never valid: rejected with nothing in effect.
    expect(upsert(serviceEntry('b', ['*'])).result).toBe('rejected');
    expectRejected(2);
    // Deleting a rejected object forgets its rejection.
    state.apply({ type: 'delete', ref: { kind: 'WorkloadEntry', namespace: 'mesh', name: 'a-1' }, origin: 'test' });
    expectRejected(1);
    // A valid version clears it.
    expect(upsert(serviceEntry('b', ['b.example.com'])).result).toBe('applied');
    expectRejected(0);
    // Deleting a valid object leaves the count alone.
    state.apply({ type: 'delete', ref: { kind: 'ServiceEntry', namespace: 'mesh', name: 'b' }, origin: 'test' });
    expectRejected(0);
  });
});

describe('DesiredState hash fields', () => {
  it('gives the text of the entries in effect after every change, never an earlier version', () => {
    const state = new DesiredState();
    const upsert = (object: unknown) => state.apply({ type: 'upsert', object, origin: 'test' });
    const key = { namespace: 'mesh', name: 'a' };
    const endpointText = () => JSON.parse(state.desiredFields(key)?.['ep:WorkloadEntry/mesh/a-1'] ?? 'null') as { address: string } | null;

    upsert(serviceEntry('a', ['a.example.com']));
    upsert(workloadEntry('a-1', '10.0.0.1'));
    upsert(workloadEntry('a-2', '10.0.0.2'));
    const first = state.desiredFields(key);
    expect(endpointText()?.address).toBe('10.0.0.1');
    upsert(workloadEntry('a-1', '10.0.0.9'));
    expect(endpointText()?.address).toBe('10.0.0.9');
    // The unchanged workload keeps its text; the ServiceEntry's own field follows its new version.
    expect(state.desiredFields(key)?.['ep:WorkloadEntry/mesh/a-2']).toBe(first?.['ep:WorkloadEntry/mesh/a-2']);
    upsert(serviceEntry('a', ['a.example.com', 'b.example.com']));
    expect(JSON.parse(state.desiredFields(key)?.['se'] ?? '{}').hosts).toEqual(['a.example.com', 'b.example.com']);
    // Every field is the canonical text of the entry now in effect.
    const serviceEntryNow = state.serviceEntry(key);
    expect(state.desiredFields(key)?.['se']).toBe(canonicalJson(serviceEntryNow));
    for (const endpoint of state.index.selectedWorkloads(key)) {
      expect(state.desiredFields(key)?.[`ep:WorkloadEntry/mesh/${endpoint.source.name}`]).toBe(canonicalJson(endpoint));
    }
  });
});

const destinationRule = (name: string, host: string, extra: Record<string, unknown> = {}, namespace = 'mesh') => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name, namespace },
  spec: { host, ...extra },
});

describe('DesiredState DestinationRules', () => {
  const setup = () => {
    const state = new DesiredState();
    const upsert = (object: unknown) => state.apply({ type: 'upsert', object, origin: 'test' });
    const remove = (kind: string, name: string, namespace = 'mesh') => state.apply({ type: 'delete', ref: { kind, namespace, name }, origin: 'test' });
    const ruleFields = (name: string) => Object.keys(state.desiredFields({ namespace: 'mesh', name }) ?? {}).filter((field) => field.startsWith('dr:')).sort();
    const affected = (outcome: ReturnType<typeof upsert>) => ('affected' in outcome ? outcome.affected.map((key) => key.name) : []);
    return { state, upsert, remove, ruleFields, affected };
  };

  it('files a rule in the hash of every ServiceEntry with a host it matches: exact and wildcards in both directions', () => {
    const { upsert, ruleFields, affected } = setup();
    upsert(serviceEntry('exact', ['a.example.com']));
    upsert(serviceEntry('other', ['b.example.org']));
    upsert(serviceEntry('wild', ['*.example.com']));
    upsert(serviceEntry('narrow-wild', ['*.x.example.com']));
    upsert(serviceEntry('two-hosts', ['c.example.net', 'a.example.com']));

    expect(affected(upsert(destinationRule('for-a', 'a.example.com')))).toEqual(['exact', 'two-hosts', 'wild']);
    expect(affected(upsert(destinationRule('for-all', '*.example.com')))).toEqual(['exact', 'narrow-wild', 'two-hosts', 'wild']);
    expect(affected(upsert(destinationRule('for-x', '*.x.example.com')))).toEqual(['narrow-wild', 'wild']);
    expect(affected(upsert(destinationRule('everything', '*')))).toEqual(['exact', 'narrow-wild', 'other', 'two-hosts', 'wild']);
    expect(ruleFields('exact')).toEqual(['dr:mesh/everything', 'dr:mesh/for-a', 'dr:mesh/for-all']);
    expect(ruleFields('other')).toEqual(['dr:mesh/everything']);
    expect(ruleFields('wild')).toEqual(['dr:mesh/everything', 'dr:mesh/for-a', 'dr:mesh/for-all', 'dr:mesh/for-x']);
    expect(ruleFields('narrow-wild')).toEqual(['dr:mesh/everything', 'dr:mesh/for-all', 'dr:mesh/for-x']);
  });

  it('a field holds the normalized rule; an update moves it between ServiceEntries when its host changes', () => {
    const { state, upsert, ruleFields, affected } = setup();
    upsert(serviceEntry('a', ['a.example.com']));
    upsert(serviceEntry('b', ['b.example.com']));
    upsert(destinationRule('r', 'a.example.com', { subsets: [{ name: 'v1', labels: { version: 'v1' } }] }));
    const stored = JSON.parse(state.desiredFields({ namespace: 'mesh', name: 'a' })?.['dr:mesh/r'] ?? 'null');
    expect(stored).toMatchObject({ namespace: 'mesh', name: 'r', host: 'a.example.com', subsets: [{ name: 'v1', labels: { version: 'v1' }, trafficPolicy: null }] });
    expect(affected(upsert(destinationRule('r', 'b.example.com')))).toEqual(['a', 'b']);
    expect(ruleFields('a')).toEqual([]);
    expect(ruleFields('b')).toEqual(['dr:mesh/r']);
  });

  it('a short host is completed with the rule namespace, with and without the domain suffix', () => {
    const { upsert, ruleFields } = setup();
    upsert(serviceEntry('kube', ['api.shop.svc.cluster.local']));
    upsert(serviceEntry('files', ['api.shop']));
    upsert(destinationRule('short', 'api', {}, 'shop'));
    expect(ruleFields('kube')).toEqual(['dr:shop/short']);
    expect(ruleFields('files')).toEqual(['dr:shop/short']);
  });

  it('a deleted rule leaves the hashes it was in; a rejected update keeps the last valid version', () => {
    const { upsert, remove, ruleFields, affected } = setup();
    upsert(serviceEntry('a', ['a.example.com']));
    upsert(destinationRule('r', 'a.example.com'));
    expect(upsert(destinationRule('r', 'a.example.com', { subsets: [{ name: 'BAD NAME' }] })).result).toBe('rejected');
    expect(ruleFields('a')).toEqual(['dr:mesh/r']);
    expect(affected(remove('DestinationRule', 'r'))).toEqual(['a']);
    expect(ruleFields('a')).toEqual([]);
    expect(remove('DestinationRule', 'r').result).toBe('ignored');
  });

  it('a ServiceEntry whose hosts change gains and loses rule fields; a new ServiceEntry gets the rules already there', () => {
    const { upsert, remove, ruleFields } = setup();
    upsert(destinationRule('for-a', 'a.example.com'));
    upsert(destinationRule('for-b', 'b.example.com'));
    upsert(serviceEntry('s', ['a.example.com']));
    expect(ruleFields('s')).toEqual(['dr:mesh/for-a']);
    upsert(serviceEntry('s', ['b.example.com']));
    expect(ruleFields('s')).toEqual(['dr:mesh/for-b']);
    remove('ServiceEntry', 's');
    expect(ruleFields('s')).toEqual([]);
    expect(upsert(destinationRule('for-b', 'b.example.com', { exportTo: ['.'] }))).toMatchObject({ result: 'applied', affected: [] });
  });
});

describe('DesiredState siblings', () => {
  const inNamespace = (object: ReturnType<typeof serviceEntry> | ReturnType<typeof workloadEntry>, namespace: string) => ({ ...object, metadata: { ...object.metadata, namespace } });
  const setup = () => {
    const state = new DesiredState();
    const upsert = (object: unknown) => state.apply({ type: 'upsert', object, origin: 'test' });
    const remove = (kind: string, name: string, namespace = 'mesh') => state.apply({ type: 'delete', ref: { kind, namespace, name }, origin: 'test' });
    const siblingFields = (name: string, namespace = 'mesh') => Object.keys(state.desiredFields({ namespace, name }) ?? {}).filter((field) => field.startsWith('sib:')).sort();
    const affected = (outcome: ReturnType<typeof upsert>) => ('affected' in outcome ? outcome.affected.map((key) => `${key.namespace}/${key.name}`) : []);
    return { state, upsert, remove, siblingFields, affected };
  };

  it('holds the other ServiceEntries of its namespace with one of its hosts, as written, and their endpoints', () => {
    const { state, upsert, siblingFields, affected } = setup();
    upsert(serviceEntry('a', ['a.example.com', 'shared.example.com']));
    upsert(serviceEntry('other-host', ['b.example.com']));
    upsert(serviceEntry('wildcard', ['*.example.com']));
    upsert(inNamespace(serviceEntry('elsewhere', ['shared.example.com']), 'shop'));
    expect(siblingFields('a')).toEqual([]);
    // A second entry for the host: both hashes change, each holding the other.
    expect(affected(upsert(serviceEntry('b', ['shared.example.com'])))).toEqual(['mesh/b', 'mesh/a']);
    upsert(workloadEntry('a-1', '10.0.0.1'));
    expect(siblingFields('a')).toEqual(['sib:b']);
    expect(siblingFields('b')).toEqual(['sib:a', 'sib:a:ep:WorkloadEntry/mesh/a-1']);
    expect(siblingFields('elsewhere', 'shop')).toEqual([]);
    expect(siblingFields('wildcard')).toEqual([]);
    expect(JSON.parse(state.desiredFields({ namespace: 'mesh', name: 'b' })?.['sib:a'] ?? 'null')).toMatchObject({ name: 'a', hosts: ['a.example.com', 'shared.example.com'] });
  });

  it('a WorkloadEntry change reaches the entries selecting it and their siblings, field by field', () => {
    const { state, upsert, remove, affected } = setup();
    upsert(serviceEntry('a', ['shared.example.com']));
    upsert(serviceEntry('b', ['shared.example.com']));
    upsert(serviceEntry('c', ['c.example.com']));
    const outcome = upsert(workloadEntry('a-1', '10.0.0.1'));
    expect(affected(outcome)).toEqual(['mesh/a', 'mesh/b']);
    const workload = { namespace: 'mesh', name: 'a-1' };
    const text = (field: string) => JSON.parse(state.desiredFields({ namespace: 'mesh', name: 'b' })?.[field] ?? 'null') as unknown;
    expect(state.desiredWorkloadFields({ namespace: 'mesh', name: 'b' }, workload)).toEqual([
      { field: 'ep:WorkloadEntry/mesh/a-1', text: undefined },
      { field: 'sib:a:ep:WorkloadEntry/mesh/a-1', text: state.desiredFields({ namespace: 'mesh', name: 'b' })?.['sib:a:ep:WorkloadEntry/mesh/a-1'] },
    ]);
    expect(text('sib:a:ep:WorkloadEntry/mesh/a-1')).toMatchObject({ address: '10.0.0.1' });
    expect(affected(remove('WorkloadEntry', 'a-1'))).toEqual(['mesh/a', 'mesh/b']);
    expect(state.desiredWorkloadFields({ namespace: 'mesh', name: 'b' }, workload).map(({ text: t }) => t)).toEqual([undefined, undefined]);
  });

  it('an entry leaving the host, or deleted, leaves its former siblings', () => {
    const { upsert, remove, siblingFields, affected } = setup();
    upsert(serviceEntry('a', ['shared.example.com']));
    upsert(serviceEntry('b', ['shared.example.com']));
    upsert(serviceEntry('c', ['shared.example.com', 'c.example.com']));
    expect(siblingFields('a')).toEqual(['sib:b', 'sib:c']);
    expect(affected(upsert(serviceEntry('c', ['c.example.com'])))).toEqual(['mesh/c', 'mesh/a', 'mesh/b']);
    expect(siblingFields('a')).toEqual(['sib:b']);
    expect(siblingFields('c')).toEqual([]);
    expect(affected(remove('ServiceEntry', 'b'))).toEqual(['mesh/b', 'mesh/a']);
    expect(siblingFields('a')).toEqual([]);
    expect(affected(upsert(workloadEntry('a-1', '10.0.0.1')))).toEqual(['mesh/a']);
  });
});

const virtualService = (name: string, hosts: string[], destination = hosts[0], namespace = 'mesh') => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name, namespace },
  spec: { hosts, http: [{ route: [{ destination: { host: destination } }] }] },
});

describe('DesiredState VirtualServices', () => {
  const setup = () => {
    const state = new DesiredState();
    const upsert = (object: unknown) => state.apply({ type: 'upsert', object, origin: 'test' });
    const remove = (kind: string, name: string, namespace = 'mesh') => state.apply({ type: 'delete', ref: { kind, namespace, name }, origin: 'test' });
    const routeFields = (name: string) => Object.keys(state.desiredFields({ namespace: 'mesh', name }) ?? {}).filter((field) => field.startsWith('vs:')).sort();
    const affected = (outcome: ReturnType<typeof upsert>) => ('affected' in outcome ? outcome.affected.map((key) => key.name) : []);
    return { state, upsert, remove, routeFields, affected };
  };

  it('files a VirtualService in the hash of every ServiceEntry one of its hosts matches, and only those change', () => {
    const { state, upsert, remove, routeFields, affected } = setup();
    upsert(serviceEntry('a', ['a.example.com']));
    upsert(serviceEntry('b', ['b.example.com']));
    upsert(serviceEntry('wild', ['*.example.org']));
    upsert(serviceEntry('kube', ['api.shop.svc.cluster.local']));

    expect(affected(upsert(virtualService('two', ['a.example.com', 'x.example.org'])))).toEqual(['a', 'wild']);
    expect(affected(upsert(virtualService('short', ['api'], 'api', 'shop')))).toEqual(['kube']);
    expect(routeFields('a')).toEqual(['vs:mesh/two']);
    expect(routeFields('b')).toEqual([]);
    expect(routeFields('kube')).toEqual(['vs:shop/short']);
    const stored = JSON.parse(state.desiredFields({ namespace: 'mesh', name: 'a' })?.['vs:mesh/two'] ?? 'null');
    expect(stored).toMatchObject({ namespace: 'mesh', name: 'two', hosts: ['a.example.com', 'x.example.org'], http: [{ route: [{ destination: { host: 'a.example.com' } }] }] });

    // Moving the VirtualService to another host touches the old and the new ServiceEntries only.
    expect(affected(upsert(virtualService('two', ['b.example.com'])))).toEqual(['a', 'b', 'wild']);
    expect(routeFields('a')).toEqual([]);
    expect(routeFields('b')).toEqual(['vs:mesh/two']);
    expect(affected(remove('VirtualService', 'two'))).toEqual(['b']);
    expect(routeFields('b')).toEqual([]);
  });

  it('an invalid VirtualService changes nothing and is reported', () => {
    const { upsert, routeFields } = setup();
    upsert(serviceEntry('a', ['a.example.com']));
    const outcome = upsert({ ...virtualService('bad', ['a.example.com']), spec: { hosts: ['a.example.com'] } });
    expect(outcome).toMatchObject({ result: 'rejected', kind: 'VirtualService' });
    expect(routeFields('a')).toEqual([]);
  });
});
