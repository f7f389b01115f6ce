/**
 * Builds through an `EndpointBytesCache` (service instances kept per endpoint object, endpoint bytes
 * and locality group digests kept per assignment) against the same builds without one: random
 * sequences of builds of one ServiceEntry whose endpoints stay the same objects, change, come and go,
 * and whose ports, trust domain and cluster ID change too. Leaving an input out of what decides
 * whether something kept is used makes some build differ here.
 */
import type { NormalizedEndpoint, NormalizedPort, NormalizedServiceEntry } from '@skiff/model';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deferredLbEndpoints } from './deferred-endpoints.js';
import { EndpointBytesCache } from './endpoint-bytes.js';
import { DEFAULT_MESH_SETTINGS, type MeshSettings } from './mesh.js';
import { port, serviceEntry, workloadEntry } from './test-support/fixtures.js';
import { translateServiceEntry, type TranslateOptions } from './translate.js';
import { encodeResources } from './version.js';
import { TypeUrl } from '@skiff/protos/type-urls.js';

const POOL = 6;

/** A workload's fields, from few values, so that builds share addresses while other inputs differ. */
const workloadChange = fc.record({
  address: fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3', '2001:db8::1', 'vm.example.com', 'unix:///run/sock', ''),
  ports: fc.constantFrom({}, { http: 8081 }, { grpc: 9091 }, { http: 8082, grpc: 9092 }),
  labels: fc.constantFrom({ app: 'svc' }, { app: 'svc', version: 'v2' }, { app: 'svc', 'service.istio.io/canonical-name': 'c', 'app.kubernetes.io/version': 'latest' }),
  locality: fc.constantFrom('', 'r/z', 'r/z/', 'q/z/s'),
  network: fc.constantFrom('', 'n'),
  weight: fc.constantFrom(0, 1, 7),
  tlsMode: fc.constantFrom('istio', 'disabled'),
  serviceAccount: fc.constantFrom('', 'sa', 'spiffe://other/ns/x/sa/y'),
  healthy: fc.constantFrom(true, true, false),
  workloadName: fc.constantFrom('w', 'x'),
});

/** Per workload of the pool: left out, the same object as in the previous build, or a new object with these fields. */
const workloadStep = fc.oneof(fc.constant('absent' as const), fc.constant('same' as const), workloadChange);

const servicePort = (number: number): fc.Arbitrary<NormalizedPort> =>
  fc.record({
    number: fc.constant(number),
    name: fc.constantFrom('http', 'grpc'),
    protocol: fc.constantFrom('HTTP' as const, 'TCP' as const, 'GRPC' as const),
    targetPort: fc.constantFrom(0, 8080),
  });

const buildStep = fc.record({
  workloads: fc.array(workloadStep, { minLength: POOL, maxLength: POOL }),
  ports: fc.oneof(fc.tuple(servicePort(80)), fc.tuple(servicePort(80), servicePort(90))),
  hosts: fc.constantFrom(['svc.example.com'], ['svc.example.com', 'other.example.com']),
  resolution: fc.constantFrom('STATIC' as const, 'STATIC' as const, 'DNS' as const, 'NONE' as const),
  trustDomain: fc.constantFrom('cluster.local', 'td'),
  clusterId: fc.constantFrom('Kubernetes', 'other'),
  /** Mesh settings an EDS cluster is built with. */
  connectTimeoutMs: fc.constantFrom(10_000, 2_500),
  enableAutoMtls: fc.boolean(),
  /** The endpoints handed over rotated by this much, reversed or not: not always in canonical order. */
  rotate: fc.nat(POOL),
  reverse: fc.boolean(),
  /** The previous build's ServiceEntry object again (ports, hosts and resolution above are then unused): its clusters may be kept. */
  sameEntry: fc.boolean(),
  /** The previous build's mesh settings object again (trust domain and cluster ID above are then unused). */
  sameMesh: fc.boolean(),
});

/** What the `Translator` builds per ServiceEntry, all through one scope. */
const VARIANTS: readonly Omit<TranslateOptions, 'mesh'>[] = [
  { flavor: 'envoy', naming: 'sidecar' },
  { flavor: 'envoy', naming: 'sni-dnat' },
  { flavor: 'grpc', naming: 'sidecar' },
];

describe('builds through an EndpointBytesCache', () => {
  it('give the bytes, versions, errors and policies of builds without one, whatever changed between builds', () => {
    fc.assert(
      fc.property(fc.array(buildStep, { minLength: 2, maxLength: 5 }), fc.boolean(), fc.boolean(), (steps, firstBuildKeeps, close) => {
        const cache = new EndpointBytesCache({ firstBuildKeepsFrom: firstBuildKeeps ? 0 : Number.POSITIVE_INFINITY });
        const current: (NormalizedEndpoint | undefined)[] = Array.from({ length: POOL }, () => undefined);
        let previous: { readonly serviceEntry: NormalizedServiceEntry; readonly mesh: MeshSettings } | undefined;
        steps.forEach((step, build) => {
          step.workloads.forEach((change, index) => {
            if (change === 'absent') current[index] = undefined;
            else if (change !== 'same') current[index] = workloadEntry(`vm-${index}`, { ...change, workloadName: `${change.workloadName}-${index}` });
            else current[index] ??= workloadEntry(`vm-${index}`, { address: `10.0.1.${index}` });
          });
          const present = current.filter((endpoint) => endpoint !== undefined);
          const rotated = [...present.slice(step.rotate % Math.max(1, present.length)), ...present.slice(0, step.rotate % Math.max(1, present.length))];
          const endpoints = step.reverse ? rotated.reverse() : rotated;
          const entry = {
            serviceEntry:
              step.sameEntry && previous !== undefined
                ? previous.serviceEntry
                : serviceEntry({ ports: [...step.ports], hosts: [...step.hosts], resolution: step.resolution, location: build % 2 === 0 ? 'MESH_INTERNAL' : 'MESH_EXTERNAL' }),
            mesh:
              step.sameMesh && previous !== undefined
                ? previous.mesh
                : { ...DEFAULT_MESH_SETTINGS, trustDomain: step.trustDomain, clusterId: step.clusterId, connectTimeoutMs: step.connectTimeoutMs, enableAutoMtls: step.enableAutoMtls },
          };
          previous = entry;
          const input = { serviceEntry: entry.serviceEntry, endpoints };
          const { mesh } = entry;
          const scope = cache.scope('se', endpoints.length);
          for (const variant of VARIANTS) {
            const options = { ...variant, mesh };
            const kept = translateServiceEntry(input, options, scope);
            const fresh = translateServiceEntry(input, options);
            const encoded = encodeResources(kept, scope);
            const expected = encodeResources(fresh);
            expect(encoded.map((resource) => resource.name)).toEqual(expected.map((resource) => resource.name));
            encoded.forEach((resource, i) => {
              expect(Buffer.from(resource.bytes)).toEqual(Buffer.from(expected[i]!.bytes));
              expect(resource.version).toBe(expected[i]!.version);
            });
            expect(kept.errors.map(String)).toEqual(fresh.errors.map(String));
            expect(JSON.stringify(kept.localityLbPolicies)).toBe(JSON.stringify(fresh.localityLbPolicies));
          }
          if (close) scope.close();
          // Never more instances than this build's endpoints make (one per endpoint and port).
          if (close) expect(cache.instanceCount).toBeLessThanOrEqual(endpoints.length * entry.serviceEntry.ports.length);
        });
      }),
      { numRuns: 300 },
    );
    // 300 runs of up to five builds in four variants: seconds on an idle machine, more on a loaded one.
  }, 60_000);

  it('hands out the EDS cluster and its encoding again when only an endpoint changed, and builds it again when an input did', () => {
    const cache = new EndpointBytesCache({ firstBuildKeepsFrom: 0 });
    const entry = serviceEntry({ ports: [port()], location: 'MESH_INTERNAL' });
    const options = { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS } as const;
    const build = (endpoints: readonly NormalizedEndpoint[], serviceEntryOfBuild = entry) => {
      const scope = cache.scope('se');
      const result = translateServiceEntry({ serviceEntry: serviceEntryOfBuild, endpoints }, options, scope);
      const encoded = encodeResources(result, scope);
      scope.close();
      return { cluster: result.clusters[0], encoded: encoded.find((resource) => resource.typeUrl === TypeUrl.Cluster) };
    };
    const first = build([workloadEntry('a', { address: '10.0.0.1', serviceAccount: 'sa', tlsMode: 'istio' })]);
    const moved = build([workloadEntry('a', { address: '10.0.0.2', serviceAccount: 'sa', tlsMode: 'istio' })]);
    expect(moved.cluster).toBe(first.cluster);
    expect(moved.encoded).toBe(first.encoded);
    // Another service account changes the SANs: a new cluster, with new bytes.
    const relabelled = build([workloadEntry('a', { address: '10.0.0.2', serviceAccount: 'other', tlsMode: 'istio' })]);
    expect(relabelled.cluster).not.toBe(first.cluster);
    expect(relabelled.encoded?.version).not.toBe(first.encoded?.version);
    // A new ServiceEntry object is built again, even with the same content.
    const again = build([workloadEntry('a', { address: '10.0.0.2', serviceAccount: 'other', tlsMode: 'istio' })], serviceEntry({ ports: [port()], location: 'MESH_INTERNAL' }));
    expect(again.cluster).not.toBe(relabelled.cluster);
    expect(again.encoded?.version).toBe(relabelled.encoded?.version);
  });

  it('builds an instance only for an endpoint object it has not kept, and keeps those of the latest build', () => {
    const cache = new EndpointBytesCache();
    const a = workloadEntry('a', { address: '10.0.0.1' });
    const instancesOf = (endpoints: readonly NormalizedEndpoint[], ports = [port()]) => {
      const scope = cache.scope('se');
      const result = translateServiceEntry({ serviceEntry: serviceEntry({ ports }), endpoints }, { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS }, scope);
      encodeResources(result, scope);
      scope.close();
      return result.loadAssignments.flatMap((assignment) => assignment.endpoints.flatMap((group) => deferredLbEndpoints(group)?.instances ?? []));
    };
    const [a1, b1] = instancesOf([a, workloadEntry('b', { address: '10.0.0.2' })]);
    expect(cache.instanceCount).toBe(2);
    // a is the same object: its instance is kept; b is a new one, built again, and its old instance dropped.
    const [a2, b2] = instancesOf([a, workloadEntry('b', { address: '10.0.0.3' })]);
    expect(a2).toBe(a1);
    expect(b2).not.toBe(b1);
    expect(b2?.address).toBe('10.0.0.3');
    expect(cache.instanceCount).toBe(2);
    // Another target port changes every instance of the port.
    const [a3] = instancesOf([a], [port({ targetPort: 8080 })]);
    expect(a3).not.toBe(a2);
    expect(a3?.port).toBe(8080);
    expect(cache.instanceCount).toBe(1);
  });
});
