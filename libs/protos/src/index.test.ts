import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { ClustersConfigDumpSchema, ClustersConfigDump_DynamicClusterSchema } from './gen/envoy/admin/v3/config_dump_shared_pb.js';
import { ClusterSchema } from './gen/envoy/config/cluster/v3/cluster_pb.js';
import { ProxyProtocolConfig_Version } from './gen/envoy/config/core/v3/proxy_protocol_pb.js';
import { ProxyProtocolUpstreamTransportSchema } from './gen/envoy/extensions/transport_sockets/proxy_protocol/v3/upstream_proxy_protocol_pb.js';
import { RawBufferSchema } from './gen/envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer_pb.js';
import { DiscoveryResponseSchema } from './gen/envoy/service/discovery/v3/discovery_pb.js';
import { contentVersion, TypeUrl, toEnvoyJson, typeUrlOf } from './index.js';

describe('envoy registry', () => {
  it('prints Any inside a DiscoveryResponse with its @type, as Envoy does', () => {
    const cluster = create(ClusterSchema, { name: 'outbound|80||a.example.com', connectTimeout: { seconds: 10n } });
    const response = create(DiscoveryResponseSchema, {
      versionInfo: 'v1',
      typeUrl: TypeUrl.Cluster,
      resources: [anyPack(ClusterSchema, cluster)],
    });
    expect(toEnvoyJson(DiscoveryResponseSchema, response)).toEqual({
      versionInfo: 'v1',
      typeUrl: TypeUrl.Cluster,
      resources: [{ '@type': TypeUrl.Cluster, name: 'outbound|80||a.example.com', connectTimeout: '10s' }],
    });
  });

  it('resolves types that config_dump.proto only imports', () => {
    const dump = create(ClustersConfigDumpSchema, {
      dynamicActiveClusters: [create(ClustersConfigDump_DynamicClusterSchema, { cluster: anyPack(ClusterSchema, create(ClusterSchema, { name: 'c' })) })],
    });
    const bytes = toBinary(ClustersConfigDumpSchema, dump);
    expect(toEnvoyJson(ClustersConfigDumpSchema, fromBinary(ClustersConfigDumpSchema, bytes))).toEqual({
      dynamicActiveClusters: [{ cluster: { '@type': TypeUrl.Cluster, name: 'c' } }],
    });
  });

  it('prints an upstream PROXY protocol socket wrapping another socket', () => {
    const proxyProtocol = create(ProxyProtocolUpstreamTransportSchema, {
      config: { version: ProxyProtocolConfig_Version.V2 },
      transportSocket: { name: 'envoy.transport_sockets.raw_buffer', configType: { case: 'typedConfig', value: anyPack(RawBufferSchema, create(RawBufferSchema)) } },
    });
    const cluster = create(ClusterSchema, {
      name: 'c',
      transportSocket: { name: 'envoy.transport_sockets.upstream_proxy_protocol', configType: { case: 'typedConfig', value: anyPack(ProxyProtocolUpstreamTransportSchema, proxyProtocol) } },
    });
    const json = toEnvoyJson(ClusterSchema, fromBinary(ClusterSchema, toBinary(ClusterSchema, cluster)));
    expect(json).toEqual({
      name: 'c',
      transportSocket: {
        name: 'envoy.transport_sockets.upstream_proxy_protocol',
        typedConfig: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport',
          config: { version: 'V2' },
          transportSocket: { name: 'envoy.transport_sockets.raw_buffer', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } },
        },
      },
    });
  });

  it('derives type URLs from schemas', () => {
    expect(typeUrlOf(ClusterSchema)).toBe(TypeUrl.Cluster);
  });

  it('versions a resource by the SHA-256 of its bytes', () => {
    expect(contentVersion(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
