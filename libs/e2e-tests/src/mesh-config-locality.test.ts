/**
 * A MeshConfig file and DNS clusters end to end: the all-in-one `skiff` reads `--mesh-config` (a
 * mesh-wide locality failover, which istiod applies to clusters with outlier detection,
 * `pilot/pkg/networking/core/loadbalancer/loadbalancer.go` `GetEffectiveLbSetting`) and watches a DNS
 * ServiceEntry whose inline endpoints sit in three localities. ADS clients speaking as Envoy sidecars
 * in two localities each get the STRICT_DNS cluster with its inline `load_assignment` ranked for their
 * own locality, as istiod's `ApplyToCluster` ranks it. A MeshConfig istiod would refuse stops `skiff`
 * at start with the field named.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fromBinary } from '@bufbuild/protobuf';
import { TypeUrl } from '@skiff/protos';
import { ClusterSchema, type Cluster } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { eventually, freePort } from '@skiff/testing';
import { connectAds, type SotwAdsStream } from '@skiff/xds-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, ServiceProcess } from './services.js';

const CLUSTER = 'outbound|5432||ledger.dns.internal';

const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ledger, namespace: shop}
spec:
  hosts: [ledger.dns.internal]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  location: MESH_EXTERNAL
  resolution: DNS
  endpoints:
  - {address: ledger-east.db.internal, locality: us-east/a}
  - {address: ledger-west.db.internal, locality: us-west/a}
  - {address: ledger-eu.db.internal, locality: eu-central/x}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ledger, namespace: shop}
spec:
  host: ledger.dns.internal
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5}
`;

// us-east fails over to eu-central before us-west; nothing is said for the other regions.
const MESH_CONFIG = `localityLbSetting:
  failover:
  - from: us-east
    to: eu-central
accessLogFile: /dev/stdout
`;

function sidecarIn(region: string, zone: string) {
  return { id: `sidecar~10.3.0.1~app-${region}.shop~shop.svc.cluster.local`, metadata: { NAMESPACE: 'shop', CLUSTER_ID: 'Kubernetes' }, locality: { region, zone } };
}

/** `region: priority` of the inline endpoints of the cluster a proxy in that locality is served. */
async function inlinePriorities(address: string, region: string, zone: string): Promise<Record<string, number>> {
  const stream = (await connectAds(address, { node: sidecarIn(region, zone) })) as SotwAdsStream;
  try {
    const response = await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
    const bytes = response.resources.get(CLUSTER);
    if (bytes === undefined) throw new Error(`no ${CLUSTER} among ${response.names.join(', ')}`);
    const cluster: Cluster = fromBinary(ClusterSchema, bytes);
    return Object.fromEntries((cluster.loadAssignment?.endpoints ?? []).map((group) => [group.locality?.region ?? '', group.priority]));
  } finally {
    stream.close();
  }
}

describe('a MeshConfig file and DNS clusters ranked per proxy locality, through the all-in-one skiff', () => {
  let dir: string;
  let skiff: ServiceProcess;
  let address: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-mesh-config-'));
    // The watched directory holds Istio objects only; the MeshConfig sits beside it.
    const configDir = join(dir, 'config');
    await mkdir(configDir);
    await writeFile(join(configDir, 'mesh.yaml'), MESH);
    await writeFile(join(dir, 'mesh-config.yaml'), MESH_CONFIG);
    address = `127.0.0.1:${await freePort()}`;
    skiff = await ServiceProcess.start('skiff-mesh-config', BINS.skiff, ['--config-dir', configDir, '--mesh-config', join(dir, 'mesh-config.yaml'), '--xds-addr', address]);
  }, 60_000);

  afterAll(async () => {
    await skiff?.stop('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves each sidecar the DNS cluster with its inline endpoints ranked for its locality, following the mesh failover', async () => {
    // us-east: its own region, then the mesh's failover region, then the rest.
    await eventually(async () => expect(await inlinePriorities(address, 'us-east', 'a')).toEqual({ 'us-east': 0, 'eu-central': 1, 'us-west': 2 }), { timeoutMs: 20_000, intervalMs: 100 });
    // us-west has no failover rule: its own region, then every other region alike.
    expect(await inlinePriorities(address, 'us-west', 'a')).toEqual({ 'us-west': 0, 'eu-central': 1, 'us-east': 1 });
    // It logged the MeshConfig field it does not read.
    await eventually(() => expect(skiff.output).toContain('mesh config fields Skiff does not read'));
    expect(skiff.output).toContain('accessLogFile');
  }, 60_000);

  it('refuses at start a MeshConfig istiod would refuse, naming the field', async () => {
    const bad = join(dir, 'bad-mesh-config.yaml');
    await writeFile(bad, 'localityLbSetting:\n  distribute:\n  - from: us-east/*\n    to: {us-east/a: 60, us-west/*: 30}\n');
    const outcome = await promisify(execFile)(process.execPath, [BINS.skiff, '--config-dir', join(dir, 'config'), '--mesh-config', bad, '--xds-addr', `127.0.0.1:${await freePort()}`]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code?: number; stderr?: string }) => ({ code: error.code ?? -1, stderr: error.stderr ?? '' }),
    );
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(`skiff: ${bad}: meshConfig localityLbSetting.distribute[0].to: total locality weight 90 != 100`);
  }, 60_000);
});
