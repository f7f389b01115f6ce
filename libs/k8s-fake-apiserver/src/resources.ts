/**
 * The resource types a fake API server serves, and the discovery documents the real API server builds
 * from them (`/apis`, `/apis/<group>`, `/apis/<group>/<version>`).
 *
 * Discovery shapes follow k8s.io/apimachinery/pkg/apis/meta/v1/types.go (APIGroupList, APIGroup,
 * APIResourceList); version ordering follows apimachinery/pkg/version/helpers.go
 * (CompareKubeAwareVersionStrings), which the API server uses to order a CRD's versions and pick the
 * group's preferred version.
 */

/** One served resource type, for example ServiceEntry in networking.istio.io. */
export interface FakeResource {
  /** API group, e.g. `networking.istio.io`. The core group ("") is not served by the fake. */
  readonly group: string;
  /** Kind, e.g. `ServiceEntry`. Unique across the resources of one server. */
  readonly kind: string;
  /** URL segment, e.g. `serviceentries`. */
  readonly plural: string;
  readonly singular: string;
  /** Namespaced resources live under `/namespaces/<ns>/`; cluster-scoped ones do not. */
  readonly namespaced: boolean;
  /** The versions served (a CRD version with `served: false` is absent from discovery and 404s). */
  readonly versions: readonly string[];
  readonly shortNames: readonly string[];
}

export interface FakeResourceInit {
  readonly group: string;
  readonly kind: string;
  readonly versions: readonly string[];
  /** Defaults to the lower-cased kind made plural (`ServiceEntry` -> `serviceentries`). */
  readonly plural?: string;
  /** Defaults to true. */
  readonly namespaced?: boolean;
  readonly shortNames?: readonly string[];
}

/** Builds a resource definition; the plural defaults to the usual English rule CRD authors follow. */
export function defineResource(init: FakeResourceInit): FakeResource {
  if (init.versions.length === 0) {
    throw new Error(`resource ${init.kind}: at least one served version is required`);
  }
  const singular = init.kind.toLowerCase();
  return {
    group: init.group,
    kind: init.kind,
    plural: init.plural ?? pluralize(singular),
    singular,
    namespaced: init.namespaced ?? true,
    versions: [...init.versions].sort(compareKubeVersions),
    shortNames: init.shortNames ?? [],
  };
}

function pluralize(singular: string): string {
  if (/[^aeiou]y$/.test(singular)) return `${singular.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(singular)) return `${singular}es`;
  return `${singular}s`;
}

export const ISTIO_NETWORKING_GROUP = 'networking.istio.io';
/** The versions Istio's CRDs serve for the networking kinds Skiff reads (manifests/charts/base/files/crd-all.gen.yaml). */
export const ISTIO_NETWORKING_VERSIONS: readonly string[] = ['v1', 'v1beta1', 'v1alpha3'];

/** ServiceEntry, WorkloadEntry, DestinationRule, Sidecar, Gateway and VirtualService, served in the given versions (all three by default). */
export function istioNetworkingResources(versions: readonly string[] = ISTIO_NETWORKING_VERSIONS): FakeResource[] {
  return [
    defineResource({ group: ISTIO_NETWORKING_GROUP, kind: 'ServiceEntry', versions, shortNames: ['se'] }),
    defineResource({ group: ISTIO_NETWORKING_GROUP, kind: 'WorkloadEntry', versions, shortNames: ['we'] }),
    defineResource({ group: ISTIO_NETWORKING_GROUP, kind: 'DestinationRule', versions, shortNames: ['dr'] }),
    defineResource({ group: ISTIO_NETWORKING_GROUP, kind: 'Sidecar', versions }),
    defineResource({ group: ISTIO_NETWORKING_GROUP, kind: 'Gateway', versions, shortNames: ['gw'] }),
    defineResource({ group: ISTIO_NETWORKING_GROUP, kind: 'VirtualService', versions, shortNames: ['vs'] }),
  ];
}

/** coordination.k8s.io/v1 Lease, the object leader election is built on. */
export const LEASE_RESOURCE: FakeResource = defineResource({
  group: 'coordination.k8s.io',
  kind: 'Lease',
  versions: ['v1'],
});

/**
 * Orders versions the way the API server does: GA before beta before alpha, higher numbers first
 * within each; strings that are not Kubernetes versions come last, alphabetically.
 */
export function compareKubeVersions(a: string, b: string): number {
  const pa = parseKubeVersion(a);
  const pb = parseKubeVersion(b);
  if (pa === undefined && pb === undefined) return a < b ? -1 : a > b ? 1 : 0;
  if (pa === undefined) return 1;
  if (pb === undefined) return -1;
  if (pa.stability !== pb.stability) return pb.stability - pa.stability;
  if (pa.major !== pb.major) return pb.major - pa.major;
  return pb.minor - pa.minor;
}

const STABILITY = { alpha: 0, beta: 1, ga: 2 } as const;

function parseKubeVersion(version: string): { major: number; stability: number; minor: number } | undefined {
  const match = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(version);
  if (match === null) return undefined;
  const level = (match[2] ?? 'ga') as keyof typeof STABILITY;
  return { major: Number(match[1]), stability: STABILITY[level], minor: match[3] === undefined ? 0 : Number(match[3]) };
}

interface GroupVersionForDiscovery {
  readonly groupVersion: string;
  readonly version: string;
}

/** The APIGroup document for one group: its served versions, preferred (highest priority) first. */
export function buildApiGroup(group: string, resources: readonly FakeResource[]): Record<string, unknown> | undefined {
  const versions = servedVersions(group, resources);
  const preferred = versions[0];
  if (preferred === undefined) return undefined;
  return { name: group, versions, preferredVersion: preferred };
}

function servedVersions(group: string, resources: readonly FakeResource[]): GroupVersionForDiscovery[] {
  const versions = new Set<string>();
  for (const resource of resources) {
    if (resource.group === group) for (const version of resource.versions) versions.add(version);
  }
  return [...versions].sort(compareKubeVersions).map((version) => ({ groupVersion: `${group}/${version}`, version }));
}

/** `GET /apis`: every group with at least one served version. */
export function buildApiGroupList(resources: readonly FakeResource[]): Record<string, unknown> {
  const groups = [...new Set(resources.map((r) => r.group))].sort();
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((group) => buildApiGroup(group, resources)).filter((g) => g !== undefined),
  };
}

/** The verbs a custom resource supports in discovery (apiextensions-apiserver's default set). */
const RESOURCE_VERBS = ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];

/** `GET /apis/<group>/<version>`: the resources served in that version, or undefined when none is. */
export function buildApiResourceList(
  group: string,
  version: string,
  resources: readonly FakeResource[],
): Record<string, unknown> | undefined {
  const served = resources.filter((r) => r.group === group && r.versions.includes(version));
  if (served.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${group}/${version}`,
    resources: served.map((r) => ({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: RESOURCE_VERBS,
      ...(r.shortNames.length > 0 ? { shortNames: r.shortNames } : {}),
    })),
  };
}
