import { file_google_protobuf_any, file_google_protobuf_duration } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { file_envoy_config_cluster_v3_cluster } from './gen/envoy/config/cluster/v3/cluster_pb.js';
import { envoyRegistry } from './registry.js';
import { lazyRegistry } from './lazy-registry.js';
import { resourceRegistry } from './resource-registry.js';

describe('lazyRegistry', () => {
  it('builds the registry on the first lookup, once', () => {
    let built = 0;
    const registry = lazyRegistry(() => {
      built += 1;
      return [file_google_protobuf_duration];
    });
    expect(built).toBe(0);
    expect(registry.getMessage('google.protobuf.Duration')?.typeName).toBe('google.protobuf.Duration');
    expect(registry.get('google.protobuf.Any')).toBeUndefined();
    expect([...registry].map((type) => type.typeName)).toEqual(['google.protobuf.Duration']);
    expect(built).toBe(1);
  });

  it('registers the types of every file a root imports', () => {
    const registry = lazyRegistry(() => [file_envoy_config_cluster_v3_cluster]);
    // LbEndpoint is in endpoint_components.proto, which cluster.proto imports only through endpoint.proto.
    expect(registry.getMessage('envoy.config.endpoint.v3.LbEndpoint')).toBeDefined();
    expect(registry.getMessage('envoy.admin.v3.ClustersConfigDump')).toBeUndefined();
    expect(lazyRegistry(() => [file_google_protobuf_any]).getMessage('envoy.config.endpoint.v3.LbEndpoint')).toBeUndefined();
  });
});

describe('the resource and Envoy registries', () => {
  it('hold the xDS resources and the messages Skiff packs into their Any fields', () => {
    for (const typeName of [
      'envoy.config.cluster.v3.Cluster',
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      'udpa.type.v1.TypedStruct',
    ]) {
      expect(resourceRegistry.getMessage(typeName)?.typeName).toBe(typeName);
      expect(envoyRegistry.getMessage(typeName)?.typeName).toBe(typeName);
    }
  });

  it('keep ADS, CSDS and the admin config dump out of the resource registry', () => {
    for (const typeName of ['envoy.admin.v3.ClustersConfigDump', 'envoy.service.status.v3.ClientStatusResponse', 'envoy.service.discovery.v3.DiscoveryResponse']) {
      expect(resourceRegistry.getMessage(typeName)).toBeUndefined();
      expect(envoyRegistry.getMessage(typeName)?.typeName).toBe(typeName);
    }
  });
});
