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
