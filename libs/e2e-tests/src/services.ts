/**
 * The pieces an end-to-end test runs: Skiff's services as real processes (the workspace bins), gRPC
 * backends that answer with their own name, a TCP forwarder standing in for a Kubernetes Service in
 * front of several gateway replicas, and a proxyless gRPC client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { eventually, freePort } from '@skiff/testing';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export const REPO_ROOT = repoRoot;

export const BINS = {
  skiff: `${repoRoot}apps/skiff/bin/skiff.js`,
  watcher: `${repoRoot}apps/watcher/bin/skiff-watcher.js`,
  translator: `${repoRoot}apps/translator/bin/skiff-translator.js`,
  gateway: `${repoRoot}apps/ads-gateway/bin/skiff-gateway.js`,
  skiffctl: `${repoRoot}apps/skiffctl/bin/skiffctl.js`,
  demo: `${repoRoot}apps/demo/bin/skiff-demo.js`,
  loadgen: `${repoRoot}apps/loadgen/bin/skiff-loadgen.js`,
} as const;

/** A Skiff service running as a child process, with its monitoring address and output kept for diagnosis. */
export class ServiceProcess {
  output = '';
  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly monitoringPort: number,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  /** Starts `bin` with `args` and `--monitoring-addr` on a free port, and waits until `/readyz` answers 200. */
  static async start(
    name: string,
    bin: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv = {},
    options: { readonly cwd?: string } = {},
  ): Promise<ServiceProcess> {
    const monitoringPort = await freePort();
    const extra = ['--monitoring-addr', `127.0.0.1:${monitoringPort}`, '--log-level', 'debug'];
    const child = spawn(process.execPath, [bin, ...args, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    const service = new ServiceProcess(name, child, monitoringPort);
    try {
      await eventually(
        async () => {
          if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${service.output}`);
          const response = await fetch(`http://127.0.0.1:${monitoringPort}/readyz`);
          if (response.status !== 200) throw new Error(`${name} not ready: ${await response.text()}`);
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    return service;
  }

  async debug<T>(path: string): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${this.monitoringPort}${path}`);
    return (await response.json()) as T;
  }

  /** Sends `signal` and resolves with the exit code once the process is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.kill(signal);
    return exited;
  }
}

const WHO_PATH = '/skiff.e2e.Backend/Who';
const encode = (text: string): Buffer => Buffer.from(text);
const decode = (bytes: Buffer): string => bytes.toString();

/** A gRPC server on a free port of 127.0.0.1 whose one method answers with the backend's name. */
export async function startBackend(name: string): Promise<{ name: string; port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(
    { Who: { path: WHO_PATH, requestStream: false, responseStream: false, requestSerialize: encode, requestDeserialize: decode, responseSerialize: encode, responseDeserialize: decode } },
    { Who: (_call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>) => callback(null, name) },
  );
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  return { name, port: bound, server };
}

export interface Spread {
  /** RPCs served per backend name. */
  readonly hits: Record<string, number>;
  readonly errors: string[];
}

/**
 * A proxyless gRPC application in its own process (`fixtures/xds-client.mjs`): the real
 * @grpc/grpc-js-xds resolver with the given bootstrap, calling the backends through `target`.
 */
export class XdsClientProcess {
  private readonly child: ChildProcess;
  private buffer = '';
  private readonly waiting: ((line: string) => void)[] = [];
  stderr = '';

  constructor(bootstrap: unknown, target = 'xds:///example-app:8080') {
    this.child = spawn(process.execPath, [XDS_CLIENT, target], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) },
    });
    this.child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString();
      let newline = this.buffer.indexOf('\n');
      while (newline !== -1) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        this.waiting.shift()?.(line);
        newline = this.buffer.indexOf('\n');
      }
    });
  }

  /** Runs `count` RPCs in sequence in the client process. */
  spread(count: number): Promise<Spread> {
    return new Promise((resolve) => {
      this.waiting.push((line) => resolve(JSON.parse(line) as Spread));
      this.child.stdin?.write(`${JSON.stringify({ spread: count })}\n`);
    });
  }

  close(): void {
    this.child.stdin?.end();
    this.child.kill('SIGKILL');
  }
}

const XDS_CLIENT = fileURLToPath(new URL('../fixtures/xds-client.mjs', import.meta.url));

/**
 * A TCP forwarder, as a Kubernetes Service in front of gateway replicas: each new connection goes to
 * the first target that accepts it, so when a replica dies, reconnecting clients land on another.
 */
export async function startForwarder(targets: readonly number[]): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((incoming) => {
    sockets.add(incoming);
    incoming.on('close', () => sockets.delete(incoming));
    const tryTarget = (index: number): void => {
      const port = targets[index];
      if (port === undefined) {
        incoming.destroy();
        return;
      }
      const outgoing = connect(port, '127.0.0.1');
      let connected = false;
      outgoing.on('error', () => {
        if (connected) incoming.destroy();
        else tryTarget(index + 1);
      });
      outgoing.once('connect', () => {
        connected = true;
        sockets.add(outgoing);
        outgoing.on('close', () => {
          sockets.delete(outgoing);
          incoming.destroy();
        });
        incoming.on('close', () => outgoing.destroy());
        incoming.pipe(outgoing);
        outgoing.pipe(incoming);
      });
    };
    tryTarget(0);
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
