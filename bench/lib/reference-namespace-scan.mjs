/**
 * REFERENCE IMPLEMENTATION FOR COMPARISON ONLY. Skiff does not use this file; the benchmark runs it to
 * show where istiod went after the double loop.
 *
 * From 1.13 to 1.29 istiod handled a WorkloadEntry event incrementally but still listed every
 * ServiceEntry of the workload's namespace and checked its selector against the old and the new labels
 * (`workloadEntryHandler` in `pilot/pkg/serviceregistry/serviceentry/controller.go`). This class does
 * the same, then rebuilds the ClusterLoadAssignments of the ServiceEntries that selected the workload
 * before or after. Like the double-loop reference, it compares labels before running the full
 * `selectsWorkload` rule, so the comparison is conservative.
 */
import { selectsWorkload } from '@skiff/model';

function idOf(namespace, name) {
  return `${namespace}/${name}`;
}

function labelsMatch(selector, labels) {
  for (const key in selector) if (labels[key] !== selector[key]) return false;
  return true;
}

function selects(serviceEntry, workload) {
  return labelsMatch(serviceEntry.workloadSelector, workload.labels) && selectsWorkload(serviceEntry, workload);
}

export class NamespaceScanReference {
  /** Namespace -> its ServiceEntries that have a selector. */
  #serviceEntriesByNamespace = new Map();
  #serviceEntries = new Map();
  #workloads = new Map();
  /** Service entry id -> (workload id -> endpoint). */
  #selectedByServiceEntry = new Map();
  #rebuild;

  /** `rebuild(serviceEntry, endpoints)` rebuilds and encodes one ServiceEntry's resources. */
  constructor(rebuild) {
    this.#rebuild = rebuild;
  }

  /** Starts from a known state: `selectedWorkloads(serviceEntry)` gives what each ServiceEntry selects now. */
  load({ serviceEntries, workloads, selectedWorkloads }) {
    for (const workload of workloads) this.#workloads.set(idOf(workload.source.namespace, workload.source.name), workload);
    for (const serviceEntry of serviceEntries) {
      const id = idOf(serviceEntry.namespace, serviceEntry.name);
      this.#serviceEntries.set(id, serviceEntry);
      if (serviceEntry.workloadSelector === null) continue;
      let list = this.#serviceEntriesByNamespace.get(serviceEntry.namespace);
      if (list === undefined) {
        list = [];
        this.#serviceEntriesByNamespace.set(serviceEntry.namespace, list);
      }
      list.push(serviceEntry);
      const selected = new Map();
      for (const workload of selectedWorkloads(serviceEntry)) selected.set(idOf(workload.source.namespace, workload.source.name), workload);
      this.#selectedByServiceEntry.set(id, selected);
    }
  }

  /** Applies one WorkloadEntry upsert; returns the ids of the ServiceEntries rebuilt and their outputs. */
  upsertWorkload(endpoint) {
    const id = idOf(endpoint.source.namespace, endpoint.source.name);
    const previous = this.#workloads.get(id);
    this.#workloads.set(id, endpoint);
    const affected = [];
    for (const serviceEntry of this.#serviceEntriesByNamespace.get(endpoint.namespace) ?? []) {
      const selectedBefore = previous !== undefined && selects(serviceEntry, previous);
      const selectsNow = selects(serviceEntry, endpoint);
      if (!selectedBefore && !selectsNow) continue;
      const serviceEntryId = idOf(serviceEntry.namespace, serviceEntry.name);
      const selected = this.#selectedByServiceEntry.get(serviceEntryId);
      if (selectsNow) selected.set(id, endpoint);
      else selected.delete(id);
      affected.push(serviceEntryId);
    }
    affected.sort();
    const outputs = affected.map((serviceEntryId) =>
      this.#rebuild(this.#serviceEntries.get(serviceEntryId), [...this.#selectedByServiceEntry.get(serviceEntryId).values()]),
    );
    return { affected, outputs };
  }
}
