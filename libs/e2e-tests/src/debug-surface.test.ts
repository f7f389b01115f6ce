/**
 * What the all-in-one `skiff` tells about itself, on a directory of files: istiod's debug endpoints with
 * real values (creation times, port names), the watcher's counts agreeing with its metrics, a log line
 * per proxy connection, and a file that stops parsing shown in /debug/configz until it is fixed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TypeUrl } from '@skiff/protos';
import { eventually, freePort } from '@skiff/testing';
import { connectAds } from '@skiff/xds-conformance';
import { BINS, ServiceProcess } from './services.js';

const SERVICE_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: demo}
spec:
  hosts: [api.demo.svc]
  ports: [{number: 8080, name: grpc-api, protocol: GRPC}]
  resolution: STATIC
  workloadSelector: {labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-1, namespace: demo}
spec: {address: 10.0.0.1, labels: {app: api}}
`;

interface Registryz {
  hostname: string;
  creationTime: string;
  ports: { name?: string; port: number; protocol?: string }[];
}

describe('skiff debug surface on files', () => {
  let dir: string;
  let skiff: ServiceProcess;
  let xds: string;
  const startedAt = Date.now();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-debug-surface-'));
    await writeFile(join(dir, 'api.yaml'), SERVICE_ENTRY);
    xds = `127.0.0.1:${await freePort()}`;
    skiff = await ServiceProcess.start('skiff', BINS.skiff, ['--config-dir', dir, '--xds-addr', xds]);
    await eventually(async () => expect((await skiff.debug<Registryz[]>('/debug/registryz')).map((s) => s.hostname)).toEqual(['api.demo.svc']), { timeoutMs: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await skiff?.stop('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('registryz and endpointz show the creation time and the port names', async () => {
    const [service] = await skiff.debug<Registryz[]>('/debug/registryz');
    // The file gives no creationTimestamp: the file's creation time stands in, not 1970.
    expect(Date.parse(service!.creationTime)).toBeGreaterThan(startedAt - 60_000);
    expect(service!.ports).toEqual([{ name: 'grpc-api', port: 8080, protocol: 'GRPC' }]);
    const endpointz = await skiff.debug<Record<string, Record<string, { Shards: Record<string, { ServicePortName: string; EndpointPort: number }[]> }>>>('/debug/endpointz');
    expect(endpointz['api.demo.svc']!['demo']!.Shards['External/Kubernetes']).toEqual([expect.objectContaining({ ServicePortName: 'grpc-api', EndpointPort: 8080 })]);
  });

  it("watcherz counts the watcher's writes as its metrics do, and the initial objects count as added", async () => {
    const watcherz = await skiff.debug<{ writes: { upsert: number; delete: number } }>('/debug/watcherz');
    const metrics = await (await fetch(`http://127.0.0.1:${skiff.monitoringPort}/metrics`)).text();
    const upserts = Number(/skiff_watcher_store_writes_total\{op="upsert"\} (\d+)/.exec(metrics)?.[1]);
    expect(watcherz.writes.upsert).toBeGreaterThan(0);
    expect(watcherz.writes.upsert).toBe(upserts);
    expect(metrics).toContain('pilot_k8s_cfg_events_total{type="ServiceEntry",event="add"} 1');
    expect(metrics).toContain('pilot_k8s_cfg_events_total{type="WorkloadEntry",event="add"} 1');
    expect(metrics).not.toMatch(/pilot_k8s_cfg_events_total\{[^}]*event="update"\}/);
  });

  it('logs a line when a proxy connects and when it leaves', async () => {
    const stream = await connectAds(xds, { node: { id: 'sidecar~10.1.0.9~logged.demo~demo.svc.cluster.local', metadata: { NAMESPACE: 'demo' } } });
    await stream.requestResponseAck({ typeUrl: TypeUrl.Cluster });
    await eventually(() => expect(skiff.output).toMatch(/"node":"sidecar~10\.1\.0\.9~logged\.demo~demo\.svc\.cluster\.local"[^\n]*"msg":"ADS: new connection"/));
    stream.close();
    await eventually(() => expect(skiff.output).toMatch(/"node":"sidecar~10\.1\.0\.9~logged\.demo~demo\.svc\.cluster\.local"[^\n]*"msg":"ADS: connection closed"/));
  });

  it('lists a file that stops parsing in configz, and says when it parses again', async () => {
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'kind: ServiceEntry\nmetadata: {name: [oops\n');
    type Configz = { kind: string; metadata: { name: string }; rejection?: { inEffect: string; errors: string[] } }[];
    const entry = await eventually(async () => {
      const found = (await skiff.debug<Configz>('/debug/configz')).find((object) => object.kind === 'File');
      expect(found).toBeDefined();
      return found!;
    });
    expect(entry.metadata.name).toBe(broken);
    expect(entry.rejection).toMatchObject({ inEffect: 'nothing', errors: [expect.stringMatching(/^.*broken\.yaml.*invalid YAML/)] });
    await writeFile(broken, SERVICE_ENTRY.replaceAll('api', 'fixed'));
    await eventually(async () => expect((await skiff.debug<Configz>('/debug/configz')).filter((object) => object.kind === 'File')).toEqual([]));
    // The line reaches this process through the child's standard output, possibly after configz answers.
    await eventually(() => expect(skiff.output).toContain(`"msg":"${broken} parses again; its objects apply"`));
  });
});
