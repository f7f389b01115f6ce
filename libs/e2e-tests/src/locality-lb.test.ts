/**
 * Locality load balancing through the all-in-one `skiff` to the real @grpc/grpc-js-xds client: one
 * service with a backend in each of three localities and a DestinationRule with outlier detection (so
 * the mesh default fails over by locality, `pilot/pkg/networking/core/loadbalancer/loadbalancer.go`
 * `applyLocalityFailover`). Two proxyless clients in different localities are each sent the
 * priorities of their own locality, so each calls only the backend next to it; `skiffctl proxy-config
 * endpoint -o json` shows each proxy its own priorities. Then the rule turns locality load balancing
 * off, and both clients spread over every backend.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, freePort } from '@skiff/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, ServiceProcess, startBackend, XdsClientProcess } from './services.js';

const HOST = 'echo.locality.internal';
const BACKENDS = [
  { name: 'east-a', locality: 'us-east/zone-a' },
  { name: 'east-b', locality: 'us-east/zone-b' },
  { name: 'west-a', locality: 'us-west/zone-a' },
] as const;

const serviceEntry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: demo}
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  ports: [{number: 8080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  workloadSelector: {labels: {app: echo}}
`;

const destinationRule = (localityLbSetting: string): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: demo}
spec:
  host: ${HOST}
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s}
${localityLbSetting}`;

const workloadEntry = (name: string, port: number, locality: string): string => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: demo}
spec: {address: 127.0.0.1, locality: ${locality}, labels: {app: echo}, ports: {grpc: ${port}}}
`;

function clientIn(id: string, xdsAddress: string, region: string, zone: string): XdsClientProcess {
  return new XdsClientProcess(
    {
      xds_servers: [{ server_uri: xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id, cluster: 'e2e', locality: { region, zone }, metadata: { GENERATOR: 'grpc', NAMESPACE: 'demo' } },
    },
    `xds:///${HOST}:8080`,
  );
}

interface EndpointDump {
  readonly clusterName: string;
  readonly endpoints: readonly { readonly locality?: { readonly region?: string; readonly zone?: string }; readonly priority?: number }[];
}

describe('locality load balancing served per proxy to the real @grpc/grpc-js-xds client', () => {
  let dir: string;
  let skiff: ServiceProcess;
  let backends: Awaited<ReturnType<typeof startBackend>>[];
  let east: XdsClientProcess;
  let west: XdsClientProcess;

  beforeAll(async () => {
    backends = await Promise.all(BACKENDS.map(({ name }) => startBackend(name)));
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-locality-'));
    await writeFile(join(dir, 'echo.yaml'), serviceEntry);
    await writeFile(join(dir, 'echo-dr.yaml'), destinationRule(''));
    for (const [index, backend] of backends.entries()) await writeFile(join(dir, `${backend.name}.yaml`), workloadEntry(backend.name, backend.port, BACKENDS[index]!.locality));
    const xdsAddress = `127.0.0.1:${await freePort()}`;
    skiff = await ServiceProcess.start('skiff', BINS.skiff, ['--config-dir', dir, '--xds-addr', xdsAddress]);
    east = clientIn('client-east', xdsAddress, 'us-east', 'zone-a');
    west = clientIn('client-west', xdsAddress, 'us-west', 'zone-a');
  }, 60_000);

  afterAll(async () => {
    east?.close();
    west?.close();
    await skiff?.stop('SIGKILL');
    for (const backend of backends ?? []) backend.server.forceShutdown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('each client calls only the backend in its own locality (priority 0)', async () => {
    for (const [client, only] of [
      [east, 'east-a'],
      [west, 'west-a'],
    ] as const) {
      await eventually(
        async () => {
          const outcome = await client.spread(20);
          expect(outcome.errors).toEqual([]);
          expect(outcome.hits).toEqual({ [only]: 20 });
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    }
  }, 150_000);

  it('skiffctl proxy-config endpoint shows each proxy its own priorities', async () => {
    const gateway = ['--gateway', `http://127.0.0.1:${skiff.monitoringPort}`];
    const prioritiesOf = async (proxy: string): Promise<Record<string, number>> => {
      // npx skiffctl proxy-config endpoint <proxy> -o json
      const { stdout } = await promisify(execFile)(process.execPath, [BINS.skiffctl, 'proxy-config', 'endpoint', proxy, ...gateway, '-o', 'json']);
      const assignment = (JSON.parse(stdout) as EndpointDump[]).find((item) => item.clusterName === `outbound|8080||${HOST}`);
      return Object.fromEntries((assignment?.endpoints ?? []).map((group) => [`${group.locality?.region}/${group.locality?.zone}`, group.priority ?? 0]));
    };
    expect(await prioritiesOf('client-east')).toEqual({ 'us-east/zone-a': 0, 'us-east/zone-b': 1, 'us-west/zone-a': 2 });
    expect(await prioritiesOf('client-west')).toEqual({ 'us-east/zone-a': 1, 'us-east/zone-b': 1, 'us-west/zone-a': 0 });
  }, 60_000);

  it('with locality load balancing turned off, both clients spread over every backend', async () => {
    await writeFile(join(dir, 'echo-dr.yaml'), destinationRule('    loadBalancer:\n      localityLbSetting: {enabled: false}\n'));
    for (const client of [east, west]) {
      await eventually(
        async () => {
          const outcome = await client.spread(30);
          expect(outcome.errors).toEqual([]);
          expect(Object.keys(outcome.hits).sort()).toEqual(['east-a', 'east-b', 'west-a']);
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    }
  }, 150_000);
});
