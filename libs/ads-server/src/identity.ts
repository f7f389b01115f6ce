/**
 * Who is on the other end of a stream: the SPIFFE identities in the URI SANs of a verified client
 * certificate, and istiod's rule binding them to what the node claims (`pilot/pkg/xds/auth.go`
 * `checkConnectionIdentity`, on with `PILOT_ENABLE_XDS_IDENTITY_CHECK`): some identity must be in
 * the node's namespace and, when the node names one, have its service account.
 */
import type { PeerCertificate } from 'node:tls';

/** `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>` (Istio `pkg/spiffe` `Identity`). */
export interface SpiffeIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const SPIFFE_PREFIX = 'spiffe://';

/** Parses an Istio SPIFFE identity; undefined for anything else (as `spiffe.ParseIdentity` errors). */
export function parseSpiffeIdentity(uri: string): SpiffeIdentity | undefined {
  if (!uri.startsWith(SPIFFE_PREFIX)) return undefined;
  const parts = uri.slice(SPIFFE_PREFIX.length).split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') return undefined;
  const [trustDomain, , namespace, , serviceAccount] = parts as [string, string, string, string, string];
  if (trustDomain === '' || namespace === '' || serviceAccount === '') return undefined;
  return { trustDomain, namespace, serviceAccount };
}

export function formatSpiffeIdentity(identity: SpiffeIdentity): string {
  return `${SPIFFE_PREFIX}${identity.trustDomain}/ns/${identity.namespace}/sa/${identity.serviceAccount}`;
}

/**
 * The URI SANs of a peer certificate (Node's `subjectaltname`: `URI:spiffe://..., DNS:host`). Only
 * call this for a certificate the TLS layer verified against the CA bundle.
 */
export function uriSansOf(certificate: PeerCertificate | undefined): string[] {
  const sans = certificate?.subjectaltname;
  if (sans === undefined || sans === '') return [];
  const uris: string[] = [];
  for (const entry of sans.split(', ')) {
    if (entry.startsWith('URI:')) uris.push(entry.slice('URI:'.length));
  }
  return uris;
}

/**
 * istiod's `checkConnectionIdentity`: the first identity in `namespace` (when the node has one) with
 * `serviceAccount` (when the node names one), or an error naming both sides.
 */
export function checkConnectionIdentity(
  identities: readonly string[],
  node: { readonly namespace: string; readonly serviceAccount: string },
): { readonly identity: SpiffeIdentity } | { readonly error: string } {
  for (const raw of identities) {
    const identity = parseSpiffeIdentity(raw);
    if (identity === undefined) continue;
    if (node.namespace !== '' && identity.namespace !== node.namespace) continue;
    if (node.serviceAccount !== '' && identity.serviceAccount !== node.serviceAccount) continue;
    return { identity };
  }
  return { error: `no identities (${identities.join(', ') || 'none'}) matched ${node.namespace}/${node.serviceAccount}` };
}
