/**
 * The all-in-one `skiff` authenticating TLS clients by their Kubernetes service-account token, as
 * istiod does for istio-agent on 15012: a real kube-apiserver (libs/kube-testenv) reviews the tokens,
 * the gateway authenticates as the ServiceAccount the chart renders with `gateway.tls.tokenReview`
 * (so a missing RBAC grant fails here as in a cluster), clients send TokenRequest tokens as
 * `authorization: Bearer` over TLS, and the identity is bound to the node's namespace.
 */
import * as grpc from '@grpc/grpc-js';
import { installGatewayIdentity, KubeControlPlane } from '@skiff/kube-testenv';
import { TypeUrl } from '@skiff/protos';
import { freePort, TestCertificateAuthority } from '@skiff/testing';
import { connectAds, type SotwAdsStream } from '@skiff/xds-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, REPO_ROOT, ServiceProcess } from './services.js';

describe('skiff with ADS authenticated by service-account tokens (TokenReview)', () => {
  const ca = new TestCertificateAuthority();
  let plane: KubeControlPlane;
  let skiff: ServiceProcess;
  let tlsTarget: string;
  const streams: SotwAdsStream[] = [];
  const sidecar = { id: 'sidecar~10.0.0.7~vm-1.shaoyu-test~shaoyu-test.svc.cluster.local', metadata: { NAMESPACE: 'shaoyu-test', SERVICE_ACCOUNT: 'vm' } };

  beforeAll(async () => {
    plane = await KubeControlPlane.start();
    const gateway = await installGatewayIdentity(plane, { namespace: 'skiff-system' });
    for (const namespace of ['shaoyu-test', 'other']) {
      await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }));
      await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'vm', namespace } }));
    }
    const server = ca.issueServer();
    const [xds, tls] = [await freePort(), await freePort()];
    tlsTarget = `127.0.0.1:${tls}`;
    skiff = await ServiceProcess.start(
      'skiff',
      BINS.skiff,
      [
        '--config-dir',
        'examples/seed',
        '--xds-addr',
        `127.0.0.1:${xds}`,
        '--tls-xds-addr',
        tlsTarget,
        '--tls-cert-file',
        server.certFile,
        '--tls-key-file',
        server.keyFile,
        '--xds-token-review',
        'true',
        '--token-review-kubeconfig',
        gateway.kubeconfig,
      ],
      {},
      { cwd: REPO_ROOT },
    );
  }, 180_000);

  afterAll(async () => {
    for (const stream of streams) stream.close();
    await skiff?.stop('SIGKILL');
    await plane?.stop();
    ca.dispose();
  });

  const withToken = (token: string | undefined): grpc.ChannelCredentials => {
    const tls = grpc.credentials.createSsl(ca.ca);
    if (token === undefined) return tls;
    return grpc.credentials.combineChannelCredentials(
      tls,
      grpc.credentials.createFromMetadataGenerator((_params, callback) => {
        const metadata = new grpc.Metadata();
        metadata.add('authorization', `Bearer ${token}`);
        callback(null, metadata);
      }),
    );
  };
  const open = async (token: string | undefined): Promise<SotwAdsStream> => {
    const stream = await connectAds(tlsTarget, { node: sidecar, credentials: withToken(token), channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    streams.push(stream);
    return stream;
  };

  it("serves a VM whose istio-ca token belongs to its node's namespace and service account", async () => {
    const vm = await open(await plane.serviceAccountToken('shaoyu-test', 'vm', '1h', ['istio-ca']));
    const clusters = await vm.requestResponseAck({ typeUrl: TypeUrl.Cluster });
    expect(clusters.names).toEqual(['outbound|8080||example-app']);
  });

  it('refuses a token of another namespace (PERMISSION_DENIED), and no token, a token for another audience or a forged one (UNAUTHENTICATED)', async () => {
    const impostor = await open(await plane.serviceAccountToken('other', 'vm', '1h', ['istio-ca']));
    impostor.request({ typeUrl: TypeUrl.Cluster });
    const denied = await impostor.expectEnd();
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.details).toBe('authorization failed: no identities (spiffe://cluster.local/ns/other/sa/vm) matched shaoyu-test/vm');

    const apiServerAudience = await plane.serviceAccountToken('shaoyu-test', 'vm');
    const forged = `${apiServerAudience.slice(0, -8)}AAAAAAAA`;
    for (const token of [undefined, apiServerAudience, forged]) {
      const stream = await open(token);
      stream.request({ typeUrl: TypeUrl.Cluster });
      const end = await stream.expectEnd();
      expect(end.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(end.details).toBe('authentication failure');
    }
    const metrics = await (await fetch(`http://127.0.0.1:${skiff.monitoringPort}/metrics`)).text();
    expect(metrics).toContain('skiff_xds_refused_total{reason="authentication"} 3');
    expect(metrics).toContain('skiff_xds_refused_total{reason="identity"} 1');
  });
});
