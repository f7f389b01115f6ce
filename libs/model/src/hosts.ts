/**
 * Istio's host name rules (`pkg/config/host/name.go`, `names.go`; `pilot/pkg/model/config.go`), shared by
 * the watcher (which DestinationRules a ServiceEntry's hash carries) and the translator (which rule a
 * proxy gets). A host is a FQDN or a wildcard `*.suffix` (`*` alone matches everything).
 */

/** `host.Name.IsWildCarded`. */
export function isWildcardHost(host: string): boolean {
  return host.startsWith('*');
}

/**
 * `host.Name.Matches`: whether the two hosts overlap. Symmetric: `*.example.com` matches
 * `a.example.com` and `*.a.example.com`; two FQDNs match only when equal.
 */
export function hostsMatch(a: string, b: string): boolean {
  const aWildcard = isWildcardHost(a);
  const bWildcard = isWildcardHost(b);
  if (aWildcard && bWildcard) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
  if (aWildcard) return b.endsWith(a.slice(1));
  if (bWildcard) return a.endsWith(b.slice(1));
  return a === b;
}

/**
 * `host.MoreSpecific`: non-wildcards before wildcards, then longer before shorter, then alphabetical.
 * Returns true when `a` sorts before `b`.
 */
export function isMoreSpecificHost(a: string, b: string): boolean {
  const aWildcard = isWildcardHost(a);
  const bWildcard = isWildcardHost(b);
  if (aWildcard !== bWildcard) return !aWildcard;
  if (a.length === b.length) return a < b;
  return a.length > b.length;
}

/**
 * `ResolveShortnameToFQDN`: a host without a dot (other than `*` or an IP) is a Kubernetes short name,
 * completed with the object's namespace and, when set, `svc.<domainSuffix>`. istiod's Kubernetes config
 * carries the cluster's domain suffix (`cluster.local`); config read from files carries none.
 */
export function resolveShortnameToFqdn(host: string, namespace: string, domainSuffix: string): string {
  if (host === '' || host === '*' || host.includes('.') || host.includes(':')) return host;
  let out = host;
  if (namespace !== '') out = `${out}.${namespace}`;
  if (domainSuffix !== '') out = `${out}.svc.${domainSuffix}`;
  return out;
}
