/**
 * The all-in-one `skiff` serving grpc-go, the second real proxyless client (`tools/grpc-go-xds-client`,
 * google.golang.org/grpc's xDS resolver and xDS transport credentials): RPCs spread over the
 * WorkloadEntry backends; a DestinationRule with a ring-hash consistent hash, outlier detection and a
 * connection pool is ACKed and routes by the hash header; `ISTIO_MUTUAL` makes the client dial the
 * backends with mutual TLS from its bootstrap's `default` certificate provider, checking their CA and
 * SPIFFE identity; and the ADS stream itself runs over mutual TLS with the bootstrap of
 * docs/grpc-proxyless.md#grpc-go. The Node client @grpc/grpc-js-xds, given XdsChannelCredentials and
 * the same certificate provider, is held to the same ISTIO_MUTUAL cluster.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, freePort, TestCertificateAuthority, type IssuedCertificate } from '@skiff/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findGrpcGoClient, GrpcGoClientProcess, type GrpcGoReport } from './grpc-go-client.js';
import { BINS, REPO_ROOT, ServiceProcess, startBackend, XdsClientProcess, type Backend } from './services.js';

const NAMESPACE = 'demo';
const PORT = 8080;
/** The service account of the mTLS backends (and so of the `secure` service's SANs). */
const BACKEND_ACCOUNT = 'echo';
const backendIdentity = `spiffe://cluster.local/ns/${NAMESPACE}/sa/${BACKEND_ACCOUNT}`;

const serviceEntry = (name: string, app: string): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: ${NAMESPACE}}
spec:
  hosts: [${name}.${NAMESPACE}.internal]
  location: MESH_INTERNAL
  ports: [{number: ${PORT}, name: grpc, protocol: GRPC}]
  resolution: STATIC
  workloadSelector: {labels: {app: ${app}}}
`;

const workloadEntry = (backend: Backend, app: string, serviceAccount?: string): string => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${backend.name}, namespace: ${NAMESPACE}}
spec:
  address: 127.0.0.1
  labels: {app: ${app}}
  ports: {grpc: ${backend.port}}
${serviceAccount === undefined ? '' : `  serviceAccount: ${serviceAccount}\n`}`;

const istioMutual = (name: string): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: ${NAMESPACE}}
spec:
  host: ${name}.${NAMESPACE}.internal
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
`;

const ringHashRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ring, namespace: ${NAMESPACE}}
spec:
  host: ring.${NAMESPACE}.internal
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 64}}
    connectionPool: {http: {http2MaxRequests: 100}}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50}
`;

const target = (name: string): string => `xds:///${name}.${NAMESPACE}.internal:${PORT}`;

interface SyncEntry {
  readonly proxy: string;
  readonly resources?: Record<string, { readonly sent: string; readonly acked: string; readonly lastError?: string }>;
}

/** The `json grpc-go-bootstrap` block of docs/grpc-proxyless.md. */
async function documentedBootstrap(): Promise<{ xds_servers: { server_uri: string; channel_creds: { type: string; config: Record<string, string> }[] }[]; node: { id: string } } & Record<string, unknown>> {
  const doc = await readFile(join(REPO_ROOT, 'docs', 'grpc-proxyless.md'), 'utf8');
  const block = /```json grpc-go-bootstrap\n([\s\S]*?)```/.exec(doc)?.[1];
  if (block === undefined) throw new Error('no ```json grpc-go-bootstrap block in docs/grpc-proxyless.md');
  return JSON.parse(block) as Awaited<ReturnType<typeof documentedBootstrap>>;
}

/** The documented bootstrap pointed at this test's server and files: its paths are mapped by file name. */
function localizeBootstrap(bootstrap: unknown, serverUri: string, files: Record<string, string>): unknown {
  const text = JSON.stringify(bootstrap).replace(/"\/etc\/skiff\/certs\/([^"]+)"/g, (_match, file: string) => {
    const local = files[file];
    if (local === undefined) throw new Error(`the documented bootstrap names /etc/skiff/certs/${file}, which this test does not provide`);
    return JSON.stringify(local);
  });
  const localized = JSON.parse(text) as Awaited<ReturnType<typeof documentedBootstrap>>;
  for (const server of localized.xds_servers) server.server_uri = serverUri;
  return localized;
}

/** No RPC reached a backend, and each failed UNAVAILABLE for `reason`. */
function expectEveryRpcFailed(report: GrpcGoReport, count: number, reason: string): void {
  expect(report.hits).toEqual({});
  expect(report.errors).toHaveLength(count);
  for (const error of report.errors) {
    expect(error).toMatch(/^Unavailable: /);
    expect(error).toContain(reason);
  }
}

describe('Skiff with the real grpc-go xDS client', () => {
  const ca = new TestCertificateAuthority('skiff-mesh-ca');
  const otherCa = new TestCertificateAuthority('another-mesh-ca');
  let binary: string;
  let dir: string;
  let skiff: ServiceProcess;
  let plainAddress: string;
  let tlsAddress: string;
  let clientCert: IssuedCertificate;
  const backends: Backend[] = [];
  const clients: GrpcGoClientProcess[] = [];
  const nodeClients: XdsClientProcess[] = [];

  /**
   * A grpc-go client (node id `<id>-client`) calling service `name` over the plaintext ADS port, with the
   * mesh CA's workload certificate as its `default` certificate provider unless told otherwise.
   */
  const plainClient = (id: string, name = id, options: { readonly certificateProviders?: boolean } = {}): GrpcGoClientProcess => {
    const bootstrap = {
      xds_servers: [{ server_uri: plainAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: `${id}-client`, locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE } },
      ...(options.certificateProviders === false
        ? {}
        : {
            certificate_providers: {
              default: { plugin_name: 'file_watcher', config: { certificate_file: clientCert.certFile, private_key_file: clientCert.keyFile, ca_certificate_file: ca.caFile, refresh_interval: '900s' } },
            },
          }),
    };
    const client = new GrpcGoClientProcess(binary, bootstrap, target(name));
    clients.push(client);
    return client;
  };

  const syncOf = async (proxy: string): Promise<SyncEntry | undefined> => (await skiff.debug<SyncEntry[]>('/debug/syncz')).find((entry) => entry.proxy === proxy);

  /** Every type the proxy subscribed to is ACKed at the version sent, with no NACK. */
  const expectAllAcked = async (proxy: string): Promise<void> => {
    const entry = await syncOf(proxy);
    expect(entry, `${proxy} in /debug/syncz`).toBeDefined();
    const types = Object.entries(entry?.resources ?? {});
    expect(types.map(([type]) => type.split('.').pop()).sort()).toEqual(['Cluster', 'ClusterLoadAssignment', 'Listener', 'RouteConfiguration']);
    for (const [type, state] of types) {
      expect(state.lastError, type).toBeUndefined();
      expect(state.acked, type).toBe(state.sent);
    }
  };

  /** Runs `count` RPCs until none fails (the first ones wait for xDS and connections). */
  const allSucceed = (client: GrpcGoClientProcess, count: number, check: (report: GrpcGoReport) => void = () => undefined): Promise<GrpcGoReport> =>
    eventually(
      async () => {
        const report = await client.rpcs(count);
        expect(report.errors).toEqual([]);
        check(report);
        return report;
      },
      { timeoutMs: 45_000, intervalMs: 250 },
    );

  beforeAll(async () => {
    // Fails (does not skip) every test here when the client is not built: it names tools/grpc-go-xds-client/build.sh.
    binary = findGrpcGoClient();
    clientCert = ca.issueWorkload(NAMESPACE, 'client');
    const meshTls = (issuer: TestCertificateAuthority, account: string) => {
      const cert = issuer.issueWorkload(NAMESPACE, account);
      return { cert: cert.cert, key: cert.key, ca: ca.ca };
    };
    const started = await Promise.all([
      ...['echo-1', 'echo-2', 'echo-3'].map((name) => startBackend(name)),
      ...['secure-1', 'secure-2', 'secure-3'].map((name) => startBackend(name, meshTls(ca, BACKEND_ACCOUNT))),
      // The right identity from another CA, and the right CA with an identity the service does not list.
      startBackend('rogue-1', meshTls(otherCa, BACKEND_ACCOUNT)),
      startBackend('impostor-1', meshTls(ca, 'impostor')),
    ]);
    for (const backend of started) backends.push(backend);
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-grpc-go-'));
    const files: Record<string, string> = {
      'plain.yaml': serviceEntry('plain', 'echo'),
      'ring.yaml': `${serviceEntry('ring', 'echo')}---\n${ringHashRule}`,
      'secure.yaml': `${serviceEntry('secure', 'secure')}---\n${istioMutual('secure')}`,
      'rogue.yaml': `${serviceEntry('rogue', 'rogue')}---\n${istioMutual('rogue')}`,
      'impostor.yaml': `${serviceEntry('impostor', 'impostor')}---\n${istioMutual('impostor')}`,
    };
    for (const backend of backends) {
      const app = backend.name.replace(/-\d+$/, '');
      files[`${backend.name}.yaml`] = app === 'echo' ? workloadEntry(backend, 'echo') : workloadEntry(backend, app, BACKEND_ACCOUNT);
    }
    for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
    const server = ca.issueServer('skiff');
    plainAddress = `127.0.0.1:${await freePort()}`;
    tlsAddress = `127.0.0.1:${await freePort()}`;
    skiff = await ServiceProcess.start('skiff', BINS.skiff, [
      '--config-dir', dir,
      '--xds-addr', plainAddress,
      '--tls-xds-addr', tlsAddress,
      '--tls-cert-file', server.certFile,
      '--tls-key-file', server.keyFile,
      '--tls-client-ca-file', ca.caFile,
    ]);
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const client of nodeClients) client.close();
    await skiff?.stop('SIGKILL');
    for (const backend of backends) backend.server.forceShutdown();
    if (dir) await rm(dir, { recursive: true, force: true });
    ca.dispose();
    otherCa.dispose();
  });

  it('spreads RPCs round robin over the WorkloadEntry backends and ACKs every type', async () => {
    const client = plainClient('plain');
    // Round robin over three ready backends: 30 RPCs are 10 each once every connection is up.
    const report = await allSucceed(client, 30, (outcome) => expect(outcome.hits).toEqual({ 'echo-1': 10, 'echo-2': 10, 'echo-3': 10 }));
    expect(report.rpcs).toBe(30);
    await expectAllAcked('plain-client');
  }, 90_000);

  it('accepts the ring-hash, outlier-detection and circuit-breaker rule and routes each x-user to one backend', async () => {
    const client = plainClient('ring');
    await allSucceed(client, 5);
    await expectAllAcked('ring-client');
    const dump = JSON.stringify(await skiff.debug<unknown>('/debug/config_dump?proxyID=ring-client'));
    expect(dump).toContain('"lbPolicy":"RING_HASH"');
    expect(dump).toContain('"circuitBreakers":{"thresholds":[{"maxRequests":100}]}');
    expect(dump).toContain('"hashPolicy":[{"header":{"headerName":"x-user"}}]');
    // The hash decides: every RPC of one user lands on one backend, and users spread over several.
    const owners = new Set<string>();
    for (const user of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi']) {
      const report = await client.rpcs(10, { 'x-user': user });
      expect(report.errors, user).toEqual([]);
      expect(Object.values(report.hits), user).toEqual([10]);
      const [owner] = Object.keys(report.hits);
      if (owner !== undefined) owners.add(owner);
      // The same user again: the same backend.
      expect((await client.rpcs(5, { 'x-user': user })).hits, user).toEqual({ [owner ?? '']: 5 });
    }
    expect(owners.size).toBeGreaterThan(1);
  }, 90_000);

  it('dials ISTIO_MUTUAL backends with mutual TLS from the bootstrap certificate provider', async () => {
    const client = plainClient('secure');
    await allSucceed(client, 30, (outcome) => expect(outcome.hits).toEqual({ 'secure-1': 10, 'secure-2': 10, 'secure-3': 10 }));
    await expectAllAcked('secure-client');
    const dump = JSON.stringify(await skiff.debug<unknown>('/debug/config_dump?proxyID=secure-client'));
    expect(dump).toContain(`"matchSubjectAltNames":[{"exact":"${backendIdentity}"}]`);
    // Each backend demanded a client certificate of the mesh CA and saw the client's own identity.
    for (const backend of backends.filter((candidate) => candidate.name.startsWith('secure-'))) {
      expect(backend.callers.length, backend.name).toBeGreaterThan(0);
      expect(new Set(backend.callers), backend.name).toEqual(new Set([`URI:spiffe://cluster.local/ns/${NAMESPACE}/sa/client`]));
    }
  }, 90_000);

  it.each([
    { what: 'from another CA', name: 'rogue', reason: 'x509: certificate signed by unknown authority' },
    { what: "of the mesh CA with an identity the service's SANs do not list", name: 'impostor', reason: `URIs: [spiffe://cluster.local/ns/${NAMESPACE}/sa/impostor]} do not match any of the accepted SANs` },
  ])('fails the handshake with a backend whose certificate is $what', async ({ name, reason }) => {
    const client = plainClient(name);
    await eventually(() => expectAllAcked(`${name}-client`), { timeoutMs: 45_000, intervalMs: 250 });
    expectEveryRpcFailed(await client.rpcs(3), 3, reason);
    expect(backends.find((backend) => backend.name === `${name}-1`)?.callers).toEqual([]);
  }, 90_000);

  it('has the Node client @grpc/grpc-js-xds, with XdsChannelCredentials, route over the same ISTIO_MUTUAL cluster', async () => {
    const bootstrap = {
      xds_servers: [{ server_uri: plainAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'node-secure-client', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE } },
      certificate_providers: {
        default: { plugin_name: 'file_watcher', config: { certificate_file: clientCert.certFile, private_key_file: clientCert.keyFile, ca_certificate_file: ca.caFile, refresh_interval: '900s' } },
      },
    };
    const client = new XdsClientProcess(bootstrap, target('secure'), { xdsCredentials: true });
    nodeClients.push(client);
    const secureCallers = () => backends.filter((backend) => backend.name.startsWith('secure-')).reduce((count, backend) => count + backend.callers.length, 0);
    const before = secureCallers();
    await eventually(
      async () => {
        const outcome = await client.spread(30);
        expect(outcome.errors).toEqual([]);
        expect(outcome.hits).toEqual({ 'secure-1': 10, 'secure-2': 10, 'secure-3': 10 });
      },
      { timeoutMs: 45_000, intervalMs: 250 },
    );
    await expectAllAcked('node-secure-client');
    // The backends checked each caller's certificate (the mesh CA's, the client's identity).
    expect(secureCallers()).toBeGreaterThanOrEqual(before + 30);
    // And it refuses the backend whose certificate is from another CA.
    const rogue = new XdsClientProcess({ ...bootstrap, node: { ...bootstrap.node, id: 'node-rogue-client' } }, target('rogue'), { xdsCredentials: true });
    nodeClients.push(rogue);
    const refused = await rogue.spread(2);
    expect(refused.hits).toEqual({});
    expect(refused.errors).toHaveLength(2);
    for (const error of refused.errors) expect(error).toMatch(/^14 UNAVAILABLE: .*unable to verify the first certificate/);
    await expectAllAcked('node-rogue-client');
  }, 90_000);

  it('NACKs an ISTIO_MUTUAL cluster when its bootstrap has no default certificate provider', async () => {
    const client = plainClient('no-provider', 'secure', { certificateProviders: false });
    const [type, state] = await eventually(
      async () => {
        const nacked = Object.entries((await syncOf('no-provider-client'))?.resources ?? {}).find(([, candidate]) => candidate.lastError !== undefined);
        expect(nacked).toBeDefined();
        return nacked ?? ['', { sent: '', acked: '' }];
      },
      { timeoutMs: 45_000, intervalMs: 250 },
    );
    expect(type.split('.').pop()).toBe('Cluster');
    expect(state.lastError).toContain('certificate provider instance name "default" missing in bootstrap configuration');
    // Without the cluster there is no route to a backend.
    const report = await client.rpcs(1);
    expect(report.hits).toEqual({});
  }, 90_000);

  it('runs the ADS stream over mutual TLS with the documented bootstrap, and routes over mTLS', async () => {
    const bootstrap = localizeBootstrap(await documentedBootstrap(), tlsAddress, { 'root-cert.pem': ca.caFile, 'cert-chain.pem': clientCert.certFile, 'key.pem': clientCert.keyFile });
    const client = new GrpcGoClientProcess(binary, bootstrap, target('secure'));
    clients.push(client);
    await allSucceed(client, 30, (outcome) => expect(outcome.hits).toEqual({ 'secure-1': 10, 'secure-2': 10, 'secure-3': 10 }));
    await expectAllAcked('app-1.demo');
  }, 90_000);

  it('is refused on the TLS port when its certificate is of another namespace than its node', async () => {
    const stranger = ca.issueWorkload('elsewhere', 'client');
    const bootstrap = localizeBootstrap(await documentedBootstrap(), tlsAddress, { 'root-cert.pem': ca.caFile, 'cert-chain.pem': stranger.certFile, 'key.pem': stranger.keyFile });
    const client = new GrpcGoClientProcess(binary, bootstrap, target('plain'));
    clients.push(client);
    const metrics = async () => (await fetch(`http://127.0.0.1:${skiff.monitoringPort}/metrics`)).text();
    await eventually(async () => expect(await metrics()).toMatch(/skiff_xds_refused_total\{reason="identity"\} [1-9]/), { timeoutMs: 30_000, intervalMs: 250 });
    expectEveryRpcFailed(await client.rpcs(2), 2, `PermissionDenied desc = authorization failed: no identities (spiffe://cluster.local/ns/elsewhere/sa/client) matched ${NAMESPACE}/`);
  }, 90_000);
});
