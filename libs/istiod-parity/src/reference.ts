/**
 * The istiod reference: `tools/istiod-reference`, a Go program that runs Istio's own discovery server
 * (the in-process server istiod's tests use) on a case's YAML and answers, over ADS, as istiod
 * answers the proxies it is asked as. Built with Go by `tools/istiod-reference/build.sh`, which also
 * builds istioctl from the same istio.io/istio version.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { JsonValue } from '@bufbuild/protobuf';
import type { ParityProxy } from './proxies.js';
import type { ResourceKind } from './resources.js';

const execFileAsync = promisify(execFile);

/** The repository's tools/istiod-reference folder. */
export const REFERENCE_SOURCE_DIR = fileURLToPath(new URL('../../../tools/istiod-reference/', import.meta.url));

export interface IstioTools {
  readonly reference: string;
  readonly istioctl: string;
  /** The istio.io/istio module version both were built from. */
  readonly istioVersion: string;
}

let built: Promise<IstioTools> | undefined;

/** Builds (or finds in Go's caches) the reference and istioctl; once per process. */
export function istioTools(): Promise<IstioTools> {
  built ??= (async () => {
    const { stdout } = await execFileAsync('bash', [join(REFERENCE_SOURCE_DIR, 'build.sh')], { maxBuffer: 16 * 1024 * 1024, timeout: 60 * 60_000 });
    const dir = stdout.trim().split('\n').pop() ?? '';
    const tools = { reference: join(dir, 'istiod-reference'), istioctl: join(dir, 'istioctl') };
    for (const path of Object.values(tools)) if (!existsSync(path)) throw new Error(`istiod-reference: build.sh printed ${dir}, which holds no ${path}`);
    const { stdout: version } = await execFileAsync('go', ['list', '-m', '-f', '{{.Version}}', 'istio.io/istio'], { cwd: REFERENCE_SOURCE_DIR });
    return { ...tools, istioVersion: version.trim() };
  })();
  return built;
}

export interface ReferenceCase {
  readonly name: string;
  /** Istio YAML, every document of the case. */
  readonly config: string;
  /** MeshConfig YAML, if not istiod's defaults. */
  readonly meshConfig?: string;
  readonly proxies: readonly ParityProxy[];
}

export interface ReferenceProxyResult {
  readonly name: string;
  readonly clusters: readonly JsonValue[];
  readonly endpoints: readonly JsonValue[];
  readonly listeners: readonly JsonValue[];
  readonly routes: readonly JsonValue[];
}

export interface ReferenceRejection {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly error: string;
}

export interface ReferenceCaseResult {
  readonly name: string;
  readonly error?: string;
  readonly rejected: readonly ReferenceRejection[];
  readonly proxies: readonly ReferenceProxyResult[];
}

export interface ReferenceOutput {
  readonly istio: string;
  readonly cases: readonly ReferenceCaseResult[];
}

export type ProxyResources = Pick<ReferenceProxyResult, ResourceKind>;

/**
 * Runs the reference on `cases` in one process. `env` holds istiod's feature flags (its environment
 * variables, read once at start), added to this process's environment.
 */
export async function runReference(cases: readonly ReferenceCase[], env: Readonly<Record<string, string>> = {}): Promise<ReferenceOutput> {
  const tools = await istioTools();
  const input = JSON.stringify({
    cases: cases.map((c) => ({
      name: c.name,
      config: c.config,
      ...(c.meshConfig === undefined ? {} : { meshConfig: c.meshConfig }),
      proxies: c.proxies.map((p) => ({ name: p.name, id: p.id, metadata: p.metadata, locality: p.locality, listeners: p.listeners })),
    })),
  });
  return new Promise((resolve, reject) => {
    const child = spawn(tools.reference, [], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`istiod-reference exited with ${String(code)}: ${Buffer.concat(stderr).toString('utf8').slice(-4000)}`));
        return;
      }
      try {
        resolve(JSON.parse(Buffer.concat(stdout).toString('utf8')) as ReferenceOutput);
      } catch (error) {
        reject(new Error(`istiod-reference printed no JSON: ${String(error)}`));
      }
    });
    child.stdin.end(input);
  });
}
