/**
 * How the http2 transport ends calls the ADS server cannot be made to end on demand (an HTTP error, a
 * trailers-only status, a refused stream, a compressed message). A bare node:http2 server plays each;
 * the calls the ADS server does make are tested in `generator.test.ts`, over both transports.
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { grpcFramed } from '@skiff/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { Http2AdsChannel } from './http2-channel.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(onStream: (stream: http2.ServerHttp2Stream) => void): Promise<string> {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    // A stream the test resets reports it on the server's side too.
    stream.on('error', () => {});
    onStream(stream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Opens one call; resolves with the messages received and the status it ended with. */
async function callOnce(target: string): Promise<{ messages: Buffer[]; code: number }> {
  const channel = new Http2AdsChannel(target, 1 << 20);
  cleanups.push(() => channel.close());
  const messages: Buffer[] = [];
  return new Promise((resolve) => {
    const call = channel.open('/test.Service/Stream', { message: (bytes) => messages.push(Buffer.from(bytes)), ended: (code) => resolve({ messages, code }) });
    call.write(new Uint8Array([1, 2]));
  });
}

describe('Http2AdsChannel', () => {
  it('reads messages and the status from the trailers', async () => {
    const target = await serve((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'gone' }));
      stream.end(Buffer.concat([grpcFramed(new Uint8Array([7])), grpcFramed(new Uint8Array([8, 9]))]));
    });
    expect(await callOnce(target)).toEqual({ messages: [Buffer.from([7]), Buffer.from([8, 9])], code: 5 });
  });

  it('takes the status of a trailers-only response', async () => {
    const target = await serve((stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true }));
    expect(await callOnce(target)).toEqual({ messages: [], code: 12 });
  });

  it('maps an HTTP error without a gRPC status as gRPC does (503: UNAVAILABLE)', async () => {
    const target = await serve((stream) => stream.respond({ ':status': 503 }, { endStream: true }));
    expect((await callOnce(target)).code).toBe(14);
  });

  it('reports a refused stream as UNAVAILABLE and a reset one as CANCELLED', async () => {
    const refused = await serve((stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM));
    expect((await callOnce(refused)).code).toBe(14);
    const cancelled = await serve((stream) => stream.close(http2.constants.NGHTTP2_CANCEL));
    expect((await callOnce(cancelled)).code).toBe(1);
  });

  it('ends a call that receives a compressed message with INTERNAL, and reads nothing of it', async () => {
    const target = await serve((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      const frame = grpcFramed(new Uint8Array([3]));
      frame[0] = 1;
      stream.write(frame);
    });
    expect(await callOnce(target)).toEqual({ messages: [], code: 13 });
  });

  it('reports a lost connection as UNAVAILABLE', async () => {
    const target = await serve((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.session?.destroy();
    });
    expect((await callOnce(target)).code).toBe(14);
  });

  it('takes host:port only', () => {
    expect(() => new Http2AdsChannel('dns:///xds.example:15010', 1)).toThrow(/host:port/);
    expect(() => new Http2AdsChannel('xds.example', 1)).toThrow(/host:port/);
    expect(() => new Http2AdsChannel('127.0.0.1:15010/path', 1)).toThrow(/host:port/);
    expect(() => new Http2AdsChannel('[::1]:15010', 1)).not.toThrow();
  });
});
