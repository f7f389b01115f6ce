/**
 * AUTO_PASSTHROUGH Gateways end to end: the all-in-one `skiff` watches a directory; an ADS client
 * speaking as an east-west gateway (a `router~` node with the gateway's labels) and one speaking as a
 * sidecar record their CDS and EDS responses. Adding a Gateway YAML file whose AUTO_PASSTHROUGH server
 * selects the router gives it istiod's sni-dnat clusters (`outbound_.PORT_._.HOST`) for the
 * MESH_INTERNAL entry only, whose assignment keeps only the `tlsMode: istio` endpoint; removing the
 * file takes them away. The sidecar never sees them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { TypeUrl } from '@skiff/protos';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { eventually, freePort } from '@skiff/testing';
import { connectAds, type SotwAdsStream } from '@skiff/xds-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS, ServiceProcess } from './services.js';

const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: orders, namespace: shop}
spec:
  hosts: [orders.shop.internal]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints:
  - {address: 10.1.0.1, labels: {security.istio.io/tlsMode: istio}}
  - {address: 10.1.0.2}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments, namespace: shop}
spec:
  hosts: [payments.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  location: MESH_EXTERNAL
  resolution: DNS
`;

const GATEWAY = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: cross-network, namespace: istio-system}
spec:
  selector: {istio: eastwestgateway}
  servers:
  - port: {number: 15443, name: tls, protocol: TLS}
    tls: {mode: AUTO_PASSTHROUGH}
    hosts: ['*.local', '*.internal']
`;

const ROUTER_NODE = {
  id: 'router~10.2.0.1~istio-eastwestgateway-1.istio-system~istio-system.svc.cluster.local',
  metadata: { NAMESPACE: 'istio-system', CLUSTER_ID: 'Kubernetes', LABELS: { istio: 'eastwestgateway', app: 'istio-eastwestgateway' } },
};
const SIDECAR_NODE = { id: 'sidecar~10.2.0.2~app-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop', CLUSTER_ID: 'Kubernetes' } };

/** A proxy subscribed to every cluster: the names of the latest CDS response, ACKed. */
class ClusterWatch {
  latest: readonly string[] = [];
  readonly errors: string[] = [];
  private closed = false;

  constructor(readonly stream: SotwAdsStream) {
    stream.request({ typeUrl: TypeUrl.Cluster });
    void this.receive();
  }

  private async receive(): Promise<void> {
    while (!this.closed) {
      try {
        const response = await this.stream.expectResponse({ typeUrl: TypeUrl.Cluster, timeoutMs: 1_000 });
        this.stream.ack(response);
        this.latest = response.names.filter((name) => name.includes('orders') || name.includes('payments')).sort();
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (this.closed || message.includes('ended')) return;
        if (!message.startsWith('no response')) this.errors.push(message);
      }
    }
  }

  close(): void {
    this.closed = true;
    this.stream.close();
  }
}

describe('skiff and an AUTO_PASSTHROUGH Gateway file', () => {
  let dir: string;
  let skiff: ServiceProcess;
  let address: string;
  let router: ClusterWatch;
  let sidecar: ClusterWatch;

  const sidecarClusters = ['outbound|443||payments.example.com', 'outbound|8080||orders.shop.internal'];
  const sniDnat = 'outbound_.8080_._.orders.shop.internal';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-passthrough-'));
    await writeFile(join(dir, 'mesh.yaml'), MESH);
    const xdsPort = await freePort();
    address = `127.0.0.1:${xdsPort}`;
    skiff = await ServiceProcess.start('skiff-passthrough', BINS.skiff, ['--config-dir', dir, '--xds-addr', address, '--config-rescan', '0']);
    router = new ClusterWatch((await connectAds(address, { node: ROUTER_NODE })) as SotwAdsStream);
    sidecar = new ClusterWatch((await connectAds(address, { node: SIDECAR_NODE })) as SotwAdsStream);
    await eventually(() => expect(router.latest).toEqual(sidecarClusters), { timeoutMs: 20_000, intervalMs: 50 });
  }, 60_000);

  afterAll(async () => {
    router?.close();
    sidecar?.close();
    await skiff?.stop('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives the selected router the sni-dnat cluster of the MESH_INTERNAL entry with its mTLS endpoint only, and takes it away with the file', async () => {
    // The all-in-one builds the sni-dnat clusters only once a Gateway with an AUTO_PASSTHROUGH server exists.
    const notRequested = async (): Promise<string[]> => (await skiff.debug<{ notRequested: string[] }>('/debug/translatorz')).notRequested;
    expect(await notRequested()).toEqual(['envoy-sni-dnat', 'grpc']);
    await writeFile(join(dir, 'gateway.yaml'), GATEWAY);
    await eventually(() => expect(router.latest).toEqual([sniDnat, ...sidecarClusters].sort()), { timeoutMs: 20_000, intervalMs: 50 });
    expect(await notRequested()).toEqual(['grpc']);
    expect(sidecar.latest).toEqual(sidecarClusters);

    // Its assignment, asked for on a stream of its own, keeps only the endpoint labelled tlsMode istio.
    const eds = (await connectAds(address, { node: ROUTER_NODE })) as SotwAdsStream;
    try {
      const response = await eds.requestResponseAck({ typeUrl: TypeUrl.ClusterLoadAssignment, names: [sniDnat] });
      const assignment = fromBinary(ClusterLoadAssignmentSchema, response.resources.get(sniDnat)!);
      const addresses = assignment.endpoints.flatMap((locality) =>
        locality.lbEndpoints.map((lb) => (lb.hostIdentifier.case === 'endpoint' && lb.hostIdentifier.value.address?.address.case === 'socketAddress' ? lb.hostIdentifier.value.address.address.value.address : '')),
      );
      expect(addresses).toEqual(['10.1.0.1']);
    } finally {
      eds.close();
    }

    await rm(join(dir, 'gateway.yaml'));
    await eventually(() => expect(router.latest).toEqual(sidecarClusters), { timeoutMs: 20_000, intervalMs: 50 });
    expect(router.errors).toEqual([]);
    expect(sidecar.errors).toEqual([]);
  });
});
