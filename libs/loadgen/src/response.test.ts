import { create, toBinary } from '@bufbuild/protobuf';
import { anyPack, type Any } from '@bufbuild/protobuf/wkt';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { TypeUrl } from '@skiff/protos';
import { contentVersion } from '@skiff/protos/content-version.js';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { DeltaDiscoveryResponseSchema, DiscoveryResponseSchema } from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import { describe, expect, it } from 'vitest';
import { FingerprintCache, fingerprint, readDeltaDiscoveryResponse, readDiscoveryResponse, resourceMessageName, WireFormatError } from './response.js';

const cluster = (name: string, seconds = 10n) => create(ClusterSchema, { name, connectTimeout: { seconds } });
const assignment = (name: string, port = 80) =>
  create(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: [{ lbEndpoints: [{ hostIdentifier: { case: 'endpoint', value: { address: { address: { case: 'socketAddress', value: { address: '10.0.0.1', portSpecifier: { case: 'portValue', value: port } } } } } } }] }],
  });

describe('readDiscoveryResponse', () => {
  it('reads type, nonce, version and each resource name, skipping everything else', () => {
    const bytes = toBinary(
      DiscoveryResponseSchema,
      create(DiscoveryResponseSchema, {
        versionInfo: 'v1',
        typeUrl: TypeUrl.Cluster,
        nonce: 'n-1',
        canary: true,
        controlPlane: { identifier: 'skiff' },
        resources: [anyPack(ClusterSchema, cluster('outbound|80||a.ns.svc.cluster.local')), anyPack(ClusterSchema, cluster('b'))],
      }),
    );
    const response = readDiscoveryResponse(bytes);
    expect(response).toMatchObject({ typeUrl: TypeUrl.Cluster, nonce: 'n-1', versionInfo: 'v1', removed: [] });
    expect(response.resources.map((resource) => resource.name)).toEqual(['outbound|80||a.ns.svc.cluster.local', 'b']);
  });

  it('gives equal bytes equal versions and changed bytes a new one', () => {
    const read = (port: number) =>
      readDiscoveryResponse(toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { typeUrl: TypeUrl.ClusterLoadAssignment, nonce: 'n', resources: [anyPack(ClusterLoadAssignmentSchema, assignment('a', port))] }))).resources[0]!;
    expect(read(80).version).toBe(read(80).version);
    expect(read(81).version).not.toBe(read(80).version);
    expect(read(80).name).toBe('a');
  });

  it('takes the same versions from a fingerprint cache, per type and name, kept from bytes it copied', () => {
    const versions = new FingerprintCache();
    const response = (typeUrl: string, resources: Any[]) => toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { typeUrl, nonce: 'n', resources }));
    const endpoints = (port: number) => response(TypeUrl.ClusterLoadAssignment, [anyPack(ClusterLoadAssignmentSchema, assignment('a', port)), anyPack(ClusterLoadAssignmentSchema, assignment('b'))]);
    const uncached = (bytes: Uint8Array) => readDiscoveryResponse(bytes).resources;

    const first = endpoints(80);
    expect(readDiscoveryResponse(first, versions).resources).toEqual(uncached(first));
    // The response's buffer is reused by the transport: what the cache kept is its own copy.
    const again = endpoints(80);
    first.fill(0);
    expect(readDiscoveryResponse(again, versions).resources).toEqual(uncached(again));
    const changed = endpoints(81);
    expect(readDiscoveryResponse(changed, versions).resources).toEqual(uncached(changed));
    expect(readDiscoveryResponse(changed, versions).resources[0]!.version).not.toBe(uncached(again)[0]!.version);
    // A cluster named like an assignment is another resource.
    const clusters = response(TypeUrl.Cluster, [anyPack(ClusterSchema, cluster('a'))]);
    expect(readDiscoveryResponse(clusters, versions).resources).toEqual(uncached(clusters));
    expect(readDiscoveryResponse(endpoints(81), versions).resources).toEqual(uncached(changed));
    expect(versions.size).toBe(3);
  });

  it('names a resource without a name by its position', () => {
    const bytes = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { typeUrl: TypeUrl.Cluster, nonce: 'n', resources: [anyPack(ClusterSchema, cluster('a')), anyPack(ClusterSchema, cluster(''))] }));
    expect(readDiscoveryResponse(bytes).resources.map((resource) => resource.name)).toEqual(['a', '#1']);
  });

  it('skips unknown fields of every wire type', () => {
    const known = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { typeUrl: TypeUrl.Cluster, nonce: 'n', resources: [anyPack(ClusterSchema, cluster('a'))] }));
    const unknown = new BinaryWriter().tag(90, WireType.Varint).uint64(2n ** 60n).tag(91, WireType.Bit64).fixed64(7n).tag(92, WireType.Bit32).fixed32(7).tag(93, WireType.LengthDelimited).bytes(new Uint8Array(200)).finish();
    const response = readDiscoveryResponse(new Uint8Array([...unknown, ...known]));
    expect(response).toMatchObject({ typeUrl: TypeUrl.Cluster, nonce: 'n' });
    expect(response.resources.map((resource) => resource.name)).toEqual(['a']);
  });

  it('refuses truncated bytes', () => {
    const bytes = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { typeUrl: TypeUrl.Cluster, nonce: 'n', resources: [anyPack(ClusterSchema, cluster('a'))] }));
    expect(() => readDiscoveryResponse(bytes.subarray(0, bytes.length - 1))).toThrow(WireFormatError);
    expect(() => readDeltaDiscoveryResponse(new Uint8Array([0x0a, 0x05, 0x61]))).toThrow(WireFormatError);
    expect(() => readDiscoveryResponse(new Uint8Array([0x08, 0xff]))).toThrow(WireFormatError);
  });

  it('reads an empty response', () => {
    expect(readDiscoveryResponse(new Uint8Array(0))).toEqual({ typeUrl: '', nonce: '', versionInfo: '', resources: [], removed: [] });
  });
});

describe('resourceMessageName', () => {
  it('finds the name of every type a proxy subscribes to', () => {
    expect(resourceMessageName(toBinary(ClusterSchema, cluster('c')))).toBe('c');
    expect(resourceMessageName(toBinary(ClusterLoadAssignmentSchema, assignment('e')))).toBe('e');
    expect(resourceMessageName(toBinary(ListenerSchema, create(ListenerSchema, { name: 'l:80', statPrefix: 'x' })))).toBe('l:80');
    expect(resourceMessageName(toBinary(RouteConfigurationSchema, create(RouteConfigurationSchema, { name: 'r', virtualHosts: [{ name: 'vh' }] })))).toBe('r');
    expect(resourceMessageName(toBinary(ClusterSchema, create(ClusterSchema, { connectTimeout: { seconds: 1n } })))).toBeUndefined();
  });
});

describe('readDeltaDiscoveryResponse', () => {
  it('reads resources with the server versions, and removals from both fields once', () => {
    const bytes = toBinary(
      DeltaDiscoveryResponseSchema,
      create(DeltaDiscoveryResponseSchema, {
        systemVersionInfo: 's1',
        typeUrl: TypeUrl.ClusterLoadAssignment,
        nonce: 'd-1',
        resources: [
          { name: 'a', version: 'va', resource: anyPack(ClusterLoadAssignmentSchema, assignment('a')) },
          { name: 'b', version: '', resource: anyPack(ClusterLoadAssignmentSchema, assignment('b')) },
        ],
        removedResources: ['gone', 'also-gone'],
        removedResourceNames: [{ name: 'gone' }, { name: 'third' }],
      }),
    );
    const response = readDeltaDiscoveryResponse(bytes);
    expect(response).toMatchObject({ typeUrl: TypeUrl.ClusterLoadAssignment, nonce: 'd-1', versionInfo: 's1', removed: ['gone', 'also-gone', 'third'] });
    expect(response.resources[0]).toEqual({ name: 'a', version: 'va' });
    // No server version: the bytes' fingerprint stands in.
    expect(response.resources[1]).toEqual({ name: 'b', version: fingerprint(toBinary(ClusterLoadAssignmentSchema, assignment('b'))) });
  });

  it('falls back to the message name when Resource.name is missing', () => {
    const bytes = toBinary(DeltaDiscoveryResponseSchema, create(DeltaDiscoveryResponseSchema, { typeUrl: TypeUrl.Cluster, nonce: 'n', resources: [{ version: 'v', resource: anyPack(ClusterSchema, cluster('x')) }, { version: 'w' }] }));
    expect(readDeltaDiscoveryResponse(bytes).resources).toEqual([
      { name: 'x', version: 'v' },
      { name: '#1', version: 'w' },
    ]);
  });
});

describe('fingerprint', () => {
  it('is the content version of the bytes (SHA-256, hex), of a view without its surroundings', () => {
    // The SHA-256 test vectors of the empty input and of "abc" (FIPS 180-2, appendix B.1).
    expect(fingerprint(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const framed = new TextEncoder().encode('xxabcyy');
    expect(fingerprint(framed, 2, 5)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(fingerprint(framed, 2, 5)).toBe(contentVersion(new TextEncoder().encode('abc')));
  });
});
