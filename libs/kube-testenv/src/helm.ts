/**
 * The real `helm` binary, run the way CI runs it: found on PATH or where `go install` puts it, with
 * its home, cache, config and data directories in a private temporary directory so that no
 * repository, plugin or kubeconfig of the machine leaks into a render. It talks to a cluster only when
 * given a kubeconfig (a test control plane's).
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** How CI (and a developer) installs the helm these tests expect. */
export const HELM_INSTALL_COMMAND = 'go install helm.sh/helm/v3/cmd/helm@v3.21.4';

/** Thrown when no helm v3 binary can be found; the message says how to install one. */
export class HelmNotFoundError extends Error {
  override readonly name = 'HelmNotFoundError';
  constructor(readonly searched: readonly string[]) {
    super(
      `helm v3 was not found on PATH or in $(go env GOPATH)/bin (looked at: ${searched.join(', ') || 'nothing'}). ` +
        `The chart tests need the real helm binary; install it with \`${HELM_INSTALL_COMMAND}\` ` +
        '(or run deploy/helm/install-helm.sh).',
    );
  }
}

/** Thrown when a helm command exits non-zero; the message carries the command and helm's stderr. */
export class HelmCommandError extends Error {
  override readonly name = 'HelmCommandError';
  constructor(
    readonly args: readonly string[],
    readonly status: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`helm ${args.join(' ')} exited with ${status ?? 'a signal'}:\n${stderr.trim() || stdout.trim()}`);
  }
}

/** The outcome of one helm invocation. */
export interface HelmResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface TemplateOptions {
  readonly releaseName: string;
  readonly namespace: string;
  /** Values files, applied in order (`-f`). */
  readonly valuesFiles?: readonly string[];
  /** API versions the render assumes the cluster serves (`--api-versions`, e.g. `monitoring.coreos.com/v1/ServiceMonitor`). */
  readonly apiVersions?: readonly string[];
}

export interface LintOptions {
  readonly namespace: string;
  readonly valuesFiles?: readonly string[];
  /** `--strict`: warnings fail the lint too. */
  readonly strict?: boolean;
}

/** Directories where `go install` puts binaries: each GOPATH entry's bin/ (`go env GOPATH`, else $GOPATH, else ~/go). */
function goBinDirectories(env: NodeJS.ProcessEnv): string[] {
  const fromGo = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8', env });
  const gopath = fromGo.status === 0 && fromGo.stdout.trim() ? fromGo.stdout.trim() : (env['GOPATH'] ?? join(homedir(), 'go'));
  return gopath
    .split(delimiter)
    .filter((entry) => entry !== '')
    .map((entry) => join(entry, 'bin'));
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The version helm reports (`v3.21.4`, or `v3.21` for a `go install` build), or undefined if it does not run. */
function helmVersion(binary: string): string | undefined {
  const result = spawnSync(binary, ['version', '--short'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/**
 * Finds a helm v3 binary: every `helm` on PATH first, then `$(go env GOPATH)/bin/helm`. A helm of
 * another major version is passed over (helm 4 lints and renders differently), and named in the
 * error if nothing else is found.
 */
export function findHelm(env: NodeJS.ProcessEnv = process.env): string {
  const pathDirectories = (env['PATH'] ?? '').split(delimiter).filter((entry) => entry !== '');
  const candidates = [...new Set([...pathDirectories, ...goBinDirectories(env)].map((directory) => join(directory, 'helm')))];
  const searched: string[] = [];
  for (const candidate of candidates) {
    if (!isExecutable(candidate)) continue;
    const version = helmVersion(candidate);
    if (version?.startsWith('v3.')) return candidate;
    searched.push(`${candidate} (${version ?? 'does not run'})`);
  }
  throw new HelmNotFoundError(searched.length > 0 ? searched : candidates);
}

/** A helm binary with a private HOME and HELM_* directories; call `dispose()` to delete them. */
export class Helm {
  private readonly home: string;
  private readonly env: NodeJS.ProcessEnv;

  /** `kubeconfig`: the cluster helm installs into; without it helm reaches no cluster. */
  constructor(
    readonly binary: string,
    kubeconfig?: string,
  ) {
    this.home = mkdtempSync(join(tmpdir(), 'skiff-helm-'));
    this.env = {
      PATH: process.env['PATH'] ?? '',
      HOME: this.home,
      HELM_CACHE_HOME: join(this.home, 'cache'),
      HELM_CONFIG_HOME: join(this.home, 'config'),
      HELM_DATA_HOME: join(this.home, 'data'),
      // Without a cluster, point any attempt to reach one at a file that does not exist.
      KUBECONFIG: kubeconfig ?? join(this.home, 'no-kubeconfig'),
    };
  }

  /** Locates helm (see `findHelm`) and gives it a private home; with a kubeconfig it can install. */
  static locate(kubeconfig?: string): Helm {
    return new Helm(findHelm(), kubeconfig);
  }

  /** Runs helm with the given arguments and returns what it printed, whatever the exit status. */
  run(args: readonly string[]): HelmResult {
    const result = spawnSync(this.binary, args, { encoding: 'utf8', env: this.env, maxBuffer: 64 * 1024 * 1024 });
    if (result.error) throw result.error;
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /** Runs helm without blocking the event loop (for commands that talk to a cluster while a test's servers run). */
  runAsync(args: readonly string[]): Promise<HelmResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });
  }

  /** `runAsync`, returning stdout or throwing `HelmCommandError`. */
  async runAsyncOrThrow(args: readonly string[]): Promise<string> {
    const result = await this.runAsync(args);
    if (result.status !== 0) throw new HelmCommandError(args, result.status, result.stdout, result.stderr);
    return result.stdout;
  }

  /** Runs helm and returns stdout, or throws `HelmCommandError` with stderr when it fails. */
  runOrThrow(args: readonly string[]): string {
    const result = this.run(args);
    if (result.status !== 0) throw new HelmCommandError(args, result.status, result.stdout, result.stderr);
    return result.stdout;
  }

  /** The arguments of `helm template RELEASE CHART -n NAMESPACE -f ...`. */
  templateArgs(chartDirectory: string, options: TemplateOptions): string[] {
    return [
      'template',
      options.releaseName,
      chartDirectory,
      '--namespace',
      options.namespace,
      ...valuesArgs(options.valuesFiles),
      ...(options.apiVersions ?? []).flatMap((apiVersion) => ['--api-versions', apiVersion]),
    ];
  }

  /** `helm template`: the rendered manifests as one multi-document YAML string. */
  template(chartDirectory: string, options: TemplateOptions): string {
    return this.runOrThrow(this.templateArgs(chartDirectory, options));
  }

  /** `helm lint [--strict]`: helm's report, or a `HelmCommandError` when the lint fails. */
  lint(chartDirectory: string, options: LintOptions): string {
    const args = ['lint', chartDirectory, '--namespace', options.namespace, ...valuesArgs(options.valuesFiles)];
    if (options.strict) args.push('--strict');
    return this.runOrThrow(args);
  }

  /** Deletes the private home. */
  dispose(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}

function valuesArgs(valuesFiles: readonly string[] = []): string[] {
  return valuesFiles.flatMap((file) => ['--values', file]);
}
