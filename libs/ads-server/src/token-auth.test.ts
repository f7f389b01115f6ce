/**
 * TLS streams authenticated by a bearer token (istio-agent's service-account JWT on 15012): the
 * token is read from the `authorization` header, requests wait until the authenticator answers, its
 * identities are bound to the node like a certificate's, and a stream without an accepted token ends
 * with UNAUTHENTICATED. The Kubernetes TokenReview authenticator itself is tested against a real API
 * server (libs/config-sources, libs/e2e-tests); here a scripted one controls when and how it answers.
 */
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@skiff/protos';
import { TestCertificateAuthority } from '@skiff/testing';
import { connectAds, testLoadAssignment, type NodeInit } from '@skiff/xds-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { AdsServer, StaticResourceProvider, type AdsRefusalReason, type BearerTokenAuthenticator } from './index.js';

const EDS = TypeUrl.ClusterLoadAssignment;
const SHOP_NODE: NodeInit = { id: 'sidecar~127.0.0.1~app-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop', SERVICE_ACCOUNT: 'app' } };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Accepts `token-<ns>-<sa>` after `delayMs`; refuses anything else with the reason a TokenReview gives. */
class ScriptedAuthenticator implements BearerTokenAuthenticator {
  readonly name = 'ScriptedAuthenticator';
  readonly seen: { token: string; clusterId: string }[] = [];
  constructor(private readonly delayMs = 0) {}
  async authenticate(token: string, context: { readonly clusterId: string }): Promise<readonly string[]> {
    this.seen.push({ token, clusterId: context.clusterId });
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const match = /^token-([a-z]+)-([a-z]+)$/.exec(token);
    if (match === null) throw new Error('the token is not authenticated');
    return [`spiffe://cluster.local/ns/${match[1]}/sa/${match[2]}`];
  }
}

async function startServer(authenticator: BearerTokenAuthenticator, maxStreamsPerConnection?: number) {
  const ca = new TestCertificateAuthority('mesh-ca');
  cleanups.push(() => ca.dispose());
  const certificate = ca.issueServer();
  const refusals: AdsRefusalReason[] = [];
  const provider = new StaticResourceProvider();
  provider.upsert([testLoadAssignment('x')]);
  const server = new AdsServer({
    address: '127.0.0.1:0',
    provider,
    tls: { certChain: certificate.cert, privateKey: certificate.key },
    tokenAuthenticator: authenticator,
    ...(maxStreamsPerConnection === undefined ? {} : { limits: { maxStreamsPerConnection } }),
    debounceMs: 1,
    maxConnectionAgeMs: 0,
    shutdownGraceMs: 500,
    callbacks: { onRefused: (_session, refusal) => refusals.push(refusal.reason) },
  });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return { server, refusals, address: `127.0.0.1:${port}`, ca };
}

/** TLS to the server plus, as istio-agent sends it, the token on every call. */
function tokenCredentials(ca: TestCertificateAuthority, headers: Record<string, string>): grpc.ChannelCredentials {
  const perCall = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(headers)) metadata.add(key, value);
    callback(null, metadata);
  });
  return grpc.credentials.combineChannelCredentials(grpc.credentials.createSsl(ca.ca), perCall);
}

async function open(address: string, credentials: grpc.ChannelCredentials, node: NodeInit = SHOP_NODE, channelOptions: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 }) {
  const stream = await connectAds(address, { node, credentials, connectTimeoutMs: 2_000, channelOptions });
  cleanups.push(() => stream.close());
  return stream;
}

describe('ADS over TLS with bearer-token authentication', () => {
  it('serves a stream once its token is accepted, and binds the identity to the node', async () => {
    const authenticator = new ScriptedAuthenticator(200);
    const { server, address, ca } = await startServer(authenticator);
    const ads = await open(address, tokenCredentials(ca, { authorization: 'Bearer token-shop-app', clusterid: 'Kubernetes' }));
    // Sent before the review answers: it waits, it is not dropped or served unauthenticated.
    expect((await ads.requestResponseAck({ typeUrl: EDS, names: ['x'] })).names).toEqual(['x']);
    expect(authenticator.seen).toEqual([{ token: 'token-shop-app', clusterId: 'Kubernetes' }]);
    const [status] = server.sessions.list();
    expect(status?.identities).toEqual(['spiffe://cluster.local/ns/shop/sa/app']);
    expect(status?.verifiedIdentity).toEqual({ trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'app' });
  });

  it('ends a stream without a token, with a refused token, or with a non-bearer header with UNAUTHENTICATED', async () => {
    const { refusals, address, ca } = await startServer(new ScriptedAuthenticator());
    const cases: Record<string, string>[] = [{}, { authorization: 'Bearer forged' }, { authorization: 'Basic dXNlcjpwYXNz' }];
    for (const headers of cases) {
      const ads = await open(address, tokenCredentials(ca, headers));
      ads.request({ typeUrl: EDS, names: ['x'] });
      const end = await ads.expectEnd();
      expect(end.code).toBe(grpc.status.UNAUTHENTICATED);
      // The reason is logged; the client learns only what istiod tells it.
      expect(end.details).toBe('authentication failure');
    }
    expect(refusals).toEqual(['authentication', 'authentication', 'authentication']);
  });

  it("refuses a node outside the token's namespace with PERMISSION_DENIED", async () => {
    const { refusals, address, ca } = await startServer(new ScriptedAuthenticator());
    const ads = await open(address, tokenCredentials(ca, { authorization: 'Bearer token-other-app' }));
    ads.request({ typeUrl: EDS, names: ['x'] });
    const end = await ads.expectEnd();
    expect(end.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(end.details).toBe('authorization failed: no identities (spiffe://cluster.local/ns/other/sa/app) matched shop/app');
    expect(refusals).toEqual(['identity']);
  });

  it('reviews no token for a stream refused over the per-connection limit, and keeps serving', async () => {
    const authenticator = new ScriptedAuthenticator(500);
    const { refusals, address, ca } = await startServer(authenticator, 1);
    // Two streams over one channel (one connection): the first is still under review when the second opens.
    const credentials = tokenCredentials(ca, { authorization: 'Bearer token-shop-app' });
    const client = new grpc.Client(address, credentials, { 'grpc.use_local_subchannel_pool': 1 });
    cleanups.push(() => client.close());
    const channelOptions = { channelOverride: client.getChannel() } as grpc.ChannelOptions;
    const [first, second] = [await open(address, credentials, SHOP_NODE, channelOptions), await open(address, credentials, SHOP_NODE, channelOptions)];
    const refused = await second!.expectEnd();
    expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect((await first!.requestResponseAck({ typeUrl: EDS, names: ['x'] })).names).toEqual(['x']);
    expect(refusals).toEqual(['streams_per_connection']);
    expect(authenticator.seen).toHaveLength(1);
  });

  it('is refused on a plaintext server, which is never authenticated', () => {
    expect(() => new AdsServer({ provider: new StaticResourceProvider(), tokenAuthenticator: new ScriptedAuthenticator() })).toThrow(/needs TLS/);
  });
});
