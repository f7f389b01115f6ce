/**
 * Locality load balancing per proxy: the endpoint side of `localityLbSetting`, which istiod applies
 * to every ClusterLoadAssignment it builds for one proxy (`pilot/pkg/xds/endpoints/endpoint_builder.go`
 * `BuildClusterLoadAssignment`, then `pilot/pkg/networking/core/loadbalancer/loadbalancer.go`
 * `ApplyLocalityLoadBalancer` and its helpers `applyLocalityWeights`, `applyLocalityFailover`,
 * `applyFailoverPriorities`, `applyFailoverPriorityPerLocality`).
 *
 * The translator builds one assignment for every proxy and, when the cluster's effective setting can
 * make it depend on the proxy, a `LocalityLbPolicy` beside it: the setting, whether outlier detection
 * is on (failover needs it), and for `failoverPriority` the endpoints' values of the priority labels.
 * The gateway applies the policy per proxy locality and labels (`applyLocalityLbPolicy`), caching one
 * result per `localityVariantKey`, so proxies that share a locality share the bytes.
 *
 * Pure: no I/O; the input assignment is never modified.
 */
import { clone, create } from '@bufbuild/protobuf';
import type { Cluster } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { LocalityLbEndpointsSchema, type LocalityLbEndpoints } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_components_pb.js';
import { deferredLbEndpoints } from './deferred-endpoints.js';
import { field, type LocalityLbSettingJson, type TrafficPolicyJson, type ZoneAwareLbSettingJson } from './destination-rule.js';
import type { ServiceInstance } from './instances.js';

/** The type URL the translator stores a cluster's policy under, beside its assignment (never sent to proxies). */
export const LOCALITY_LB_POLICY_TYPE_URL = 'type.skiff.dev/skiff.LocalityLbPolicy';

/**
 * The type URL of the policy of a DNS cluster's inline endpoints, stored beside the cluster under its
 * name (never sent to proxies). Apart from `LOCALITY_LB_POLICY_TYPE_URL` because an EDS cluster and
 * its assignment share a name.
 */
export const INLINE_LOCALITY_LB_POLICY_TYPE_URL = 'type.skiff.dev/skiff.InlineLocalityLbPolicy';

/** Topology labels istiod adds to endpoint and proxy labels (`pilot/pkg/serviceregistry/util/label/label.go`). */
export const TOPOLOGY_REGION_LABEL = 'topology.kubernetes.io/region';
export const TOPOLOGY_ZONE_LABEL = 'topology.kubernetes.io/zone';
export const TOPOLOGY_SUBZONE_LABEL = 'topology.istio.io/subzone';
export const TOPOLOGY_CLUSTER_LABEL = 'topology.istio.io/cluster';
export const TOPOLOGY_NETWORK_LABEL = 'topology.istio.io/network';
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

const UINT32 = 0x1_0000_0000;

/** A proxy's locality (`node.locality`, or istiod's topology labels); empty strings when unset. */
export interface ProxyLocality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

/** What of the proxy a policy reads: its locality, and its labels with istiod's topology labels added. */
export interface LocalityProxy {
  readonly locality: ProxyLocality;
  /** `proxy.Labels` after `AugmentLabels` (see `augmentProxyLabels`). */
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * A cluster's locality load balancing as the gateway applies it. Only built when the result can
 * depend on the proxy: a `distribute` setting, or outlier detection (istiod fails over only then).
 */
export interface LocalityLbPolicy {
  /**
   * A rule's `zoneAwareLbSetting` (`ZoneAwareLBSettings.ApplyToLoadAssignment`): `failoverPriority`
   * splits localities by the proxy's labels, then endpoints are bucketed by region (the proxy's,
   * the `failover` one, the rest) whatever outlier detection says; `distribute` never applies.
   */
  readonly zoneAware?: true;
  /** The effective setting's `distribute`; when set, nothing else applies. */
  readonly distribute?: readonly { readonly from: string; readonly to: readonly (readonly [string, number])[] }[];
  /** Explicit region failover (`from` region -> `to` region). */
  readonly failover?: readonly { readonly from: string; readonly to: string }[];
  /** `failoverPriority` labels (`label` or `label=value`). */
  readonly failoverPriority?: readonly string[];
  /**
   * With `failoverPriority`: per locality of the assignment, per endpoint, the endpoint's value of
   * each priority label (`''` when it has none), in the order of `failoverPriority`. Empty where
   * istiod has no endpoints to match the labels of (DNS subset clusters): the split does nothing then.
   */
  readonly endpointLabels?: readonly (readonly (readonly string[])[])[];
}

/** The mesh-wide settings a cluster falls back to (MeshConfig `localityLbSetting`, `zoneAwareLbSetting`). */
export interface MeshLbSettings {
  readonly localityLbSetting: LocalityLbSettingJson | undefined;
  readonly zoneAwareLbSetting: ZoneAwareLbSettingJson | undefined;
}

/** The setting that decides a cluster's locality load balancing: a zone-aware one or a locality one. */
export type EffectiveLbSetting = { readonly zoneAware: ZoneAwareLbSettingJson } | { readonly locality: LocalityLbSettingJson };

/**
 * `GetEffectiveLbSetting`: the rule's `zoneAwareLbSetting`, else the rule's `localityLbSetting`
 * (none at all when it says `enabled: false`), else the mesh's `zoneAwareLbSetting` (even a disabled
 * one, which still turns Envoy's own zone-aware routing off), else the mesh's `localityLbSetting`
 * (none when disabled). ServiceEntries carry no traffic distribution, the level istiod reads between
 * the rule and the mesh.
 */
export function effectiveLbSetting(mesh: MeshLbSettings, balancer: TrafficPolicyJson['loadBalancer'] | undefined): EffectiveLbSetting | undefined {
  const ruleZoneAware = field(balancer?.zoneAwareLbSetting);
  if (ruleZoneAware !== undefined) return { zoneAware: ruleZoneAware };
  const ruleLocality = field(balancer?.localityLbSetting);
  if (ruleLocality !== undefined) return field(ruleLocality.enabled) === false ? undefined : { locality: ruleLocality };
  if (mesh.zoneAwareLbSetting !== undefined) return { zoneAware: mesh.zoneAwareLbSetting };
  if (mesh.localityLbSetting !== undefined) return field(mesh.localityLbSetting.enabled) === false ? undefined : { locality: mesh.localityLbSetting };
  return undefined;
}

/** A repeated field of the setting as istiod's proto sees it: an empty list is unset. */
function nonEmpty<T>(list: readonly T[] | null | undefined): readonly T[] | undefined {
  return Array.isArray(list) && list.length > 0 ? list : undefined;
}

/**
 * The policy of one EDS cluster, or undefined when istiod's result is the same for every proxy (no
 * effective setting, or neither `distribute` nor outlier detection: `ApplyLocalityLoadBalancer`
 * changes nothing then). `policy` is the cluster's resolved traffic policy (port level and subset
 * merged, as `getOutlierDetectionAndLoadBalancerSettings` reads it); `endpoints` the assignment's
 * localities as built, still holding their instances (for `failoverPriority`).
 */
export function localityLbPolicyOf(args: {
  readonly mesh: MeshLbSettings;
  readonly policy: TrafficPolicyJson | undefined;
  readonly endpoints: readonly LocalityLbEndpoints[];
  readonly clusterId: string;
}): LocalityLbPolicy | undefined {
  if (args.endpoints.length === 0) return undefined;
  const effective = effectiveLbSetting(args.mesh, field(args.policy?.loadBalancer));
  if (effective === undefined) return undefined;
  if ('zoneAware' in effective) {
    const { zoneAware } = effective;
    // `ZoneAwareLBSettings.ApplyToLoadAssignment`: nothing changes when routing is turned off; otherwise
    // failover is forced (`ForceFailover`), so outlier detection does not matter.
    if (field(zoneAware.enabled) === false) return undefined;
    const failover = failoverRules(zoneAware.failover);
    const failoverPriority = nonEmpty(field(zoneAware.failoverPriority))?.map(String);
    return {
      zoneAware: true,
      ...(failover === undefined ? {} : { failover }),
      ...(failoverPriority === undefined ? {} : { failoverPriority, endpointLabels: endpointLabelsOf(args.endpoints, failoverPriority, args.clusterId) }),
    };
  }
  const setting = effective.locality;
  const distribute = nonEmpty(field(setting.distribute));
  if (distribute !== undefined) {
    return {
      distribute: distribute.map((rule) => ({
        from: field(rule?.from) ?? '',
        // istiod walks `to` in Go map order, which is random; Skiff keeps the order the rule writes.
        to: Object.entries(field(rule?.to) ?? {}).map(([locality, weight]) => [locality, Number(weight) >>> 0] as const),
      })),
    };
  }
  if (field(args.policy?.outlierDetection) === undefined) return undefined;
  const failover = failoverRules(setting.failover);
  const failoverPriority = nonEmpty(field(setting.failoverPriority))?.map(String);
  if (failoverPriority === undefined) return failover === undefined ? {} : { failover };
  return { ...(failover === undefined ? {} : { failover }), failoverPriority, endpointLabels: endpointLabelsOf(args.endpoints, failoverPriority, args.clusterId) };
}

/** A setting's `failover` rules (`from` region -> `to` region), undefined when there are none. */
function failoverRules(rules: LocalityLbSettingJson['failover'] | null | undefined): LocalityLbPolicy['failover'] {
  return nonEmpty(field(rules))?.map((rule) => ({ from: field(rule?.from) ?? '', to: field(rule?.to) ?? '' }));
}

/** Per locality, per endpoint, the endpoint's value of each priority label (`''` when it has none). */
function endpointLabelsOf(endpoints: readonly LocalityLbEndpoints[], failoverPriority: readonly string[], clusterId: string): string[][][] {
  const keys = priorityLabelOverrides(failoverPriority).labels;
  return endpoints.map((group) => {
    const instances = deferredLbEndpoints(group)?.instances;
    if (instances === undefined) throw new Error('localityLbPolicyOf: the assignment\'s endpoints were built before its policy');
    return instances.map((instance) => {
      const labels = augmentEndpointLabels(instance, clusterId);
      return keys.map((key) => labels[key] ?? '');
    });
  });
}

/** `SplitLocalityLabel`: `region/zone/subzone`, missing parts empty, extra parts ignored. */
export function splitLocalityLabel(locality: string): ProxyLocality {
  const [region = '', zone = '', subZone = ''] = locality.split('/');
  return { region, zone, subZone };
}

/** `util.LocalityToString`. */
export function localityToString(locality: ProxyLocality): string {
  if (locality.zone === '') return locality.region;
  if (locality.subZone === '') return `${locality.region}/${locality.zone}`;
  return `${locality.region}/${locality.zone}/${locality.subZone}`;
}

/**
 * `AugmentLabels` for a ServiceEntry endpoint (`conversion.go` `convertWorkloadEntryToWorkloadInstance`):
 * the topology labels from its locality (each part only when set, replacing the workload's own), its
 * cluster, and its network unless a label already names one.
 */
export function augmentEndpointLabels(instance: Pick<ServiceInstance, 'labels' | 'locality' | 'network'>, clusterId: string): Record<string, string> {
  return augmentLabels(instance.labels, { clusterId, locality: instance.locality, nodeName: '', network: instance.network });
}

/** istiod's `AugmentLabels`. */
export function augmentLabels(
  labels: Readonly<Record<string, string>>,
  args: { readonly clusterId: string; readonly locality: string; readonly nodeName: string; readonly network: string },
): Record<string, string> {
  const out: Record<string, string> = { ...labels };
  const { region, zone, subZone } = splitLocalityLabel(args.locality);
  if (region !== '') out[TOPOLOGY_REGION_LABEL] = region;
  if (zone !== '') out[TOPOLOGY_ZONE_LABEL] = zone;
  if (subZone !== '') out[TOPOLOGY_SUBZONE_LABEL] = subZone;
  if (args.clusterId !== '') out[TOPOLOGY_CLUSTER_LABEL] = args.clusterId;
  if (args.nodeName !== '') out[HOSTNAME_LABEL] = args.nodeName;
  if (args.network !== '' && (out[TOPOLOGY_NETWORK_LABEL] ?? '') === '') out[TOPOLOGY_NETWORK_LABEL] = args.network;
  return out;
}

/**
 * The proxy as istiod sees it once connected (`pilot/pkg/xds/ads.go` `setTopologyLabels`,
 * `localityFromProxyLabels`): its locality from its topology labels if it has any, else from the
 * `istio-locality` label, else `node.locality`; its labels augmented with that locality, its
 * `CLUSTER_ID`, `NODE_NAME` and `NETWORK`.
 */
export function localityProxyOf(args: {
  readonly labels: Readonly<Record<string, string>>;
  readonly nodeLocality: ProxyLocality;
  readonly clusterId: string;
  readonly nodeName: string;
  readonly network: string;
}): LocalityProxy {
  const { labels } = args;
  let locality = args.nodeLocality;
  if (TOPOLOGY_REGION_LABEL in labels || TOPOLOGY_ZONE_LABEL in labels || TOPOLOGY_SUBZONE_LABEL in labels) {
    locality = { region: labels[TOPOLOGY_REGION_LABEL] ?? '', zone: labels[TOPOLOGY_ZONE_LABEL] ?? '', subZone: labels[TOPOLOGY_SUBZONE_LABEL] ?? '' };
  } else {
    // `GetLocalityLabel`: the `istio-locality` label, dots standing for slashes (`SanitizeLocalityLabel`).
    const label = labels['istio-locality'] ?? '';
    if (label !== '') locality = splitLocalityLabel(label.includes('/') ? label : label.replaceAll('.', '/'));
  }
  return { locality, labels: augmentLabels(labels, { clusterId: args.clusterId, locality: localityToString(locality), nodeName: args.nodeName, network: args.network }) };
}

/** `priorityLabelOverrides`: the label names in order, and the values `label=value` entries fix. */
function priorityLabelOverrides(priorities: readonly string[]): { labels: string[]; overrides: Map<string, string> } {
  const labels: string[] = [];
  const overrides = new Map<string, string>();
  for (const entry of priorities) {
    const parts = entry.split('=');
    labels.push(parts[0] ?? '');
    if (parts.length === 2) overrides.set(parts[0] ?? '', parts[1] ?? '');
  }
  return { labels, overrides };
}

/** Whether `applyFailoverPriorities` runs for this policy (it reads the proxy's labels then). */
export function usesFailoverPriority(policy: LocalityLbPolicy): boolean {
  return policy.distribute === undefined && policy.failoverPriority !== undefined && policy.failoverPriority.length > 0;
}

/**
 * What of the proxy the policy's result depends on, as a cache key: its locality, plus, for
 * `failoverPriority`, whether it has labels and its values of the priority labels no `label=value`
 * entry fixes. Two proxies with the same key get the same assignment.
 */
export function localityVariantKey(policy: LocalityLbPolicy, proxy: LocalityProxy): string {
  const { region, zone, subZone } = proxy.locality;
  // Zone-aware policies rank endpoints by region only (`applyZoneAwareRegionalFailover`).
  const parts = policy.zoneAware === true ? [region] : [region, zone, subZone];
  if (usesFailoverPriority(policy)) {
    const { labels, overrides } = priorityLabelOverrides(policy.failoverPriority ?? []);
    parts.push(Object.keys(proxy.labels).length === 0 ? '-' : '+');
    for (const label of labels) parts.push(overrides.has(label) ? '' : (proxy.labels[label] ?? ''));
  }
  return JSON.stringify(parts);
}

/** `util.LocalityMatch`: a rule's `region/zone/subzone` (with `*`) against a locality. */
export function localityMatch(locality: ProxyLocality | undefined, rule: string): boolean {
  const { region, zone, subZone } = splitLocalityLabel(rule);
  return (
    (region === '*' || (locality?.region ?? '') === region) &&
    (zone === '*' || zone === '' || (locality?.zone ?? '') === zone) &&
    (subZone === '*' || subZone === '' || (locality?.subZone ?? '') === subZone)
  );
}

/** `util.LbPriority`: 0 same subzone, 1 same zone, 2 same region, 3 elsewhere. */
function lbPriority(proxy: ProxyLocality, endpoints: ProxyLocality | undefined): number {
  if (proxy.region !== (endpoints?.region ?? '')) return 3;
  if (proxy.zone !== (endpoints?.zone ?? '')) return 2;
  return proxy.subZone === (endpoints?.subZone ?? '') ? 0 : 1;
}

/** `applyLocalityWeights`: the first `distribute` rule matching the proxy sets locality weights; unlisted localities lose their endpoints. */
function applyLocalityWeights(proxy: ProxyLocality, assignment: ClusterLoadAssignment, distribute: NonNullable<LocalityLbPolicy['distribute']>): void {
  const rule = distribute.find((candidate) => localityMatch(proxy, candidate.from));
  if (rule === undefined) return;
  const misMatched = new Set(assignment.endpoints.keys());
  for (const [locality, weight] of rule.to) {
    const original = new Map<number, number>();
    let totalWeight = 0;
    assignment.endpoints.forEach((group, index) => {
      if (!misMatched.has(index) || !localityMatch(group.locality, locality)) return;
      misMatched.delete(index);
      const value = group.loadBalancingWeight ?? 1;
      original.set(index, value);
      totalWeight = (totalWeight + value) % UINT32;
    });
    // A wildcard matching several localities shares the weight by their original weights (uint32 in Go).
    for (const [index, value] of original) {
      const destWeight = (Math.imul(value, weight) >>> 0) / totalWeight;
      if (destWeight > 0) assignment.endpoints[index]!.loadBalancingWeight = Math.ceil(destWeight) >>> 0;
    }
  }
  for (const index of misMatched) assignment.endpoints[index]!.lbEndpoints = [];
}

/** Renumbers priorities to 0..N without gaps, keeping their order (the tail of each `apply*` helper). */
function compactPriorities(groups: readonly LocalityLbEndpoints[]): void {
  const distinct = [...new Set(groups.map((group) => group.priority))].sort((a, b) => a - b);
  const rank = new Map(distinct.map((priority, index) => [priority, index]));
  for (const group of groups) group.priority = rank.get(group.priority) ?? group.priority;
}

/** `applyLocalityFailover`: priorities by region/zone/subzone distance, explicit `failover` regions before the rest, composed with earlier priorities. */
function applyLocalityFailover(proxy: ProxyLocality, assignment: ClusterLoadAssignment, failover: NonNullable<LocalityLbPolicy['failover']>): void {
  for (const group of assignment.endpoints) {
    let priority = lbPriority(proxy, group.locality);
    if (priority === 3) {
      const rule = failover.find((candidate) => candidate.from === proxy.region);
      if (rule !== undefined && (group.locality === undefined || group.locality.region !== rule.to)) priority = 4;
    }
    // At most five locality priorities (0-4): earlier ones (from failoverPriority) are kept by multiplying by 5.
    group.priority = (group.priority * 5 + priority) >>> 0;
  }
  compactPriorities(assignment.endpoints);
}

/**
 * `applyZoneAwareRegionalFailover`: the proxy's region first, then the `failover` region of the first
 * rule from the proxy's region, then the rest, composed with earlier priorities (three buckets, so
 * earlier ones are multiplied by 3). Zones within a region stay together for Envoy's zone-aware LB.
 */
function applyZoneAwareRegionalFailover(proxy: ProxyLocality, assignment: ClusterLoadAssignment, failover: NonNullable<LocalityLbPolicy['failover']>): void {
  const rule = failover.find((candidate) => candidate.from === proxy.region);
  for (const group of assignment.endpoints) {
    const region = group.locality?.region ?? '';
    const priority = region === proxy.region ? 0 : rule !== undefined && region === rule.to ? 1 : 2;
    group.priority = (group.priority * 3 + priority) >>> 0;
  }
  compactPriorities(assignment.endpoints);
}

/**
 * `applyFailoverPriorities` / `applyFailoverPriorityPerLocality`: each locality split by how many
 * leading priority labels its endpoints share with the proxy (a first `topology.istio.io/network`
 * label that differs only lowers the priority, it does not end the match).
 */
function applyFailoverPriorities(assignment: ClusterLoadAssignment, proxyLabels: Readonly<Record<string, string>>, policy: LocalityLbPolicy): void {
  const priorities = policy.failoverPriority ?? [];
  const endpointLabels = policy.endpointLabels ?? [];
  // No wrapped endpoints (a DNS subset cluster's, see `localityLbPolicyOf` callers): istiod changes nothing.
  if (Object.keys(proxyLabels).length === 0 || assignment.endpoints.length === 0 || endpointLabels.length === 0) return;
  const { labels, overrides } = priorityLabelOverrides(priorities);
  const lowest = priorities.length;
  const includesNetwork = lowest > 0 && priorities[0] === TOPOLOGY_NETWORK_LABEL;
  const split: LocalityLbEndpoints[] = [];
  assignment.endpoints.forEach((group, groupIndex) => {
    const values = endpointLabels[groupIndex] ?? [];
    const byPriority = new Map<number, number[]>();
    group.lbEndpoints.forEach((_, index) => {
      let priority = 0;
      let adjust = 0;
      for (let j = 0; j < labels.length; j++) {
        const label = labels[j]!;
        const forProxy = overrides.get(label) ?? proxyLabels[label] ?? '';
        if (forProxy === (values[index]?.[j] ?? '')) continue;
        if (j === 0 && includesNetwork) {
          adjust = lowest;
          continue;
        }
        priority = lowest - j;
        break;
      }
      priority += adjust;
      let members = byPriority.get(priority);
      if (members === undefined) byPriority.set(priority, (members = []));
      members.push(index);
    });
    for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
      // `CloneLocalityLbEndpoint`, then only this priority's endpoints and their summed weight (uint32 in Go).
      const members = byPriority.get(priority)!;
      split.push(
        create(LocalityLbEndpointsSchema, {
          ...(group.locality === undefined ? {} : { locality: group.locality }),
          ...(group.proximity === undefined ? {} : { proximity: group.proximity }),
          lbEndpoints: members.map((index) => group.lbEndpoints[index]!),
          priority,
          loadBalancingWeight: members.reduce((sum, index) => (sum + (group.lbEndpoints[index]!.loadBalancingWeight ?? 0)) % UINT32, 0),
        }),
      );
    }
  });
  compactPriorities(split);
  assignment.endpoints = split;
}

/**
 * `ApplyLocalityLoadBalancer` for one proxy: a new assignment with the policy's weights or
 * priorities relative to the proxy. `distribute` wins; otherwise (the policy exists only with outlier
 * detection) `failoverPriority` splits localities by the proxy's labels, and locality failover
 * applies unless `failoverPriority` is set without an explicit `failover`.
 */
export function applyLocalityLbPolicy(assignment: ClusterLoadAssignment, policy: LocalityLbPolicy, proxy: LocalityProxy): ClusterLoadAssignment {
  const out = clone(ClusterLoadAssignmentSchema, assignment);
  if (policy.zoneAware === true) {
    // `ApplyZoneAwareLoadBalancer`: region bucketing always applies, even without `failover` rules.
    if (usesFailoverPriority(policy)) applyFailoverPriorities(out, proxy.labels, policy);
    applyZoneAwareRegionalFailover(proxy.locality, out, policy.failover ?? []);
    return out;
  }
  if (policy.distribute !== undefined) {
    applyLocalityWeights(proxy.locality, out, policy.distribute);
    return out;
  }
  if (usesFailoverPriority(policy)) {
    applyFailoverPriorities(out, proxy.labels, policy);
    if (policy.failover !== undefined && policy.failover.length > 0) applyLocalityFailover(proxy.locality, out, policy.failover);
    return out;
  }
  applyLocalityFailover(proxy.locality, out, policy.failover ?? []);
  return out;
}

/**
 * `LocalityLBSettings.ApplyToCluster` / `ZoneAwareLBSettings.ApplyToCluster` on a STRICT_DNS or
 * LOGICAL_DNS cluster for one proxy: the same rewrite as an EDS assignment gets, on the cluster's
 * inline `load_assignment`. A new cluster; the input is never modified.
 */
export function applyLocalityLbPolicyToCluster(cluster: Cluster, policy: LocalityLbPolicy, proxy: LocalityProxy): Cluster {
  if (cluster.loadAssignment === undefined) return cluster;
  // A shallow copy: only the assignment differs, and that is a new message.
  return { ...cluster, loadAssignment: applyLocalityLbPolicy(cluster.loadAssignment, policy, proxy) };
}

/** The policy as stored beside its assignment (canonical JSON, UTF-8). */
export function encodeLocalityLbPolicy(policy: LocalityLbPolicy): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(policy));
}

/** Reads a stored policy; throws on bytes that are not one. */
export function decodeLocalityLbPolicy(bytes: Uint8Array): LocalityLbPolicy {
  const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('a locality load balancing policy must be a JSON object');
  const record = value as Record<string, unknown>;
  const list = (key: string): unknown[] | undefined => {
    const item = record[key];
    if (item === undefined) return undefined;
    if (!Array.isArray(item)) throw new Error(`locality load balancing policy: ${key} must be a list`);
    return item;
  };
  const zoneAware = record['zoneAware'];
  if (zoneAware !== undefined && zoneAware !== true) throw new Error('locality load balancing policy: zoneAware must be true when present');
  const distribute = list('distribute');
  const failover = list('failover');
  const failoverPriority = list('failoverPriority');
  const endpointLabels = list('endpointLabels');
  const text = (item: unknown, what: string): string => {
    if (typeof item !== 'string') throw new Error(`locality load balancing policy: ${what} must be a string`);
    return item;
  };
  return {
    ...(zoneAware === true ? { zoneAware } : {}),
    ...(distribute === undefined
      ? {}
      : {
          distribute: distribute.map((rule, i) => {
            const r = rule as { from?: unknown; to?: unknown };
            if (!Array.isArray(r.to)) throw new Error(`locality load balancing policy: distribute[${i}].to must be a list`);
            return {
              from: text(r.from, `distribute[${i}].from`),
              to: (r.to as unknown[]).map((pair, j) => {
                if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[1] !== 'number') throw new Error(`locality load balancing policy: distribute[${i}].to[${j}] must be [locality, weight]`);
                return [text(pair[0], `distribute[${i}].to[${j}]`), pair[1] >>> 0] as const;
              }),
            };
          }),
        }),
    ...(failover === undefined
      ? {}
      : { failover: failover.map((rule, i) => ({ from: text((rule as { from?: unknown }).from, `failover[${i}].from`), to: text((rule as { to?: unknown }).to, `failover[${i}].to`) })) }),
    ...(failoverPriority === undefined ? {} : { failoverPriority: failoverPriority.map((item, i) => text(item, `failoverPriority[${i}]`)) }),
    ...(endpointLabels === undefined
      ? {}
      : {
          endpointLabels: endpointLabels.map((group, i) => {
            if (!Array.isArray(group)) throw new Error(`locality load balancing policy: endpointLabels[${i}] must be a list`);
            return group.map((values, j) => {
              if (!Array.isArray(values)) throw new Error(`locality load balancing policy: endpointLabels[${i}][${j}] must be a list`);
              return values.map((item, k) => text(item, `endpointLabels[${i}][${j}][${k}]`));
            });
          }),
        }),
  };
}
