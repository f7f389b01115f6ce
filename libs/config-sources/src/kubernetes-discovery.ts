/**
 * Which version of networking.istio.io to watch, per kind.
 *
 * Istio's CRDs serve ServiceEntry and WorkloadEntry as v1, v1beta1 and v1alpha3 with the same schema
 * (manifests/charts/base/files/crd-all.gen.yaml); istiod watches v1 and treats the others as aliases
 * (pkg/config/schema/collections/collections.gen.go, `VersionAliases`). Older installations do not
 * serve v1 yet, so the source asks discovery which versions are served, the way kubectl's RESTMapper
 * does, and takes the most stable one that serves the kind.
 */
import { ApisApi, CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig, V1APIResource } from '@kubernetes/client-node';
import { KubernetesError, describeKubernetesError } from './kubernetes-error.js';

export const ISTIO_NETWORKING_GROUP = 'networking.istio.io';
/** Most preferred first. */
export const ISTIO_VERSION_PREFERENCE: readonly string[] = ['v1', 'v1beta1', 'v1alpha3'];

/** A kind as the API server serves it: where to list and watch it. */
export interface ServedKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** The URL segment (`serviceentries`). */
  readonly plural: string;
  readonly namespaced: boolean;
}

/** What discovery says about one group version: its top-level resources (no subresources). */
export type ResourcesByVersion = ReadonlyMap<string, readonly Pick<V1APIResource, 'kind' | 'name' | 'namespaced'>[]>;

/** Picks, for one kind, the first version in `preference` that serves it. Pure, for tests. */
export function chooseServedKind(
  group: string,
  kind: string,
  resourcesByVersion: ResourcesByVersion,
  preference: readonly string[] = ISTIO_VERSION_PREFERENCE,
): ServedKind | undefined {
  for (const version of preference) {
    const resource = resourcesByVersion.get(version)?.find((r) => r.kind === kind && !r.name.includes('/'));
    if (resource !== undefined) {
      return { group, version, kind, plural: resource.name, namespaced: resource.namespaced };
    }
  }
  return undefined;
}

/**
 * Asks the API server which versions of `group` it serves and what each serves, then picks a version
 * per kind. Fails with `kind-not-served` when a kind is served in none of the preferred versions.
 */
export async function discoverServedKinds(
  config: KubeConfig,
  group: string,
  kinds: readonly string[],
  preference: readonly string[] = ISTIO_VERSION_PREFERENCE,
): Promise<Map<string, ServedKind>> {
  let servedVersions: Set<string>;
  const resourcesByVersion = new Map<string, readonly V1APIResource[]>();
  try {
    const groups = await config.makeApiClient(ApisApi).getAPIVersions();
    const apiGroup = groups.groups.find((g) => g.name === group);
    servedVersions = new Set(apiGroup?.versions.map((v) => v.version) ?? []);
    const custom = config.makeApiClient(CustomObjectsApi);
    for (const version of preference) {
      if (!servedVersions.has(version)) continue;
      const list = await custom.getAPIResources({ group, version });
      resourcesByVersion.set(version, list.resources);
    }
  } catch (err) {
    throw new KubernetesError('discovery', `discovery of ${group} failed: ${describeKubernetesError(err)}`, { cause: err });
  }
  const chosen = new Map<string, ServedKind>();
  const missing: string[] = [];
  for (const kind of kinds) {
    const served = chooseServedKind(group, kind, resourcesByVersion, preference);
    if (served === undefined) missing.push(kind);
    else chosen.set(kind, served);
  }
  if (missing.length > 0) {
    const versions = servedVersions.size === 0 ? 'no version of the group is served' : `served versions: ${[...servedVersions].join(', ')}`;
    throw new KubernetesError(
      'kind-not-served',
      `${missing.join(', ')} not served by ${group} in ${preference.join(', ')} (${versions}); are Istio's CRDs installed?`,
    );
  }
  return chosen;
}
