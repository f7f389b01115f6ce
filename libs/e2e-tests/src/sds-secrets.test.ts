/**
 * A DestinationRule `credentialName` served as istiod's SDS serves it, end to end: the all-in-one
 * `skiff` with `--sds-secrets-from-kubernetes` against a real kube-apiserver (libs/kube-testenv),
 * authenticated as the ServiceAccount the chart renders with `gateway.sdsSecrets` (so a missing RBAC
 * grant fails here as in a cluster). An ADS client authenticated by a service-account token, as
 * istio-agent is, warms the rule's cluster the way Envoy does: it reads the Secret names in the
 * cluster's transport socket and requests them over the same stream. It gets its own namespace's
 * Secret, is refused another namespace's, sees a Secret change pushed, and a service account that
 * may not list Secrets (a real SubjectAccessReview says no) gets only the CA.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { fromBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { installGatewayIdentity, KubeControlPlane } from '@skiff/kube-testenv';
import { TypeUrl } from '@skiff/protos';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { SecretSchema, type Secret } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { UpstreamTlsContextSchema } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { eventually, freePort, TestCertificateAuthority } from '@skiff/testing';
import { connectAds, type DeltaAdsStream, type SotwAdsStream } from '@skiff/xds-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, REPO_ROOT, ServiceProcess } from './services.js';

const HOST = 'payments.shop.example';
const CLUSTER = `outbound|443||${HOST}`;

// A rule with a workloadSelector applies to the sidecars it selects, and only then does istiod keep a
// credentialName on a sidecar (docs/istio-behaviour.md); an empty selector selects the namespace.
const config = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments, namespace: shop}
spec:
  hosts: [${HOST}]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  location: MESH_EXTERNAL
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: payments, namespace: shop}
spec:
  host: ${HOST}
  workloadSelector: {matchLabels: {}}
  trafficPolicy:
    tls: {mode: MUTUAL, credentialName: payments-client, subjectAltNames: [${HOST}]}
`;

const tlsSecret = (namespace: string, name: string, cert: string, key: string, ca: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name, namespace },
    data: { 'tls.crt': Buffer.from(cert).toString('base64'), 'tls.key': Buffer.from(key).toString('base64'), 'ca.crt': Buffer.from(ca).toString('base64') },
  });

const decode = (bytes: Uint8Array | undefined): Secret => fromBinary(SecretSchema, bytes ?? new Uint8Array());
const chainOf = (secret: Secret) => (secret.type.case === 'tlsCertificate' ? Buffer.from(secret.type.value.certificateChain?.specifier.value as Uint8Array).toString() : undefined);
const trustedCaOf = (secret: Secret) => (secret.type.case === 'validationContext' ? Buffer.from(secret.type.value.trustedCa?.specifier.value as Uint8Array).toString() : undefined);

describe('DestinationRule credentialName Secrets over ADS from a real kube-apiserver', () => {
  const ca = new TestCertificateAuthority();
  let plane: KubeControlPlane;
  let skiff: ServiceProcess;
  let dir: string;
  let tlsTarget: string;
  const streams: Array<SotwAdsStream | DeltaAdsStream> = [];
  const clientCert = ca.issueWorkload('shop', 'payments-client');

  beforeAll(async () => {
    plane = await KubeControlPlane.start();
    const gateway = await installGatewayIdentity(plane, { namespace: 'skiff-system', sdsSecrets: true });
    for (const namespace of ['shop', 'billing']) {
      await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }));
      await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'app', namespace } }));
    }
    await plane.apply(JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'restricted', namespace: 'shop' } }));
    // What Istio's gateway charts grant a workload that reads its own credentials: list Secrets in its namespace.
    await plane.apply(
      JSON.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'read-secrets', namespace: 'shop' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }] }),
    );
    await plane.apply(
      JSON.stringify({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'app-reads-secrets', namespace: 'shop' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-secrets' },
        subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: 'shop' }],
      }),
    );
    await plane.apply(tlsSecret('shop', 'payments-client', clientCert.cert.toString(), clientCert.key.toString(), 'SHOP-ROOTS-1'));
    await plane.apply(tlsSecret('billing', 'ledger-client', 'BILLING-CERT', 'BILLING-KEY', 'BILLING-ROOTS'));

    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-sds-'));
    await writeFile(join(dir, 'payments.yaml'), config);
    const server = ca.issueServer();
    const [xds, tls] = [await freePort(), await freePort()];
    tlsTarget = `127.0.0.1:${tls}`;
    skiff = await ServiceProcess.start(
      'skiff',
      BINS.skiff,
      [
        '--config-dir',
        dir,
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
        '--sds-secrets-from-kubernetes',
        'true',
        '--sds-secrets-kubeconfig',
        gateway.kubeconfig,
      ],
      {},
      { cwd: REPO_ROOT },
    );
  }, 240_000);

  afterAll(async () => {
    for (const stream of streams) stream.close();
    await skiff?.stop('SIGKILL');
    await plane?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    ca.dispose();
  });

  const credentialsFor = (token: string): grpc.ChannelCredentials =>
    grpc.credentials.combineChannelCredentials(
      grpc.credentials.createSsl(ca.ca),
      grpc.credentials.createFromMetadataGenerator((_params, callback) => {
        const metadata = new grpc.Metadata();
        metadata.add('authorization', `Bearer ${token}`);
        callback(null, metadata);
      }),
    );
  const sidecar = (serviceAccount: string) => ({
    id: `sidecar~10.0.0.7~${serviceAccount}-1.shop~shop.svc.cluster.local`,
    metadata: { NAMESPACE: 'shop', SERVICE_ACCOUNT: serviceAccount, LABELS: { app: serviceAccount } },
  });
  const open = async (serviceAccount: string): Promise<SotwAdsStream> => {
    const token = await plane.serviceAccountToken('shop', serviceAccount, '1h', ['istio-ca']);
    const stream = await connectAds(tlsTarget, { node: sidecar(serviceAccount), credentials: credentialsFor(token), channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    streams.push(stream);
    return stream;
  };
  const openDelta = async (serviceAccount: string): Promise<DeltaAdsStream> => {
    const token = await plane.serviceAccountToken('shop', serviceAccount, '1h', ['istio-ca']);
    const stream = await connectAds(tlsTarget, { node: sidecar(serviceAccount), credentials: credentialsFor(token), channelOptions: { 'grpc.use_local_subchannel_pool': 1 }, delta: true });
    streams.push(stream);
    return stream;
  };

  /** The SDS names in the cluster's transport socket, as Envoy reads them to warm the cluster. */
  async function secretNamesOfCluster(ads: SotwAdsStream): Promise<{ certificate: string; validation: string }> {
    const clusters = await eventually(async () => {
      const response = await ads.requestResponseAck({ typeUrl: TypeUrl.Cluster });
      if (!response.names.includes(CLUSTER)) throw new Error(`no ${CLUSTER} yet: ${response.names.join(', ')}`);
      return response;
    }, { timeoutMs: 30_000 });
    const cluster = fromBinary(ClusterSchema, clusters.resources.get(CLUSTER)!);
    const socket = cluster.transportSocket?.configType;
    const context = socket?.case === 'typedConfig' ? anyUnpack(socket.value, UpstreamTlsContextSchema) : undefined;
    const common = context?.commonTlsContext;
    const validation = common?.validationContextType.case === 'combinedValidationContext' ? common.validationContextType.value.validationContextSdsSecretConfig : undefined;
    return { certificate: common?.tlsCertificateSdsSecretConfigs[0]?.name ?? '', validation: validation?.name ?? '' };
  }

  /**
   * Requests Secrets and collects them until every name arrived: a key and certificate may come in a
   * second response, once the SubjectAccessReview started at connection time has answered.
   */
  async function secretsOf(ads: SotwAdsStream, names: readonly string[]): Promise<Map<string, Uint8Array>> {
    const collected = new Map<string, Uint8Array>();
    let response = await ads.requestResponseAck({ typeUrl: TypeUrl.Secret, names });
    for (;;) {
      for (const [name, bytes] of response.resources) collected.set(name, bytes);
      if (names.every((name) => collected.has(name))) return collected;
      response = await ads.expectResponse({ typeUrl: TypeUrl.Secret, timeoutMs: 30_000 });
      ads.ack(response, names);
    }
  }

  it("warms the rule's cluster: the Secrets named in its transport socket come over the same stream", async () => {
    const ads = await open('app');
    const names = await secretNamesOfCluster(ads);
    expect(names).toEqual({ certificate: 'kubernetes://payments-client', validation: 'kubernetes://payments-client-cacert' });
    const secrets = await secretsOf(ads, [names.certificate, names.validation]);
    expect(chainOf(decode(secrets.get(names.certificate)))).toBe(clientCert.cert.toString());
    expect(trustedCaOf(decode(secrets.get(names.validation)))).toBe('SHOP-ROOTS-1');
  });

  it("refuses another namespace's Secret, and logs why", async () => {
    const ads = await open('app');
    const response = await ads.requestResponseAck({ typeUrl: TypeUrl.Secret, names: ['kubernetes://billing/ledger-client', 'kubernetes://billing/ledger-client-cacert'] });
    expect(response.names).toEqual([]);
    await eventually(() =>
      expect(skiff.output).toContain('proxy sidecar~10.0.0.7~app-1.shop~shop.svc.cluster.local attempted to access unauthorized certificates ledger-client: cross namespace secret reference requires ReferenceGrant'),
    );
  });

  it('pushes a changed Secret to the streams that hold it (state of the world and delta)', async () => {
    const sotw = await open('app');
    await sotw.requestResponseAck({ typeUrl: TypeUrl.Secret, names: ['kubernetes://payments-client-cacert'] });
    const delta = await openDelta('app');
    const first = await delta.requestResponseAck({ typeUrl: TypeUrl.Secret, subscribe: ['kubernetes://shop/payments-client-cacert'] });
    expect(trustedCaOf(decode(first.resources.get('kubernetes://shop/payments-client-cacert')))).toBe('SHOP-ROOTS-1');

    await plane.apply(tlsSecret('shop', 'payments-client', clientCert.cert.toString(), clientCert.key.toString(), 'SHOP-ROOTS-2'));
    const pushed = await sotw.expectResponse({ typeUrl: TypeUrl.Secret, timeoutMs: 30_000 });
    sotw.ack(pushed);
    expect(trustedCaOf(decode(pushed.resources.get('kubernetes://payments-client-cacert')))).toBe('SHOP-ROOTS-2');
    const pushedDelta = await delta.expectResponse({ typeUrl: TypeUrl.Secret, timeoutMs: 30_000 });
    delta.ack(pushedDelta);
    expect(trustedCaOf(decode(pushedDelta.resources.get('kubernetes://shop/payments-client-cacert')))).toBe('SHOP-ROOTS-2');
  });

  it('gives a service account that may not list Secrets (SubjectAccessReview) the CA only', async () => {
    const ads = await open('restricted');
    const response = await ads.requestResponseAck({ typeUrl: TypeUrl.Secret, names: ['kubernetes://payments-client', 'kubernetes://payments-client-cacert'] });
    expect(response.names).toEqual(['kubernetes://payments-client-cacert']);
    await eventually(() =>
      expect(skiff.output).toContain(
        'proxy sidecar~10.0.0.7~restricted-1.shop~shop.svc.cluster.local attempted to access unauthorized certificates payments-client: restricted/shop is not authorized to read secrets: ',
      ),
    );
  });
});
