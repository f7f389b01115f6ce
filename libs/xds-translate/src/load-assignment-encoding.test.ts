import { create, toBinary, type JsonObject } from '@bufbuild/protobuf';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildClusterLoadAssignment, buildLocalityLbEndpoints } from './endpoint.js';
import { deferredLbEndpoints } from './deferred-endpoints.js';
import { EndpointBytesCache, FIRST_BUILD_KEEPS_FROM } from './endpoint-bytes.js';
import type { ServiceInstance } from './instances.js';
import { assignmentVersion } from './assignment-version.js';
import { encodeClusterLoadAssignment, encodeVersionedClusterLoadAssignment } from './load-assignment-encoding.js';

const UINT32_MAX = 4_294_967_295;
const text = fc.oneof(fc.string({ maxLength: 6 }), fc.string({ unit: 'grapheme', maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 3 }), fc.constantFrom('', 'istio', 'tlsMode'));
const optionalWeight = fc.option(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: UINT32_MAX })), { nil: undefined });

/** Mostly string-valued metadata (the direct path), sometimes other JSON values (the fallback). */
const metadataValue = fc.oneof({ weight: 40, arbitrary: text }, { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.dictionary(text, text, { maxKeys: 2 })) });
const filterMetadata = fc.dictionary(text, fc.dictionary(text, metadataValue, { maxKeys: 3 }) as fc.Arbitrary<JsonObject>, { maxKeys: 3 });

const hostIdentifier = fc.oneof(
  { weight: 30, arbitrary: fc.record({ address: text, port: fc.option(fc.integer({ min: 0, max: 65_535 }), { nil: undefined }) }).map(({ address, port }) => ({
    case: 'endpoint' as const,
    value: { address: { address: { case: 'socketAddress' as const, value: { address, ...(port === undefined ? {} : { portSpecifier: { case: 'portValue' as const, value: port } }) } } } },
  })) },
  { weight: 6, arbitrary: text.map((path) => ({ case: 'endpoint' as const, value: { address: { address: { case: 'pipe' as const, value: { path } } } } })) },
  { weight: 1, arbitrary: fc.constant({ case: 'endpoint' as const, value: {} }) },
  { weight: 1, arbitrary: text.map((name) => ({ case: 'endpointName' as const, value: name })) },
  { weight: 1, arbitrary: fc.constant({ case: undefined }) },
  // Fields the direct path does not write: these assignments must take the fallback.
  { weight: 1, arbitrary: text.map((hostname) => ({ case: 'endpoint' as const, value: { hostname } })) },
  { weight: 1, arbitrary: fc.constant({ case: 'endpoint' as const, value: { address: { address: { case: 'socketAddress' as const, value: { address: 'h', ipv4Compat: true } } } } }) },
);

const lbEndpoint = fc.record(
  { hostIdentifier, healthStatus: fc.integer({ min: 0, max: 5 }), metadata: fc.option(fc.record({ filterMetadata }), { nil: undefined }), loadBalancingWeight: optionalWeight },
  { requiredKeys: ['hostIdentifier'] },
);

const localityLbEndpoints = fc.record(
  {
    locality: fc.option(fc.record({ region: text, zone: text, subZone: text }), { nil: undefined }),
    lbEndpoints: fc.array(lbEndpoint, { maxLength: 4 }),
    loadBalancingWeight: optionalWeight,
    priority: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: UINT32_MAX })),
    proximity: fc.oneof({ weight: 19, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) }),
  },
  { requiredKeys: ['lbEndpoints'] },
);

const assignment = fc
  .record({ clusterName: text, endpoints: fc.array(localityLbEndpoints, { maxLength: 4 }), withPolicy: fc.integer({ min: 0, max: 19 }).map((n) => n === 0) })
  .map(({ clusterName, endpoints, withPolicy }) =>
    create(ClusterLoadAssignmentSchema, { clusterName, endpoints: endpoints as never, ...(withPolicy ? { policy: { overprovisioningFactor: 140 } } : {}) }),
  );

describe('encodeClusterLoadAssignment', () => {
  it('writes the bytes toBinary writes, for random assignments', () => {
    fc.assert(
      fc.property(assignment, (message) => {
        expect(Buffer.from(encodeClusterLoadAssignment(message))).toEqual(Buffer.from(toBinary(ClusterLoadAssignmentSchema, message)));
      }),
      { numRuns: 2_000 },
    );
  });

  it('versions random assignments by every byte of them: a change anywhere changes the version', () => {
    fc.assert(
      fc.property(assignment, fc.nat(), fc.integer({ min: 1, max: 255 }), (message, at, flip) => {
        const { bytes, version } = encodeVersionedClusterLoadAssignment(message);
        expect(version).toBe(assignmentVersion(toBinary(ClusterLoadAssignmentSchema, message)));
        if (bytes.length === 0) return;
        const changed = Uint8Array.from(bytes);
        const index = at % bytes.length;
        changed[index] = (changed[index] as number) ^ flip;
        expect(assignmentVersion(changed)).not.toBe(version);
      }),
      { numRuns: 2_000 },
    );
  });

  it('writes the bytes toBinary writes for what the endpoint builders produce', () => {
    const instance = (n: number, over: Partial<ServiceInstance> = {}): ServiceInstance => ({
      address: `10.0.0.${n}`,
      port: 8080,
      labels: n % 2 === 0 ? { app: 'reviews', version: 'v2' } : {},
      locality: ['', 'us-east/zone-a', 'us-east/zone-a/', 'eu/zone-b/rack-1'][n % 4] ?? '',
      network: '',
      weight: n % 3,
      tlsMode: n % 2 === 0 ? 'istio' : 'disabled',
      serviceAccount: '',
      workloadName: `vm-${n}`,
      namespace: 'ns',
      origin: `WorkloadEntry ns/vm-${n}`,
      ...over,
    });
    const instances = [...Array.from({ length: 12 }, (_, n) => instance(n)), instance(12, { address: '/var/run/sock', port: 0 }), instance(13, { address: 'ünï.example' })];
    for (const groupBy of ['label', 'locality'] as const) {
      const message = buildClusterLoadAssignment('outbound|8080||reviews.ns.svc', buildLocalityLbEndpoints(instances, { clusterId: 'Kubernetes', groupBy, fitTotalWeight: true }));
      expect(Buffer.from(encodeClusterLoadAssignment(message))).toEqual(Buffer.from(toBinary(ClusterLoadAssignmentSchema, message)));
    }
    expect(Buffer.from(encodeClusterLoadAssignment(buildClusterLoadAssignment('empty', [])))).toEqual(Buffer.from(toBinary(ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, { clusterName: 'empty' }))));
  });

  it('writes the bytes toBinary writes from random instances, without building the endpoint messages', () => {
    const instance = fc.record({
      address: fc.oneof(text, fc.constantFrom('10.0.0.1', '2001:db8::1', 'vm.example.com')),
      port: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 65_535 })),
      labels: fc.dictionary(fc.constantFrom('app', 'version', 'app.kubernetes.io/name', 'service.istio.io/canonical-revision', 'x'), text, { maxKeys: 3 }),
      locality: fc.constantFrom('', 'r', 'r/z', 'r/z/', 'r/z/s', 'q/z'),
      network: fc.constant(''),
      weight: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1_000 })),
      tlsMode: fc.constantFrom('istio', 'disabled', ''),
      serviceAccount: fc.constant(''),
      workloadName: text,
      namespace: text,
      origin: fc.constant('test'),
    });
    fc.assert(
      fc.property(fc.array(instance, { maxLength: 6 }), fc.constantFrom('label', 'locality'), fc.boolean(), text, (instances, groupBy, fitTotalWeight, clusterId) => {
        const build = () => buildClusterLoadAssignment('c', buildLocalityLbEndpoints(instances, { clusterId, groupBy, fitTotalWeight }));
        const [deferred, reference] = [build(), build()];
        // Still deferred when encoded: the direct path writes them, and toBinary builds the messages.
        for (const group of deferred.endpoints) expect(deferredLbEndpoints(group)).toBeDefined();
        expect(Buffer.from(encodeClusterLoadAssignment(deferred))).toEqual(Buffer.from(toBinary(ClusterLoadAssignmentSchema, reference)));
      }),
      { numRuns: 1_000 },
    );
  });

  it('splices the bytes toBinary writes from the endpoints of earlier builds, whatever changed between builds', () => {
    // Few distinct values, so that builds share addresses (the cache key) while other inputs differ.
    const small = fc.constantFrom('', 'a', 'ü', 'latest');
    const instance = fc.record({
      address: fc.constantFrom('10.0.0.1', '10.0.0.2', '2001:db8::1', 'vm.example.com', '/run/sock', ''),
      port: fc.constantFrom(0, 80, 8080),
      labels: fc.dictionary(fc.constantFrom('app', 'version', 'app.kubernetes.io/name', 'service.istio.io/canonical-name', 'service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'x'), small, { maxKeys: 3 }),
      locality: fc.constantFrom('', 'r/z', 'r/z/', 'q/z'),
      network: fc.constantFrom('', 'n'),
      weight: fc.constantFrom(0, 1, 2, 300),
      tlsMode: fc.constantFrom('istio', 'disabled', ''),
      serviceAccount: fc.constant(''),
      workloadName: small,
      namespace: small,
      origin: fc.constant('test'),
    });
    const build = fc.record({
      instances: fc.array(instance, { maxLength: 6 }),
      clusterName: fc.constantFrom('c', 'd'),
      clusterId: fc.constantFrom('Kubernetes', 'other'),
      groupBy: fc.constantFrom('label' as const, 'locality' as const),
      // How many instances (the same objects) the assignment takes over from the previous build's first.
      kept: fc.nat(6),
    });
    fc.assert(
      fc.property(fc.array(fc.array(build, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 4 }), fc.boolean(), (builds, close) => {
        const cache = new EndpointBytesCache();
        let previous: readonly ServiceInstance[] = [];
        for (const assignments of builds) {
          const scope = cache.scope('owner');
          const first = assignments[0]?.instances ?? [];
          for (const { instances: own, kept, clusterName, clusterId, groupBy } of assignments) {
            const instances = [...previous.slice(0, kept), ...own];
            const make = () => buildClusterLoadAssignment(clusterName, buildLocalityLbEndpoints(instances, { clusterId, groupBy, fitTotalWeight: false }));
            const expected = toBinary(ClusterLoadAssignmentSchema, make());
            const { bytes, version } = encodeVersionedClusterLoadAssignment(make(), scope);
            expect(Buffer.from(bytes)).toEqual(Buffer.from(expected));
            expect(version).toBe(assignmentVersion(expected));
          }
          if (close) scope.close();
          previous = [...previous.slice(0, assignments[0]?.kept ?? 0), ...first];
        }
      }),
      { numRuns: 400 },
    );
  });

  /** Workload `vm-<n>` at 10.0.0.<n>:80, labelled `app: a`. */
  const instance = (n: number, over: Partial<ServiceInstance> = {}): ServiceInstance => ({
    address: `10.0.0.${n}`,
    port: 80,
    labels: { app: 'a' },
    locality: '',
    network: '',
    weight: 0,
    tlsMode: 'istio',
    serviceAccount: '',
    workloadName: `vm-${n}`,
    namespace: 'ns',
    origin: `WorkloadEntry ns/vm-${n}`,
    ...over,
  });

  it('keeps the endpoints of two groups with one locality (two spellings of it) apart', () => {
    const cache = new EndpointBytesCache();
    const encode = (instances: readonly ServiceInstance[]): void => {
      const scope = cache.scope('se');
      const make = () => buildClusterLoadAssignment('c', buildLocalityLbEndpoints(instances, { clusterId: 'k', groupBy: 'label', fitTotalWeight: false }));
      expect(Buffer.from(encodeClusterLoadAssignment(make(), scope))).toEqual(Buffer.from(toBinary(ClusterLoadAssignmentSchema, make())));
      scope.close();
    };
    const [a1, a2, a3] = [instance(1, { locality: 'r/z' }), instance(2, { locality: 'r/z' }), instance(3, { locality: 'r/z' })];
    encode([a1!, a2!, instance(9, { locality: 's' })]);
    // The r/z group is the same; the r/z/ group (the same locality field) holds a copy of a2 that writes the same bytes.
    encode([a1!, a2!, { ...a2!, locality: 'r/z/' }]);
    encode([a1!, a2!, a3!]);
  });

  it('keeps for an owner only the endpoints its latest build used', () => {
    const cache = new EndpointBytesCache();
    const encode = (owner: string, assignments: Record<string, readonly ServiceInstance[]>): Buffer[] => {
      const scope = cache.scope(owner);
      const encoded = Object.entries(assignments).map(([name, instances]) => {
        const message = buildClusterLoadAssignment(name, buildLocalityLbEndpoints(instances, { clusterId: 'k', groupBy: 'label', fitTotalWeight: false }));
        const bytes = Buffer.from(encodeClusterLoadAssignment(message, scope));
        expect(bytes).toEqual(Buffer.from(toBinary(ClusterLoadAssignmentSchema, message)));
        return bytes;
      });
      scope.close();
      return encoded;
    };
    const three = [instance(1), instance(2), instance(3)];
    encode('se-1', { c: three, d: three });
    encode('se-2', { e: [instance(4)] });
    expect(cache.size).toBe(7);
    // vm-2 leaves, vm-3 is relabelled (a new canonical revision), d is gone: 2 entries, both current.
    const [again] = encode('se-1', { c: [instance(1), instance(3, { labels: { app: 'a', version: 'v2' } })] });
    expect(again?.includes(Buffer.from('vm-3;ns;a;v2;k'))).toBe(true);
    expect(cache.size).toBe(3);
    cache.forget('se-1');
    expect(cache.size).toBe(1);
    expect(cache.ownerCount).toBe(1);
  });

  it.each([
    { endpoints: undefined, firstBuildKeeps: true },
    { endpoints: FIRST_BUILD_KEEPS_FROM, firstBuildKeeps: true },
    { endpoints: FIRST_BUILD_KEEPS_FROM - 1, firstBuildKeeps: false },
  ])('keeps the endpoints of an owner from its first build when it has at least FIRST_BUILD_KEEPS_FROM of them ($endpoints), of its later builds always', ({ endpoints, firstBuildKeeps }) => {
    const instances = [instance(1), instance(2), instance(3)];
    const cache = new EndpointBytesCache();
    const build = (): void => {
      const scope = cache.scope('se', endpoints);
      const message = buildClusterLoadAssignment('c', buildLocalityLbEndpoints(instances, { clusterId: 'k', groupBy: 'label', fitTotalWeight: false }));
      expect(Buffer.from(encodeClusterLoadAssignment(message, scope))).toEqual(Buffer.from(toBinary(ClusterLoadAssignmentSchema, message)));
      scope.close();
    };
    build();
    expect(cache.size).toBe(firstBuildKeeps ? 3 : 0);
    expect(cache.ownerCount).toBe(1);
    build();
    expect(cache.size).toBe(3);
    build();
    expect(cache.size).toBe(3);
    cache.forget('se');
    expect(cache.ownerCount).toBe(0);
  });

  it('writes endpoints from the messages once something has read or replaced them', () => {
    const instances = [
      { address: '10.0.0.1', port: 80, labels: {}, locality: '', network: '', weight: 0, tlsMode: 'istio', serviceAccount: '', workloadName: 'a', namespace: 'ns', origin: 'test' },
      { address: '10.0.0.2', port: 80, labels: {}, locality: '', network: '', weight: 2, tlsMode: 'disabled', serviceAccount: '', workloadName: 'b', namespace: 'ns', origin: 'test' },
    ];
    const edited = buildClusterLoadAssignment('c', buildLocalityLbEndpoints(instances, { clusterId: 'k', groupBy: 'label', fitTotalWeight: false }));
    const [group] = edited.endpoints;
    if (group === undefined) throw new Error('no locality group');
    group.lbEndpoints.pop();
    expect(deferredLbEndpoints(group)).toBeUndefined();
    expect(Buffer.from(encodeClusterLoadAssignment(edited))).toEqual(Buffer.from(toBinary(ClusterLoadAssignmentSchema, edited)));
    const replaced = buildClusterLoadAssignment('c', buildLocalityLbEndpoints(instances, { clusterId: 'k', groupBy: 'label', fitTotalWeight: false }));
    const [other] = replaced.endpoints;
    if (other === undefined) throw new Error('no locality group');
    other.lbEndpoints = [];
    expect(encodeClusterLoadAssignment(replaced)).toEqual(toBinary(ClusterLoadAssignmentSchema, replaced));
    expect(other.lbEndpoints).toEqual([]);
  });
});
