/**
 * Which workloads a ServiceEntry's `workloadSelector` selects: the one rule shared by the selector
 * index, its brute-force test oracle, translation tests and `skiffctl`.
 *
 * Mirrors istiod 1.30 (`pilot/pkg/serviceregistry/serviceentry/conversion.go` `services()`):
 * - only workloads in the ServiceEntry's own namespace;
 * - the workload's labels are a superset of the selector labels (an empty selector selects all);
 * - unhealthy WorkloadEntries are not workloads at all (docs/istio-behaviour.md#health);
 * - a WorkloadEntry whose address is not an IP (an FQDN or `unix://`) is `DNSServiceEntryOnly`: only
 *   DNS and DNS_ROUND_ROBIN ServiceEntries may select it.
 */
import { isIP } from './net.js';
import type { NormalizedEndpoint, NormalizedServiceEntry, Resolution } from './normalized.js';

/** True when every selector label is present on the workload with the same value. */
export function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const key in selector) {
    if (labels[key] !== selector[key]) return false;
  }
  return true;
}

/** A workload whose address is a hostname or a unix socket can only back DNS-resolved ServiceEntries. */
export function isDnsServiceEntryOnly(endpoint: Pick<NormalizedEndpoint, 'address'>): boolean {
  return endpoint.address !== '' && !isIP(endpoint.address);
}

/** DNS and DNS_ROUND_ROBIN ServiceEntries resolve hostnames; only they may select DNS-only workloads. */
export function acceptsDnsOnlyWorkloads(resolution: Resolution): boolean {
  return resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN';
}

/** Whether `serviceEntry`'s workloadSelector selects the WorkloadEntry `endpoint`. */
export function selectsWorkload(
  serviceEntry: Pick<NormalizedServiceEntry, 'namespace' | 'resolution' | 'workloadSelector'>,
  endpoint: Pick<NormalizedEndpoint, 'namespace' | 'labels' | 'address' | 'healthy'>,
): boolean {
  if (serviceEntry.workloadSelector === null) return false;
  if (serviceEntry.namespace !== endpoint.namespace) return false;
  if (!endpoint.healthy) return false;
  if (isDnsServiceEntryOnly(endpoint) && !acceptsDnsOnlyWorkloads(serviceEntry.resolution)) return false;
  return labelsMatch(serviceEntry.workloadSelector, endpoint.labels);
}
