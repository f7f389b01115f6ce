/**
 * Port protocols as istiod reads them (`pkg/config/protocol/instance.go`): parsed ignoring case into one
 * canonical spelling, with the transport classes validation and translation ask about.
 */
import type { Protocol } from './normalized.js';

/** A protocol name istiod knows, in its canonical spelling. */
export type KnownProtocol = Exclude<Protocol, ''>;

const CANONICAL: ReadonlyMap<string, KnownProtocol> = new Map(
  (['TCP', 'UDP', 'GRPC', 'GRPC-Web', 'HTTP', 'HTTP_PROXY', 'HTTP2', 'HTTPS', 'TLS', 'Mongo', 'Redis', 'MySQL'] as const).map((name) => [
    name.toLowerCase(),
    name,
  ]),
);

/**
 * istiod `protocol.Parse`: the canonical spelling of `name` (any case), or `undefined` when istiod
 * would call it unsupported. The empty string (protocol sniffing) is not a protocol name: callers keep
 * it as `''`.
 */
export function parseProtocol(name: string): KnownProtocol | undefined {
  return CANONICAL.get(name.toLowerCase());
}

/** `Instance.IsHTTP`: protocols carried over HTTP. */
export function isHttpProtocol(protocol: Protocol | undefined): boolean {
  return protocol === 'HTTP' || protocol === 'HTTP2' || protocol === 'HTTP_PROXY' || protocol === 'GRPC' || protocol === 'GRPC-Web';
}

/** `Instance.IsTLS`: protocols on top of TLS. */
export function isTlsProtocol(protocol: Protocol | undefined): boolean {
  return protocol === 'HTTPS' || protocol === 'TLS';
}

/** `Instance.IsTCP`: protocols carried over plain TCP (HTTP variants are not counted). */
export function isTcpProtocol(protocol: Protocol | undefined): boolean {
  return protocol === 'TCP' || protocol === 'HTTPS' || protocol === 'TLS' || protocol === 'Mongo' || protocol === 'Redis' || protocol === 'MySQL';
}
