import { create } from '@bufbuild/protobuf';
import { NodeSchema } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import { describe, expect, it } from 'vitest';
import { EMPTY_PROXY_NODE, istioProxyProfile, parseIstioNodeId, proxyNodeFromProto } from './node.js';
import type { ProxyNode } from './provider.js';

describe('parseIstioNodeId', () => {
  it('reads the four fields of a sidecar id and the namespace from the DNS domain', () => {
    expect(parseIstioNodeId('sidecar~10.1.2.3~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local')).toEqual({
      type: 'sidecar',
      ipAddress: '10.1.2.3',
      proxyId: 'reviews-v1-abc.bookinfo',
      dnsDomain: 'bookinfo.svc.cluster.local',
      namespace: 'bookinfo',
    });
  });

  it('accepts routers, waypoints and ztunnels, and IPv6 addresses', () => {
    expect(parseIstioNodeId('router~fd00::1~gw.istio-system~istio-system.svc.cluster.local')?.type).toBe('router');
    expect(parseIstioNodeId('waypoint~10.0.0.1~wp.ns~ns.svc.cluster.local')?.namespace).toBe('ns');
    expect(parseIstioNodeId('ztunnel~10.0.0.1~zt.istio-system~istio-system.svc.cluster.local')?.ipAddress).toBe('10.0.0.1');
  });

  it('gives no namespace when the DNS domain has a single label', () => {
    expect(parseIstioNodeId('sidecar~10.0.0.1~vm-1~local')?.namespace).toBe('');
  });

  it('rejects ids that are not Istio ids', () => {
    for (const id of ['', 'proto-client-1', 'sidecar~10.0.0.1~a.b', 'sidecar~10.0.0.1~a.b~c~d', 'gateway~10.0.0.1~a.b~b.svc', 'sidecar~not-an-ip~a.b~b.svc']) {
      expect(parseIstioNodeId(id), id).toBeUndefined();
    }
  });
});

function node(id: string, metadata: Record<string, unknown> = {}): ProxyNode {
  return { ...EMPTY_PROXY_NODE, id, metadata };
}

describe('istioProxyProfile', () => {
  it('prefers metadata NAMESPACE over the node id', () => {
    expect(istioProxyProfile(node('sidecar~10.0.0.1~a.one~one.svc.cluster.local', { NAMESPACE: 'two' })).namespace).toBe('two');
    expect(istioProxyProfile(node('sidecar~10.0.0.1~a.one~one.svc.cluster.local')).namespace).toBe('one');
    expect(istioProxyProfile(node('proto-client-1')).namespace).toBe('');
  });

  it('reads the flavour from GENERATOR and ignores ROUTER_MODE, as current istiod does', () => {
    expect(istioProxyProfile(node('x', { GENERATOR: 'grpc', NAMESPACE: 'ns' }))).toEqual({ namespace: 'ns', flavor: 'grpc' });
    expect(istioProxyProfile(node('x', { ROUTER_MODE: 'sni-dnat' }))).toEqual({ namespace: '', flavor: 'envoy' });
    expect(istioProxyProfile(node('x', { GENERATOR: 'event', ROUTER_MODE: 'standard' }))).toEqual({ namespace: '', flavor: 'envoy' });
  });
});

describe('proxyNodeFromProto', () => {
  it('copies what the gRPC client sends, with metadata as plain JSON', () => {
    const proto = create(NodeSchema, {
      id: 'proto-client-1',
      cluster: 'proto-client',
      metadata: { GENERATOR: 'grpc', LABELS: { app: 'x' } },
      locality: { region: 'local', zone: 'a' },
      userAgentName: 'gRPC Node Pure JS',
      userAgentVersionType: { case: 'userAgentVersion', value: '1.14.1' },
      clientFeatures: ['envoy.lb.does_not_support_overprovisioning'],
    });
    expect(proxyNodeFromProto(proto)).toEqual({
      id: 'proto-client-1',
      cluster: 'proto-client',
      metadata: { GENERATOR: 'grpc', LABELS: { app: 'x' } },
      locality: { region: 'local', zone: 'a', subZone: '' },
      userAgentName: 'gRPC Node Pure JS',
      userAgentVersion: '1.14.1',
      clientFeatures: ['envoy.lb.does_not_support_overprovisioning'],
    });
  });

  it('formats an Envoy build version and returns the empty node for none', () => {
    const envoy = create(NodeSchema, {
      id: 'sidecar~10.0.0.1~a.b~b.svc.cluster.local',
      userAgentName: 'envoy',
      userAgentVersionType: { case: 'userAgentBuildVersion', value: { version: { majorNumber: 1, minorNumber: 36, patch: 2 } } },
    });
    expect(proxyNodeFromProto(envoy).userAgentVersion).toBe('1.36.2');
    expect(proxyNodeFromProto(undefined)).toBe(EMPTY_PROXY_NODE);
  });
});
