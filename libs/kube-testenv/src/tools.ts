/**
 * Finding the pinned control-plane binaries that `tools/kube/build.sh` builds: etcd and etcdctl
 * v3.7.3, kube-apiserver and kubectl v1.37.2. They are looked up in $SKIFF_KUBE_BIN_DIR, else in
 * `$(go env GOPATH)/bin/skiff-kube` (where the build script puts them by default); nothing is taken
 * from PATH, so a kubectl of another version on the machine is never used by accident.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export const ETCD_VERSION = '3.7.3';
export const KUBERNETES_VERSION = 'v1.37.2';
/** How to build the binaries (from the repository root); CI runs it from `.ci/run`. */
export const KUBE_TOOLS_BUILD_COMMAND = 'tools/kube/build.sh';

/** Absolute paths of the four binaries. */
export interface KubeTools {
  readonly directory: string;
  readonly etcd: string;
  readonly etcdctl: string;
  readonly kubeApiserver: string;
  readonly kubectl: string;
}

/** Thrown when a binary is missing or reports another version; the message says how to build them. */
export class KubeToolsNotFoundError extends Error {
  override readonly name = 'KubeToolsNotFoundError';
  constructor(
    readonly directory: string,
    readonly problems: readonly string[],
  ) {
    super(
      `the local Kubernetes control plane is not built in ${directory}: ${problems.join('; ')}. ` +
        `Build etcd ${ETCD_VERSION}, kube-apiserver and kubectl ${KUBERNETES_VERSION} with \`${KUBE_TOOLS_BUILD_COMMAND}\` ` +
        '(needs Go; a few minutes the first time, seconds with a warm Go build cache), or point SKIFF_KUBE_BIN_DIR at them.',
    );
  }
}

/** The directory the build script uses: $SKIFF_KUBE_BIN_DIR, else the first GOPATH entry's bin/skiff-kube. */
export function kubeToolsDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env['SKIFF_KUBE_BIN_DIR'];
  if (configured !== undefined && configured !== '') return configured;
  const fromGo = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8', env });
  const gopath = fromGo.status === 0 && fromGo.stdout.trim() ? fromGo.stdout.trim() : (env['GOPATH'] ?? join(homedir(), 'go'));
  const first = gopath.split(delimiter).find((entry) => entry !== '') ?? join(homedir(), 'go');
  return join(first, 'bin', 'skiff-kube');
}

const EXPECTED: readonly { key: Exclude<keyof KubeTools, 'directory'>; file: string; args: string[]; reports: string }[] = [
  { key: 'etcd', file: 'etcd', args: ['--version'], reports: `etcd Version: ${ETCD_VERSION}` },
  { key: 'etcdctl', file: 'etcdctl', args: ['version'], reports: `etcdctl version: ${ETCD_VERSION}` },
  { key: 'kubeApiserver', file: 'kube-apiserver', args: ['--version'], reports: `Kubernetes ${KUBERNETES_VERSION}` },
  { key: 'kubectl', file: 'kubectl', args: ['version', '--client'], reports: `Client Version: ${KUBERNETES_VERSION}` },
];

let found: KubeTools | undefined;

/** The binaries, each checked to run and report its pinned version; throws KubeToolsNotFoundError otherwise. */
export function findKubeTools(env: NodeJS.ProcessEnv = process.env): KubeTools {
  if (found !== undefined && env === process.env) return found;
  const directory = kubeToolsDirectory(env);
  const problems: string[] = [];
  const paths: Partial<Record<Exclude<keyof KubeTools, 'directory'>, string>> = {};
  for (const tool of EXPECTED) {
    const path = join(directory, tool.file);
    try {
      accessSync(path, constants.X_OK);
    } catch {
      problems.push(`${tool.file} is missing`);
      continue;
    }
    const run = spawnSync(path, tool.args, { encoding: 'utf8' });
    const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
    if (!output.includes(tool.reports)) {
      problems.push(`${tool.file} does not report "${tool.reports}" (${output.trim().split('\n')[0] || `exit ${run.status}`})`);
      continue;
    }
    paths[tool.key] = path;
  }
  if (problems.length > 0) throw new KubeToolsNotFoundError(directory, problems);
  const tools = { directory, ...(paths as Omit<KubeTools, 'directory'>) };
  if (env === process.env) found = tools;
  return tools;
}
