/** Parts shared by every resource are built once and frozen, so no build can change them for the others. */
import { toBinary } from '@bufbuild/protobuf';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_SETTINGS, translateServiceEntry } from './index.js';
import { sharedMessage } from './shared-message.js';
import { port, serviceEntry, workloadEntry } from './test-support/fixtures.js';

describe('sharedMessage', () => {
  it('freezes every object under the message, leaving byte arrays as they are', () => {
    const message = sharedMessage({ name: 'n', nested: { list: [{ value: new Uint8Array([1]) }] } });
    expect(Object.isFrozen(message)).toBe(true);
    expect(Object.isFrozen(message.nested.list)).toBe(true);
    expect(Object.isFrozen(message.nested.list[0])).toBe(true);
    expect(() => {
      (message.nested.list[0] as { value: Uint8Array }).value = new Uint8Array();
    }).toThrow(TypeError);
  });

  it("is what two clusters share, and editing it through one cluster throws instead of changing the other's", () => {
    const build = (host: string) =>
      translateServiceEntry({ serviceEntry: serviceEntry({ hosts: [host], ports: [port({ number: 80, name: 'http' })] }), endpoints: [workloadEntry('w1')] }, { flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS })
        .clusters[0]!;
    const a = build('a.example.com');
    const b = build('b.example.com');
    expect(a.filters[0]).toBe(b.filters[0]);
    const before = toBinary(ClusterSchema, b);
    expect(() => {
      a.filters[0]!.name = 'edited';
    }).toThrow(TypeError);
    expect(toBinary(ClusterSchema, b)).toEqual(before);
  });
});
