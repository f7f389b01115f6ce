/**
 * Every file of Istio's own example YAML (`libs/model/testdata/istio/`, copied from istio/istio with its license and origin: the CRD test
 * fixtures of `pkg/config/validation/testdata/crds/` and real-world samples) goes through the loader.
 *
 * Documents of the crds-* files carry `_err: <CRD message>` when the object is invalid. The key is not
 * part of any real object, so it is blanked out (line numbers stay) before loading, and the table below
 * maps each `_err` to the webhook message Skiff must report.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { checkNormalizedEndpoint, checkNormalizedServiceEntry } from './normalized.js';
import { formatFieldError } from './field-error.js';
import { loadIstioConfig, type LoadResult } from './load.js';

const FIXTURES = new URL('../testdata/istio/', import.meta.url);

interface ExpectedRejection {
  readonly name: string;
  /** The CRD message in the fixture's `_err` (checked, so the table cannot drift from the file). */
  readonly crd: string;
  /** Every error Skiff reports, `field: reason`, the webhook message of the `_err` rule first. */
  readonly webhook: readonly string[];
}

/** `file#document` -> expected rejection (document numbers, because some invalid fixtures share a name). */
const REJECTIONS: Readonly<Record<string, ExpectedRejection>> = {
  'crds-serviceentry-invalid.yaml#1': {
    name: 'no-spec',
    crd: 'spec: Required value',
    webhook: ['spec.hosts: service entry must have at least one host'],
  },
  'crds-serviceentry-invalid.yaml#2': {
    name: 'missing-host',
    crd: 'spec.hosts: Required value',
    webhook: ['spec.hosts: service entry must have at least one host'],
  },
  'crds-serviceentry-invalid.yaml#3': {
    name: 'bad-selector-value',
    crd: 'wildcard is not supported in selector',
    webhook: ['spec.workloadSelector.labels.val: wildcard is not supported in selector: "val=*"'],
  },
  'crds-serviceentry-invalid.yaml#4': {
    name: 'selector-and-endpoints',
    crd: 'only one of WorkloadSelector or Endpoints can be set',
    // Resolution is unset (NONE), so istiod also rejects the endpoints themselves.
    webhook: [
      'spec.endpoints: only one of WorkloadSelector or Endpoints is allowed in Service Entry',
      'spec.endpoints: no endpoints should be provided for resolution type none',
    ],
  },
  'crds-serviceentry-invalid.yaml#5': {
    name: 'bad-host-wildcard',
    crd: 'hostname cannot be wildcard',
    webhook: ['spec.hosts[0]: invalid host *'],
  },
  'crds-serviceentry-invalid.yaml#6': {
    name: 'bad-cidr-resolution',
    crd: 'CIDR addresses are allowed only for NONE/STATIC resolution types',
    webhook: ['spec.addresses: CIDR addresses are allowed only for NONE/STATIC resolution types'],
  },
  'crds-serviceentry-invalid.yaml#7': {
    name: 'duplicate-ports-name',
    crd: 'Duplicate value',
    webhook: ['spec.ports[1].name: service entry port name "a" already defined'],
  },
  'crds-serviceentry-invalid.yaml#8': {
    name: 'duplicate-ports-number',
    crd: 'port number cannot be duplicated',
    webhook: ['spec.ports[1].number: service entry port 1 already defined'],
  },
  'crds-serviceentry-invalid.yaml#9': {
    name: 'bad-port',
    crd: 'port must be between 1-65535',
    webhook: ['spec.ports[0].number: port number 99999 must be in the range 1..65535'],
  },
  'crds-serviceentry-invalid.yaml#10': {
    name: 'bad-port-target',
    crd: 'port must be between 1-65535',
    webhook: ['spec.ports[0].targetPort: port number 99999 must be in the range 1..65535'],
  },
  'crds-serviceentry-invalid.yaml#11': {
    name: 'none-with-endpoints',
    crd: 'NONE mode cannot set endpoints',
    webhook: ['spec.endpoints: no endpoints should be provided for resolution type none'],
  },
  'crds-serviceentry-invalid.yaml#12': {
    name: 'dns-rr-with-multiple-endpoints',
    crd: 'DNS_ROUND_ROBIN mode cannot have multiple endpoints',
    webhook: ['spec.endpoints: there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN'],
  },
  'crds-workloadentry-invalid.yaml#1': { name: 'no-spec', crd: 'spec: Required value', webhook: ['spec.address: address is required'] },
  'crds-workloadentry-invalid.yaml#2': { name: 'missing-address', crd: 'Address is required', webhook: ['spec.address: address is required'] },
  'crds-workloadentry-invalid.yaml#3': {
    name: 'bad-uds-dir',
    crd: 'UDS may not be a dir',
    webhook: ['spec.address: /dir/ is not an absolute path to a file'],
  },
  'crds-workloadentry-invalid.yaml#4': {
    name: 'bad-uds-relative',
    crd: 'UDS must be an absolute path or abstract socket',
    webhook: ['spec.address: relative is not an absolute path to a file'],
  },
  'crds-workloadentry-invalid.yaml#5': {
    name: 'uds-with-ports',
    crd: 'UDS may not include ports',
    webhook: ['spec.ports: unix endpoint unix://@foo must not include ports'],
  },
  'crds-workloadentry-invalid.yaml#6': {
    name: 'high-port',
    crd: 'port must be between 1-65535',
    webhook: ['spec.ports.http: port number 99999 must be in the range 1..65535'],
  },
  'crds-workloadentry-invalid.yaml#7': {
    name: 'bad-port-name',
    crd: 'spec.ports: Invalid value',
    webhook: ['spec.ports["@"]: invalid port name: @'],
  },
  'crds-workloadgroup-invalid.yaml#1': { name: 'no-spec', crd: 'spec: Required value', webhook: ['spec.template: template is required'] },
  'crds-workloadgroup-invalid.yaml#2': {
    name: 'tcp-probe-invalid',
    crd: 'port must be between 1-65535',
    webhook: ['spec.probe.tcpSocket.port: port number 65536 must be in the range 1..65535'],
  },
  'crds-workloadgroup-invalid.yaml#3': {
    name: 'http-probe-invalid',
    crd: 'spec.probe.httpGet.httpHeaders[0].name in body should match',
    webhook: ['spec.probe.httpGet.httpHeaders[0].name: header name ** is not a valid header name'],
  },
  'crds-destinationrule-invalid.yaml#1': {
    name: 'bookinfo-ratings',
    crd: 'spec.trafficPolicy.loadBalancer.warmup.minimumPercent: Invalid value',
    webhook: ['spec.trafficPolicy.loadBalancer.warmup.minimumPercent: minimumPercent value should be less than or equal to 100'],
  },
  'crds-destinationrule-invalid.yaml#2': {
    name: 'bookinfo-ratings',
    crd: 'spec.trafficPolicy.loadBalancer.warmup.duration: Required value',
    webhook: ['spec.trafficPolicy.loadBalancer.warmup.duration: duration is required'],
  },
  'crds-destinationrule-invalid.yaml#3': {
    name: 'bookinfo-ratings',
    crd: 'spec.trafficPolicy.loadBalancer.warmup.aggression: Invalid value',
    webhook: ['spec.trafficPolicy.loadBalancer.warmup.aggression: aggression should be greater than 0'],
  },
};

/** Warnings istiod's webhook gives for valid fixtures (formatted); every other accepted object has none. */
const WARNINGS: Readonly<Record<string, readonly string[]>> = {
  'crds-serviceentry-valid.yaml': [
    'ServiceEntry default/empty-selector: spec.workloadSelector: service entry: workload selector specified without labels, will be applied to all services in namespace',
    'ServiceEntry default/empty-selector: spec.workloadSelector: workloadSelector should not be set when resolution mode is NONE',
    'ServiceEntry default/partial-wildcard: spec.hosts[0]: partial wildcard "*x" not allowed',
  ],
  'crds-workloadentry-valid.yaml': ['WorkloadEntry default/missing-address-network-set: spec.address: address is unset with network "net"'],
  'destination-rule-all.yaml': [
    "DestinationRule testns/destall: spec.subsets[1].trafficPolicy.loadBalancer.consistentHash.minimumRingSize: consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
  ],
};

const SKIFF_KINDS = new Set(['ServiceEntry', 'WorkloadEntry', 'WorkloadGroup', 'DestinationRule', 'Sidecar', 'Gateway', 'VirtualService']);
const ISTIO_GROUPS = ['networking.istio.io/', 'security.istio.io/', 'telemetry.istio.io/', 'extensions.istio.io/'];

interface FixtureDocument {
  readonly document: number;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly error?: string;
}

/** The fixture's documents as the file states them, read independently of the code under test. */
function describeFixture(text: string): FixtureDocument[] {
  const out: FixtureDocument[] = [];
  parseAllDocuments(text).forEach((document, index) => {
    const value = document.toJS() as Record<string, unknown> | null;
    if (value === null) return;
    const metadata = (value['metadata'] ?? {}) as Record<string, unknown>;
    const error = value['_err'];
    out.push({
      document: index + 1,
      apiVersion: String(value['apiVersion']),
      kind: String(value['kind']),
      name: String(metadata['name']),
      namespace: typeof metadata['namespace'] === 'string' ? metadata['namespace'] : 'default',
      ...(typeof error === 'string' ? { error } : {}),
    });
  });
  return out;
}

const fixtureFiles = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.yaml'))
  .sort();

test('the fixture directory is there', () => {
  expect(fixtureFiles.length).toBeGreaterThanOrEqual(27);
});

describe.each(fixtureFiles)('%s', (file) => {
  const original = readFileSync(new URL(file, FIXTURES), 'utf8');
  // Blank the `_err` lines rather than delete them, so document and line numbers stay the file's.
  const text = original.replace(/^_err:.*$/gm, '');
  const documents = describeFixture(original);
  const result: LoadResult = loadIstioConfig(text, file);

  test('every Skiff kind without _err is accepted, with exactly the expected warnings', () => {
    const expected = documents.filter((d) => d.apiVersion.startsWith('networking.istio.io/') && SKIFF_KINDS.has(d.kind) && d.error === undefined);
    expect(result.accepted.map((a) => [a.source.document, a.kind, a.namespace, a.name])).toEqual(
      expected.map((d) => [d.document, d.kind, d.namespace, d.name]),
    );
    expect(result.accepted.flatMap((a) => a.warnings.map(formatFieldError))).toEqual(WARNINGS[file] ?? []);
  });

  test('every object with _err is rejected with the webhook reason', () => {
    const expected = documents.filter((d) => d.error !== undefined);
    expect(result.rejected.map((r) => r.source.document)).toEqual(expected.map((d) => d.document));
    for (const document of expected) {
      const row = REJECTIONS[`${file}#${document.document}`];
      expect(row, `no table row for ${file} document ${document.document}`).toBeDefined();
      if (row === undefined) continue;
      expect(document.error).toBe(row.crd);
      const rejected = result.rejected.find((r) => r.source.document === document.document);
      expect(rejected?.name).toBe(row.name);
      expect(rejected?.errors.map((e) => `${e.field}: ${e.reason}`)).toEqual(row.webhook);
    }
  });

  test('other Istio kinds are ignored and non-Istio kinds are unknown-kind errors', () => {
    const istio = (d: FixtureDocument) => ISTIO_GROUPS.some((group) => d.apiVersion.startsWith(group));
    const ignored = documents.filter((d) => istio(d) && !SKIFF_KINDS.has(d.kind));
    const foreign = documents.filter((d) => !istio(d));
    expect(result.ignored.map((i) => [i.source.document, i.kind, i.name])).toEqual(ignored.map((d) => [d.document, d.kind, d.name]));
    expect(result.errors.map((e) => e.document)).toEqual(foreign.map((d) => d.document));
    for (const error of result.errors) expect(error.message).toMatch(/^unknown kind "(Service|Deployment)"/);
  });

  test('normalized entries match the schema and keep every inline endpoint', () => {
    for (const loaded of result.serviceEntries) {
      expect(checkNormalizedServiceEntry(loaded.serviceEntry)).toMatchObject({ valid: true });
      for (const endpoint of loaded.inlineEndpoints) expect(checkNormalizedEndpoint(endpoint)).toMatchObject({ valid: true });
    }
    for (const loaded of result.workloadEntries) expect(checkNormalizedEndpoint(loaded.endpoint)).toMatchObject({ valid: true });
    const inlineCounts = result.serviceEntries.map((s) => s.inlineEndpoints.length);
    const accepted = result.accepted.filter((a) => a.object.kind === 'ServiceEntry');
    expect(inlineCounts).toEqual(accepted.map((a) => (a.object.kind === 'ServiceEntry' ? a.object.spec.endpoints.length : -1)));
  });
});

test('every table row names a fixture document that has that _err', () => {
  for (const key of Object.keys(REJECTIONS)) {
    const [file = '', document = ''] = key.split('#');
    const found = describeFixture(readFileSync(new URL(file, FIXTURES), 'utf8')).find((d) => d.document === Number(document));
    expect(found?.error, key).toBe(REJECTIONS[key]?.crd);
  }
});
