/** The hand-framed responses are byte for byte what protobuf-es encodes for the same message. */
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { TypeUrl } from '@skiff/protos';
import {
  DeltaDiscoveryResponseSchema,
  DiscoveryResponseSchema,
} from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import { testCluster, testLoadAssignment } from '@skiff/xds-conformance';
import { describe, expect, it } from 'vitest';
import { servedResource } from './served-resource.js';
import { encodeAny, encodeDeltaDiscoveryResponse, encodeDiscoveryResponse } from './wire.js';

const clusters = [testCluster('a'), testCluster('b', 3)].map((r) => servedResource(r.typeUrl, r.name, r.bytes));

describe('encodeDiscoveryResponse', () => {
  it('frames pre-encoded Any bytes exactly as toBinary encodes the message', () => {
    const bytes = encodeDiscoveryResponse({
      versionInfo: '00ff00ff00ff00ff',
      typeUrl: TypeUrl.Cluster,
      nonce: 'abc-1',
      resources: clusters.map((c) => c.anyBytes),
      controlPlaneIdentifier: '{"Component":"skiff"}',
    });
    const expected = create(DiscoveryResponseSchema, {
      versionInfo: '00ff00ff00ff00ff',
      typeUrl: TypeUrl.Cluster,
      nonce: 'abc-1',
      resources: [testCluster('a'), testCluster('b', 3)].map((r) => create(AnySchema, { typeUrl: TypeUrl.Cluster, value: r.bytes })),
      controlPlane: { identifier: '{"Component":"skiff"}' },
    });
    expect(bytes).toEqual(toBinary(DiscoveryResponseSchema, expected));
    expect(equals(DiscoveryResponseSchema, fromBinary(DiscoveryResponseSchema, bytes), expected)).toBe(true);
  });

  it('leaves empty fields off the wire like proto3', () => {
    const bytes = encodeDiscoveryResponse({ versionInfo: '', typeUrl: TypeUrl.ClusterLoadAssignment, nonce: 'n', resources: [] });
    expect(bytes).toEqual(toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { typeUrl: TypeUrl.ClusterLoadAssignment, nonce: 'n' })));
  });
});

describe('encodeAny', () => {
  it.each([
    ['a cluster', TypeUrl.Cluster, testCluster('a').bytes],
    ['an empty value', TypeUrl.Cluster, new Uint8Array(0)],
    ['a value with a three-byte length', TypeUrl.ClusterLoadAssignment, new Uint8Array(70_000).fill(7)],
    ['a non-ASCII type URL and no value', 'type.googleapis.com/größe', new Uint8Array(0)],
    ['an empty type URL', '', Uint8Array.of(1, 2, 3)],
  ])('writes %s exactly as toBinary does, the value as its tail', (_, typeUrl, value) => {
    const bytes = encodeAny(typeUrl, value);
    expect(bytes).toEqual(toBinary(AnySchema, create(AnySchema, { typeUrl, value })));
    expect(bytes.subarray(bytes.length - value.length)).toEqual(value);
  });
});

describe('framing sizes', () => {
  it('writes multi-byte lengths and non-ASCII names exactly as toBinary does', () => {
    const big = servedResource(TypeUrl.ClusterLoadAssignment, 'big', new Uint8Array(70_000).fill(7));
    const sotw = encodeDiscoveryResponse({ versionInfo: 'v', typeUrl: TypeUrl.ClusterLoadAssignment, nonce: 'ñ-1', resources: [big.anyBytes] });
    expect(sotw).toEqual(
      toBinary(
        DiscoveryResponseSchema,
        create(DiscoveryResponseSchema, { versionInfo: 'v', typeUrl: TypeUrl.ClusterLoadAssignment, nonce: 'ñ-1', resources: [{ typeUrl: TypeUrl.ClusterLoadAssignment, value: big.bytes }] }),
      ),
    );
    const delta = encodeDeltaDiscoveryResponse({ systemVersionInfo: '', typeUrl: 'x', nonce: 'n', resources: [{ ...big, name: 'größe' }], removedResources: ['', 'ü'] });
    expect(delta).toEqual(
      toBinary(
        DeltaDiscoveryResponseSchema,
        create(DeltaDiscoveryResponseSchema, {
          typeUrl: 'x',
          nonce: 'n',
          resources: [{ name: 'größe', version: big.version, resource: { typeUrl: TypeUrl.ClusterLoadAssignment, value: big.bytes } }],
          removedResources: ['', 'ü'],
        }),
      ),
    );
  });
});

describe('encodeDeltaDiscoveryResponse', () => {
  it('frames resources and removals exactly as toBinary encodes the message', () => {
    const endpoint = testLoadAssignment('x');
    const served = servedResource(endpoint.typeUrl, endpoint.name, endpoint.bytes);
    const bytes = encodeDeltaDiscoveryResponse({
      systemVersionInfo: '0123456789abcdef',
      typeUrl: TypeUrl.ClusterLoadAssignment,
      nonce: 'n-7',
      resources: [served],
      removedResources: ['gone-1', 'gone-2'],
      controlPlaneIdentifier: 'skiff',
    });
    const expected = create(DeltaDiscoveryResponseSchema, {
      systemVersionInfo: '0123456789abcdef',
      typeUrl: TypeUrl.ClusterLoadAssignment,
      nonce: 'n-7',
      resources: [{ name: 'x', version: served.version, resource: { typeUrl: TypeUrl.ClusterLoadAssignment, value: endpoint.bytes } }],
      removedResources: ['gone-1', 'gone-2'],
      controlPlane: { identifier: 'skiff' },
    });
    expect(bytes).toEqual(toBinary(DeltaDiscoveryResponseSchema, expected));
    expect(equals(DeltaDiscoveryResponseSchema, fromBinary(DeltaDiscoveryResponseSchema, bytes), expected)).toBe(true);
  });
});

describe('servedResource', () => {
  it('packs the Any once with the resource bytes and versions it by content', () => {
    const cluster = testCluster('a');
    const served = servedResource(cluster.typeUrl, cluster.name, cluster.bytes);
    expect(fromBinary(AnySchema, served.anyBytes)).toMatchObject({ typeUrl: TypeUrl.Cluster, value: cluster.bytes });
    expect(served.version).toMatch(/^[0-9a-f]{64}$/);
    expect(servedResource(cluster.typeUrl, cluster.name, testCluster('a').bytes).version).toBe(served.version);
    expect(servedResource(cluster.typeUrl, cluster.name, testCluster('a', 1).bytes).version).not.toBe(served.version);
    expect(servedResource(cluster.typeUrl, cluster.name, cluster.bytes, 'v7').version).toBe('v7');
  });
});
