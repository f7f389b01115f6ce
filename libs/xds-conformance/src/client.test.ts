/**
 * The test client against a scripted ADS server that answers each request with a response the test
 * chose, including broken ones: the client must catch every broken invariant, time out, and report
 * the end of a stream.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@skiff/protos';
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
  type DeltaDiscoveryRequest,
  type DiscoveryRequest,
} from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import { afterEach, describe, expect, it } from 'vitest';
import { connectAds, DEFAULT_TEST_NODE, ProtocolViolation } from './client.js';
import { testCluster, testLoadAssignment } from './resources.js';

type SotwInit = MessageInitShape<typeof DiscoveryResponseSchema>;
type DeltaInit = MessageInitShape<typeof DeltaDiscoveryResponseSchema>;

/** An ADS server that records requests and answers each with the next scripted response (or nothing). */
class ScriptedServer {
  readonly sotwRequests: DiscoveryRequest[] = [];
  readonly deltaRequests: DeltaDiscoveryRequest[] = [];
  sotwReplies: Array<SotwInit | 'end'> = [];
  deltaReplies: DeltaInit[] = [];
  private readonly server = new grpc.Server();

  constructor() {
    const service = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
    this.server.addService(
      {
        StreamAggregatedResources: {
          path: `/${service}/StreamAggregatedResources`,
          requestStream: true,
          responseStream: true,
          requestSerialize: (r: DiscoveryRequest) => Buffer.from(toBinary(DiscoveryRequestSchema, r)),
          requestDeserialize: (b: Buffer) => fromBinary(DiscoveryRequestSchema, b),
          responseSerialize: (r: SotwInit) => Buffer.from(toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, r))),
          responseDeserialize: (b: Buffer) => fromBinary(DiscoveryResponseSchema, b),
        },
        DeltaAggregatedResources: {
          path: `/${service}/DeltaAggregatedResources`,
          requestStream: true,
          responseStream: true,
          requestSerialize: (r: DeltaDiscoveryRequest) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, r)),
          requestDeserialize: (b: Buffer) => fromBinary(DeltaDiscoveryRequestSchema, b),
          responseSerialize: (r: DeltaInit) => Buffer.from(toBinary(DeltaDiscoveryResponseSchema, create(DeltaDiscoveryResponseSchema, r))),
          responseDeserialize: (b: Buffer) => fromBinary(DeltaDiscoveryResponseSchema, b),
        },
      },
      {
        StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, SotwInit>) => {
          call.on('data', (request: DiscoveryRequest) => {
            this.sotwRequests.push(request);
            const reply = this.sotwReplies.shift();
            if (reply === 'end') call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'scripted end' });
            else if (reply !== undefined) call.write(reply);
          });
          call.on('end', () => call.end());
        },
        DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaInit>) => {
          call.on('data', (request: DeltaDiscoveryRequest) => {
            this.deltaRequests.push(request);
            const reply = this.deltaReplies.shift();
            if (reply !== undefined) call.write(reply);
          });
          call.on('end', () => call.end());
        },
      },
    );
  }

  async listen(): Promise<string> {
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))),
    );
    return `127.0.0.1:${port}`;
  }

  close(): void {
    this.server.forceShutdown();
  }
}

const any = (resource: { typeUrl: string; bytes: Uint8Array }, typeUrl = resource.typeUrl) => ({ typeUrl, value: resource.bytes });

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function scripted() {
  const server = new ScriptedServer();
  const address = await server.listen();
  cleanups.push(() => server.close());
  return { server, address };
}

describe('state-of-the-world client', () => {
  it('sends the default node on the first request only, and ACKs and NACKs the way clients do', async () => {
    const { server, address } = await scripted();
    server.sotwReplies = [{ typeUrl: TypeUrl.Cluster, versionInfo: 'v1', nonce: 'n1', resources: [any(testCluster('a'))] }];
    const stream = await connectAds(address);
    cleanups.push(() => stream.close());
    stream.request({ typeUrl: TypeUrl.Cluster, names: ['a'] });
    const response = await stream.expectResponse({ typeUrl: TypeUrl.Cluster });
    expect(response.names).toEqual(['a']);
    expect(response.resources.get('a')).toEqual(testCluster('a').bytes);
    stream.ack(response);
    stream.nack(response, 'bad');
    await expect.poll(() => server.sotwRequests.length).toBe(3);
    const [first, ack, nack] = server.sotwRequests;
    expect(first!.node?.id).toBe(DEFAULT_TEST_NODE.id);
    expect(ack).toMatchObject({ resourceNames: ['a'], versionInfo: 'v1', responseNonce: 'n1' });
    expect(ack!.node).toBeUndefined();
    expect(ack!.errorDetail).toBeUndefined();
    // A NACK carries the last accepted version (here the one just ACKed) and the rejected nonce.
    expect(nack).toMatchObject({ resourceNames: ['a'], versionInfo: 'v1', responseNonce: 'n1', errorDetail: { code: 14, message: 'bad' } });
  });

  it.each<[string, SotwInit, RegExp]>([
    ['no nonce', { typeUrl: TypeUrl.Cluster, resources: [any(testCluster('a'))] }, /no nonce/],
    ['a name twice', { typeUrl: TypeUrl.Cluster, nonce: 'n', resources: [any(testCluster('a')), any(testCluster('a', 1))] }, /a appears twice/],
    ['a resource of another type', { typeUrl: TypeUrl.Cluster, nonce: 'n', resources: [any(testLoadAssignment('x'), TypeUrl.ClusterLoadAssignment)] }, /has type/],
  ])('rejects a response with %s', async (_, reply, message) => {
    const { server, address } = await scripted();
    server.sotwReplies = [reply];
    const stream = await connectAds(address);
    cleanups.push(() => stream.close());
    stream.request({ typeUrl: TypeUrl.Cluster });
    const error = await stream.expectResponse().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolViolation);
    expect((error as Error).message).toMatch(message);
  });

  it('fails on a response of another type, on silence, on an unexpected response, and on the end of the stream', async () => {
    const { server, address } = await scripted();
    server.sotwReplies = [{ typeUrl: TypeUrl.Listener, nonce: 'n1' }, { typeUrl: TypeUrl.Listener, nonce: 'n2' }, 'end'];
    const stream = await connectAds(address, { responseTimeoutMs: 100 });
    cleanups.push(() => stream.close());
    stream.request({ typeUrl: TypeUrl.Listener });
    await expect(stream.expectResponse({ typeUrl: TypeUrl.Cluster })).rejects.toThrow(/expected a response for .*Cluster, got one for .*Listener/);
    await expect(stream.expectResponse()).rejects.toThrow(/no response within 100 ms/);
    stream.request({ typeUrl: TypeUrl.Listener });
    await expect(stream.expectNoResponse(1_000)).rejects.toThrow(/unexpected response/);
    stream.request({ typeUrl: TypeUrl.Listener });
    expect(await stream.expectEnd()).toEqual({ code: grpc.status.UNAVAILABLE, details: 'scripted end' });
    await expect(stream.expectResponse()).rejects.toThrow(/stream ended \(14 scripted end\)/);
  });
});

describe('delta client', () => {
  it.each<[string, DeltaInit, RegExp]>([
    ['a name twice', { typeUrl: TypeUrl.Cluster, nonce: 'n', resources: [{ name: 'a', version: '1', resource: any(testCluster('a')) }, { name: 'a', version: '2', resource: any(testCluster('a')) }] }, /a appears twice/],
    ['a name both sent and removed', { typeUrl: TypeUrl.Cluster, nonce: 'n', resources: [{ name: 'a', version: '1', resource: any(testCluster('a')) }], removedResources: ['a'] }, /both sent and removed/],
    ['a resource under another name', { typeUrl: TypeUrl.Cluster, nonce: 'n', resources: [{ name: 'b', version: '1', resource: any(testCluster('a')) }] }, /named b but holds a/],
    ['no nonce', { typeUrl: TypeUrl.Cluster, removedResources: ['a'] }, /no nonce/],
  ])('rejects a response with %s', async (_, reply, message) => {
    const { server, address } = await scripted();
    server.deltaReplies = [reply];
    const stream = await connectAds(address, { delta: true });
    cleanups.push(() => stream.close());
    stream.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'] });
    await expect(stream.expectResponse()).rejects.toThrow(message);
  });

  it('sends subscriptions, initial versions, ACKs and NACKs as fields of DeltaDiscoveryRequest', async () => {
    const { server, address } = await scripted();
    server.deltaReplies = [{ typeUrl: TypeUrl.Cluster, nonce: 'n1', systemVersionInfo: 's', resources: [{ name: 'a', version: '1', resource: any(testCluster('a')) }] }];
    const stream = await connectAds(address, { delta: true, node: null });
    cleanups.push(() => stream.close());
    stream.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'], unsubscribe: ['b'], initialResourceVersions: { a: '0' } });
    const response = await stream.expectResponse();
    expect(response.versions.get('a')).toBe('1');
    stream.ack(response);
    stream.nack(response, 'no');
    await expect.poll(() => server.deltaRequests.length).toBe(3);
    expect(server.deltaRequests[0]).toMatchObject({ resourceNamesSubscribe: ['a'], resourceNamesUnsubscribe: ['b'], initialResourceVersions: { a: '0' } });
    expect(server.deltaRequests[0]!.node).toBeUndefined();
    expect(server.deltaRequests[1]).toMatchObject({ responseNonce: 'n1' });
    expect(server.deltaRequests[1]!.errorDetail).toBeUndefined();
    expect(server.deltaRequests[2]).toMatchObject({ responseNonce: 'n1', errorDetail: { code: 14, message: 'no' } });
  });
});
