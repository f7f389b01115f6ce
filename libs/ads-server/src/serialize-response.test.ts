/**
 * `serializeResponse` writes every response into one reused buffer, which is only safe while grpc-js
 * copies the serialized message into a frame of its own before anything else is serialized. These
 * tests hold the real grpc-js to that: responses queued behind a client that does not read (so the
 * stream's writes are buffered and serialized later, one after another), each of another size and
 * content, arrive byte for byte as written on their own.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@skiff/protos';
import { afterEach, describe, expect, it } from 'vitest';
import { adsServiceDefinition, serializeResponse } from './grpc-server.js';
import { encodeResponse, SotwResponse, DeltaResponse, type OutgoingResponse } from './wire.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Responses from a few bytes to several MB, in an order that makes the reused buffer grow more than once. */
function responses(): OutgoingResponse[] {
  const sizes = [10, 70_000, 1_000, 5_000_000, 200, 300_000, 9_000_000, 64, 2_000_000, 1];
  return sizes.map((size, index) =>
    index % 3 === 2
      ? new DeltaResponse({ systemVersionInfo: `v${index}`, typeUrl: TypeUrl.ClusterLoadAssignment, nonce: `n${index}`, resources: [{ name: `r${index}`, version: `v${index}`, anyBytes: randomBytes(size) }], removedResources: [`gone-${index}`] })
      : new SotwResponse({ versionInfo: `v${index}`, typeUrl: TypeUrl.Cluster, nonce: `n${index}`, resources: [randomBytes(size), randomBytes(index + 1)] }),
  );
}

/** A server whose every stream writes `toWrite` at once on its first request; the client's messages as received. */
async function exchange(toWrite: readonly OutgoingResponse[], clientReadsAfterMs: number): Promise<Buffer[]> {
  const server = new grpc.Server();
  const onStream = (call: grpc.ServerDuplexStream<unknown, OutgoingResponse>) => {
    call.once('data', () => {
      for (const response of toWrite) call.write(response);
    });
    call.on('error', () => {});
  };
  server.addService(adsServiceDefinition, { StreamAggregatedResources: onStream, DeltaAggregatedResources: onStream });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  cleanups.push(() => server.forceShutdown());
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  cleanups.push(() => client.close());
  const call = client.makeBidiStreamRequest(
    adsServiceDefinition.StreamAggregatedResources.path,
    (bytes: Uint8Array) => Buffer.from(bytes),
    (bytes: Buffer) => bytes,
  );
  cleanups.push(() => call.cancel());
  call.on('error', () => {});
  const received: Buffer[] = [];
  call.pause();
  call.write(Uint8Array.of());
  await new Promise((resolve) => setTimeout(resolve, clientReadsAfterMs));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${received.length} of ${toWrite.length} responses arrived`)), 20_000);
    call.on('data', (bytes: Buffer) => {
      received.push(bytes);
      if (received.length === toWrite.length) {
        clearTimeout(timer);
        resolve(received);
      }
    });
    call.resume();
  });
}

describe('serializeResponse', () => {
  it('returns a view of the reused buffer holding exactly the response', () => {
    const first = new SotwResponse({ versionInfo: 'a', typeUrl: TypeUrl.Cluster, nonce: '1', resources: [randomBytes(100)] });
    const second = new SotwResponse({ versionInfo: 'b', typeUrl: TypeUrl.Cluster, nonce: '2', resources: [randomBytes(200_000)] });
    const firstView = serializeResponse(first);
    expect(Uint8Array.from(firstView)).toEqual(encodeResponse(first));
    expect(Uint8Array.from(serializeResponse(second))).toEqual(encodeResponse(second));
  });

  it.each([
    ['read at once', 0],
    ['that reads only after every write is queued', 300],
  ])('delivers responses of every size intact through grpc-js to a client %s', async (_, readAfterMs) => {
    const written = responses();
    const received = await exchange(written, readAfterMs);
    expect(received.map((bytes) => bytes.length)).toEqual(written.map((response) => response.byteLength));
    // Buffer comparison: vitest's deep equality over millions of elements takes seconds.
    const intact = received.map((bytes, index) => bytes.equals(encodeResponse(written[index]!)));
    expect(intact).toEqual(written.map(() => true));
  });
});
