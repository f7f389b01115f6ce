/** What went wrong talking to Kubernetes, for callers that branch on it. */
export type KubernetesErrorCode =
  /** The options contradict each other or name something unusable. */
  | 'invalid-options'
  /** No kubeconfig or in-cluster configuration could be loaded. */
  | 'config'
  /** Discovery failed (the API server was unreachable or refused the request). */
  | 'discovery'
  /** A watched kind is not served in any supported version (the CRD is missing or too old). */
  | 'kind-not-served';

/** The error class of the Kubernetes source and lease elector; `cause` keeps the underlying error. */
export class KubernetesError extends Error {
  constructor(
    readonly code: KubernetesErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KubernetesError';
  }
}

/** A one-line description of an error from the client or the network, with the HTTP status when there is one. */
export function describeKubernetesError(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown; body?: unknown; cause?: unknown };
  const status = typeof e.statusCode === 'number' ? e.statusCode : typeof e.code === 'number' ? e.code : undefined;
  const reason = statusMessage(e.body);
  const message = reason ?? (typeof e.message === 'string' && e.message !== '' ? firstLine(e.message) : String(err));
  const cause = e.cause instanceof Error && e.cause.message !== '' ? ` (${firstLine(e.cause.message)})` : '';
  return status === undefined ? `${message}${cause}` : `HTTP ${status}: ${message}${cause}`;
}

/** The message of a metav1.Status body, which the client keeps as the exception body (a string or parsed). */
function statusMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string') {
    return (parsed as { message: string }).message;
  }
  return undefined;
}

function firstLine(text: string): string {
  const newline = text.indexOf('\n');
  return newline < 0 ? text : text.slice(0, newline);
}
