/**
 * The processes of the gateway benchmark: Skiff's services as the workspace bins run them
 * (`skiff-watcher`, `skiff-translator`, `skiff-gateway`), `skiff-loadgen` driven over its control
 * protocol, and what is read from them: `/proc/<pid>/status` VmRSS, `/metrics` counters and the
 * debug endpoints.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const BINS = {
  watcher: join(REPO_ROOT, 'apps/watcher/bin/skiff-watcher.js'),
  translator: join(REPO_ROOT, 'apps/translator/bin/skiff-translator.js'),
  gateway: join(REPO_ROOT, 'apps/ads-gateway/bin/skiff-gateway.js'),
  loadgen: join(REPO_ROOT, 'apps/loadgen/bin/skiff-loadgen.js'),
  skiff: join(REPO_ROOT, 'apps/skiff/bin/skiff.js'),
  skiffctl: join(REPO_ROOT, 'apps/skiffctl/bin/skiffctl.js'),
};

/** A port nothing listens on right now, on 127.0.0.1. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

export function sleep(ms) {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}

/** Polls `check` until it returns a value other than undefined; throws `describe()` after `timeoutMs`. */
export async function waitFor(check, { timeoutMs, intervalMs = 100, describe }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await describe()}`);
    await sleep(intervalMs);
  }
}

function statusField(pid, field) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
  if (match === null) throw new Error(`no ${field} for process ${pid}`);
  return Number(match[1]) / 1024;
}

/** Resident set size of a process, from `/proc/<pid>/status` (VmRSS), in MiB. */
export function residentMiB(pid) {
  return statusField(pid, 'VmRSS');
}

/** The largest resident set size since the process started or since `resetPeakResident` (VmHWM), in MiB. */
export function peakResidentMiB(pid) {
  return statusField(pid, 'VmHWM');
}

/** Clock ticks per second of `/proc/<pid>/stat`'s CPU times (`getconf CLK_TCK`: 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU time a process has used so far, user plus system, in milliseconds (`/proc/<pid>/stat` utime
 * and stime; 10 ms resolution). CPU time is what a fan-out costs the process whatever else shares
 * the machine's cores, where its latency also counts the time it waited for one.
 */
export function processCpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 (from 1) after the name.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Starts a new peak (`5` to `/proc/<pid>/clear_refs` resets VmHWM to the current resident size). */
export function resetPeakResident(pid) {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/**
 * A full garbage collection in a process started with `--inspect=127.0.0.1:<port>`, through the
 * DevTools protocol (`HeapProfiler.collectGarbage`), so memory read next is live data, not garbage
 * the collector has yet to reach.
 */
export async function collectGarbage(inspectorPort) {
  const [target] = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  try {
    await once(socket, 'open');
    const reply = new Promise((resolveReply, reject) => {
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString());
        if (message.id !== 1) return;
        if (message.error === undefined) resolveReply();
        else reject(new Error(`HeapProfiler.collectGarbage: ${message.error.message}`));
      });
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    await reply;
  } finally {
    socket.close();
  }
}

/** A Skiff service as a child process with its monitoring port; output kept (the tail) for failures. */
export class ServiceProcess {
  constructor(name, child, monitoringPort) {
    this.name = name;
    this.child = child;
    this.monitoringPort = monitoringPort;
    this.output = '';
    const keep = (chunk) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.exited = new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
  }

  /**
   * Starts `bin` with `args` and `--monitoring-addr`, and waits until `/readyz` answers 200 (polled every
   * `readyPollMs`). With `inspect`, the process also serves the DevTools protocol on a port of 127.0.0.1
   * (`inspectorPort`).
   */
  static async start(name, bin, args, { nodeArgs = [], readyTimeoutMs = 60_000, readyPollMs = 100, inspect = false, env = {} } = {}) {
    const monitoringPort = await freePort();
    const inspectorPort = inspect ? await freePort() : undefined;
    if (inspectorPort !== undefined) nodeArgs = [...nodeArgs, `--inspect=127.0.0.1:${inspectorPort}`];
    const child = spawn(process.execPath, [...nodeArgs, bin, ...args, '--monitoring-addr', `127.0.0.1:${monitoringPort}`, '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const service = new ServiceProcess(name, child, monitoringPort);
    service.inspectorPort = inspectorPort;
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${service.output}`);
          try {
            const response = await fetch(`http://127.0.0.1:${monitoringPort}/readyz`);
            await response.text();
            return response.status === 200 ? true : undefined;
          } catch {
            return undefined;
          }
        },
        { timeoutMs: readyTimeoutMs, intervalMs: readyPollMs, describe: () => `${name} not ready:\n${service.output}` },
      );
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    return service;
  }

  get pid() {
    return this.child.pid;
  }

  async debug(path) {
    const response = await fetch(`http://127.0.0.1:${this.monitoringPort}${path}`);
    if (response.status !== 200) throw new Error(`${this.name} ${path}: HTTP ${response.status}`);
    return response.json();
  }

  /** Sums the samples of a counter in `/metrics` whose labels contain every `labels` pair. */
  async counter(name, labels = {}) {
    const response = await fetch(`http://127.0.0.1:${this.monitoringPort}/metrics`);
    const text = await response.text();
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  }

  residentMiB() {
    return residentMiB(this.pid);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000) {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** skiff-loadgen with `--control`: requests as JSON lines on its stdin, replies matched by id. */
export class LoadgenProcess {
  constructor(child) {
    this.child = child;
    this.stderr = '';
    this.pending = new Map();
    this.nextId = 0;
    child.stderr.on('data', (chunk) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-20_000);
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const reply = JSON.parse(line);
      const settle = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      settle?.(reply);
    });
    this.exited = new Promise((resolveExit) =>
      child.once('exit', (code, signal) => {
        for (const settle of this.pending.values()) settle({ ok: false, error: `skiff-loadgen exited (${code ?? signal}): ${this.stderr}` });
        this.pending.clear();
        resolveExit({ code, signal });
      }),
    );
  }

  static start(args, { nodeArgs = [] } = {}) {
    const child = spawn(process.execPath, [...nodeArgs, BINS.loadgen, ...args, '--control', '--log-level', 'warn'], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new LoadgenProcess(child);
  }

  get pid() {
    return this.child.pid;
  }

  /** Sends one request; resolves with its reply, rejects when the reply says it failed. */
  ask(request) {
    return new Promise((resolveReply, reject) => {
      const id = ++this.nextId;
      this.pending.set(id, (reply) => (reply.ok ? resolveReply(reply) : reject(new Error(`skiff-loadgen ${request.op}: ${reply.error}`))));
      this.child.stdin.write(`${JSON.stringify({ id, ...request })}\n`);
    });
  }

  /** Asks it to stop; resolves with the final summary once the process has exited. */
  async stop() {
    const { summary } = await this.ask({ op: 'stop' });
    this.child.stdin.end();
    const { code } = await this.exited;
    if (code !== 0) throw new Error(`skiff-loadgen exited with ${code}: ${this.stderr}`);
    return summary;
  }

  kill() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
