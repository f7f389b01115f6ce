/** The command-line options of the commands that ask a running gateway (`--gateway`, `--timeout`) and their parsers. */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_GATEWAY_URL, DEFAULT_TIMEOUT_MS, GatewayClient, parseGatewayUrl } from './gateway-client.js';

/** Options every command that asks a running gateway takes. */
export interface GatewayOptions {
  readonly gateway: string;
  readonly timeout: number;
  readonly tokenFile?: string;
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new InvalidArgumentError('expected a port, 1 to 65535');
  return port;
}

/** istioctl's `--timeout` takes Go durations; skiffctl takes the common forms `500ms`, `30s`, `1m`. */
function parseTimeout(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value);
  if (match === null || Number(match[1]) <= 0) throw new InvalidArgumentError('expected a duration such as 500ms, 30s or 1m');
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
}

/**
 * `--gateway` and `--timeout`. `gatewayHelp` says which replica to ask: any one for the fleet-wide sync
 * status, the one serving the proxy for what it was sent.
 */
export function withGatewayOptions(command: Command, gatewayHelp: string): Command {
  return command
    .option('--gateway <url>', `a gateway's monitoring address (port 15014); ${gatewayHelp}`, DEFAULT_GATEWAY_URL)
    .addOption(new Option('--timeout <duration>', 'how long to wait for the gateway').argParser(parseTimeout).default(DEFAULT_TIMEOUT_MS, '30s'))
    .option('--token-file <path>', "a file whose first line is a bearer token the gateway accepts on /debug (its --debug-token-file), for a gateway on another host");
}

export function gatewayClient(options: GatewayOptions): GatewayClient {
  const token = options.tokenFile === undefined ? undefined : (readFileSync(options.tokenFile, 'utf8').split('\n')[0] ?? '').trim();
  return new GatewayClient(parseGatewayUrl(options.gateway), options.timeout, token === '' ? undefined : token);
}
