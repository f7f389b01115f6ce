/**
 * Secrets served over ADS by a real `AdsServer` on 127.0.0.1 with mutual TLS (real certificates, real
 * gRPC clients, state of the world and delta): who gets which Secret, what is refused and logged, and
 * that a change of a Secret reaches the streams that asked for it. The Secret source here is the
 * in-memory cache the Kubernetes watch fills (the real watch and SubjectAccessReview run against a
 * real kube-apiserver in libs/e2e-tests/src/sds-secrets.test.ts).
 */
import { fromBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { AdsServer, EMPTY_PROXY_NODE, StaticResourceProvider } from '@skiff/ads-server';
import { TypeUrl } from '@skiff/protos';
import { SecretSchema, type Secret } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { createLogger } from '@skiff/runtime';
import { eventually, TestCertificateAuthority } from '@skiff/testing';
import { connectAds, testLoadAssignment, type DeltaAdsStream, type NodeInit, type SotwAdsStream } from '@skiff/xds-conformance';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { KubernetesSecret } from './sds.js';
import { SecretServingProvider, type SecretAccessReviewer, type SecretSource } from './secret-provider.js';

const SDS = TypeUrl.Secret;
const SHOP_NODE: NodeInit = { id: 'sidecar~127.0.0.1~app-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop', SERVICE_ACCOUNT: 'app' } };
const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const SHOP_NODE_PROXY = { ...EMPTY_PROXY_NODE, id: SHOP_NODE.id as string };

/** The Secret cache as the Kubernetes watch keeps it. */
class MemorySecrets implements SecretSource {
  private readonly secrets = new Map<string, KubernetesSecret>();
  private readonly listeners = new Set<(secrets: readonly { namespace: string; name: string }[]) => void>();
  synced = true;
  get(namespace: string, name: string) {
    return this.secrets.get(`${namespace}/${name}`);
  }
  onChange(listener: (secrets: readonly { namespace: string; name: string }[]) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  isSynced() {
    return this.synced;
  }
  put(namespace: string, name: string, data: Record<string, string>) {
    this.secrets.set(`${namespace}/${name}`, { namespace, name, data: Object.fromEntries(Object.entries(data).map(([key, value]) => [key, text(value)])) });
    for (const listener of this.listeners) listener([{ namespace, name }]);
  }
  delete(namespace: string, name: string) {
    this.secrets.delete(`${namespace}/${name}`);
    for (const listener of this.listeners) listener([{ namespace, name }]);
  }
}

/** Answers as the API server would for the service accounts in `allowed` (`namespace/serviceAccount`). */
class ListedReviewer implements SecretAccessReviewer {
  readonly asked: string[] = [];
  constructor(readonly allowed: Set<string>) {}
  authorize(serviceAccount: string, namespace: string): Promise<void> {
    this.asked.push(`${namespace}/${serviceAccount}`);
    if (this.allowed.has(`${namespace}/${serviceAccount}`)) return Promise.resolve();
    return Promise.reject(new Error(`${serviceAccount}/${namespace} is not authorized to read secrets: `));
  }
}

const ca = new TestCertificateAuthority('mesh-ca');
const serverCertificate = ca.issueServer();
afterAll(() => ca.dispose());

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Harness {
  readonly secrets: MemorySecrets;
  readonly reviewer: ListedReviewer;
  readonly logs: Record<string, unknown>[];
  readonly address: string;
  readonly provider: SecretServingProvider;
}

async function serve(allowed: readonly string[] = ['shop/app']): Promise<Harness> {
  const secrets = new MemorySecrets();
  const reviewer = new ListedReviewer(new Set(allowed));
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', name: 'test', pretty: false, destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) } });
  const inner = new StaticResourceProvider();
  inner.upsert([testLoadAssignment('x')]);
  const provider = new SecretServingProvider(inner, { source: secrets, reviewer, logger });
  const server = new AdsServer({
    address: '127.0.0.1:0',
    provider,
    servedTypeUrls: [SDS],
    tls: { certChain: serverCertificate.cert, privateKey: serverCertificate.key, clientCa: ca.ca, requireClientCertificate: true },
    debounceMs: 1,
    maxConnectionAgeMs: 0,
    shutdownGraceMs: 500,
    callbacks: { onStreamIdentified: (session) => provider.prepare(session.verifiedIdentity) },
  });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return { secrets, reviewer, logs, address: `127.0.0.1:${port}`, provider };
}

function clientOptions(namespace = 'shop', serviceAccount = 'app') {
  const client = ca.issueWorkload(namespace, serviceAccount);
  return { node: SHOP_NODE, credentials: grpc.credentials.createSsl(ca.ca, client.key, client.cert), channelOptions: { 'grpc.use_local_subchannel_pool': 1 } };
}

async function open(address: string): Promise<SotwAdsStream> {
  const stream = await connectAds(address, clientOptions());
  cleanups.push(() => stream.close());
  return stream;
}

async function openDelta(address: string): Promise<DeltaAdsStream> {
  const stream = await connectAds(address, { ...clientOptions(), delta: true });
  cleanups.push(() => stream.close());
  return stream;
}

const decode = (bytes: Uint8Array | undefined): Secret => fromBinary(SecretSchema, bytes ?? new Uint8Array());
const certificateOf = (secret: Secret) => (secret.type.case === 'tlsCertificate' ? secret.type.value : undefined);
const trustedCaOf = (secret: Secret) => (secret.type.case === 'validationContext' ? secret.type.value.trustedCa?.specifier.value : undefined);
const messages = (logs: readonly Record<string, unknown>[]) => logs.map((record) => record['msg']);

describe('Secrets over ADS (SecretServingProvider)', () => {
  let shopCert: { cert: string; key: string };
  beforeAll(() => {
    const issued = ca.issueWorkload('shop', 'upstream-client');
    shopCert = { cert: issued.cert.toString(), key: issued.key.toString() };
  });

  it('serves the key and certificate and the CA of a Secret in the proxy namespace (state of the world)', async () => {
    const { secrets, reviewer, address } = await serve();
    secrets.put('shop', 'app-cert', { 'tls.crt': shopCert.cert, 'tls.key': shopCert.key, 'ca.crt': 'ROOTS' });
    const ads = await open(address);
    // The review started when the stream was identified, so the first answer already carries both.
    const response = await ads.requestResponseAck({ typeUrl: SDS, names: ['kubernetes://app-cert', 'kubernetes://app-cert-cacert'] });
    const byName = new Map([...response.resources].map(([name, bytes]) => [name, decode(bytes)]));
    expect(certificateOf(byName.get('kubernetes://app-cert')!)?.privateKey?.specifier.value).toEqual(text(shopCert.key));
    expect(certificateOf(byName.get('kubernetes://app-cert')!)?.certificateChain?.specifier.value).toEqual(text(shopCert.cert));
    expect(trustedCaOf(byName.get('kubernetes://app-cert-cacert')!)).toEqual(text('ROOTS'));
    expect(reviewer.asked).toEqual(['shop/app']);
  });

  it('pushes a changed Secret to the streams that asked for it, delta included, and reports a deleted one removed (delta)', async () => {
    const { secrets, address } = await serve();
    secrets.put('shop', 'app-cert', { cert: 'C1', key: 'K1', cacert: 'CA1' });
    const sotw = await open(address);
    const delta = await openDelta(address);
    const first = await sotw.requestResponseAck({ typeUrl: SDS, names: ['kubernetes://app-cert'] });
    expect(first.names).toEqual(['kubernetes://app-cert']);
    const firstDelta = await delta.requestResponseAck({ typeUrl: SDS, subscribe: ['kubernetes://app-cert', 'kubernetes://shop/app-cert-cacert'] });
    expect([...firstDelta.names].sort()).toEqual(['kubernetes://app-cert', 'kubernetes://shop/app-cert-cacert']);

    secrets.put('shop', 'app-cert', { cert: 'C2', key: 'K2', cacert: 'CA2' });
    const pushed = await sotw.expectResponse({ typeUrl: SDS });
    sotw.ack(pushed);
    expect(certificateOf(decode(pushed.resources.get('kubernetes://app-cert')))?.certificateChain?.specifier.value).toEqual(text('C2'));
    const pushedDelta = await delta.expectResponse({ typeUrl: SDS });
    delta.ack(pushedDelta);
    expect(trustedCaOf(decode(pushedDelta.resources.get('kubernetes://shop/app-cert-cacert')))).toEqual(text('CA2'));

    secrets.delete('shop', 'app-cert');
    const removed = await delta.expectResponse({ typeUrl: SDS });
    expect([...removed.removed].sort()).toEqual(['kubernetes://app-cert', 'kubernetes://shop/app-cert-cacert']);
    // State of the world: a per-name type is never deleted by omission; nothing is sent.
    await sotw.expectNoResponse(300);
  });

  it("refuses another namespace's Secret, and a key without the list permission (CA-only still served), logging istiod's reasons", async () => {
    const { secrets, logs, address } = await serve([]);
    secrets.put('shop', 'app-cert', { 'tls.crt': 'C', 'tls.key': 'K', 'ca.crt': 'CA' });
    secrets.put('billing', 'db-cert', { 'tls.crt': 'C', 'tls.key': 'K', 'ca.crt': 'CA' });
    const ads = await openDelta(address);
    const names = ['kubernetes://app-cert', 'kubernetes://app-cert-cacert', 'kubernetes://billing/db-cert', 'kubernetes://billing/db-cert-cacert'];
    const seen = await ads.requestResponseAck({ typeUrl: SDS, subscribe: names });
    expect(seen.names).toEqual(['kubernetes://app-cert-cacert']);
    // Delta tells the client at once that what it may not read does not exist for it.
    expect([...seen.removed].sort()).toEqual(['kubernetes://app-cert', 'kubernetes://billing/db-cert', 'kubernetes://billing/db-cert-cacert']);
    expect(messages(logs)).toContain('proxy sidecar~127.0.0.1~app-1.shop~shop.svc.cluster.local attempted to access unauthorized certificates app-cert: app/shop is not authorized to read secrets: ');
    expect(messages(logs)).toContain('proxy sidecar~127.0.0.1~app-1.shop~shop.svc.cluster.local attempted to access unauthorized certificates db-cert: cross namespace secret reference requires ReferenceGrant');
    expect(messages(logs)).toContain('proxy sidecar~127.0.0.1~app-1.shop~shop.svc.cluster.local attempted to access unauthorized certificates db-cert-cacert: cross namespace secret reference requires ReferenceGrant');
  });

  it('serves the CA-only Secret without a review and never the other namespace one', async () => {
    const { secrets, reviewer, address } = await serve([]);
    secrets.put('shop', 'app-cert', { 'ca.crt': 'CA' });
    secrets.put('billing', 'db-cert', { 'ca.crt': 'CA' });
    const ads = await open(address);
    const response = await ads.requestResponseAck({ typeUrl: SDS, names: ['kubernetes://app-cert-cacert', 'kubernetes://billing/db-cert-cacert'] });
    expect(response.names).toEqual(['kubernetes://app-cert-cacert']);
    // Only the stream's own identification started a review; the CA-only Secret did not wait for it.
    expect(reviewer.asked).toEqual(['shop/app']);
  });

  it('leaves out a missing or malformed Secret with a log naming the object and the reason, and serves it once fixed', async () => {
    const { secrets, logs, address } = await serve();
    secrets.put('shop', 'app-cert', { username: 'admin', password: 'x' });
    const ads = await open(address);
    ads.request({ typeUrl: SDS, names: ['kubernetes://app-cert', 'kubernetes://gone'] });
    const empty = await ads.expectResponse({ typeUrl: SDS });
    ads.ack(empty);
    await eventually(() => {
      const log = logs.find((record) => record['msg'] === "failed to fetch key and certificate for kubernetes://app-cert: found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); found: password, username");
      expect(log).toMatchObject({ secret: 'shop/app-cert', level: 'warn' });
      expect(messages(logs)).toContain('failed to fetch key and certificate for kubernetes://gone: secret shop/gone not found');
    });
    secrets.put('shop', 'app-cert', { 'tls.crt': shopCert.cert, 'tls.key': shopCert.key });
    const fixed = await ads.expectResponse({ typeUrl: SDS });
    expect(fixed.names).toEqual(['kubernetes://app-cert']);
  });

  it('holds every push until the Secrets are listed, then answers', async () => {
    const { secrets, address } = await serve();
    secrets.synced = false;
    secrets.put('shop', 'app-cert', { cert: 'C', key: 'K' });
    const ads = await open(address);
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, names: ['x'] });
    await ads.expectNoResponse(300);
    secrets.synced = true;
    expect((await ads.expectResponse({ typeUrl: TypeUrl.ClusterLoadAssignment, timeoutMs: 10_000 })).names).toEqual(['x']);
  });
});

describe('Secrets and unauthenticated streams', () => {
  it('sends no Secret to a stream without a verified identity, and says why', async () => {
    const secrets = new MemorySecrets();
    secrets.put('shop', 'app-cert', { cert: 'C', key: 'K', cacert: 'CA' });
    const logs: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info', name: 'test', pretty: false, destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) } });
    const provider = new SecretServingProvider(new StaticResourceProvider(), { source: secrets, reviewer: new ListedReviewer(new Set(['shop/app'])), logger });
    const server = new AdsServer({ address: '127.0.0.1:0', provider, servedTypeUrls: [SDS], debounceMs: 1, maxConnectionAgeMs: 0, shutdownGraceMs: 500 });
    const { port } = await server.listen();
    cleanups.push(() => server.close());
    const plaintext = await connectAds(`127.0.0.1:${port}`, { node: SHOP_NODE });
    cleanups.push(() => plaintext.close());
    const response = await plaintext.requestResponseAck({ typeUrl: SDS, names: ['kubernetes://app-cert-cacert'] });
    expect(response.names).toEqual([]);
    expect(messages(logs)).toContain(
      'proxy sidecar~127.0.0.1~app-1.shop~shop.svc.cluster.local is not authorized to receive credscontroller. Ensure you are connecting over TLS port and are authenticated.',
    );
  });
});

describe('the remembered SubjectAccessReview (istiod: a yes for 5 minutes, a no for 1)', () => {
  it('asks once, answers from memory until it expires, keeps the old answer while asking again, and pushes a changed answer', async () => {
    const secrets = new MemorySecrets();
    secrets.put('shop', 'app-cert', { cert: 'C', key: 'K' });
    const reviewer = new ListedReviewer(new Set(['shop/app']));
    let now = 1_000_000;
    const provider = new SecretServingProvider(new StaticResourceProvider(), { source: secrets, reviewer, logger: createLogger({ level: 'silent', name: 'test', pretty: false }), now: () => now });
    const announced: string[][] = [];
    provider.onChange((changes) => announced.push(changes.flatMap((change) => [...change.names])));
    const caller = { node: { ...SHOP_NODE_PROXY }, verifiedIdentity: { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'app' } };
    const view = provider.viewFor({ namespace: 'shop', flavor: 'envoy' }, caller);
    const settle = () => new Promise((resolve) => setImmediate(resolve));

    expect(view.get(SDS, 'kubernetes://app-cert')).toBeUndefined(); // asked; not answered yet
    await settle();
    expect(announced).toEqual([['kubernetes://app-cert']]);
    expect(view.get(SDS, 'kubernetes://app-cert')?.name).toBe('kubernetes://app-cert');
    now += 5 * 60_000 - 1;
    expect(view.get(SDS, 'kubernetes://app-cert')).toBeDefined();
    expect(reviewer.asked).toEqual(['shop/app']);

    reviewer.allowed.clear();
    now += 1;
    // Expired: asked again, the old yes still answers meanwhile (a delta stream is not told the Secret is gone).
    expect(view.get(SDS, 'kubernetes://app-cert')).toBeDefined();
    expect(reviewer.asked).toEqual(['shop/app', 'shop/app']);
    await settle();
    expect(announced).toEqual([['kubernetes://app-cert'], ['kubernetes://app-cert']]);
    expect(view.get(SDS, 'kubernetes://app-cert')).toBeUndefined();
    now += 60_000 - 1;
    view.get(SDS, 'kubernetes://app-cert');
    expect(reviewer.asked).toHaveLength(2);
    now += 1;
    view.get(SDS, 'kubernetes://app-cert');
    expect(reviewer.asked).toHaveLength(3);
  });
});
