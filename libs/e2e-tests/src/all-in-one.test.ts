/**
 * The README's main command on a fresh clone: `npm start` runs `skiff` with its defaults (the bundled
 * `examples/`, ADS on 127.0.0.1:15010, monitoring on 127.0.0.1:15014, the in-memory store). A proxyless
 * gRPC client with the real @grpc/grpc-js-xds resolver then reaches the example's three backends on
 * 127.0.0.1:50051-50053 through it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@skiff/testing';
import { BINS, REPO_ROOT, ServiceProcess, startBackend, XdsClientProcess } from './services.js';

describe('skiff all-in-one with its defaults (npm start)', () => {
  let skiff: ServiceProcess;
  let client: XdsClientProcess;
  const backends: Awaited<ReturnType<typeof startBackend>>[] = [];

  beforeAll(async () => {
    for (const [i, port] of [50051, 50052, 50053].entries()) backends.push(await startBackend(`example-app-${i + 1}`, port));
    skiff = await ServiceProcess.start('skiff', BINS.skiff, [], {}, { monitoringPort: 15014, cwd: REPO_ROOT });
    client = new XdsClientProcess({
      xds_servers: [{ server_uri: '127.0.0.1:15010', channel_creds: [{ type: 'insecure' }] }],
      node: { id: 'demo-client', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'demo' } },
    });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await skiff?.stop('SIGKILL');
    for (const backend of backends) backend.server.forceShutdown();
  });

  it('routes the client over the example backends', async () => {
    const result = await eventually(
      async () => {
        const outcome = await client.spread(30);
        expect(Object.keys(outcome.hits).sort()).toEqual(['example-app-1', 'example-app-2', 'example-app-3']);
        return outcome;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(result.errors).toEqual([]);
    const syncz = await skiff.debug<{ node_id: string; resources: Record<string, { status: string }> }[]>('/debug/syncz');
    expect(syncz.map((p) => p.node_id)).toEqual(['demo-client']);
    expect(Object.values(syncz[0]!.resources).map((r) => r.status)).toEqual(['SYNCED', 'SYNCED', 'SYNCED', 'SYNCED']);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await skiff.stop('SIGTERM')).toBe(0);
  });
});
