/**
 * grpc-go as a second real proxyless client: `tools/grpc-go-xds-client`, a Go program on
 * google.golang.org/grpc's xDS resolver and xDS transport credentials, built by that folder's
 * `build.sh` into a cache directory. The binary is found there and checked to be built from the
 * sources in the repository (it reports their hash); a missing or stale binary is an error naming the
 * build command, so the tests that need it fail rather than skip.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { JsonLineProcess, REPO_ROOT } from './services.js';

/** The client's Go module in the repository. */
export const GRPC_GO_CLIENT_SOURCE_DIR = join(REPO_ROOT, 'tools', 'grpc-go-xds-client');
/** How to build it (from the repository root); CI runs it from `.ci/run`. */
export const GRPC_GO_CLIENT_BUILD_COMMAND = 'tools/grpc-go-xds-client/build.sh';

/** Thrown when the binary is missing or was built from other sources or another grpc-go version. */
export class GrpcGoClientNotFoundError extends Error {
  override readonly name = 'GrpcGoClientNotFoundError';
  constructor(
    readonly binary: string,
    readonly problem: string,
  ) {
    super(
      `the grpc-go xDS test client ${binary} ${problem}. Build it with \`${GRPC_GO_CLIENT_BUILD_COMMAND}\` ` +
        '(needs Go; about a minute the first time, seconds with a warm Go build cache), or point SKIFF_GRPC_GO_CLIENT_DIR at its directory.',
    );
  }
}

/** The google.golang.org/grpc version the module's go.mod pins. */
export function pinnedGrpcGoVersion(sourceDir = GRPC_GO_CLIENT_SOURCE_DIR): string {
  const goMod = readFileSync(join(sourceDir, 'go.mod'), 'utf8');
  const version = /^\s*(?:require\s+)?google\.golang\.org\/grpc\s+(v\S+)/m.exec(goMod)?.[1];
  if (version === undefined) throw new Error(`${join(sourceDir, 'go.mod')} does not require google.golang.org/grpc`);
  return version;
}

/**
 * The hash `build.sh` stamps into the binary: sha256 over go.mod, go.sum and the .go files in byte
 * order of their names, each preceded by its name and a newline; the first 16 hex digits.
 */
export function grpcGoClientSourceHash(sourceDir = GRPC_GO_CLIENT_SOURCE_DIR): string {
  const files = readdirSync(sourceDir)
    .filter((file) => file === 'go.mod' || file === 'go.sum' || file.endsWith('.go'))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file}\n`).update(readFileSync(join(sourceDir, file)));
  return hash.digest('hex').slice(0, 16);
}

/** Where `build.sh` puts the binary: $SKIFF_GRPC_GO_CLIENT_DIR, else ~/.cache/skiff/grpc-go-xds-client-<version>. */
export function grpcGoClientDirectory(env: NodeJS.ProcessEnv = process.env, version = pinnedGrpcGoVersion()): string {
  const configured = env['SKIFF_GRPC_GO_CLIENT_DIR'];
  if (configured !== undefined && configured !== '') return configured;
  const cache = env['XDG_CACHE_HOME'] !== undefined && env['XDG_CACHE_HOME'] !== '' ? env['XDG_CACHE_HOME'] : join(homedir(), '.cache');
  return join(cache, 'skiff', `grpc-go-xds-client-${version}`);
}

/** The binary's path, checked to run and report the pinned grpc-go version and the current sources. */
export function findGrpcGoClient(env: NodeJS.ProcessEnv = process.env, sourceDir = GRPC_GO_CLIENT_SOURCE_DIR): string {
  const version = pinnedGrpcGoVersion(sourceDir);
  const binary = join(grpcGoClientDirectory(env, version), 'grpc-go-xds-client');
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    throw new GrpcGoClientNotFoundError(binary, 'is missing');
  }
  const expected = `grpc-go-xds-client grpc-go ${version} source ${grpcGoClientSourceHash(sourceDir)}`;
  const run = spawnSync(binary, ['-version'], { encoding: 'utf8' });
  const reported = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim();
  if (reported !== expected) throw new GrpcGoClientNotFoundError(binary, `reports "${reported.split('\n')[0] || `exit ${run.status}`}", not "${expected}"`);
  return binary;
}

/** One command's outcome: RPCs served per backend name, and each failed RPC as `Code: message`. */
export interface GrpcGoReport {
  readonly rpcs: number;
  readonly hits: Record<string, number>;
  readonly errors: string[];
}

/**
 * A grpc-go proxyless application in its own process, calling `target` (`xds:///host:port`) with the
 * given bootstrap (passed as GRPC_XDS_BOOTSTRAP_CONFIG, read by grpc-go when the process starts).
 * grpc-go logs at `info`, which includes each NACK's reason, so `stderr` explains a failure.
 */
export class GrpcGoClientProcess extends JsonLineProcess {
  constructor(binary: string, bootstrap: unknown, target: string) {
    super(binary, ['-target', target], {
      GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap),
      GRPC_GO_LOG_SEVERITY_LEVEL: 'info',
      GRPC_GO_LOG_VERBOSITY_LEVEL: '0',
    });
  }

  /** Runs `count` RPCs in sequence, each carrying `metadata`. */
  rpcs(count: number, metadata: Record<string, string> = {}): Promise<GrpcGoReport> {
    return this.ask<GrpcGoReport>({ rpcs: count, metadata });
  }
}
