/**
 * Who may read which proxy's debug information over ADS (the `istio.io/debug/*` types and the generic
 * `istio.io/debug` type of `istioctl x internal-debug`), as istiod decides it:
 *
 * - a caller with a verified identity (a client certificate on the mTLS port) in the system namespace,
 *   or in one of the allowed namespaces, sees everything;
 * - a caller with a verified identity in another namespace sees only proxies of its own namespace,
 *   and of the generic debug endpoints only `config_dump`, `ndsz` and `edsz`
 *   (`pilot/pkg/xds/debuggen.go` `activeNamespaceDebuggers`, `statusgen.go` `callerNamespaceFilter`);
 * - a caller without one is refused with UNAUTHENTICATED "authentication required" (`statusgen.go`
 *   `handleInternalRequest`), except on the loopback interface, which istiod trusts for its HTTP debug
 *   endpoints (`debug.go` `allowAuthenticatedOrLocalhost`) and Skiff trusts on ADS too, so
 *   `istioctl --xds-address 127.0.0.1:15010 --plaintext` keeps working on the host or through a
 *   port-forward.
 */
import { AdsRefusalError, GrpcStatus, isLoopbackPeer, parseSpiffeIdentity, type AdsSessionInfo } from '@skiff/ads-server';

/** istiod's default system namespace (`constants.IstioSystemNamespace`). */
export const DEFAULT_SYSTEM_NAMESPACE = 'istio-system';

/** Generic debug endpoints a caller outside the system namespace may use, for its own namespace's proxies. */
export const NAMESPACE_DEBUG_ENDPOINTS: ReadonlySet<string> = new Set(['config_dump', 'ndsz', 'edsz']);

export interface DebugAuthPolicy {
  /** Enforce the rules (istiod's `ENABLE_DEBUG_ENDPOINT_AUTH`); false lets every caller see everything. */
  readonly enabled: boolean;
  /** Callers with an identity here see everything (istiod: the mesh root namespace, `istio-system`). */
  readonly systemNamespace: string;
  /** More namespaces whose callers see everything (istiod's `DEBUG_ENDPOINT_AUTH_ALLOWED_NAMESPACES`). */
  readonly allowedNamespaces: readonly string[];
  /** A caller on the loopback interface without an identity sees everything. */
  readonly trustLoopback: boolean;
}

export const DEFAULT_DEBUG_AUTH_POLICY: DebugAuthPolicy = Object.freeze({
  enabled: true,
  systemNamespace: DEFAULT_SYSTEM_NAMESPACE,
  allowedNamespaces: Object.freeze([]) as readonly string[],
  trustLoopback: true,
});

/** Who asks: from the stream's verified identities and its peer address. */
export type DebugCaller =
  | { readonly kind: 'identity'; readonly identity: string; readonly namespace: string }
  | { readonly kind: 'loopback' }
  | { readonly kind: 'anonymous'; readonly peer: string };

/** The caller of an ADS stream: its first SPIFFE identity (istiod's `extractNamespace`), else its address. */
export function debugCallerOf(session: Pick<AdsSessionInfo, 'identities' | 'peer'>): DebugCaller {
  for (const identity of session.identities) {
    const parsed = parseSpiffeIdentity(identity);
    if (parsed !== undefined) return { kind: 'identity', identity, namespace: parsed.namespace };
  }
  return isLoopbackPeer(session.peer) ? { kind: 'loopback' } : { kind: 'anonymous', peer: session.peer };
}

/** What a caller may see: everything, or one namespace's proxies. */
export type DebugScope = { readonly kind: 'all' } | { readonly kind: 'namespace'; readonly namespace: string };

export type DebugDecision =
  | { readonly allowed: true; readonly scope: DebugScope }
  | { readonly allowed: false; readonly error: AdsRefusalError };

export class DebugAuthorizer {
  readonly policy: DebugAuthPolicy;

  constructor(policy: Partial<DebugAuthPolicy> = {}) {
    this.policy = { ...DEFAULT_DEBUG_AUTH_POLICY, ...policy };
  }

  /** The caller's scope, or the refusal for a caller without an identity (istiod's `callerNamespaceFilter`). */
  scopeOf(caller: DebugCaller): DebugScope | AdsRefusalError {
    if (!this.policy.enabled) return { kind: 'all' };
    switch (caller.kind) {
      case 'loopback':
        return this.policy.trustLoopback ? { kind: 'all' } : unauthenticated();
      case 'anonymous':
        return unauthenticated();
      case 'identity':
        if (caller.namespace === this.policy.systemNamespace || this.policy.allowedNamespaces.includes(caller.namespace)) return { kind: 'all' };
        return { kind: 'namespace', namespace: caller.namespace };
    }
  }

  /**
   * May `caller` use the debug `endpoint` (`syncz`, `config_dump`, ... without `/debug/`), about a
   * proxy in `proxyNamespace` when the endpoint is about one proxy? For the ADS debug types and the
   * generic `istio.io/debug` type; a refusal carries the gRPC status to end the stream with.
   */
  authorizeDebugRequest(caller: DebugCaller, request: { readonly endpoint: string; readonly proxyNamespace?: string | undefined }): DebugDecision {
    const scope = this.scopeOf(caller);
    if (scope instanceof AdsRefusalError) return { allowed: false, error: scope };
    if (scope.kind === 'all') return { allowed: true, scope };
    if (!NAMESPACE_DEBUG_ENDPOINTS.has(request.endpoint)) {
      return { allowed: false, error: new AdsRefusalError(GrpcStatus.PERMISSION_DENIED, `the debug info is not available for current identity: "${describe(caller)}"`, 'debug_permission') };
    }
    if (request.proxyNamespace !== undefined && request.proxyNamespace !== scope.namespace) {
      return { allowed: false, error: new AdsRefusalError(GrpcStatus.PERMISSION_DENIED, `the debug info of a proxy in namespace ${request.proxyNamespace} is not available for current identity: "${describe(caller)}"`, 'debug_permission') };
    }
    return { allowed: true, scope };
  }
}

function unauthenticated(): AdsRefusalError {
  return new AdsRefusalError(GrpcStatus.UNAUTHENTICATED, 'authentication required', 'debug_unauthenticated');
}

function describe(caller: DebugCaller): string {
  return caller.kind === 'identity' ? caller.identity : caller.kind;
}
