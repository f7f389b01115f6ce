import { fromBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { CachedResource } from './cached-resource.js';
import { namespaceFromNodeId, proxyProfileOf, variantOf } from './profile.js';
import { built, CDS, node } from './test-support/fixtures.js';

describe('proxy profiles', () => {
  it('takes the namespace from metadata first, then the node id, then default', () => {
    expect(proxyProfileOf(node({ id: 'sidecar~10.0.0.1~app-1.web~web.svc.cluster.local', metadata: { NAMESPACE: 'meta' } })).namespace).toBe('meta');
    expect(proxyProfileOf(node({ id: 'sidecar~10.0.0.1~app-1.web~web.svc.cluster.local' })).namespace).toBe('web');
    expect(proxyProfileOf(node({ id: 'router~10.0.0.1~gw-1.edge~svc.cluster.local' })).namespace).toBe('svc');
    expect(proxyProfileOf(node({ id: 'sidecar~10.0.0.1~vm-7.payments~local' })).namespace).toBe('payments');
    expect(proxyProfileOf(node({ id: 'grpc-client-1', metadata: { GENERATOR: 'grpc' } })).namespace).toBe('default');
    expect(proxyProfileOf(node({ id: 'sidecar~10.0.0.1~pod~', metadata: { NAMESPACE: 42 } })).namespace).toBe('default');
  });

  it('reads the node id fields the way istiod does', () => {
    expect(namespaceFromNodeId('sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local')).toBe('ns');
    expect(namespaceFromNodeId('sidecar~10.0.0.1~pod.ns~')).toBe('ns');
    expect(namespaceFromNodeId('sidecar~10.0.0.1~pod~')).toBe('');
    expect(namespaceFromNodeId('not-an-istio-id')).toBe('');
    expect(namespaceFromNodeId('a~b~c.d')).toBe('');
  });

  it('reads the workload labels from metadata LABELS, and gateways from the node type', () => {
    const labelled = proxyProfileOf(node({ id: 'sidecar~10.0.0.1~app-1.web~web.svc.cluster.local', metadata: { LABELS: { app: 'web', version: 'v1', bad: 7 } } }));
    expect(labelled).toMatchObject({ labels: { app: 'web', version: 'v1' }, router: false });
    expect(proxyProfileOf(node({ metadata: { LABELS: ['app'] } })).labels).toEqual({});
    expect(proxyProfileOf(node({ id: 'router~10.0.0.1~gw-1.edge~edge.svc.cluster.local' })).router).toBe(true);
  });

  it('maps the generator to the stored variant and ignores ROUTER_MODE, as current istiod does', () => {
    const envoy = proxyProfileOf(node({ metadata: { NAMESPACE: 'a' } }));
    const dnat = proxyProfileOf(node({ metadata: { NAMESPACE: 'a', ROUTER_MODE: 'sni-dnat' } }));
    const grpc = proxyProfileOf(node({ metadata: { NAMESPACE: 'a', GENERATOR: 'grpc', ROUTER_MODE: 'sni-dnat' } }));
    const localityProxy = { locality: { region: '', zone: '', subZone: '' }, labels: {} };
    expect([envoy, dnat, grpc]).toEqual([
      { namespace: 'a', flavor: 'envoy', labels: {}, router: false, localityProxy },
      { namespace: 'a', flavor: 'envoy', labels: {}, router: false, localityProxy },
      { namespace: 'a', flavor: 'grpc', labels: {}, router: false, localityProxy },
    ]);
    expect([envoy, dnat, grpc].map(variantOf)).toEqual(['envoy-sidecar', 'envoy-sidecar', 'grpc']);
  });

  it('carry the locality and topology labels istiod gives the proxy (ads.go setTopologyLabels)', () => {
    const profile = proxyProfileOf(node({ locality: { region: 'r1', zone: 'z1', subZone: '' }, metadata: { CLUSTER_ID: 'c1', NETWORK: 'n1', NODE_NAME: 'vm-1', LABELS: { app: 'x' } } }));
    expect(profile.localityProxy).toEqual({
      locality: { region: 'r1', zone: 'z1', subZone: '' },
      labels: {
        app: 'x',
        'topology.kubernetes.io/region': 'r1',
        'topology.kubernetes.io/zone': 'z1',
        'topology.istio.io/cluster': 'c1',
        'kubernetes.io/hostname': 'vm-1',
        'topology.istio.io/network': 'n1',
      },
    });
    // The workload selectors still read the labels the proxy sent.
    expect(profile.labels).toEqual({ app: 'x' });
  });
});

describe('cached resources', () => {
  it('encode an Any once and serve the resource bytes out of it', () => {
    const resource = built('outbound|80||a.example.com', 'v1');
    const cached = new CachedResource(resource);
    const any = fromBinary(AnySchema, cached.anyBytes);
    expect(any.typeUrl).toBe(CDS);
    expect(any.value).toEqual(resource.bytes);
    expect(cached.bytes).toEqual(resource.bytes);
    expect(cached.bytes.buffer).toBe(cached.anyBytes.buffer);
    expect(cached).toMatchObject({ name: 'outbound|80||a.example.com', version: 'v1', key: `envoy-sidecar ${CDS} outbound|80||a.example.com` });
  });

  it('encode an empty resource as an Any without a value', () => {
    const cached = new CachedResource({ ...built('empty', 'v0'), bytes: new Uint8Array(0) });
    expect(cached.bytes.length).toBe(0);
    expect(fromBinary(AnySchema, cached.anyBytes).typeUrl).toBe(CDS);
  });
});
