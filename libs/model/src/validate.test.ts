import { describe, expect, test } from 'vitest';
import { formatFieldError } from './field-error.js';
import { findings, validate } from './test-support/objects.js';

describe('metadata', () => {
  const valid = { hosts: ['a.com'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }] };

  test('names and namespaces follow Kubernetes object name rules', () => {
    expect(findings('ServiceEntry', valid, { name: 'My_Entry', namespace: 'Team A' }).errors).toEqual([
      ['metadata.name', 'invalid name "My_Entry": must be a lowercase RFC 1123 subdomain of at most 253 characters'],
      ['metadata.namespace', 'invalid namespace "Team A": must be a lowercase RFC 1123 label of at most 63 characters'],
    ]);
    expect(findings('ServiceEntry', valid, { name: 'a.b-c', namespace: 'team-a' }).errors).toEqual([]);
  });

  test('labels must be valid labels; labels and annotations are string maps', () => {
    expect(findings('ServiceEntry', valid, { labels: { 'bad key!': 'x', n: 1 }, annotations: { a: true } }).errors).toEqual([
      ['metadata.labels.n', 'must be a string, not a number (1)'],
      ['metadata.labels["bad key!"]', 'invalid tag key: "bad key!"'],
      ['metadata.annotations.a', 'must be a string, not a boolean (true)'],
    ]);
  });

  test('creationTimestamp is RFC 3339', () => {
    expect(findings('ServiceEntry', valid, { creationTimestamp: '2024-05-01T10:00:00Z' }).errors).toEqual([]);
    expect(findings('ServiceEntry', valid, { creationTimestamp: 'yesterday' }).errors).toEqual([
      ['metadata.creationTimestamp', 'invalid timestamp "yesterday": expected RFC 3339, e.g. 2024-05-01T10:00:00Z'],
    ]);
  });

  test('istiod refuses the dry-run annotation outside AuthorizationPolicy, and its internal annotations', () => {
    const annotations = {
      'istio.io/dry-run': 'true',
      'internal.istio.io/webhook-always-reject': '',
      'internal.istio.io/parent-namespace': 'x',
      'internal.istio.io/parents': 'x',
    };
    expect(findings('WorkloadEntry', { address: '1.1.1.1' }, { namespace: 'ns', annotations }).errors).toEqual([
      ['metadata.annotations["istio.io/dry-run"]', 'ns/test has unsupported annotation istio.io/dry-run, please remove the annotation'],
      ['metadata.annotations["internal.istio.io/webhook-always-reject"]', '"internal.istio.io/webhook-always-reject" annotation found, rejecting'],
      ['metadata.annotations["internal.istio.io/parent-namespace"]', '"internal.istio.io/parent-namespace" annotation found, this may not be set by users'],
      ['metadata.annotations["internal.istio.io/parents"]', '"internal.istio.io/parents" annotation found, this may not be set by users'],
    ]);
  });
});

describe('validateObject', () => {
  test('a valid object comes back typed, with defaults left for normalization', () => {
    const result = validate('ServiceEntry', { hosts: ['a.com'], ports: [{ number: 80, name: 'http', protocol: 'http' }] }, { namespace: 'ns', labels: { team: 'x' } });
    expect(result).toEqual({
      valid: true,
      warnings: [],
      object: {
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: { name: 'test', namespace: 'ns', labels: { team: 'x' }, annotations: {} },
        spec: { hosts: ['a.com'], addresses: [], ports: [{ number: 80, name: 'http', protocol: 'http' }], endpoints: [], exportTo: [], subjectAltNames: [] },
        status: undefined,
        source: { file: 'test.yaml', document: 1, line: 1 },
      },
    });
  });

  test('all errors of an object are collected, warnings kept apart', () => {
    const result = validate('ServiceEntry', { hosts: ['*', '*x.com'], addresses: ['nope'], ports: [{ number: 0, name: 'a b', protocol: 'bogus' }] });
    expect(result.valid).toBe(false);
    if (result.valid) return;
    expect(result.errors.map(formatFieldError)).toEqual([
      'ServiceEntry default/test: spec.hosts[0]: invalid host *',
      'ServiceEntry default/test: spec.addresses[0]: nope is not a valid IP',
      'ServiceEntry default/test: spec.ports[0].name: invalid port name: a b',
      'ServiceEntry default/test: spec.ports[0].protocol: unsupported protocol: bogus',
      'ServiceEntry default/test: spec.ports[0].number: port number 0 must be in the range 1..65535',
    ]);
    expect(result.warnings.map(formatFieldError)).toEqual([
      'ServiceEntry default/test: spec.hosts[1]: partial wildcard "*x.com" not allowed',
    ]);
  });

  test('messages are formatted as object: field: reason', () => {
    expect(formatFieldError({ object: 'ServiceEntry ns/name', field: 'spec.hosts[0]', reason: 'invalid host *' })).toBe('ServiceEntry ns/name: spec.hosts[0]: invalid host *');
    expect(formatFieldError({ object: 'ServiceEntry ns/name', field: '', reason: 'broken' })).toBe('ServiceEntry ns/name: broken');
  });

  test('never throws on odd input', () => {
    const odd = [null, 0, 'x', [], { hosts: [null, 1, {}] }, { ports: [[], 'x', { number: {} }] }, { endpoints: [1, 'x', []] }, { workloadSelector: { labels: [] } }];
    for (const spec of odd) {
      for (const kind of ['ServiceEntry', 'WorkloadEntry', 'WorkloadGroup', 'DestinationRule'] as const) {
        expect(() => validate(kind, spec)).not.toThrow();
        expect(validate(kind, spec).valid).toBe(false);
      }
    }
  });
});
