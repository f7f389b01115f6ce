/**
 * istioctl's DestinationRule analyzers, over what Skiff reads (`pkg/config/analysis/analyzers/destinationrule/`):
 * - `subset.go` `PodNotSelectedAnalyzer`: IST0174 UnknownDestinationRuleHost for a rule whose host no
 *   ServiceEntry visible to it defines (`util.GetDestinationHost`), IST0173 DestinationRuleSubsetNotSelectPods
 *   for a subset whose labels, merged over the ServiceEntry's workloadSelector, select no workload.
 *   istioctl matches pods; a Skiff mesh has WorkloadEntries and inline endpoints instead, so those are
 *   the workloads here (in any namespace, as istioctl matches pods in any namespace).
 * - `ca-certificates.go` `CaCertificateAnalyzer`: IST0128 / IST0129 for SIMPLE or MUTUAL TLS without
 *   `caCertificates` (unless a `credentialName` on a rule with a workloadSelector provides them).
 * Messages are istioctl's templates (`pkg/config/analysis/msg/messages.yaml`).
 */
import {
  labelsMatch,
  normalizeDestinationRule,
  resolveShortnameToFqdn,
  type DestinationRuleObject,
  type LoadResult,
  type NormalizedDestinationRule,
  type NormalizedServiceEntry,
} from '@skiff/model';

/** `util.ConvertHostToFQDN`: a short host becomes `<host>.<ns>.svc.cluster.local`. */
const fqdn = (namespace: string, host: string): string => (host.startsWith('*') ? host : resolveShortnameToFqdn(host, namespace, 'cluster.local'));

/** `util.InitServiceEntryHostMap`: ServiceEntries by `<scope>/<fqdn>`, scope `*` or the namespace they are exported to. */
function serviceEntryHostMap(serviceEntries: readonly NormalizedServiceEntry[]): Map<string, NormalizedServiceEntry> {
  const map = new Map<string, NormalizedServiceEntry>();
  for (const serviceEntry of serviceEntries) {
    for (const host of serviceEntry.hosts) {
      const scopes = serviceEntry.exportTo.length === 0 || serviceEntry.exportTo.includes('*') ? ['*'] : serviceEntry.exportTo.map((e) => (e === '.' ? serviceEntry.namespace : e));
      for (const scope of scopes) map.set(`${scope}/${fqdn(serviceEntry.namespace, host)}`, serviceEntry);
    }
  }
  return map;
}

/** `util.GetDestinationHost`: the ServiceEntry a rule in `namespace` with `exportTo` resolves `host` to. */
function destinationHost(namespace: string, exportTo: readonly string[], host: string, hosts: ReadonlyMap<string, NormalizedServiceEntry>): NormalizedServiceEntry | undefined {
  const name = fqdn(namespace, host);
  const everywhere = hosts.get(`*/${name}`);
  if (everywhere !== undefined) return everywhere;
  for (const scope of exportTo.length === 0 ? [namespace] : exportTo.map((e) => (e === '.' ? namespace : e))) {
    const found = hosts.get(`${scope}/${name}`);
    if (found !== undefined) return found;
  }
  const suffix = host.startsWith('*') ? host.slice(1) : host;
  for (const [key, serviceEntry] of hosts) {
    const slash = key.indexOf('/');
    const scope = key.slice(0, slash);
    const seHost = key.slice(slash + 1);
    if (!seHost.startsWith('*') || (scope !== '*' && scope !== namespace)) continue;
    if (suffix.endsWith(seHost.slice(1))) return serviceEntry;
  }
  return undefined;
}

export type DestinationRuleFinding =
  | { readonly type: 'UnknownDestinationRuleHost'; readonly rule: NormalizedDestinationRule; readonly message: string }
  | { readonly type: 'DestinationRuleSubsetNotSelectPods'; readonly rule: NormalizedDestinationRule; readonly message: string }
  | { readonly type: 'NoServerCertificateVerificationDestinationLevel'; readonly rule: NormalizedDestinationRule; readonly message: string }
  | { readonly type: 'NoServerCertificateVerificationPortLevel'; readonly rule: NormalizedDestinationRule; readonly message: string };

type Json = Record<string, unknown>;
const object = (value: unknown): Json | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** Whether client TLS settings verify nothing: SIMPLE or MUTUAL without CA certificates (`CaCertificateAnalyzer`). */
function unverifiedMode(tls: Json | undefined, rule: NormalizedDestinationRule): string | undefined {
  const mode = text(tls?.['mode']);
  if (mode !== 'SIMPLE' && mode !== 'MUTUAL') return undefined;
  if (text(tls?.['caCertificates']) !== '') return undefined;
  if (text(tls?.['credentialName']) !== '' && rule.workloadSelector !== null) return undefined;
  return mode;
}

/** Every DestinationRule finding of one loaded configuration, rule by rule in load order. */
export function analyzeDestinationRules(load: LoadResult): DestinationRuleFinding[] {
  const rules = load.accepted.filter((a) => a.kind === 'DestinationRule').map((a) => normalizeDestinationRule(a.object as DestinationRuleObject));
  const hosts = serviceEntryHostMap(load.serviceEntries.map((loaded) => loaded.serviceEntry));
  const workloadLabels = [
    ...load.workloadEntries.filter((loaded) => loaded.endpoint.healthy).map((loaded) => loaded.endpoint.labels),
    ...load.serviceEntries.flatMap((loaded) => loaded.inlineEndpoints.map((endpoint) => endpoint.labels)),
  ];
  const findings: DestinationRuleFinding[] = [];
  for (const rule of rules) {
    const serviceEntry = destinationHost(rule.namespace, rule.exportTo, rule.host, hosts);
    if (serviceEntry === undefined) {
      findings.push({ type: 'UnknownDestinationRuleHost', rule, message: `The host ${rule.host} defined in the DestinationRule does not match any services in the mesh.` });
    } else {
      for (const subset of rule.subsets) {
        const selector = { ...(serviceEntry.workloadSelector ?? {}), ...subset.labels };
        if (workloadLabels.some((labels) => labelsMatch(selector, labels))) continue;
        findings.push({
          type: 'DestinationRuleSubsetNotSelectPods',
          rule,
          message: `The Subset ${subset.name} defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).`,
        });
      }
    }
    const fullName = `${rule.namespace}/${rule.name}`;
    const destinationMode = unverifiedMode(object(rule.trafficPolicy?.['tls']), rule);
    if (destinationMode !== undefined) {
      findings.push({
        type: 'NoServerCertificateVerificationDestinationLevel',
        rule,
        message: `DestinationRule ${fullName} in namespace ${rule.namespace} has TLS mode set to ${destinationMode} but no caCertificates are set to validate server identity for host: ${rule.host}`,
      });
    }
    const ports = Array.isArray(rule.trafficPolicy?.['portLevelSettings']) ? (rule.trafficPolicy['portLevelSettings'] as unknown[]) : [];
    for (const setting of ports.map(object)) {
      const mode = unverifiedMode(object(setting?.['tls']), rule);
      if (mode === undefined) continue;
      const number = object(setting?.['port'])?.['number'];
      findings.push({
        type: 'NoServerCertificateVerificationPortLevel',
        rule,
        message: `DestinationRule ${fullName} in namespace ${rule.namespace} has TLS mode set to ${mode} but no caCertificates are set to validate server identity for host: ${rule.host} at port number:${typeof number === 'number' ? number : 0}`,
      });
    }
  }
  return findings;
}
