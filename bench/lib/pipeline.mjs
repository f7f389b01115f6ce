/**
 * The path the benchmark measures, in process: normalized entries -> `@skiff/selector-index` ->
 * `translateServiceEntry` -> encoded resources. This is what the watcher and the translator do for one
 * change, without Redis in between.
 */
import { objectKeyId, SelectorIndex } from '@skiff/selector-index';
import { DEFAULT_MESH_SETTINGS, encodeResources, EndpointBytesCache, translateServiceEntry } from '@skiff/xds-translate';

/** Sidecar output (the `outbound|PORT||HOST` names), istiod's default mesh settings. */
export const TRANSLATE_OPTIONS = Object.freeze({ flavor: 'envoy', naming: 'sidecar', mesh: DEFAULT_MESH_SETTINGS });

/** `scope`: the build's scope in an `EndpointBytesCache`, if any (see `rebuildServiceEntry`). */
export function translate(serviceEntry, endpoints, scope) {
  return translateServiceEntry({ serviceEntry, endpoints }, TRANSLATE_OPTIONS, scope);
}

/**
 * Translates and encodes one ServiceEntry: what a rebuild costs, for the index and the references
 * alike. `endpointBytes`, the control plane's `EndpointBytesCache` (a `Translator` holds one), saves
 * building the service instances and writing the endpoints the ServiceEntry's previous build had;
 * the bytes are the same without it.
 */
export function rebuildServiceEntry(serviceEntry, endpoints, endpointBytes) {
  const scope = endpointBytes.scope(objectKeyId(serviceEntry), endpoints.length);
  try {
    return encodeResources(translate(serviceEntry, endpoints, scope), scope);
  } finally {
    scope.close();
  }
}

/** The indexed control plane: the selector index plus the last encoded resources of every ServiceEntry. */
export class IndexedControlPlane {
  index = new SelectorIndex();
  /** ServiceEntry id -> its encoded resources. */
  resources = new Map();
  /** The encoded endpoints of each ServiceEntry's latest build: a cold build starts without any. */
  endpointBytes = new EndpointBytesCache();

  /** `rebuildServiceEntry` with this plane's endpoint bytes (the references rebuild with them too). */
  rebuild(serviceEntry, endpoints) {
    return rebuildServiceEntry(serviceEntry, endpoints, this.endpointBytes);
  }

  /** Builds every ServiceEntry from scratch; returns the time of each stage in milliseconds. */
  coldBuild({ serviceEntries, workloads }, clock) {
    const t0 = clock();
    for (const serviceEntry of serviceEntries) this.index.upsertServiceEntry(serviceEntry);
    for (const workload of workloads) this.index.upsertWorkload(workload);
    const t1 = clock();
    const selections = serviceEntries.map((serviceEntry) => this.index.selectedWorkloads(serviceEntry));
    const scopes = serviceEntries.map((serviceEntry, i) => this.endpointBytes.scope(objectKeyId(serviceEntry), selections[i].length));
    const translated = serviceEntries.map((serviceEntry, i) => translate(serviceEntry, selections[i], scopes[i]));
    const t2 = clock();
    const failed = translated.find((result) => result.errors.length > 0);
    // The synthetic mesh is valid: a translation error means the benchmark measures the wrong thing.
    if (failed !== undefined) throw new Error(`translation reported errors: ${failed.errors.map(String).join('; ')}`);
    serviceEntries.forEach((serviceEntry, i) => {
      this.resources.set(objectKeyId(serviceEntry), encodeResources(translated[i], scopes[i]));
      scopes[i].close();
    });
    const t3 = clock();
    return { indexMs: t1 - t0, translateMs: t2 - t1, encodeMs: t3 - t2, totalMs: t3 - t0 };
  }

  /** One WorkloadEntry update: index lookup, then rebuild and encode of every affected ServiceEntry. */
  upsertWorkload(endpoint) {
    const changes = this.index.upsertWorkload(endpoint);
    const affected = [];
    const outputs = [];
    for (const change of changes) {
      const serviceEntry = this.index.serviceEntry(change.serviceEntry);
      const encoded = this.rebuild(serviceEntry, this.index.selectedWorkloads(change.serviceEntry));
      const id = objectKeyId(change.serviceEntry);
      this.resources.set(id, encoded);
      affected.push(id);
      outputs.push(encoded);
    }
    return { affected, outputs };
  }
}
