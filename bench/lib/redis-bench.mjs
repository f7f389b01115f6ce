/**
 * Redis plumbing for the watcher benchmark: an admin connection, unique key prefixes and their
 * cleanup, `INFO commandstats` snapshots, and a private redis-server for the command counts.
 *
 * Command counts come from `INFO commandstats`, which is global to the server: on the shared server
 * other clients' commands would land in the same counters. So the counting scenario runs against a
 * redis-server of its own on a free port (no persistence, as the shared one), and only falls back to
 * the shared server, saying so in the results, when `redis-server` is not installed.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connectAdmin as connectTestAdmin, PrivateRedisServer } from '@skiff/testing';

export { deleteKeys } from '@skiff/testing';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** A key prefix (the store's hash tag) no other run uses. */
export function uniquePrefix(label) {
  return `skiff-bench-${label}-${process.pid}-${randomUUID().slice(0, 8)}`;
}

/** An admin connection that fails fast, with the command that starts a server, when Redis is not there. */
export async function connectAdmin(url) {
  try {
    return await connectTestAdmin(url);
  } catch (cause) {
    throw new Error(`the watcher benchmark needs Redis at ${url} (start one with: redis-server --bind 127.0.0.1 --save "" --appendonly no --daemonize yes)`, { cause });
  }
}

/** `{ command: { calls, usec } }` from `INFO commandstats` (`cmdstat_hset:calls=3,usec=9,...`). */
export async function commandStats(admin) {
  const text = await admin.info('commandstats');
  const stats = {};
  for (const line of text.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (match) stats[match[1]] = { calls: Number(match[2]), usec: Number(match[3]) };
  }
  return stats;
}

/**
 * What ran between two snapshots, per command, without the `INFO` calls that took the snapshots.
 * Commands run by Lua scripts are counted too: Redis records them like any other call.
 */
export function commandStatsDelta(before, after) {
  const delta = {};
  for (const [command, { calls, usec }] of Object.entries(after)) {
    if (command === 'info') continue;
    const previous = before[command] ?? { calls: 0, usec: 0 };
    if (calls > previous.calls) delta[command] = { calls: calls - previous.calls, usec: usec - previous.usec };
  }
  return delta;
}

/** A redis-server of the benchmark's own on a free port, or null when the binary is not installed. */
export async function startPrivateRedis() {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) return null;
  const server = await PrivateRedisServer.start(randomUUID());
  return { url: server.url(0), stop: () => server.stop() };
}

/** `redis_version` of the server behind `admin`. */
export async function serverVersion(admin) {
  const text = await admin.info('server');
  return /redis_version:(\S+)/.exec(text)?.[1] ?? 'unknown';
}
