/**
 * ADS over mutual TLS with real certificates (openssl) and real gRPC clients on 127.0.0.1: client
 * certificates verified against the CA bundle, SPIFFE identities bound to the node as istiod's
 * XDS_AUTH binds them, and certificates re-read after a Kubernetes-style atomic Secret update.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@skiff/protos';
import { eventually, TestCertificateAuthority, type IssuedCertificate } from '@skiff/testing';
import { connectAds, testLoadAssignment, type NodeInit } from '@skiff/xds-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { AdsServer, StaticResourceProvider, type AdsRefusalReason, type AdsServerTls } from './index.js';

const EDS = TypeUrl.ClusterLoadAssignment;
const SHOP_NODE: NodeInit = { id: 'sidecar~127.0.0.1~app-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop', SERVICE_ACCOUNT: 'app' } };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function authority(name: string): TestCertificateAuthority {
  const ca = new TestCertificateAuthority(name);
  cleanups.push(() => ca.dispose());
  return ca;
}

/**
 * A directory laid out as the kubelet mounts a Secret: files are symlinks into `..data`, itself a
 * symlink to a timestamped directory, and an update swaps `..data` with one rename.
 */
class SecretVolume {
  readonly dir = mkdtempSync(join(tmpdir(), 'skiff-secret-'));
  private generation = 0;

  constructor(files: Record<string, Buffer>) {
    cleanups.push(() => rmSync(this.dir, { recursive: true, force: true }));
    this.update(files);
    for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(this.dir, name));
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  update(files: Record<string, Buffer>): void {
    const version = `..v${++this.generation}`;
    mkdirSync(join(this.dir, version));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(this.dir, version, name), content);
    symlinkSync(version, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
  }
}

function secretFiles(server: IssuedCertificate, ca: TestCertificateAuthority): Record<string, Buffer> {
  return { 'tls.crt': server.cert, 'tls.key': server.key, 'ca.crt': ca.ca };
}

async function startServer(tls: AdsServerTls, identityCheck = true) {
  const refusals: AdsRefusalReason[] = [];
  const provider = new StaticResourceProvider();
  provider.upsert([testLoadAssignment('x')]);
  const server = new AdsServer({
    address: '127.0.0.1:0',
    provider,
    tls,
    identityCheck,
    debounceMs: 1,
    maxConnectionAgeMs: 0,
    shutdownGraceMs: 500,
    callbacks: { onRefused: (_session, refusal) => refusals.push(refusal.reason) },
  });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return { server, refusals, address: `127.0.0.1:${port}` };
}

function clientCredentials(ca: TestCertificateAuthority, client?: IssuedCertificate): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(ca.ca, client?.key ?? null, client?.cert ?? null);
}

async function open(address: string, credentials: grpc.ChannelCredentials, node: NodeInit = SHOP_NODE) {
  const stream = await connectAds(address, { node, credentials, connectTimeoutMs: 2_000, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
  cleanups.push(() => stream.close());
  return stream;
}

describe('ADS over mutual TLS', () => {
  it('serves a client whose certificate the CA verifies and whose identity matches its node', async () => {
    const ca = authority('mesh-ca');
    const secret = new SecretVolume(secretFiles(ca.issueServer(), ca));
    const { server, address } = await startServer({ certFile: secret.file('tls.crt'), keyFile: secret.file('tls.key'), caFile: secret.file('ca.crt'), refreshIntervalMs: 100 });
    const ads = await open(address, clientCredentials(ca, ca.issueWorkload('shop', 'app')));
    expect((await ads.requestResponseAck({ typeUrl: EDS, names: ['x'] })).names).toEqual(['x']);
    const [status] = server.sessions.list();
    expect(status?.identities).toEqual(['spiffe://cluster.local/ns/shop/sa/app']);
    expect(status?.verifiedIdentity).toEqual({ trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'app' });
  });

  it("refuses a node in another namespace, or of another service account, than the certificate's with PERMISSION_DENIED", async () => {
    const ca = authority('mesh-ca');
    const server = ca.issueServer();
    const { refusals, address } = await startServer({ certChain: server.cert, privateKey: server.key, clientCa: ca.ca, requireClientCertificate: true });
    const other = await open(address, clientCredentials(ca, ca.issueWorkload('other', 'app')));
    other.request({ typeUrl: EDS, names: ['x'] });
    const end = await other.expectEnd();
    expect(end.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(end.details).toBe('authorization failed: no identities (spiffe://cluster.local/ns/other/sa/app) matched shop/app');
    const wrongAccount = await open(address, clientCredentials(ca, ca.issueWorkload('shop', 'billing')));
    wrongAccount.request({ typeUrl: EDS, names: ['x'] });
    expect((await wrongAccount.expectEnd()).code).toBe(grpc.status.PERMISSION_DENIED);
    expect(refusals).toEqual(['identity', 'identity']);
  });

  it('serves any node to a verified client when the identity check is off', async () => {
    const ca = authority('mesh-ca');
    const server = ca.issueServer();
    const { address } = await startServer({ certChain: server.cert, privateKey: server.key, clientCa: ca.ca, requireClientCertificate: true }, false);
    const other = await open(address, clientCredentials(ca, ca.issueWorkload('other', 'app')));
    expect((await other.requestResponseAck({ typeUrl: EDS, names: ['x'] })).names).toEqual(['x']);
  });

  it('refuses clients without a certificate, or with one from another CA, during the handshake', async () => {
    const ca = authority('mesh-ca');
    const stranger = authority('stranger-ca');
    const secret = new SecretVolume(secretFiles(ca.issueServer(), ca));
    const { server, address } = await startServer({ certFile: secret.file('tls.crt'), keyFile: secret.file('tls.key'), caFile: secret.file('ca.crt'), refreshIntervalMs: 100 });
    await expect(open(address, clientCredentials(ca))).rejects.toThrow();
    await expect(open(address, clientCredentials(ca, stranger.issueWorkload('shop', 'app')))).rejects.toThrow();
    expect(server.sessions.size).toBe(0);
  });

  it('uses a renewed certificate and CA bundle after an atomic Secret update, without a restart', async () => {
    const oldCa = authority('old-ca');
    const newCa = authority('new-ca');
    const secret = new SecretVolume(secretFiles(oldCa.issueServer(), oldCa));
    const { address } = await startServer({ certFile: secret.file('tls.crt'), keyFile: secret.file('tls.key'), caFile: secret.file('ca.crt'), refreshIntervalMs: 100 });
    const before = await open(address, clientCredentials(oldCa, oldCa.issueWorkload('shop', 'app')));
    await before.requestResponseAck({ typeUrl: EDS, names: ['x'] });

    secret.update(secretFiles(newCa.issueServer(), newCa));
    // New connections see the new server certificate and need a client certificate of the new CA.
    const after = await eventually(async () => open(address, clientCredentials(newCa, newCa.issueWorkload('shop', 'app'))), { timeoutMs: 5_000 });
    expect((await after.requestResponseAck({ typeUrl: EDS, names: ['x'] })).names).toEqual(['x']);
    await expect(open(address, clientCredentials(oldCa, oldCa.issueWorkload('shop', 'app')))).rejects.toThrow();
  });
});
