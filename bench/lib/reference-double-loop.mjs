/**
 * REFERENCE IMPLEMENTATION FOR COMPARISON ONLY. Skiff does not use this file; the benchmark runs it to
 * measure what the seed document describes, next to `@skiff/selector-index`.
 *
 * istiod up to 1.12 (`pilot/pkg/serviceregistry/serviceentry/servicediscovery.go`,
 * `maybeRefreshIndexes`) rebuilt every ServiceEntry's instances after a change: collect the
 * ServiceEntries with a selector per namespace, then walk every workload against every one of them.
 * This class does exactly that on each WorkloadEntry update, then rebuilds the ClusterLoadAssignments of
 * the ServiceEntries that selected the workload before or after. It is given every advantage the
 * semantics allow: selectors are flattened to arrays once per rebuild and compared label by label before
 * the full `selectsWorkload` rule runs, so the comparison with the index is conservative.
 */
import { selectsWorkload } from '@skiff/model';

function idOf(namespace, name) {
  return `${namespace}/${name}`;
}

export class DoubleLoopReference {
  #serviceEntries = new Map();
  #workloads = new Map();
  /** Service entry id -> the endpoints it selects (istiod's `instances`). */
  #selectedByServiceEntry = new Map();
  /** Workload id -> ids of the ServiceEntries that select it (istiod's `ip2instance`, by name). */
  #selectingByWorkload = new Map();
  #rebuild;

  /** `rebuild(serviceEntry, endpoints)` rebuilds and encodes one ServiceEntry's resources. */
  constructor(rebuild) {
    this.#rebuild = rebuild;
  }

  /**
   * Starts from a known state without paying for a full walk: `selectedWorkloads(serviceEntry)` gives
   * the endpoints each ServiceEntry selects now (the benchmark passes the index's answer). Every update
   * afterwards recomputes the whole selection itself.
   */
  load({ serviceEntries, workloads, selectedWorkloads }) {
    for (const workload of workloads) this.#workloads.set(idOf(workload.source.namespace, workload.source.name), workload);
    for (const serviceEntry of serviceEntries) {
      const id = idOf(serviceEntry.namespace, serviceEntry.name);
      this.#serviceEntries.set(id, serviceEntry);
      const selected = [...selectedWorkloads(serviceEntry)];
      this.#selectedByServiceEntry.set(id, selected);
      for (const workload of selected) {
        const workloadId = idOf(workload.source.namespace, workload.source.name);
        const selecting = this.#selectingByWorkload.get(workloadId);
        if (selecting === undefined) this.#selectingByWorkload.set(workloadId, [id]);
        else selecting.push(id);
      }
    }
  }

  /** Applies one WorkloadEntry upsert; returns the ids of the ServiceEntries rebuilt and their outputs. */
  upsertWorkload(endpoint) {
    const id = idOf(endpoint.source.namespace, endpoint.source.name);
    const before = this.#selectingByWorkload.get(id) ?? [];
    this.#workloads.set(id, endpoint);
    this.#refreshIndexes();
    const after = this.#selectingByWorkload.get(id) ?? [];
    const affected = [...new Set([...before, ...after])].sort();
    const outputs = affected.map((serviceEntryId) =>
      this.#rebuild(this.#serviceEntries.get(serviceEntryId), this.#selectedByServiceEntry.get(serviceEntryId) ?? []),
    );
    return { affected, outputs };
  }

  #refreshIndexes() {
    const selectorsByNamespace = new Map();
    for (const [id, serviceEntry] of this.#serviceEntries) {
      if (serviceEntry.workloadSelector === null) continue;
      let list = selectorsByNamespace.get(serviceEntry.namespace);
      if (list === undefined) {
        list = [];
        selectorsByNamespace.set(serviceEntry.namespace, list);
      }
      const selector = serviceEntry.workloadSelector;
      list.push({ id, serviceEntry, keys: Object.keys(selector), values: Object.values(selector) });
    }
    const selectedByServiceEntry = new Map();
    const selectingByWorkload = new Map();
    for (const [workloadId, workload] of this.#workloads) {
      const candidates = selectorsByNamespace.get(workload.namespace);
      if (candidates === undefined) continue;
      const labels = workload.labels;
      for (let c = 0; c < candidates.length; c++) {
        const { id, serviceEntry, keys, values } = candidates[c];
        let matched = 0;
        while (matched < keys.length && labels[keys[matched]] === values[matched]) matched++;
        if (matched < keys.length || !selectsWorkload(serviceEntry, workload)) continue;
        let selected = selectedByServiceEntry.get(id);
        if (selected === undefined) {
          selected = [];
          selectedByServiceEntry.set(id, selected);
        }
        selected.push(workload);
        let selecting = selectingByWorkload.get(workloadId);
        if (selecting === undefined) {
          selecting = [];
          selectingByWorkload.set(workloadId, selecting);
        }
        selecting.push(id);
      }
    }
    this.#selectedByServiceEntry = selectedByServiceEntry;
    this.#selectingByWorkload = selectingByWorkload;
  }
}
