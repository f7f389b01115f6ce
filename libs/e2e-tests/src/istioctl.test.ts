/**
 * The real istioctl (built from the same istio.io/istio version as the istiod reference, by
 * tools/istiod-reference/build.sh) against a running `skiff`, without a Kubernetes cluster:
 * - `istioctl proxy-status --xds-address A --plaintext -r default` lists Skiff's proxies. Without
 *   `-r default` istioctl first looks the default revision up in Kubernetes and waits for a cluster
 *   that is not there (docs/istio-compatibility.md).
 * - `istioctl x internal-debug <endpoint>` asks over the generic `istio.io/debug` xDS type and
 *   prints what `/debug/<endpoint>` answers.
 * - `istioctl x version` shows Skiff's version (the root package.json) as the control plane's.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { istioTools } from '@skiff/istiod-parity';
import { TypeUrl } from '@skiff/protos';
import { freePort } from '@skiff/testing';
import { connectAds, type SotwAdsStream } from '@skiff/xds-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, REPO_ROOT, ServiceProcess } from './services.js';

const run = promisify(execFile);

const SERVICE_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: api
  namespace: demo
spec:
  hosts: [api.demo.svc]
  ports:
  - {number: 8080, name: http, protocol: HTTP}
  resolution: STATIC
  endpoints:
  - address: 10.0.0.1
`;

describe('the real istioctl against skiff', () => {
  let dir: string;
  let skiff: ServiceProcess;
  let stream: SotwAdsStream;
  let istioctl: string;
  let xds: string;
  const home = { HOME: '' };

  const istioctlRun = async (args: readonly string[]) => {
    const { stdout } = await run(istioctl, [...args, '--xds-address', xds, '--plaintext'], { env: { ...process.env, ...home }, timeout: 30_000 });
    return stdout;
  };

  beforeAll(async () => {
    istioctl = (await istioTools()).istioctl;
    dir = await mkdtemp(join(tmpdir(), 'skiff-istioctl-'));
    home.HOME = dir;
    await writeFile(join(dir, 'api.yaml'), SERVICE_ENTRY);
    const port = await freePort();
    xds = `127.0.0.1:${port}`;
    skiff = await ServiceProcess.start('skiff', BINS.skiff, ['--config-dir', dir, '--xds-addr', xds]);
    stream = await connectAds(xds, {
      node: { id: 'sidecar~10.0.0.9~app-1.demo~demo.svc.cluster.local', metadata: { NAMESPACE: 'demo', CLUSTER_ID: 'Kubernetes', ISTIO_VERSION: '1.30.0' } },
    });
    const clusters = await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
    expect(clusters.names).toEqual(['outbound|8080||api.demo.svc']);
    await stream.requestResponseAck({ typeUrl: TypeUrl.ClusterLoadAssignment, names: ['outbound|8080||api.demo.svc'] });
  }, 30 * 60_000);

  afterAll(async () => {
    stream?.close();
    await skiff?.stop('SIGKILL');
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('proxy-status -r default lists the proxy with its cluster, version and subscribed types, and -o json too', async () => {
    const table = await istioctlRun(['proxy-status', '-r', 'default']);
    const row = table.split('\n').find((line) => line.startsWith('app-1.demo'));
    expect(row, table).toBeDefined();
    expect(row!.split(/\s{2,}/)).toEqual(['app-1.demo', 'Kubernetes', expect.any(String), '1.30.0', '2 (CDS,EDS)']);
    const json = JSON.parse(await istioctlRun(['proxy-status', '-r', 'default', '-o', 'json'])) as { proxy?: string }[] | Record<string, unknown>;
    expect(JSON.stringify(json)).toContain('app-1.demo');
  });

  it('x internal-debug syncz prints /debug/syncz through the istio.io/debug type', async () => {
    const out = await istioctlRun(['x', 'internal-debug', 'syncz', '-r', 'default']);
    expect(out).toContain('app-1.demo');
    const adsz = await istioctlRun(['x', 'internal-debug', 'adsz', '-r', 'default']);
    const clients = (JSON.parse(adsz) as { clients: { metadata: Record<string, unknown>; watches: Record<string, string[]> }[] }).clients;
    const proxy = clients.find((client) => client.metadata['NAMESPACE'] === 'demo');
    expect(proxy?.watches[TypeUrl.ClusterLoadAssignment]).toEqual(['outbound|8080||api.demo.svc']);
  });

  it("version shows Skiff's version as the control plane's", async () => {
    const { version } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const out = await istioctlRun(['x', 'version', '-r', 'default']);
    expect(out).toContain(`control plane version: ${version}`);
  });
});
