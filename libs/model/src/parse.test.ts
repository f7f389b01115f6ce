import { describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { classifyKind } from './kinds.js';
import { formatParseError, formatSourceRef, parseIstioObjects, readIstioObject } from './parse.js';

const se = (name: string, extra = '') => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
${extra}spec:
  hosts: [${name}.example.com]
`;

describe('multi-document YAML', () => {
  test('objects keep their file, 1-based document number and first line', () => {
    const text = `# leading comment\n---\n${se('a')}---\n---\n# only a comment\n---\n${se('b', '  namespace: prod\n')}`;
    const result = parseIstioObjects(text, 'dir/config.yaml');
    expect(result.errors).toEqual([]);
    expect(result.objects.map((o) => [o.metadata.namespace, o.metadata.name, o.source])).toEqual([
      ['default', 'a', { file: 'dir/config.yaml', document: 1, line: 3 }],
      ['prod', 'b', { file: 'dir/config.yaml', document: 4, line: 13 }],
    ]);
    expect(result.objects[0]?.spec).toEqual({ hosts: ['a.example.com'] });
  });

  test('a text with nothing but comments has no objects and no errors', () => {
    expect(parseIstioObjects('# nothing here\n', 'empty.yaml')).toEqual({ objects: [], ignored: [], errors: [] });
    expect(parseIstioObjects('', 'empty.yaml')).toEqual({ objects: [], ignored: [], errors: [] });
  });

  test('the default namespace is the caller\u2019s', () => {
    const result = parseIstioObjects(se('a'), 'a.yaml', { defaultNamespace: 'team-a' });
    expect(result.objects[0]?.metadata.namespace).toBe('team-a');
  });

  test('bad YAML is an error for its document only, with the line of the problem', () => {
    const text = `${se('a')}---\nkind: ServiceEntry\nmetadata: {name: [unclosed\n---\n${se('c')}`;
    const result = parseIstioObjects(text, 'bad.yaml');
    expect(result.objects.map((o) => o.metadata.name)).toEqual(['a', 'c']);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatchObject({ file: 'bad.yaml', document: 2 });
    expect(result.errors[0]?.message).toMatch(/^invalid YAML: /);
    expect(result.errors[0]?.line).toBeGreaterThanOrEqual(9);
  });

  test('duplicate keys are bad YAML, as kubectl says', () => {
    const result = parseIstioObjects('apiVersion: v1\napiVersion: v1\n', 'dup.yaml');
    expect(result.errors[0]?.message).toMatch(/^invalid YAML: Map keys must be unique/);
  });

  test('a sequence or mapping as a key is bad YAML for its document, as istiod\'s YAML to JSON conversion says; a !!binary key is its string; no process warning', () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const text = `${se('a').replace('spec:\n', 'spec:\n  ? !!binary aG9zdHM=\n  : [a.example.com]\n').replace('  hosts: [a.example.com]\n', '')}---\n${se('b').replace('spec:\n', 'spec:\n  ? [x, y]\n  : z\n')}---\n${se('c').replace('spec:\n', 'spec:\n  ports:\n  - {number: 80, {name: http}: 1}\n')}`;
      const result = parseIstioObjects(text, 'keys.yaml');
      // A key tagged !!binary is the string it decodes to, as Go's YAML decodes it ("hosts" here).
      expect(result.objects.map((o) => [o.metadata.name, o.spec])).toEqual([['a', { hosts: ['a.example.com'] }]]);
      expect(result.errors).toEqual([
        { file: 'keys.yaml', document: 2, line: 14, message: 'invalid YAML: invalid map key [x, y]: a key must be a string, number, boolean or null' },
        { file: 'keys.yaml', document: 3, line: 24, message: 'invalid YAML: invalid map key {name: http}: a key must be a string, number, boolean or null' },
      ]);
    } finally {
      process.off('warning', onWarning);
    }
    // emitWarning delivers on the next tick.
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => expect(warnings).toEqual([]));
  });

  test('a bad YAML message is one sentence, without the colon that introduced the library\'s code excerpt', () => {
    const result = parseIstioObjects('kind: ServiceEntry\nmetadata:\n  name: x\n spec: [\n', 'bad.yaml');
    expect(result.errors[0]?.message).toBe('invalid YAML: All mapping items must start at the same column at line 4, column 1');
  });

  test('IPv6 literals in flow lists stay strings, as Kubernetes (go-yaml) reads them', () => {
    const result = parseIstioObjects(se('a').replace('spec:\n', 'spec:\n  addresses: [1.2.3.4, 2001:db8::, "::1", fe80::1, ::]\n'), 'v6.yaml');
    expect((result.objects[0]?.spec as { addresses: unknown }).addresses).toEqual(['1.2.3.4', '2001:db8::', '::1', 'fe80::1', '::']);
    // A real pair in a flow list (blank after the colon) is still a pair.
    const pair = parseIstioObjects(se('b').replace('spec:\n', 'spec:\n  addresses: [a: b]\n'), 'pair.yaml');
    expect((pair.objects[0]?.spec as { addresses: unknown }).addresses).toEqual([{ a: 'b' }]);
  });
});

describe('JSON', () => {
  test('a JSON object is one document', () => {
    const json = JSON.stringify(
      { apiVersion: 'networking.istio.io/v1beta1', kind: 'WorkloadEntry', metadata: { name: 'vm-1', namespace: 'vms' }, spec: { address: '10.0.0.1' } },
      null,
      '\t',
    );
    const result = parseIstioObjects(json, 'we.json');
    expect(result.errors).toEqual([]);
    expect(result.objects).toEqual([
      {
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'WorkloadEntry',
        metadata: { name: 'vm-1', namespace: 'vms' },
        spec: { address: '10.0.0.1' },
        status: undefined,
        source: { file: 'we.json', document: 1, line: 1 },
      },
    ]);
  });

  // Streams of JSON objects skip the YAML parser; these hold them to what the YAML parser reads.
  const workload = (name: string, spec: unknown) => ({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name, namespace: 'vms' }, spec });
  const odd = {
    address: '10.0.0.1',
    labels: { 'app/x': 'a\u00e9\ud83d\ude00"\\/\t', '__proto__': 'own', '1': 'numeric key first', 'colon: inside': '{"not": "json"}' },
    ports: { http: 8080, big: 2 ** 60, exponent: 1.5e3, negative: -0.25 },
    weight: 0,
    empty: [{}, [], null, true, false, ''],
  };
  const viaYaml = (text: string) => parseAllDocuments(text).map((document) => (Array.isArray(document) ? undefined : document.toJS()));

  test.each([
    ['compact, one per line', [workload('a', odd), workload('b', { address: '10.0.0.2' })].map((o) => JSON.stringify(o)).join('\n---\n')],
    ['indented with spaces, leading marker, trailing newline', `---\n${[workload('a', odd), workload('b', {})].map((o) => JSON.stringify(o, null, 2)).join('\n---\n')}\n`],
    ['indented with tabs, blank lines', [workload('a', odd), workload('b', {})].map((o) => `\n${JSON.stringify(o, null, '\t')}\n\n`).join('\n---\n')],
  ])('a stream of JSON objects reads as YAML does: %s', (_, text) => {
    const result = parseIstioObjects(text, 'stream.json');
    expect(result.errors).toEqual([]);
    const lines = text.split('\n');
    const expectedLines = lines.flatMap((line, index) => (line.startsWith('{') ? [index + 1] : []));
    expect(result.objects.map((o) => o.source)).toEqual(expectedLines.map((line, index) => ({ file: 'stream.json', document: index + 1, line })));
    const read = result.objects.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: o.metadata, spec: o.spec }));
    expect(read).toEqual(viaYaml(text));
    expect(read[0]?.spec).toEqual(odd);
    expect(Object.keys(read[0]?.spec as object)).toEqual(Object.keys(viaYaml(text)[0].spec));
  });

  test('a repeated key in a JSON stream is bad YAML, with its document and line, as in YAML', () => {
    const text = `${JSON.stringify(workload('a', {}))}\n---\n{"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",\n "metadata": {"name": "b", "name": "c"}}`;
    const result = parseIstioObjects(text, 'dup.json');
    expect(result.objects.map((o) => o.metadata.name)).toEqual(['a']);
    expect(result.errors).toEqual([{ file: 'dup.json', document: 2, line: 4, message: expect.stringMatching(/^invalid YAML: Map keys must be unique/) }]);
  });

  test.each([
    ['after a string ending in an escaped backslash', '{"kind": "WorkloadEntry", "metadata": {"name": "b\\\\", "name": "c"}}', true],
    ['after a string holding an escaped quote and a colon', '{"kind": "WorkloadEntry", "metadata": {"name": "b\\":", "name": "c"}}', true],
    ['after a string that is an escaped quote', '{"kind": "WorkloadEntry", "metadata": {"name": "\\"", "name": "c"}}', true],
    ['in the last member, after an array of strings', '{"kind": "WorkloadEntry", "metadata": {"name": "b", "x": ["\\"", ":", "\\\\"], "x": 1}}', true],
    ['none: colons and escaped quotes inside strings only', '{"kind": "WorkloadEntry", "metadata": {"name": "b", "x": ["\\":\\\\", "::"]}}', false],
  ])('a JSON stream finds a repeated key %s as YAML does', (_, second, repeated) => {
    const text = `${JSON.stringify(workload('a', {}))}\n---\n${second}`;
    const result = parseIstioObjects(text, 'keys.json');
    expect(result.errors.some((error) => /Map keys must be unique/.test(error.message))).toBe(repeated);
    expect(viaYaml(text).length).toBe(2);
  });

  test('a stream mixing JSON and YAML documents, or with invalid JSON, reads as YAML', () => {
    const mixed = parseIstioObjects(`${JSON.stringify(workload('a', {}))}\n---\n${se('b')}---\n{"kind": ServiceEntry}\n`, 'mixed.yaml');
    expect(mixed.objects.map((o) => [o.metadata.name, o.source.document, o.source.line])).toEqual([
      ['a', 1, 1],
      ['b', 2, 3],
    ]);
    expect(mixed.errors).toEqual([{ file: 'mixed.yaml', document: 3, line: 10, message: 'missing apiVersion' }]);
  });

  test('a Kubernetes List in a JSON stream keeps the lines of its items', () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [workload('a', {}), workload('b', {})] };
    const result = parseIstioObjects(`${JSON.stringify(workload('x', {}))}\n---\n${JSON.stringify(list, null, 1)}`, 'list.json');
    expect(result.objects.map((o) => [o.metadata.name, o.source])).toEqual([
      ['x', { file: 'list.json', document: 1, line: 1 }],
      ['a', { file: 'list.json', document: 2, line: 7, item: 0 }],
      ['b', { file: 'list.json', document: 2, line: 16, item: 1 }],
    ]);
  });

  test('a JSON list at the top level is not an object', () => {
    expect(parseIstioObjects('[1, 2]', 'list.json').errors).toEqual([{ file: 'list.json', document: 1, line: 1, message: 'not an object (found a list)' }]);
  });
});

describe('Kubernetes lists', () => {
  test('kind: List items are read one by one, with their index and line', () => {
    const text = `apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: WorkloadEntry
  metadata: {name: a}
  spec: {address: 1.1.1.1}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: d}
- apiVersion: networking.istio.io/v1alpha3
  kind: EnvoyFilter
  metadata: {name: vs}
`;
    const result = parseIstioObjects(text, 'list.yaml');
    expect(result.objects.map((o) => [o.metadata.name, o.source])).toEqual([['a', { file: 'list.yaml', document: 1, line: 4, item: 0 }]]);
    expect(result.errors.map((e) => [e.item, e.line, e.message.slice(0, 25)])).toEqual([[1, 8, 'unknown kind "Deployment"']]);
    expect(result.ignored.map((i) => [i.kind, i.name, i.source.item])).toEqual([['EnvoyFilter', 'vs', 2]]);
  });

  test('items of a typed list inherit apiVersion and kind, as API server list responses leave them out', () => {
    const text = JSON.stringify({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntryList',
      metadata: { resourceVersion: '42' },
      items: [{ metadata: { name: 'x', namespace: 'ns' }, spec: { hosts: ['x.example.com'] } }],
    });
    const result = parseIstioObjects(text, 'list.json');
    expect(result.objects.map((o) => [o.kind, o.apiVersion, o.metadata.namespace, o.metadata.name])).toEqual([
      ['ServiceEntry', 'networking.istio.io/v1', 'ns', 'x'],
    ]);
  });

  test('a list whose items are not a list is an error; null items is an empty list', () => {
    expect(parseIstioObjects('apiVersion: v1\nkind: List\nitems: 3\n', 'l.yaml').errors[0]?.message).toBe('List items must be a list, not a number');
    expect(parseIstioObjects('apiVersion: v1\nkind: List\nitems:\n', 'l.yaml')).toEqual({ objects: [], ignored: [], errors: [] });
  });
});

describe('documents that are not usable objects', () => {
  const messageOf = (text: string) => parseIstioObjects(text, 'x.yaml').errors.map((e) => e.message);
  test.each([
    ['a scalar', 'just text\n', 'not an object (found a string)'],
    ['a list', '- a\n- b\n', 'not an object (found a list)'],
    ['no kind', 'apiVersion: networking.istio.io/v1\nmetadata: {name: a}\n', 'missing kind'],
    ['no apiVersion', 'kind: ServiceEntry\nmetadata: {name: a}\n', 'missing apiVersion'],
    ['kind not a string', 'apiVersion: v1\nkind: 3\n', 'kind must be a string, not a number'],
    ['no name', 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {generateName: a-}\n', 'ServiceEntry without metadata.name'],
    ['no metadata', 'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nspec: {}\n', 'WorkloadEntry without metadata.name'],
    ['metadata not an object', 'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: x\n', 'metadata must be an object, not a string'],
    ['namespace not a string', 'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: a, namespace: 5}\n', 'metadata.namespace must be a string, not a number'],
    [
      'unknown kind',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n',
      'unknown kind "Deployment" (apiVersion "apps/v1"): Skiff reads networking.istio.io ServiceEntry, WorkloadEntry, WorkloadGroup, DestinationRule, Sidecar, Gateway, VirtualService',
    ],
    [
      'unsupported version',
      'apiVersion: networking.istio.io/v2\nkind: ServiceEntry\nmetadata: {name: a}\n',
      'unsupported apiVersion "networking.istio.io/v2" for ServiceEntry: Skiff reads networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3',
    ],
    [
      'misspelled Istio kind',
      'apiVersion: networking.istio.io/v1\nkind: VirtualSevice\nmetadata: {name: a}\n',
      'unknown kind "VirtualSevice" (apiVersion "networking.istio.io/v1"): Skiff reads networking.istio.io ServiceEntry, WorkloadEntry, WorkloadGroup, DestinationRule, Sidecar, Gateway, VirtualService',
    ],
  ])('%s', (_name, text, message) => expect(messageOf(text)).toEqual([message]));
});

describe('kinds', () => {
  test.each(['v1', 'v1beta1', 'v1alpha3'])('networking.istio.io/%s is read for every kind Skiff reads', (version) => {
    for (const kind of ['ServiceEntry', 'WorkloadEntry', 'WorkloadGroup', 'DestinationRule', 'Sidecar', 'Gateway', 'VirtualService']) {
      expect(classifyKind(`networking.istio.io/${version}`, kind)).toEqual({ type: 'skiff', kind });
    }
  });
  test.each([
    ['networking.istio.io/v1alpha3', 'ProxyConfig'],
    ['networking.istio.io/v1alpha3', 'EnvoyFilter'],
    ['security.istio.io/v1', 'AuthorizationPolicy'],
    ['security.istio.io/v1beta1', 'PeerAuthentication'],
    ['telemetry.istio.io/v1alpha1', 'Telemetry'],
    ['extensions.istio.io/v1alpha1', 'WasmPlugin'],
  ])('%s %s is ignored', (apiVersion, kind) => expect(classifyKind(apiVersion, kind)).toEqual({ type: 'ignored' }));

  test('ignored objects keep their identity and source', () => {
    const result = parseIstioObjects('apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: default, namespace: none}\n', 's.yaml');
    expect(result).toEqual({
      objects: [],
      errors: [],
      ignored: [{ apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFilter', namespace: 'none', name: 'default', source: { file: 's.yaml', document: 1, line: 1 } }],
    });
  });
});

test('readIstioObject reads a decoded object (the watcher\u2019s Kubernetes objects)', () => {
  const read = readIstioObject(
    { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'a', namespace: '' }, spec: {}, status: { conditions: [] } },
    { file: 'kubernetes', document: 1, line: 1 },
    { defaultNamespace: 'fallback' },
  );
  expect(read).toMatchObject({ type: 'object', object: { metadata: { name: 'a', namespace: 'fallback' }, status: { conditions: [] } } });
});

test('messages name the file, document, item and line', () => {
  expect(formatParseError({ file: 'a.yaml', document: 2, line: 14, message: 'missing kind' })).toBe('a.yaml: document 2 (line 14): missing kind');
  expect(formatParseError({ file: 'a.yaml', document: 1, line: 4, item: 3, message: 'missing kind' })).toBe('a.yaml: document 1, item 3 (line 4): missing kind');
  expect(formatSourceRef({ file: 'a.yaml', document: 2, line: 14 })).toBe('a.yaml:14 (document 2)');
});
