/**
 * Reads a gateway's istiod-style debug endpoints (`/debug/syncz`, `/debug/config_dump`) over HTTP.
 * Failures become one-line errors: an unreachable gateway, or the gateway's own text for a 4xx
 * (istiod's words, such as the "may be connected to another instance" hint).
 */

/** skiffctl's stable default: a gateway's monitoring port on this machine (a port-forward). */
export const DEFAULT_GATEWAY_URL = 'http://127.0.0.1:15014';

/** istioctl's `--timeout` default for its control-plane requests. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The gateway could not be asked: no connection, a timeout, or an answer that is not what it serves. */
export class GatewayUnreachableError extends Error {
  override readonly name = 'GatewayUnreachableError';
}

/** The gateway answered with an error status; `message` is its body's first line. */
export class GatewayHttpError extends Error {
  override readonly name = 'GatewayHttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Checks `--gateway`: an http or https URL, with no query or fragment. Returns it without a trailing slash. */
export function parseGatewayUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`--gateway must be an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    throw new Error(`--gateway must be an http:// or https:// URL without a query, got ${JSON.stringify(raw)}`);
  }
  return url.toString().replace(/\/+$/, '');
}

/** Why a fetch failed, in the words of the system call when there is one (`connect ECONNREFUSED 127.0.0.1:15014`). */
function reasonOf(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer in time';
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error && cause.message !== '') return cause.message;
  if (typeof cause === 'object' && cause !== null && 'code' in cause) return String(cause.code);
  return error instanceof Error ? error.message : String(error);
}

export class GatewayClient {
  constructor(
    /** The gateway's base URL, as `parseGatewayUrl` returns it. */
    readonly baseUrl: string,
    private readonly timeoutMs: number = DEFAULT_TIMEOUT_MS,
    /** Sent as `Authorization: Bearer`: gateways let only loopback callers in without one. */
    private readonly token?: string,
  ) {}

  /** GETs `path` with `query` and parses the JSON body. */
  async getJson(path: string, query: Readonly<Record<string, string>> = {}): Promise<unknown> {
    const url = new URL(`${this.baseUrl}${path}`);
    // istiod's flags are present-or-absent (`include_eds`): an empty value is sent as a bare name.
    const search = Object.entries(query).map(([name, value]) => (value === '' ? encodeURIComponent(name) : `${encodeURIComponent(name)}=${encodeURIComponent(value)}`));
    url.search = search.join('&');
    let response: Response;
    let text: string;
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
      response = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), headers });
      text = await response.text();
    } catch (error) {
      throw new GatewayUnreachableError(`cannot reach the gateway at ${this.baseUrl}: ${reasonOf(error)}`, { cause: error });
    }
    if (!response.ok) {
      const firstLine = text.trim().split('\n')[0] ?? '';
      if (response.status === 401) {
        throw new GatewayHttpError(401, `${firstLine || 'authentication required'}: the gateway's /debug needs --token-file with one of its tokens from another host (or a kubectl port-forward)`);
      }
      throw new GatewayHttpError(response.status, firstLine === '' ? `${path} answered ${response.status}` : firstLine);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new GatewayUnreachableError(`the gateway at ${this.baseUrl} answered ${path} with something other than JSON; is it a Skiff gateway's monitoring port?`);
    }
  }
}
