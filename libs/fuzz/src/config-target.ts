/**
 * Fuzz target: Istio YAML -> parsing -> istiod's validation -> normalization -> selection ->
 * translation -> protobuf encoding, the path every file of a watched directory and every Kubernetes
 * object takes. Whatever the text, nothing may throw: bad input is a rejected object or a parse error
 * naming the object, field and reason; every resource that comes out decodes as its type, and the
 * same text always builds the same bytes.
 */
import { createHash } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import { formatFieldError, loadIstioConfig, objectLabel } from '@skiff/model';
import { TypeUrl } from '@skiff/protos';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { SelectorIndex } from '@skiff/selector-index';
import { buildServiceEntry, SERVED_VARIANTS } from '@skiff/translator-core';
import { DEFAULT_MESH_SETTINGS } from '@skiff/xds-translate';
import fc from 'fast-check';

/** What a run of the pipeline produced, for the caller's own checks. */
export interface ConfigPipelineOutcome {
  readonly accepted: number;
  readonly rejected: number;
  readonly resources: number;
}

const SCHEMAS = {
  [TypeUrl.Cluster]: ClusterSchema,
  [TypeUrl.ClusterLoadAssignment]: ClusterLoadAssignmentSchema,
  [TypeUrl.Listener]: ListenerSchema,
  [TypeUrl.RouteConfiguration]: RouteConfigurationSchema,
} as const;

/**
 * Runs `text` through the whole pipeline; throws only for a Skiff bug. It runs twice: the second run
 * must build the same resources byte for byte and reject the same objects for the same reasons, as
 * the watcher and the Kubernetes source rebuild from the same input and expect no push.
 */
export function runConfigPipeline(text: string): ConfigPipelineOutcome {
  const first = pipelineOnce(text);
  const second = pipelineOnce(text);
  if (first.digest !== second.digest) throw new Error('the same text built different resources or rejections on a second run');
  return first.outcome;
}

function pipelineOnce(text: string): { outcome: ConfigPipelineOutcome; digest: string } {
  const hash = createHash('sha256');
  const loaded = loadIstioConfig(text, 'fuzz.yaml');
  for (const rejected of loaded.rejected) {
    const label = objectLabel(rejected.kind, rejected.namespace, rejected.name);
    for (const error of rejected.errors) {
      if (typeof error.reason !== 'string' || error.reason === '') throw new Error(`a rejection of ${label} has no reason`);
      if (error.object !== label) throw new Error(`a rejection of ${label} names another object: ${error.object}`);
      if (typeof error.field !== 'string') throw new Error(`a rejection of ${label} has no field path`);
      hash.update(`${formatFieldError(error)}\n`);
    }
  }
  const index = new SelectorIndex();
  for (const { serviceEntry } of loaded.serviceEntries) index.upsertServiceEntry(serviceEntry);
  for (const { endpoint } of loaded.workloadEntries) index.upsertWorkload(endpoint);
  let resources = 0;
  for (const { serviceEntry, inlineEndpoints } of loaded.serviceEntries) {
    const key = { namespace: serviceEntry.namespace, name: serviceEntry.name };
    const endpoints = [...inlineEndpoints, ...index.selectedWorkloads(key)];
    const build = buildServiceEntry({ key, revision: 1, serviceEntry, endpoints }, SERVED_VARIANTS, DEFAULT_MESH_SETTINGS);
    for (const resource of build.resources) {
      const schema = SCHEMAS[resource.typeUrl as keyof typeof SCHEMAS];
      if (schema === undefined) throw new Error(`built a resource of unexpected type ${resource.typeUrl}`);
      fromBinary(schema, resource.bytes);
      hash.update(`${resource.typeUrl} ${resource.name}\n`).update(resource.bytes);
      resources += 1;
    }
  }
  return { outcome: { accepted: loaded.accepted.length, rejected: loaded.rejected.length, resources }, digest: hash.digest('hex') };
}

/** Values that exercise the validation rules: valid ones, edge cases and wrong types. */
const interestingScalar = fc.oneof(
  fc.constantFrom('example-app', 'api.example.com', '*.example.com', '*', '', '.', '10.0.0.1', '::1', '10.0.0.0/8', '2001:db8::/32', 'unix:///var/run/x.sock', 'ns', 'default'),
  fc.constantFrom('TCP', 'HTTP', 'HTTP2', 'GRPC', 'TLS', 'HTTPS', 'MONGO', 'UDP', 'STATIC', 'DNS', 'NONE', 'DNS_ROUND_ROBIN', 'MESH_EXTERNAL', 'MESH_INTERNAL'),
  fc.integer({ min: -2, max: 70_000 }),
  fc.constantFrom(0, 1, 65535, 65536, 2 ** 31, -1, 1.5, Number.MAX_SAFE_INTEGER),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
);

/** A JSON-ish value of bounded depth, where the grammar says "anything". */
const anyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, interestingScalar, fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 3 })),
})).value;

const maybe = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arbitrary, { nil: undefined, freq: 3 });
const labels = fc.dictionary(fc.constantFrom('app', 'version', 'app.kubernetes.io/name', 'tier', ''), fc.oneof(fc.constantFrom('example-app', 'v1', 'web'), interestingScalar), { maxKeys: 3 });
const metadata = fc.record({
  name: fc.oneof(fc.constantFrom('example-app', 'api', 'web-1'), interestingScalar),
  namespace: maybe(fc.oneof(fc.constantFrom('shop', 'default', 'shaoyu-test'), interestingScalar)),
  labels: maybe(labels),
  annotations: maybe(fc.dictionary(fc.string({ maxLength: 20 }), interestingScalar, { maxKeys: 2 })),
});
const port = fc.record({ number: interestingScalar, name: maybe(interestingScalar), protocol: maybe(interestingScalar), targetPort: maybe(interestingScalar) });
const workloadSpec = fc.record({
  address: maybe(interestingScalar),
  ports: maybe(fc.dictionary(fc.constantFrom('http', 'grpc', 'http-8080', ''), interestingScalar, { maxKeys: 2 })),
  labels: maybe(labels),
  network: maybe(interestingScalar),
  locality: maybe(fc.oneof(fc.constantFrom('us-east1/us-east1-b', 'a/b/c/d', ''), interestingScalar)),
  weight: maybe(interestingScalar),
  serviceAccount: maybe(interestingScalar),
});
const serviceEntrySpec = fc.record({
  hosts: maybe(fc.array(interestingScalar, { maxLength: 3 })),
  addresses: maybe(fc.array(interestingScalar, { maxLength: 2 })),
  ports: maybe(fc.array(port, { maxLength: 3 })),
  location: maybe(interestingScalar),
  resolution: maybe(interestingScalar),
  endpoints: maybe(fc.array(workloadSpec, { maxLength: 3 })),
  workloadSelector: maybe(fc.record({ labels: maybe(labels) })),
  exportTo: maybe(fc.array(interestingScalar, { maxLength: 2 })),
  subjectAltNames: maybe(fc.array(interestingScalar, { maxLength: 2 })),
  extra: maybe(anyValue),
});
const apiVersion = fc.constantFrom('networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3', 'networking.istio.io/v2', 'v1');

/** Structured objects: a ServiceEntry, a WorkloadEntry, or something else entirely. */
export const istioObjectArbitrary: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ apiVersion, kind: fc.constant('ServiceEntry'), metadata, spec: serviceEntrySpec }),
  fc.record({ apiVersion, kind: fc.constant('WorkloadEntry'), metadata, spec: workloadSpec }),
  fc.record({ apiVersion: maybe(apiVersion), kind: maybe(interestingScalar), metadata: maybe(anyValue), spec: maybe(anyValue) }),
  anyValue,
);

/** A byte-level mutation of a seed text: cut, duplicate, insert or overwrite a span. */
export const textMutation = fc.record({
  kind: fc.constantFrom('cut', 'duplicate', 'insert', 'overwrite'),
  at: fc.nat(),
  length: fc.nat({ max: 64 }),
  text: fc.oneof(fc.string({ maxLength: 16 }), fc.constantFrom(': ', '- ', '\n', '  ', '{', '[', '&a', '*a', '!!binary', '---\n', '"', "'", '#', '\t', '\u0000')),
});
export interface TextMutation {
  readonly kind: string;
  readonly at: number;
  readonly length: number;
  readonly text: string;
}

export function mutate(seed: string, mutations: readonly TextMutation[]): string {
  let text = seed;
  for (const mutation of mutations) {
    const at = text.length === 0 ? 0 : mutation.at % (text.length + 1);
    const end = Math.min(text.length, at + mutation.length);
    switch (mutation.kind) {
      case 'cut':
        text = text.slice(0, at) + text.slice(end);
        break;
      case 'duplicate':
        text = text.slice(0, end) + text.slice(at, end) + text.slice(end);
        break;
      case 'insert':
        text = text.slice(0, at) + mutation.text + text.slice(at);
        break;
      default:
        text = text.slice(0, at) + mutation.text + text.slice(at + mutation.text.length);
    }
  }
  return text;
}
