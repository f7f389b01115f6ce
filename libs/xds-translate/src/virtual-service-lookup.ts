/**
 * Which VirtualServices may give a host its routes for a client, as istiod chooses them for a
 * sidecar (and so for a proxyless gRPC client):
 * - the VirtualServices bound to the mesh that the client's namespace sees, in istiod's order: those
 *   private to the namespace, then those exported to it, then the public ones, each group by creation
 *   time, name, namespace (`pilot/pkg/model/push_context.go` `initVirtualServices`,
 *   `VirtualServicesForGateway`; `sortMergedVirtualServicesByCreationTime`);
 * - of those, the ones naming the host exactly, in that order; without one, the VirtualService of the
 *   most specific wildcard host that covers it, the first to name that wildcard
 *   (`pilot/pkg/model/sidecar.go` `computeWildcardHostVirtualServiceIndex`,
 *   `pilot/pkg/networking/core/route/route.go` `separateVSHostsAndServices`).
 * The first of them with a route on the client's port claims the host (`route.ts`).
 *
 * Each candidate keeps the matches that apply to the client (`sourceMatchHTTP`: the `mesh` gateway,
 * or the source labels and namespace), with short destination hosts completed in the
 * VirtualService's namespace (`resolveVirtualServiceShortnames`).
 */
import { isWildcardHost, hostsMatch, resolveShortnameToFqdn, MESH_GATEWAY, type NormalizedVirtualService } from '@skiff/model';
import type { AppliedVirtualService, HttpRouteJson } from './virtual-service.js';

export interface VirtualServiceLookupOptions {
  /** The mesh's `defaultVirtualServiceExportTo`; empty means public (`*`). */
  readonly defaultVirtualServiceExportTo: readonly string[];
  /** Completes short hosts (`ResolveShortnameToFQDN`); `''` for config read from files, as istiod reads it. */
  readonly domainSuffix: string;
}

/** The client asking: its namespace, and whether its labels contain a set of labels (`SubsetOf`). */
export interface VirtualServiceClient {
  readonly namespace: string;
  readonly hasLabels: (labels: Readonly<Record<string, string>>) => boolean;
}

const isObject = (value: unknown): value is Readonly<Record<string, unknown>> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whether the VirtualService applies to sidecars: no gateways, or `mesh` among them (`getGatewayNames`). */
export function isBoundToMesh(virtualService: Pick<NormalizedVirtualService, 'gateways'>): boolean {
  return virtualService.gateways.length === 0 || virtualService.gateways.includes(MESH_GATEWAY);
}

/** `configCompareByCreationTime`. */
function byCreation(a: NormalizedVirtualService, b: NormalizedVirtualService): number {
  if (a.creationTime !== b.creationTime) return a.creationTime - b.creationTime;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/** The mesh-bound VirtualServices `namespace` sees, in istiod's order. */
export function visibleVirtualServices(
  virtualServices: readonly NormalizedVirtualService[],
  namespace: string,
  options: Pick<VirtualServiceLookupOptions, 'defaultVirtualServiceExportTo'>,
): NormalizedVirtualService[] {
  const sorted = virtualServices.filter(isBoundToMesh).sort(byCreation);
  const exportSet = (virtualService: NormalizedVirtualService): Set<string> => {
    const written = virtualService.exportTo.length > 0 ? virtualService.exportTo : options.defaultVirtualServiceExportTo.length > 0 ? options.defaultVirtualServiceExportTo : ['*'];
    return new Set(written.map((entry) => (entry === '.' ? virtualService.namespace : entry)));
  };
  const sets = new Map(sorted.map((virtualService) => [virtualService, exportSet(virtualService)]));
  const isPublic = (virtualService: NormalizedVirtualService) => sets.get(virtualService)!.has('*');
  const reaches = (virtualService: NormalizedVirtualService) => !isPublic(virtualService) && !sets.get(virtualService)!.has('~') && sets.get(virtualService)!.has(namespace);
  return [
    ...sorted.filter((virtualService) => reaches(virtualService) && virtualService.namespace === namespace),
    ...sorted.filter((virtualService) => reaches(virtualService) && virtualService.namespace !== namespace),
    ...sorted.filter(isPublic),
  ];
}

/** `sourceMatchHTTP`: a match naming gateways applies when `mesh` is one; otherwise by source labels and namespace. */
function matchApplies(match: unknown, client: VirtualServiceClient): boolean {
  if (!isObject(match)) return true;
  const gateways = Array.isArray(match['gateways']) ? (match['gateways'] as unknown[]) : [];
  if (gateways.length > 0) return gateways.includes(MESH_GATEWAY);
  const labels = isObject(match['sourceLabels']) ? (match['sourceLabels'] as Readonly<Record<string, string>>) : {};
  if (!client.hasLabels(labels)) return false;
  const sourceNamespace = typeof match['sourceNamespace'] === 'string' ? match['sourceNamespace'] : '';
  return sourceNamespace === '' || sourceNamespace === client.namespace;
}

/** A destination with its host completed in `namespace`. */
function completeDestination(destination: unknown, namespace: string, domainSuffix: string): unknown {
  if (!isObject(destination) || typeof destination['host'] !== 'string') return destination;
  return { ...destination, host: resolveShortnameToFqdn(destination['host'], namespace, domainSuffix) };
}

/** The routes of `virtualService` as `client` gets them. */
export function applyVirtualService(virtualService: NormalizedVirtualService, client: VirtualServiceClient, domainSuffix: string): AppliedVirtualService {
  const http: HttpRouteJson[] = [];
  const specIndexes: number[] = [];
  for (const [index, route] of virtualService.http.entries()) {
    const matches = Array.isArray(route['match']) ? (route['match'] as unknown[]) : [];
    const kept = matches.filter((match) => matchApplies(match, client));
    if (matches.length > 0 && kept.length === 0) continue;
    specIndexes.push(index);
    const out: Record<string, unknown> = { ...route };
    if (matches.length > 0) out['match'] = kept;
    if (Array.isArray(route['route'])) {
      out['route'] = (route['route'] as unknown[]).map((item) =>
        isObject(item) ? { ...item, destination: completeDestination(item['destination'], virtualService.namespace, domainSuffix) } : item,
      );
    }
    if (route['mirror'] !== undefined) out['mirror'] = completeDestination(route['mirror'], virtualService.namespace, domainSuffix);
    if (Array.isArray(route['mirrors'])) {
      out['mirrors'] = (route['mirrors'] as unknown[]).map((item) =>
        isObject(item) ? { ...item, destination: completeDestination(item['destination'], virtualService.namespace, domainSuffix) } : item,
      );
    }
    http.push(out);
  }
  return { namespace: virtualService.namespace, name: virtualService.name, http, specIndexes };
}

/**
 * The VirtualServices that may claim `host` for `client`, in the order they are tried, with the
 * routes the client gets from each. Empty: the host keeps its default route.
 */
export function chooseVirtualServices(
  virtualServices: readonly NormalizedVirtualService[],
  host: string,
  client: VirtualServiceClient,
  options: VirtualServiceLookupOptions,
): AppliedVirtualService[] {
  const wanted = host.toLowerCase();
  const visible = visibleVirtualServices(virtualServices, client.namespace, options);
  const hostsOf = (virtualService: NormalizedVirtualService) =>
    virtualService.hosts.map((written) => resolveShortnameToFqdn(written, virtualService.namespace, options.domainSuffix).toLowerCase());
  const exact = visible.filter((virtualService) => hostsOf(virtualService).includes(wanted));
  let claiming = exact;
  if (claiming.length === 0 && !isWildcardHost(wanted)) {
    // The first VirtualService to name each wildcard; the most specific wildcard covering the host wins.
    const byWildcard = new Map<string, NormalizedVirtualService>();
    for (const virtualService of visible) for (const written of hostsOf(virtualService)) if (isWildcardHost(written) && !byWildcard.has(written)) byWildcard.set(written, virtualService);
    let best: string | undefined;
    for (const wildcard of byWildcard.keys()) if (hostsMatch(wildcard, wanted) && (best === undefined || wildcard.length > best.length)) best = wildcard;
    claiming = best === undefined ? [] : [byWildcard.get(best)!];
  }
  return claiming.map((virtualService) => applyVirtualService(virtualService, client, options.domainSuffix));
}
