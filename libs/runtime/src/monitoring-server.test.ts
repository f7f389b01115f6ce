import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from './logging.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpError, MonitoringServer, type DebugAccessOptions } from './monitoring-server.js';

let server: MonitoringServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A logger whose records the test can read. */
function recordingLogger() {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'debug',
    name: 'test',
    pretty: false,
    destination: { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { logger, records };
}

async function start(configure: (s: MonitoringServer) => void = () => {}, readinessTimeoutMs?: number, debugAccess?: DebugAccessOptions) {
  const { logger, records } = recordingLogger();
  server = new MonitoringServer({
    logger,
    ...(readinessTimeoutMs === undefined ? {} : { readinessTimeoutMs }),
    ...(debugAccess === undefined ? {} : { debugAccess, metrics: { collectText: async () => 'pilot_xds{version="1.30.0"} 1\n' } }),
  });
  configure(server);
  const { port } = await server.listen('127.0.0.1:0');
  const get = async (path: string, init?: RequestInit) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, init);
    return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
  };
  return { get, records, port };
}

describe('MonitoringServer', () => {
  it('answers /healthz with ok', async () => {
    const { get } = await start();
    expect(await get('/healthz')).toEqual({ status: 200, type: 'text/plain; charset=utf-8', body: 'ok\n' });
  });

  it('is ready when it has no checks or every check passes, and names the failing checks otherwise', async () => {
    let redisUp = false;
    const { get } = await start((s) => {
      s.addReadinessCheck('informers-synced', () => true);
      s.addReadinessCheck('redis', async () => redisUp);
      s.addReadinessCheck('lease', () => {
        throw new Error('lease held by watcher-1');
      });
    });
    expect(await get('/readyz')).toMatchObject({ status: 503, body: 'not ready: redis (not ready), lease (lease held by watcher-1)\n' });
    redisUp = true;
    expect(await get('/readyz')).toMatchObject({ status: 503, body: 'not ready: lease (lease held by watcher-1)\n' });
  });

  it('is ready with checks that all pass', async () => {
    const { get } = await start((s) => s.addReadinessCheck('store', () => Promise.resolve(true)));
    expect(await get('/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('fails a readiness check that does not answer in time', async () => {
    const { get } = await start((s) => s.addReadinessCheck('stuck', () => new Promise<boolean>(() => {})), 50);
    expect(await get('/readyz')).toMatchObject({ status: 503, body: 'not ready: stuck (no answer within 50 ms)\n' });
  });

  it('serves debug handlers as JSON, pretty-printed with ?pretty, with the query passed in', async () => {
    const { get } = await start((s) =>
      s.addDebugHandler('/debug/syncz', 'Synchronization status of all proxies', (query) => ({
        status: 200,
        body: [{ proxy: 'sidecar~10.0.0.1~a.ns~ns.svc.cluster.local', namespace: query.get('namespace'), version: 7n }],
      })),
    );
    expect(await get('/debug/syncz?namespace=ns')).toEqual({
      status: 200,
      type: 'application/json',
      body: '[{"proxy":"sidecar~10.0.0.1~a.ns~ns.svc.cluster.local","namespace":"ns","version":"7"}]',
    });
    const pretty = await get('/debug/syncz?pretty&namespace=x');
    expect(pretty.body).toBe('[\n  {\n    "proxy": "sidecar~10.0.0.1~a.ns~ns.svc.cluster.local",\n    "namespace": "x",\n    "version": "7"\n  }\n]\n');
  });

  it('sends strings as text and honours a handler content type and status', async () => {
    const { get } = await start((s) => {
      s.addDebugHandler('/debug/text', 'plain text', () => ({ status: 202, body: 'Pushed to 3 servers\n' }));
      s.addDebugHandler('/debug/yaml', 'yaml', () => ({ status: 200, body: 'a: 1\n', contentType: 'application/yaml' }));
      s.addDebugHandler('/debug/bytes', 'bytes', () => ({ status: 200, body: new Uint8Array([0, 255]) }));
    });
    expect(await get('/debug/text')).toEqual({ status: 202, type: 'text/plain; charset=utf-8', body: 'Pushed to 3 servers\n' });
    expect(await get('/debug/yaml')).toEqual({ status: 200, type: 'application/yaml', body: 'a: 1\n' });
    expect(await get('/debug/bytes')).toMatchObject({ status: 200, type: 'application/octet-stream' });
  });

  it('answers an HttpError with its status and message, without logging an error', async () => {
    const { get, records } = await start((s) =>
      s.addDebugHandler('/debug/config_dump', 'config dump of one proxy', (query) => {
        if (!query.has('proxyID')) throw new HttpError(400, 'You must provide a proxyID in the query string');
        throw new HttpError(404, 'Proxy not connected to this instance. It may be connected to another instance.');
      }),
    );
    expect(await get('/debug/config_dump')).toEqual({ status: 400, type: 'text/plain; charset=utf-8', body: 'You must provide a proxyID in the query string\n' });
    expect(await get('/debug/config_dump?proxyID=x')).toMatchObject({ status: 404 });
    expect(records.filter((r) => r['level'] === 'error')).toEqual([]);
  });

  it('turns a handler exception into 500 with a message and a log line, and keeps serving', async () => {
    const { get, records } = await start((s) => {
      s.addDebugHandler('/debug/broken', 'throws', () => {
        throw new Error('index out of sync');
      });
      s.addDebugHandler('/debug/rejects', 'rejects', () => Promise.reject(new Error('redis down')));
      s.addDebugHandler('/debug/cyclic', 'not JSON', () => {
        const cyclic: Record<string, unknown> = {};
        cyclic['self'] = cyclic;
        return { status: 200, body: cyclic };
      });
    });
    expect(await get('/debug/broken')).toEqual({ status: 500, type: 'text/plain; charset=utf-8', body: '/debug/broken failed: index out of sync\n' });
    expect(await get('/debug/rejects')).toMatchObject({ status: 500, body: '/debug/rejects failed: redis down\n' });
    expect(await get('/debug/cyclic')).toMatchObject({ status: 500 });
    expect(await get('/healthz')).toMatchObject({ status: 200 });
    const errors = records.filter((r) => r['level'] === 'error');
    expect(errors.map((r) => r['path'])).toEqual(['/debug/broken', '/debug/rejects', '/debug/cyclic']);
    expect(errors[0]).toMatchObject({ msg: 'debug handler failed', err: { message: 'index out of sync' } });
  });

  it('lists commands as istiod does: sorted, without the /debug/ prefix and without list itself', async () => {
    const { get } = await start((s) => {
      s.addDebugHandler('/debug/syncz', 'sync', () => ({ status: 200, body: [] }));
      s.addDebugHandler('/debug/adsz', 'ads', () => ({ status: 200, body: [] }));
      s.addDebugHandler('/debug/config_dump', 'dump', () => ({ status: 200, body: {} }));
    });
    expect(await get('/debug/list')).toEqual({ status: 200, type: 'application/json', body: '["adsz","config_dump","syncz"]' });
  });

  it('serves an HTML index of every handler with its description, escaped', async () => {
    const { get } = await start((s) => {
      s.addDebugHandler('/debug/syncz', 'Synchronization status of <all> proxies', () => ({ status: 200, body: [] }));
    });
    const index = await get('/debug');
    expect(index.status).toBe(200);
    expect(index.type).toBe('text/html; charset=utf-8');
    expect(index.body).toContain('<a href="/debug/syncz">/debug/syncz</a></td><td>Synchronization status of &#60;all&#62; proxies</td>');
    expect(index.body).toContain('<a href="/debug/list">/debug/list</a>');
  });

  it('answers 404 for unknown paths and for /metrics without a metrics source', async () => {
    const { get } = await start();
    expect(await get('/debug/nope')).toMatchObject({ status: 404, body: '/debug/nope not found\n' });
    expect(await get('/metrics')).toMatchObject({ status: 404 });
    expect(await get('/')).toMatchObject({ status: 404 });
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    const { get } = await start();
    expect(await get('/healthz', { method: 'HEAD' })).toEqual({ status: 200, type: 'text/plain; charset=utf-8', body: '' });
    expect(await get('/healthz', { method: 'POST' })).toMatchObject({ status: 405 });
  });

  it('rejects bad and duplicate registrations', async () => {
    const { logger } = recordingLogger();
    const s = new MonitoringServer({ logger });
    const handler = () => ({ status: 200, body: {} });
    for (const path of ['/syncz', '/debug/', '/debug/adsz?push=true', '/debug/x/']) {
      expect(() => s.addDebugHandler(path, '', handler)).toThrow('must be /debug/<name>');
    }
    s.addDebugHandler('/debug/x', '', handler);
    expect(() => s.addDebugHandler('/debug/x', '', handler)).toThrow('registered twice');
    expect(() => s.addDebugHandler('/debug/list', '', handler)).toThrow('registered twice');
    s.addReadinessCheck('a', () => true);
    expect(() => s.addReadinessCheck('a', () => true)).toThrow('registered twice');
  });

  it('listens on :port on all interfaces and reports the bound address', async () => {
    const { logger } = recordingLogger();
    server = new MonitoringServer({ logger });
    const bound = await server.listen(':0');
    expect(bound.port).toBeGreaterThan(0);
    expect(['::', '0.0.0.0']).toContain(bound.host);
    expect(server.address).toEqual(bound);
    const response = await fetch(`http://127.0.0.1:${bound.port}/healthz`);
    expect(response.status).toBe(200);
  });

  it('fails to listen on a port in use, and close() frees the port even with an idle keep-alive connection', async () => {
    const { port } = await start();
    const { logger } = recordingLogger();
    const second = new MonitoringServer({ logger });
    await expect(second.listen({ host: '127.0.0.1', port })).rejects.toMatchObject({
      name: 'ListenError',
      message: `cannot listen for the monitoring server on 127.0.0.1:${port}: address already in use (another process listens there: stop it, or choose another address)`,
      cause: expect.objectContaining({ code: 'EADDRINUSE' }),
    });

    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false, headers: { connection: 'keep-alive' } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
    await server?.close();
    expect(server?.address).toBeUndefined();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    await second.listen({ host: '127.0.0.1', port });
    await second.close();
  });

  describe('debug access', () => {
    const dirs: string[] = [];
    afterEach(() => {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });
    const tokenFile = (content: string): string => {
      const dir = mkdtempSync(join(tmpdir(), 'skiff-debug-token-'));
      dirs.push(dir);
      const file = join(dir, 'token');
      writeFileSync(file, content);
      return file;
    };
    const withHandler = (s: MonitoringServer) => s.addDebugHandler('/debug/syncz', 'sync status', () => ({ status: 200, body: [] }));

    it('lets loopback callers in without a token, as istiod does', async () => {
      const { get } = await start(withHandler);
      expect((await get('/debug/syncz')).status).toBe(200);
    });

    it('asks other callers for a bearer token from the token file, re-read when it changes; probes and /metrics stay open', async () => {
      const file = tokenFile('first-token\n');
      // Loopback untrusted: 127.0.0.1 stands for a caller on another host.
      const { get, records } = await start(withHandler, undefined, { trustLoopback: false, tokenFile: file });
      expect(await get('/debug/syncz')).toMatchObject({ status: 401, body: 'authentication required\n' });
      expect(await get('/debug')).toMatchObject({ status: 401 });
      expect(await get('/debug/list', { headers: { authorization: 'Bearer wrong' } })).toMatchObject({ status: 401 });
      expect(await get('/debug/syncz', { headers: { authorization: 'Bearer first-token' } })).toMatchObject({ status: 200, body: '[]' });
      expect(records.some((record) => record['msg'] === 'unauthenticated debug request refused')).toBe(true);
      writeFileSync(file, 'second-token\nthird-token\n');
      expect(await get('/debug/syncz', { headers: { authorization: 'Bearer third-token' } })).toMatchObject({ status: 200 });
      expect(await get('/debug/syncz', { headers: { authorization: 'Bearer first-token' } })).toMatchObject({ status: 401 });
      expect(await get('/healthz')).toMatchObject({ status: 200 });
      expect(await get('/readyz')).toMatchObject({ status: 200 });
      expect(await get('/metrics')).toMatchObject({ status: 200, body: 'pilot_xds{version="1.30.0"} 1\n' });
    });

    it('refuses everyone but loopback without a token file, and serves no debug path with debug off', async () => {
      const strict = await start(withHandler, undefined, { trustLoopback: false });
      expect((await strict.get('/debug/syncz', { headers: { authorization: 'Bearer anything' } })).status).toBe(401);
      await server?.close();
      const off = await start(withHandler, undefined, { enabled: false });
      expect((await off.get('/debug/syncz')).status).toBe(404);
      expect((await off.get('/debug')).status).toBe(404);
      expect((await off.get('/metrics')).status).toBe(200);
    });

    it('lets every caller in with authentication off', async () => {
      const { get } = await start(withHandler, undefined, { trustLoopback: false, authenticate: false });
      expect((await get('/debug/syncz')).status).toBe(200);
    });
  });
});
