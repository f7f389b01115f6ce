import { describe, expect, it } from 'vitest';
import { canonicalJson, DecodedFieldCache, decodeServiceEntry, diffFields, FRESH_FIELD_ENCODING, isEmptyDiff, serviceEntryFields, type FieldEncoding } from './fields.js';
import { rule, serviceEntry, workload } from './test-support/fixtures.js';

const KEY = { namespace: 'default', name: 'a' };

describe('ServiceEntry hash fields', () => {
  it('writes JSON with sorted keys, so equal entries are equal text', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    const reordered = Object.fromEntries(Object.entries(serviceEntry(KEY)).reverse());
    expect(canonicalJson(reordered)).toBe(canonicalJson(serviceEntry(KEY)));
  });

  it('takes the text and the field names from the caller when given an encoding', () => {
    const entries = [workload('default', 'vm-1', '10.0.0.1'), workload('default', 'vm-2', '10.0.0.2')];
    const encoded: unknown[] = [];
    const remembering: FieldEncoding = {
      serviceEntry: (entry) => {
        encoded.push(entry);
        return FRESH_FIELD_ENCODING.serviceEntry(entry);
      },
      endpoint: (endpoint) => {
        encoded.push(endpoint);
        return FRESH_FIELD_ENCODING.endpoint(endpoint);
      },
      destinationRule: (rule) => {
        encoded.push(rule);
        return FRESH_FIELD_ENCODING.destinationRule(rule);
      },
      virtualService: (virtualService) => {
        encoded.push(virtualService);
        return FRESH_FIELD_ENCODING.virtualService(virtualService);
      },
    };
    expect(serviceEntryFields(serviceEntry(KEY), entries, remembering)).toEqual(serviceEntryFields(serviceEntry(KEY), entries));
    expect(encoded).toEqual([serviceEntry(KEY), ...entries]);
    const constant: FieldEncoding = {
      serviceEntry: () => 'text',
      endpoint: (endpoint) => ({ field: `ep:${endpoint.workloadName}`, text: 'text' }),
      destinationRule: (rule) => ({ field: `dr:${rule.name}`, text: 'text' }),
      virtualService: (virtualService) => ({ field: `vs:${virtualService.name}`, text: 'text' }),
    };
    expect(serviceEntryFields(serviceEntry(KEY), entries, constant)).toEqual({ se: 'text', 'ep:vm-1': 'text', 'ep:vm-2': 'text' });
    expect(() => serviceEntryFields(serviceEntry(KEY), entries, { ...constant, endpoint: () => ({ field: 'ep:same', text: '' }) })).toThrow(/two endpoints/);
    const rules = [rule('default', 'r1'), rule('other', 'r2')];
    expect(serviceEntryFields(serviceEntry(KEY), [], remembering, rules)).toEqual(serviceEntryFields(serviceEntry(KEY), [], FRESH_FIELD_ENCODING, rules));
    expect(encoded.slice(-2)).toEqual(rules);
    expect(() => serviceEntryFields(serviceEntry(KEY), [], { ...constant, destinationRule: () => ({ field: 'dr:same', text: '' }) }, rules)).toThrow(/two DestinationRules/);
  });

  it('stores each DestinationRule under dr:<namespace>/<name> and decodes them checked, in field order', () => {
    const rules = [rule('shop', 'b', { subsets: [{ name: 'v1', labels: { version: 'v1' }, trafficPolicy: null }] }), rule('default', 'a')];
    const fields = serviceEntryFields(serviceEntry(KEY), [workload('default', 'vm-1', '10.0.0.1')], FRESH_FIELD_ENCODING, rules);
    expect(Object.keys(fields).sort()).toEqual(['dr:default/a', 'dr:shop/b', 'ep:WorkloadEntry/default/vm-1', 'se']);
    const decoded = decodeServiceEntry({ key: KEY, revision: 3, fields });
    expect(decoded.destinationRules).toEqual([rules[1], rules[0]]);
    expect(decoded.endpoints).toHaveLength(1);
    expect(decodeServiceEntry({ key: KEY, revision: 1, fields: serviceEntryFields(serviceEntry(KEY), []) }).destinationRules).toEqual([]);
  });

  it('stores siblings as sib:<name> and sib:<name>:<endpoint field>, and decodes each with its endpoints', () => {
    const legacy = serviceEntry({ namespace: 'default', name: 'legacy' });
    const other = serviceEntry({ namespace: 'default', name: 'other' });
    const siblings = [
      { serviceEntry: other, endpoints: [] },
      { serviceEntry: legacy, endpoints: [workload('default', 'vm-2', '10.0.0.2'), workload('default', 'vm-1', '10.0.0.1')] },
    ];
    const fields = serviceEntryFields(serviceEntry(KEY), [workload('default', 'vm-1', '10.0.0.1')], FRESH_FIELD_ENCODING, [], siblings);
    expect(Object.keys(fields).sort()).toEqual([
      'ep:WorkloadEntry/default/vm-1',
      'se',
      'sib:legacy',
      'sib:legacy:ep:WorkloadEntry/default/vm-1',
      'sib:legacy:ep:WorkloadEntry/default/vm-2',
      'sib:other',
    ]);
    const decoded = decodeServiceEntry({ key: KEY, revision: 2, fields });
    expect(decoded.siblings).toEqual([
      { serviceEntry: legacy, endpoints: [workload('default', 'vm-1', '10.0.0.1'), workload('default', 'vm-2', '10.0.0.2')] },
      { serviceEntry: other, endpoints: [] },
    ]);
    expect(decodeServiceEntry({ key: KEY, revision: 1, fields: serviceEntryFields(serviceEntry(KEY), []) }).siblings).toEqual([]);
    expect(() => serviceEntryFields(serviceEntry(KEY), [], FRESH_FIELD_ENCODING, [], [{ serviceEntry: serviceEntry({ namespace: 'shop', name: 'legacy' }), endpoints: [] }])).toThrow(/not a sibling/);
    expect(() => serviceEntryFields(serviceEntry(KEY), [], FRESH_FIELD_ENCODING, [], [{ serviceEntry: serviceEntry(KEY), endpoints: [] }])).toThrow(/not a sibling/);
    const { 'sib:legacy': _dropped, ...withoutEntry } = fields;
    expect(() => decodeServiceEntry({ key: KEY, revision: 3, fields: withoutEntry })).toThrow(expect.objectContaining({ code: 'corrupt', message: expect.stringContaining('sibling legacy') }));
    expect(() => decodeServiceEntry({ key: KEY, revision: 3, fields: { ...fields, 'sib:other': '{}' } })).toThrow(expect.objectContaining({ code: 'corrupt', message: expect.stringContaining('field sib:other') }));
  });

  it('diffs to the fields whose text changed and those that went away', () => {
    const current = serviceEntryFields(serviceEntry(KEY), [workload('default', 'vm-1', '10.0.0.1'), workload('default', 'vm-2', '10.0.0.2')]);
    const desired = serviceEntryFields(serviceEntry(KEY), [workload('default', 'vm-1', '10.0.0.9'), workload('default', 'vm-3', '10.0.0.3')]);
    const diff = diffFields(current, desired);
    expect(Object.keys(diff.set).sort()).toEqual(['ep:WorkloadEntry/default/vm-1', 'ep:WorkloadEntry/default/vm-3']);
    expect(diff.delete).toEqual(['ep:WorkloadEntry/default/vm-2']);
    expect(isEmptyDiff(diffFields(desired, desired))).toBe(true);
    expect(diffFields(null, desired)).toEqual({ set: desired, delete: [] });
    expect(() => diffFields(null, {})).toThrow(/no se field/);
  });

  it('decodes a stored hash into checked entries in field order', () => {
    const fields = serviceEntryFields(serviceEntry(KEY), [workload('default', 'vm-2', '10.0.0.2'), workload('default', 'vm-1', '10.0.0.1')]);
    const decoded = decodeServiceEntry({ key: KEY, revision: 7, fields });
    expect(decoded.revision).toBe(7);
    expect(decoded.serviceEntry).toEqual(serviceEntry(KEY));
    expect(decoded.endpoints.map((e) => e.workloadName)).toEqual(['vm-1', 'vm-2']);
  });

  it('names the bad field when a stored hash is not what the schema says', () => {
    const fields = serviceEntryFields(serviceEntry(KEY), [workload('default', 'vm-1', '10.0.0.1')]);
    expect(() => decodeServiceEntry({ key: KEY, revision: 1, fields: { ...fields, se: '{' } })).toThrow(expect.objectContaining({ code: 'corrupt', message: expect.stringContaining('field se is not JSON') }));
    expect(() => decodeServiceEntry({ key: KEY, revision: 1, fields: { ...fields, 'ep:WorkloadEntry/default/vm-1': '{"address":1}' } })).toThrow(
      expect.objectContaining({ code: 'corrupt', message: expect.stringContaining('ep:WorkloadEntry/default/vm-1') }),
    );
    expect(() => decodeServiceEntry({ key: KEY, revision: 1, fields: { ...fields, 'dr:default/r': '{"host":""}' } })).toThrow(
      expect.objectContaining({ code: 'corrupt', message: expect.stringContaining('dr:default/r') }),
    );
    expect(() => decodeServiceEntry({ key: KEY, revision: 1, fields: { ...fields, 'dr:default/r': 'not json' } })).toThrow(
      expect.objectContaining({ code: 'corrupt', message: expect.stringContaining('field dr:default/r is not JSON') }),
    );
    const { se: _se, ...withoutServiceEntry } = fields;
    expect(() => decodeServiceEntry({ key: KEY, revision: 1, fields: withoutServiceEntry })).toThrow(expect.objectContaining({ code: 'corrupt' }));
  });

  it('decodes through a DecodedFieldCache what decoding afresh gives, an unchanged field as the same object', () => {
    const cache = new DecodedFieldCache({ keepFromSecondDecoding: true });
    const vm1 = workload('default', 'vm-1', '10.0.0.1');
    const vm2 = workload('default', 'vm-2', '10.0.0.2');
    const decode = (fields: Record<string, string>, revision: number) => {
      const decoded = decodeServiceEntry({ key: KEY, revision, fields }, cache);
      expect(decoded).toEqual(decodeServiceEntry({ key: KEY, revision, fields }));
      return decoded;
    };
    const fields = serviceEntryFields(serviceEntry(KEY), [vm1, vm2], FRESH_FIELD_ENCODING, [rule('default', 'r1')]);
    const first = decode(fields, 1);
    // The first decoding keeps nothing; the second keeps every field, each decoded again.
    expect(cache.size).toBe(0);
    const second = decode(fields, 2);
    expect(second.endpoints[0]).not.toBe(first.endpoints[0]);
    expect(cache.size).toBe(4);
    // vm-2 moved, vm-1 and the rest did not: the same objects, vm-2 a new one.
    const moved = serviceEntryFields(serviceEntry(KEY), [vm1, workload('default', 'vm-2', '10.0.0.9')], FRESH_FIELD_ENCODING, [rule('default', 'r1')]);
    const third = decode(moved, 3);
    expect(third.serviceEntry).toBe(second.serviceEntry);
    expect(third.endpoints[0]).toBe(second.endpoints[0]);
    expect(third.destinationRules[0]).toBe(second.destinationRules[0]);
    expect(third.endpoints[1]).not.toBe(second.endpoints[1]);
    expect(third.endpoints[1]?.address).toBe('10.0.0.9');
    // A hash that does not decode changes nothing kept.
    expect(() => decodeServiceEntry({ key: KEY, revision: 4, fields: { ...moved, 'ep:WorkloadEntry/default/vm-1': '{' } }, cache)).toThrow(expect.objectContaining({ code: 'corrupt' }));
    // vm-2 gone: only the fields of the latest decoding are kept.
    const fourth = decode(serviceEntryFields(serviceEntry(KEY), [vm1], FRESH_FIELD_ENCODING, [rule('default', 'r1')]), 5);
    expect(fourth.endpoints[0]).toBe(third.endpoints[0]);
    expect(cache.size).toBe(3);
    cache.forget(`${KEY.namespace}/${KEY.name}`);
    expect(cache.size).toBe(0);
  });
});
