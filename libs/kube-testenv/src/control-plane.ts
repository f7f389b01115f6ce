/**
 * A real Kubernetes control plane for tests: etcd and kube-apiserver as child processes on free
 * 127.0.0.1 ports, with everything in one temporary directory. No containers, no kubelet, no
 * controller manager: objects are stored, validated, authorized and watched exactly as in a cluster,
 * but pods stay Pending.
 *
 * - etcd runs with `--unsafe-no-fsync` (a test's data need not survive a power cut);
 * - kube-apiserver authenticates bearer tokens from a token file (an admin in system:masters) and
 *   service-account tokens it signs itself (a key pair generated at start, an issuer configured, so
 *   `kubectl create token` and the TokenRequest API work), and authorizes with RBAC only;
 * - `--enable-aggregator-routing=true` and `--endpoint-reconciler-type none` keep every connection
 *   on 127.0.0.1 (the apiserver does not try to reach the `kubernetes` Service's cluster IP).
 *
 * Start one per test file (startup takes a few seconds); `stop()` kills the processes without the
 * graceful drain (which waits up to half a minute for open watches) and deletes the directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@skiff/testing';
import { findKubeTools, type KubeTools } from './tools.js';

/** The issuer of the service-account tokens the API server signs (a cluster's usual in-cluster name). */
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** The admin user of the token file: member of system:masters, so RBAC allows it everything. */
export const ADMIN_USER = 'skiff-test-admin';

export interface ControlPlaneOptions {
  /** Extra kube-apiserver flags, e.g. `--watch-cache=false` so watches read etcd directly. */
  readonly apiServerArgs?: readonly string[];
  /** The binaries; default `findKubeTools()`, which throws with the build command when they are missing. */
  readonly tools?: KubeTools;
  /** How long etcd and the API server may take to become ready (default 60 s). */
  readonly startTimeoutMs?: number;
}

/** The outcome of one kubectl run. */
export interface CommandResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A command that exited non-zero; the message carries the command and its stderr. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly result: CommandResult,
  ) {
    super(`${command} exited with ${result.status ?? 'a signal'}:\n${result.stderr.trim() || result.stdout.trim()}`);
  }
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (for `apply -f -`). */
  readonly input?: string;
  /** A kubeconfig file; default the admin's. */
  readonly kubeconfig?: string;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Children must not outlive a test process that exits without calling stop() (a crash, a timeout). */
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const process_ of running) process_.kill('SIGKILL');
    });
  }
}

async function kill(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

function run(binary: string, args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** GET over HTTPS without verifying the API server's self-signed certificate. */
function getInsecure(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` }, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.once('error', reject);
    req.end();
  });
}

function logTail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export class KubeControlPlane {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** Bearer token of the admin user (system:masters). */
  readonly adminToken: string;
  /** kubeconfig file of the admin user. */
  readonly adminKubeconfig: string;
  /** etcd's client URL (`http://127.0.0.1:<port>`). */
  readonly etcdEndpoint: string;
  private apiServer: ChildProcess | undefined;
  private etcd: ChildProcess | undefined;
  private stopped = false;

  private constructor(
    readonly tools: KubeTools,
    /** The temporary directory holding etcd's data, keys, kubeconfigs and logs. */
    readonly directory: string,
    readonly apiServerPort: number,
    private readonly etcdPorts: { client: number; peer: number },
    private readonly apiServerArgs: readonly string[],
    private readonly startTimeoutMs: number,
  ) {
    this.server = `https://127.0.0.1:${apiServerPort}`;
    this.etcdEndpoint = `http://127.0.0.1:${etcdPorts.client}`;
    this.adminToken = randomBytes(24).toString('hex');
    this.adminKubeconfig = join(directory, 'admin.kubeconfig');
  }

  /** Starts etcd and the API server and resolves once `/readyz` says ready. */
  static async start(options: ControlPlaneOptions = {}): Promise<KubeControlPlane> {
    const tools = options.tools ?? findKubeTools();
    const directory = await mkdtemp(join(tmpdir(), 'skiff-kube-'));
    const plane = new KubeControlPlane(
      tools,
      directory,
      await freePort(),
      { client: await freePort(), peer: await freePort() },
      options.apiServerArgs ?? [],
      options.startTimeoutMs ?? 60_000,
    );
    try {
      await plane.startEtcd();
      await plane.writeCredentials();
      await plane.startApiServer();
    } catch (error) {
      await plane.stop();
      throw error;
    }
    return plane;
  }

  /** Kills both processes (a short grace, then SIGKILL) and deletes the directory. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await kill(this.apiServer, 1_000);
    await kill(this.etcd, 2_000);
    await rm(this.directory, { recursive: true, force: true });
  }

  /** Kills the API server (etcd keeps the data): clients see their connections reset and are refused. */
  async stopApiServer(): Promise<void> {
    await kill(this.apiServer, 500);
    this.apiServer = undefined;
  }

  /** Starts the API server again on the same port and waits until it is ready. */
  async startApiServer(): Promise<void> {
    if (this.apiServer !== undefined && this.apiServer.exitCode === null) return;
    const log = join(this.directory, 'kube-apiserver.log');
    const fd = openSync(log, 'a');
    const child = spawn(
      this.tools.kubeApiserver,
      [
        `--etcd-servers=${this.etcdEndpoint}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${this.apiServerPort}`,
        `--cert-dir=${join(this.directory, 'certs')}`,
        `--token-auth-file=${join(this.directory, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${join(this.directory, 'service-account.pub')}`,
        `--service-account-signing-key-file=${join(this.directory, 'service-account.key')}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--enable-aggregator-routing=true',
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        ...this.apiServerArgs,
      ],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    track(child);
    this.apiServer = child;
    await this.waitReady('kube-apiserver', child, log, async () => {
      const response = await getInsecure(`${this.server}/readyz`, this.adminToken);
      if (response.status !== 200) throw new Error(`/readyz answered ${response.status}: ${response.body}`);
    });
  }

  /** Runs kubectl (as the admin unless another kubeconfig is given) and returns what it printed. */
  kubectl(args: readonly string[], options: KubectlOptions = {}): Promise<CommandResult> {
    return run(this.tools.kubectl, ['--kubeconfig', options.kubeconfig ?? this.adminKubeconfig, ...args], options.input === undefined ? {} : { input: options.input });
  }

  /** Runs kubectl and returns stdout, or throws CommandError with kubectl's stderr. */
  async kubectlOrThrow(args: readonly string[], options: KubectlOptions = {}): Promise<string> {
    const result = await this.kubectl(args, options);
    if (result.status !== 0) throw new CommandError(`kubectl ${args.join(' ')}`, result);
    return result.stdout;
  }

  /** `kubectl apply -f -` with the given YAML or JSON. */
  apply(manifest: string, options: Omit<KubectlOptions, 'input'> = {}): Promise<string> {
    return this.kubectlOrThrow(['apply', '-f', '-'], { ...options, input: manifest });
  }

  /**
   * A token for a ServiceAccount, issued by the API server through the TokenRequest API
   * (`kubectl create token`), as a pod's projected token would be; with `audiences`, for those (as
   * istio-agent requests one for `istio-ca`).
   */
  async serviceAccountToken(namespace: string, name: string, duration = '1h', audiences: readonly string[] = []): Promise<string> {
    const audienceArgs = audiences.flatMap((audience) => ['--audience', audience]);
    return (await this.kubectlOrThrow(['create', 'token', name, '--namespace', namespace, '--duration', duration, ...audienceArgs])).trim();
  }

  /** Writes a kubeconfig that authenticates with `token` and returns its path. */
  async kubeconfigFor(token: string, name: string, server: string = this.server): Promise<string> {
    const path = join(this.directory, `${name}.kubeconfig`);
    await writeFile(path, kubeconfigYaml(server, name, token), { mode: 0o600 });
    return path;
  }

  /** A kubeconfig for a ServiceAccount's TokenRequest token (see `serviceAccountToken`). */
  async serviceAccountKubeconfig(namespace: string, name: string, server: string = this.server): Promise<string> {
    return this.kubeconfigFor(await this.serviceAccountToken(namespace, name), `sa-${namespace}-${name}`, server);
  }

  /**
   * Compacts etcd's history up to its current revision: a watch or a list continue token from an
   * older resource version is then answered 410 Gone (once it reaches etcd rather than the API
   * server's watch cache). Returns the revision compacted to.
   */
  async compactEtcd(): Promise<number> {
    const endpoint = ['--endpoints', this.etcdEndpoint];
    const status = await run(this.tools.etcdctl, [...endpoint, 'endpoint', 'status', '--write-out', 'json']);
    if (status.status !== 0) throw new CommandError('etcdctl endpoint status', status);
    const [first] = JSON.parse(status.stdout) as { Status: { header: { revision: number } } }[];
    const revision = first?.Status.header.revision;
    if (revision === undefined) throw new Error(`etcdctl endpoint status printed no revision: ${status.stdout}`);
    const compacted = await run(this.tools.etcdctl, [...endpoint, 'compaction', String(revision), '--physical']);
    if (compacted.status !== 0) throw new CommandError(`etcdctl compaction ${revision}`, compacted);
    return revision;
  }

  /** The last lines of the API server's log, for failure messages. */
  apiServerLog(lines = 30): string {
    return logTail(join(this.directory, 'kube-apiserver.log'), lines);
  }

  private async startEtcd(): Promise<void> {
    const log = join(this.directory, 'etcd.log');
    const fd = openSync(log, 'a');
    const peer = `http://127.0.0.1:${this.etcdPorts.peer}`;
    const child = spawn(
      this.tools.etcd,
      [
        '--name=skiff-test',
        `--data-dir=${join(this.directory, 'etcd')}`,
        `--listen-client-urls=${this.etcdEndpoint}`,
        `--advertise-client-urls=${this.etcdEndpoint}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=skiff-test=${peer}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    track(child);
    this.etcd = child;
    await this.waitReady('etcd', child, log, async () => {
      const response = await fetch(`${this.etcdEndpoint}/health`);
      const body = (await response.json()) as { health?: string };
      if (body.health !== 'true') throw new Error(`etcd /health: ${JSON.stringify(body)}`);
    });
  }

  private async writeCredentials(): Promise<void> {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    await writeFile(join(this.directory, 'service-account.pub'), publicKey);
    await writeFile(join(this.directory, 'service-account.key'), privateKey, { mode: 0o600 });
    // token,user,uid,"groups" (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#static-token-file)
    await writeFile(join(this.directory, 'tokens.csv'), `${this.adminToken},${ADMIN_USER},${ADMIN_USER},"system:masters"\n`, { mode: 0o600 });
    await writeFile(this.adminKubeconfig, kubeconfigYaml(this.server, ADMIN_USER, this.adminToken), { mode: 0o600 });
  }

  private async waitReady(name: string, child: ChildProcess, log: string, check: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${name} exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${logTail(log)}`);
      }
      try {
        await check();
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`${name} did not become ready within ${this.startTimeoutMs} ms (${String(error)}):\n${logTail(log)}`, { cause: error });
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}


/** A kubeconfig for one user with a bearer token; the API server's certificate is self-signed. */
function kubeconfigYaml(server: string, user: string, token: string): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'skiff-test', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: user, context: { cluster: 'skiff-test', user, namespace: 'default' } }],
      'current-context': user,
    },
    null,
    2,
  );
}
