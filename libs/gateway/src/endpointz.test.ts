import { create, toBinary } from '@bufbuild/protobuf';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { describe, expect, it } from 'vitest';
import { endpointzEntriesOf } from './debug.js';

function assignmentBytes(address: string): Uint8Array {
  return toBinary(
    ClusterLoadAssignmentSchema,
    create(ClusterLoadAssignmentSchema, {
      clusterName: 'outbound|8080||api.demo.svc',
      endpoints: [
        {
          locality: { region: 'eu', zone: 'eu-1' },
          lbEndpoints: [{ hostIdentifier: { case: 'endpoint', value: { address: { address: { case: 'socketAddress', value: { address, portSpecifier: { case: 'portValue', value: 8080 } } } } } }, loadBalancingWeight: 3 }],
        },
      ],
    }),
  );
}

describe('/debug/endpointz entries', () => {
  it('decodes an assignment once per version: the same bytes give the same entries object, a new version new entries', () => {
    const v1 = assignmentBytes('10.0.0.1');
    const first = endpointzEntriesOf(v1, 8080);
    expect(first).toEqual([
      { Addresses: ['10.0.0.1'], ServicePortName: '', LegacyClusterPortKey: 8080, EndpointPort: 8080, LbWeight: 3, Locality: { Label: 'eu/eu-1' }, TLSMode: 'disabled', WorkloadName: '', HealthStatus: 0 },
    ]);
    expect(endpointzEntriesOf(v1, 8080)).toBe(first);
    const v2 = assignmentBytes('10.0.0.2');
    const second = endpointzEntriesOf(v2, 8080);
    expect(second).not.toBe(first);
    expect(second[0]?.['Addresses']).toEqual(['10.0.0.2']);
  });
});
