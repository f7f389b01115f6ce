/**
 * A VirtualService through the all-in-one `skiff` to the real @grpc/grpc-js-xds client: RPCs with a
 * header go to one subset, the others to another, and when the VirtualService file changes to split
 * the rest by weight, the client follows. The client must accept every route configuration (every
 * type ACKed, no NACK in `/debug/syncz`).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually } from '@skiff/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ECHO_HOST, ECHO_SERVICE_ENTRY, startEchoScenario, syncStateOf, type EchoScenario, type XdsClientProcess } from './services.js';

const HOST = ECHO_HOST;

const serviceEntry = `${ECHO_SERVICE_ENTRY}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: demo}
spec:
  host: ${HOST}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

/** Canary RPCs (header `x-canary: yes`) to v2; the rest to v1, or split between v1 and v2 by `weights`. */
const virtualService = (weights?: readonly [number, number]): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: demo}
spec:
  hosts: [${HOST}]
  http:
  - name: canary
    match:
    - headers: {x-canary: {exact: "yes"}}
      uri: {prefix: /skiff.e2e.Backend/}
    route:
    - destination: {host: ${HOST}, subset: v2}
    timeout: 4s
  - name: rest
    route:
${
  weights === undefined
    ? `    - destination: {host: ${HOST}, subset: v1}`
    : `    - destination: {host: ${HOST}, subset: v1}\n      weight: ${weights[0]}\n    - destination: {host: ${HOST}, subset: v2}\n      weight: ${weights[1]}`
}
    retries: {attempts: 2, retryOn: unavailable}
`;

describe('a VirtualService served to the real @grpc/grpc-js-xds client', () => {
  let scenario: EchoScenario;
  let client: XdsClientProcess;

  beforeAll(async () => {
    scenario = await startEchoScenario({ backends: { 'echo-v1': 'v1', 'echo-v2': 'v2' }, files: { 'echo.yaml': serviceEntry, 'routes.yaml': virtualService() }, clientId: 'vs-client' });
    client = scenario.client;
  }, 60_000);

  afterAll(async () => {
    await scenario?.close();
  });

  it('routes canary RPCs (by header) to subset v2 and the others to subset v1', async () => {
    await eventually(
      async () => {
        const plain = await client.spread(10);
        expect(plain).toEqual({ hits: { 'echo-v1': 10 }, errors: [] });
        const canary = await client.spread(10, { 'x-canary': 'yes' });
        expect(canary).toEqual({ hits: { 'echo-v2': 10 }, errors: [] });
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  });

  it('follows the VirtualService when it changes to split the other RPCs by weight', async () => {
    await writeFile(join(scenario.dir, 'routes.yaml'), virtualService([0, 100]));
    await eventually(
      async () => {
        expect(await client.spread(10)).toEqual({ hits: { 'echo-v2': 10 }, errors: [] });
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await writeFile(join(scenario.dir, 'routes.yaml'), virtualService([50, 50]));
    await eventually(
      async () => {
        const split = await client.spread(40);
        expect(split.errors).toEqual([]);
        // Both subsets serve a 50/50 split of 40 RPCs (each misses all 40 with probability 2^-40).
        expect(Object.keys(split.hits).sort()).toEqual(['echo-v1', 'echo-v2']);
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  });

  it('was sent the routes as istiod builds them, and ACKed every type', async () => {
    const dump = JSON.stringify(await scenario.skiff.debug<unknown>('/debug/config_dump?proxyID=vs-client'));
    expect(dump).toContain('"name":"canary"');
    expect(dump).toContain('"cluster":"outbound|8080|v2|echo.demo.internal"');
    expect(dump).toContain('"maxStreamDuration":{"maxStreamDuration":"4s"}');
    expect(dump).toContain('"config":"/apis/networking.istio.io/v1/namespaces/demo/virtual-service/echo"');
    expect(await syncStateOf(scenario.skiff, 'vs-client')).toEqual(
      ['Cluster', 'ClusterLoadAssignment', 'Listener', 'RouteConfiguration'].map((type) => ({ type, acked: true, lastError: undefined })),
    );
  });
});
