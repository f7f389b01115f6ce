/**
 * The demo's proxyless gRPC client: @grpc/grpc-js with the @grpc/grpc-js-xds resolver, calling the
 * example service through Skiff and counting which backend answered each call.
 */
import * as grpc from '@grpc/grpc-js';
import { decode, encode, WHO_PATH } from './backends.js';

export const EXAMPLE_TARGET = 'xds:///example-app:8080';

export interface XdsClientOptions {
  /** Skiff's ADS address, `host:port`. */
  readonly xdsAddress: string;
  readonly nodeId: string;
  /** The client's namespace (node metadata NAMESPACE): the example's ServiceEntry is exported to `demo` only. */
  readonly namespace: string;
  readonly target?: string;
}

/**
 * A client for `target` that learns its endpoints from Skiff over ADS. The bootstrap is the one
 * docs/install.md shows (node metadata GENERATOR: grpc); grpc-js-xds reads it when it registers.
 */
export async function xdsClient(options: XdsClientOptions): Promise<grpc.Client> {
  process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = JSON.stringify({
    xds_servers: [{ server_uri: options.xdsAddress, channel_creds: [{ type: 'insecure' }] }],
    node: { id: options.nodeId, locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: options.namespace } },
  });
  const xds = await import('@grpc/grpc-js-xds');
  xds.register();
  return new grpc.Client(options.target ?? EXAMPLE_TARGET, grpc.credentials.createInsecure());
}

export interface Sample {
  /** Calls answered, per backend name. */
  readonly hits: Map<string, number>;
  readonly errors: number;
  readonly firstError?: string;
}

function call(client: grpc.Client, deadlineMs: number): Promise<{ backend: string } | { error: string }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(WHO_PATH, encode, decode, 'who', new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (error, value) =>
      resolve(error ? { error: error.message } : { backend: value ?? '' }),
    ),
  );
}

/** Runs calls one after another until `until` says stop (or `signal` aborts) and counts where they went. */
export async function sample(client: grpc.Client, until: (callsMade: number) => boolean, signal: AbortSignal, deadlineMs = 2_000): Promise<Sample> {
  const hits = new Map<string, number>();
  let errors = 0;
  let firstError: string | undefined;
  for (let calls = 0; !until(calls) && !signal.aborted; calls += 1) {
    const outcome = await call(client, deadlineMs);
    if ('error' in outcome) {
      errors += 1;
      firstError ??= outcome.error;
    } else hits.set(outcome.backend, (hits.get(outcome.backend) ?? 0) + 1);
  }
  return { hits, errors, ...(firstError === undefined ? {} : { firstError }) };
}

function bar(share: number, width = 24): string {
  const filled = Math.round(share * width);
  return `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
}

/** One line per backend (share of the calls as a bar and a percentage), then the errors. */
export function report(names: readonly string[], result: Sample): string[] {
  const total = [...result.hits.values()].reduce((a, b) => a + b, 0) + result.errors;
  const lines = names.map((name) => {
    const count = result.hits.get(name) ?? 0;
    const share = total === 0 ? 0 : count / total;
    return `    ${name.padEnd(16)} ${bar(share)} ${String(Math.round(share * 100)).padStart(3)}%  (${count} calls)`;
  });
  lines.push(`    ${'errors'.padEnd(16)} ${String(result.errors).padStart(29)}   of ${total} calls`);
  if (result.firstError !== undefined) lines.push(`    first error: ${result.firstError}`);
  return lines;
}
