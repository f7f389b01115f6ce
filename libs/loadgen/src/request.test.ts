import { create, toBinary } from '@bufbuild/protobuf';
import { TypeUrl } from '@skiff/protos';
import { DeltaDiscoveryRequestSchema, DiscoveryRequestSchema } from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import { describe, expect, it } from 'vitest';
import { DeltaAckEncoder, SotwAckEncoder } from './request.js';

const bytesOf = (buffer: Uint8Array) => [...buffer];

describe('SotwAckEncoder', () => {
  it('writes what toBinary writes for the same ACK', () => {
    const cases: { typeUrl: string; names: string[]; versionInfo: string; nonce: string }[] = [
      { typeUrl: TypeUrl.Cluster, names: [], versionInfo: 'a'.repeat(64), nonce: '5f3e-1a' },
      { typeUrl: TypeUrl.ClusterLoadAssignment, names: ['outbound|8080||svc-1.mesh-01.internal', 'outbound|9090||svc-1.mesh-01.internal'], versionInfo: 'v', nonce: 'n' },
      // Lengths past one varint byte, non-ASCII names, and an empty version (left out, as proto3 does).
      { typeUrl: TypeUrl.ClusterLoadAssignment, names: ['ä'.repeat(100), 'x'.repeat(300)], versionInfo: '', nonce: 'ñ'.repeat(70) },
    ];
    for (const { typeUrl, names, versionInfo, nonce } of cases) {
      const expected = toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { typeUrl, resourceNames: names, versionInfo, responseNonce: nonce }));
      const encoder = new SotwAckEncoder(typeUrl, names);
      expect(bytesOf(encoder.encode(versionInfo, nonce))).toEqual(bytesOf(expected));
      // The fixed part is reused: a second ACK is right too.
      const next = toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { typeUrl, resourceNames: names, versionInfo: `${versionInfo}2`, responseNonce: `${nonce}2` }));
      expect(bytesOf(encoder.encode(`${versionInfo}2`, `${nonce}2`))).toEqual(bytesOf(next));
    }
  });
});

describe('DeltaAckEncoder', () => {
  it('writes what toBinary writes for the same ACK', () => {
    for (const nonce of ['d-1', 'n'.repeat(200)]) {
      const expected = toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, { typeUrl: TypeUrl.Cluster, responseNonce: nonce }));
      expect(bytesOf(new DeltaAckEncoder(TypeUrl.Cluster).encode(nonce))).toEqual(bytesOf(expected));
    }
  });
});
