/**
 * Redis helpers for tests: the shared server on 127.0.0.1:6379 (each test file uses its own key
 * prefix and cleans up), and a private redis-server on a free port for tests that kill or restart it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { freePort } from './wait.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';

/** A key prefix no other test file or run uses. */
export function uniquePrefix(file: string): string {
  return `skiff-test-${file}-${process.pid}-${randomUUID().slice(0, 8)}`;
}

/** An admin connection that fails fast with a clear message when the shared server is not running. */
export async function connectAdmin(url = SHARED_REDIS_URL): Promise<Redis> {
  const admin = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 2000, lazyConnect: true });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
    await admin.ping();
  } catch (cause) {
    admin.disconnect();
    throw new Error(`the Redis store tests need redis-server on ${url} (start it with: redis-server --bind 127.0.0.1 --save "" --appendonly no --daemonize yes)`, { cause });
  }
  return admin;
}

/** Deletes every key of a store with this prefix. */
export async function deleteKeys(admin: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await admin.del(keys);
  } while (cursor !== '0');
  return deleted;
}

/** Every key of a store with this prefix. */
export async function listKeys(admin: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
    cursor = next;
    for (const item of keys) found.push(item);
  } while (cursor !== '0');
  return found.sort();
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A redis-server of the test's own, without persistence, so a kill and a start is a restart that
 * loses everything. Fails with a clear message when redis-server is not installed.
 */
export class PrivateRedisServer {
  private process: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'skiff-redis-'));

  private constructor(
    readonly port: number,
    readonly password: string,
  ) {}

  static async start(password: string): Promise<PrivateRedisServer> {
    const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      throw new Error('redis-server is not installed: the Redis restart tests start their own (apt-get install redis-server)', { cause: probe.error });
    }
    const server = new PrivateRedisServer(await freePort(), password);
    await server.launch();
    return server;
  }

  url(db: number): string {
    return `redis://:${encodeURIComponent(this.password)}@127.0.0.1:${this.port}/${db}`;
  }

  async launch(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', this.password, '--dir', this.dir],
      { stdio: 'ignore' },
    );
    this.process = child;
    await waitForPort(this.port, 10_000);
  }

  /** SIGKILL: no shutdown, no goodbye to clients. */
  async kill(): Promise<void> {
    const child = this.process;
    this.process = null;
    if (child === null || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
