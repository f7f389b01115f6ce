/**
 * A listener that could not bind: the user's to fix (the port is taken, the address is not on this
 * machine), so it is told in one line that names the listener and the address, without a stack.
 */
export class ListenError extends Error {
  constructor(
    /** What was to listen: `ADS`, `the monitoring server`. */
    readonly listener: string,
    readonly address: string,
    cause: unknown,
  ) {
    super(`cannot listen for ${listener} on ${address}: ${listenFailureReason(cause)}`, { cause });
    this.name = 'ListenError';
  }
}

/**
 * The reason of a failed listen, from Node's error or grpc-js's (which wraps Node's in its message:
 * `No address added out of total 1 resolved errors: [listen EADDRINUSE: ...]`).
 */
export function listenFailureReason(error: unknown): string {
  const text = error instanceof Error ? `${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}` : String(error);
  if (text.includes('EADDRINUSE')) return 'address already in use (another process listens there: stop it, or choose another address)';
  if (text.includes('EADDRNOTAVAIL')) return 'address not available (it is not an address of this machine)';
  if (text.includes('EACCES')) return 'permission denied (ports below 1024 need privileges)';
  return error instanceof Error ? error.message : String(error);
}

/** The first `ListenError` in `error`'s cause chain. */
export function findListenError(error: unknown): ListenError | undefined {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 10; current = current.cause, depth++) {
    if (current instanceof ListenError) return current;
  }
  return undefined;
}
