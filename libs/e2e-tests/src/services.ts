/**
 * The pieces an end-to-end test runs: Skiff's services as real processes (the workspace bins), gRPC
 * backends that answer with their own name, a TCP forwarder standing in for a Kubernetes Service in
 * front of several gateway replicas, and a proxyless gRPC client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** A backend serving mutual TLS, as a mesh workload does: its certificate and the CA its clients' must chain to. */
export interface BackendTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  readonly server: grpc.Server;
  /** With TLS: the subject alternative names of each caller's certificate, one entry per RPC. */
  readonly callers: string[];
}

/**
 * A gRPC server on a free port of 127.0.0.1 whose one method answers with the backend's name. With
 * `tls` it demands a client certificate signed by `tls.ca` and records each caller's SANs.
 */
export async function startBackend(name: string, tls?: BackendTls): Promise<Backend> {
  const server = new grpc.Server();
  const callers: string[] = [];
  server.addService(
    { Who: { path: WHO_PATH, requestStream: false, responseStream: false, requestSerialize: encode, requestDeserialize: decode, responseSerialize: encode, responseDeserialize: decode } },
    {
      Who: (call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>) => {
        if (tls !== undefined) callers.push(call.getAuthContext()?.sslPeerCertificate?.subjectaltname ?? '');
        callback(null, name);
      },
    },
  );
  const credentials = tls === undefined ? grpc.ServerCredentials.createInsecure() : grpc.ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], true);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  return { name, port: bound, server, callers };
}

export interface Spread {
  /** RPCs served per backend name. */
  readonly hits: Record<string, number>;
  readonly errors: string[];
}

/**
 * A child process spoken to in JSON lines: one command written to its stdin, one answer read from its
 * stdout, in order.
 */
export class JsonLineProcess {
  protected readonly child: ChildProcess;
  private buffer = '';
  private readonly waiting: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  stderr = '';

  constructor(command: string, args: readonly string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString();
      let newline = this.buffer.indexOf('\n');
      while (newline !== -1) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        this.waiting.shift()?.resolve(line);
        newline = this.buffer.indexOf('\n');
      }
    });
    // A process that dies (a crash, a refused flag) fails the command waiting for it instead of hanging it.
    this.child.on('exit', (code, signal) => {
      for (const waiter of this.waiting.splice(0)) waiter.reject(new Error(`${command} exited (${signal ?? code}) before answering:\n${this.stderr.slice(-4000)}`));
    });
  }

  /** Writes `command` as one line and resolves with the parsed answer line. */
  protected ask<T>(command: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error(`the process has exited (${this.child.signalCode ?? this.child.exitCode}):\n${this.stderr.slice(-4000)}`));
        return;
      }
      this.waiting.push({ resolve: (line) => resolve(JSON.parse(line) as T), reject });
      this.child.stdin?.write(`${JSON.stringify(command)}\n`);
    });
  }

  close(): void {
    this.child.stdin?.end();
    this.child.kill('SIGKILL');
  }
}

/**
 * A proxyless gRPC application in its own process (`fixtures/xds-client.mjs`): the real
 * @grpc/grpc-js-xds resolver with the given bootstrap, calling the backends through `target`.
 */
export class XdsClientProcess extends JsonLineProcess {
  /** With `xdsCredentials` the client dials with XdsChannelCredentials (TLS where a cluster asks for it). */
  constructor(bootstrap: unknown, target = 'xds:///example-app:8080', options: { readonly xdsCredentials?: boolean } = {}) {
    super(process.execPath, [XDS_CLIENT, target, ...(options.xdsCredentials === true ? ['--xds-credentials'] : [])], { GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) });
  }

  /** Runs `count` RPCs in sequence in the client process, with `metadata` as request headers. */
  spread(count: number, metadata?: Readonly<Record<string, string>>): Promise<Spread> {
    return this.ask<Spread>({ spread: count, ...(metadata === undefined ? {} : { metadata }) });
  }
}

const XDS_CLIENT = fileURLToPath(new URL('../fixtures/xds-client.mjs', import.meta.url));

/** The host of the `echo` service the gRPC scenarios call (`xds:///echo.demo.internal:8080`). */
export const ECHO_HOST = 'echo.demo.internal';

/** The ServiceEntry of `ECHO_HOST`: gRPC on 8080, selecting the WorkloadEntries labelled `app: echo` in `demo`. */
export const ECHO_SERVICE_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: demo}
spec:
  hosts: [${ECHO_HOST}]
  location: MESH_INTERNAL
  ports: [{number: 8080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  workloadSelector: {labels: {app: echo}}
`;

/** A WorkloadEntry of the `echo` service: a backend on 127.0.0.1:`port` labelled `app: echo, version: <version>`. */
export function echoWorkloadEntry(name: string, port: number, version: string): string {
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: demo}
spec: {address: 127.0.0.1, labels: {app: echo, version: ${version}}, ports: {grpc: ${port}}}
`;
}

/** The all-in-one `skiff` on a config directory, echo backends, and a grpc-js-xds client calling `ECHO_HOST:8080`. */
export interface EchoScenario {
  readonly dir: string;
  readonly skiff: ServiceProcess;
  readonly backends: readonly Backend[];
  readonly client: XdsClientProcess;
  close(): Promise<void>;
}

/**
 * Starts an `EchoScenario`: a backend per entry of `backends` (name -> version label), a temporary
 * config directory with `files` (file name -> YAML) and a WorkloadEntry per backend, `skiff` on it,
 * and the client `clientId` in namespace `demo`.
 */
export async function startEchoScenario(options: {
  readonly backends: Readonly<Record<string, string>>;
  readonly files: Readonly<Record<string, string>>;
  readonly clientId: string;
}): Promise<EchoScenario> {
  const backends = await Promise.all(Object.keys(options.backends).map((name) => startBackend(name)));
  const dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-echo-'));
  for (const [file, text] of Object.entries(options.files)) await writeFile(join(dir, file), text);
  for (const backend of backends) await writeFile(join(dir, `${backend.name}.yaml`), echoWorkloadEntry(backend.name, backend.port, options.backends[backend.name]!));
  const xdsAddress = `127.0.0.1:${await freePort()}`;
  const skiff = await ServiceProcess.start('skiff', BINS.skiff, ['--config-dir', dir, '--xds-addr', xdsAddress]);
  const client = new XdsClientProcess(grpcBootstrap(xdsAddress, options.clientId, 'demo'), `xds:///${ECHO_HOST}:8080`);
  return {
    dir,
    skiff,
    backends,
    client,
    async close() {
      client.close();
      await skiff.stop('SIGKILL');
      for (const backend of backends) backend.server.forceShutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A proxyless gRPC client's bootstrap: Skiff at `xdsAddress` in plain text, node `id` in `namespace` (`GENERATOR: grpc`). */
export function grpcBootstrap(xdsAddress: string, id: string, namespace: string): unknown {
  return {
    xds_servers: [{ server_uri: xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id, cluster: 'e2e', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: namespace } },
  };
}

interface SyncEntry {
  readonly proxy: string;
  readonly resources?: Record<string, { readonly sent: string; readonly acked: string; readonly lastError?: string }>;
}

/**
 * What `/debug/syncz` says of the proxy `id`: per type it was sent (the short type name), whether the
 * last version sent is the one it ACKed and the last NACK, if any. Undefined when it is not connected.
 */
export async function syncStateOf(skiff: ServiceProcess, id: string): Promise<{ type: string; acked: boolean; lastError: string | undefined }[] | undefined> {
  const entry = (await skiff.debug<SyncEntry[]>('/debug/syncz')).find((proxy) => proxy.proxy === id);
  if (entry === undefined) return undefined;
  return Object.entries(entry.resources ?? {})
    .map(([type, state]) => ({ type: type.split('.').pop() ?? type, acked: state.acked === state.sent, lastError: state.lastError }))
    .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

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
