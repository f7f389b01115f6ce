/**
 * The all-in-one `skiff` with ADS over mutual TLS, as a VM or a hardened cluster uses it: the built
 * binary with a certificate, key and client CA from files, real certificates (openssl), grpc-js
 * clients with client certificates as proxies, and istioctl's debug requests over the same port,
 * authorized by the caller's namespace.
 */
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@skiff/protos';
import { eventually, freePort, TestCertificateAuthority } from '@skiff/testing';
import { clientConfigsOf, connectAds, istioctlDebugRequest, type SotwAdsStream } from '@skiff/xds-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, REPO_ROOT, ServiceProcess } from './services.js';

describe('skiff with ADS over mutual TLS', () => {
  const ca = new TestCertificateAuthority();
  let skiff: ServiceProcess;
  let tlsTarget: string;
  let plainTarget: string;
  const streams: SotwAdsStream[] = [];

  beforeAll(async () => {
    const server = ca.issueServer();
    const [xds, tls] = [await freePort(), await freePort()];
    plainTarget = `127.0.0.1:${xds}`;
    tlsTarget = `127.0.0.1:${tls}`;
    skiff = await ServiceProcess.start(
      'skiff',
      BINS.skiff,
      ['--config-dir', 'examples/seed', '--xds-addr', plainTarget, '--tls-xds-addr', tlsTarget, '--tls-cert-file', server.certFile, '--tls-key-file', server.keyFile, '--tls-client-ca-file', ca.caFile],
      {},
      { cwd: REPO_ROOT },
    );
  }, 60_000);

  afterAll(async () => {
    for (const stream of streams) stream.close();
    await skiff?.stop('SIGKILL');
    ca.dispose();
  });

  const credentialsOf = (namespace: string, serviceAccount = 'default') => {
    const cert = ca.issueWorkload(namespace, serviceAccount);
    return grpc.credentials.createSsl(ca.ca, cert.key, cert.cert);
  };
  const sidecar = { id: 'sidecar~10.0.0.7~vm-1.shaoyu-test~shaoyu-test.svc.cluster.local', metadata: { NAMESPACE: 'shaoyu-test', SERVICE_ACCOUNT: 'vm' } };

  it("serves the example's clusters to a VM whose certificate is in its node's namespace and service account", async () => {
    const vm = await connectAds(tlsTarget, { node: sidecar, credentials: credentialsOf('shaoyu-test', 'vm') });
    streams.push(vm);
    const clusters = await vm.requestResponseAck({ typeUrl: TypeUrl.Cluster });
    expect(clusters.names).toEqual(['outbound|8080||example-app']);
  });

  it('refuses a VM claiming a namespace its certificate is not in', async () => {
    const impostor = await connectAds(tlsTarget, { node: sidecar, credentials: credentialsOf('other', 'vm') });
    streams.push(impostor);
    impostor.request({ typeUrl: TypeUrl.Cluster });
    const end = await impostor.expectEnd();
    expect(end.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(end.details).toContain('no identities (spiffe://cluster.local/ns/other/sa/vm) matched shaoyu-test/vm');
    const metrics = await (await fetch(`http://127.0.0.1:${skiff.monitoringPort}/metrics`)).text();
    expect(metrics).toContain('skiff_xds_refused_total{reason="identity"} 1');
  });

  it("shows the VM to istioctl over mTLS by the caller's namespace: all to the system namespace, none to another", async () => {
    const istioctlAs = (namespace: string) => ({
      credentials: credentialsOf(namespace),
      node: { id: `sidecar~10.88.0.7~istioctl.${namespace}~${namespace}.svc.cluster.local`, metadata: { GENERATOR: 'event', SERVICE_ACCOUNT: 'default', NAMESPACE: namespace } },
    });
    await eventually(async () => {
      const system = clientConfigsOf(await istioctlDebugRequest(tlsTarget, 'istio.io/debug/syncz', istioctlAs('istio-system')));
      expect(system.map((config) => config.node?.id)).toEqual(['vm-1.shaoyu-test']);
    });
    const other = clientConfigsOf(await istioctlDebugRequest(tlsTarget, 'istio.io/debug/syncz', istioctlAs('elsewhere')));
    expect(other).toEqual([]);
    // On the host itself (loopback) the plaintext port answers too, as istioctl --plaintext through a port-forward.
    const local = clientConfigsOf(await istioctlDebugRequest(plainTarget, 'istio.io/debug/syncz'));
    expect(local.map((config) => config.node?.id)).toEqual(['vm-1.shaoyu-test']);
  });
});
