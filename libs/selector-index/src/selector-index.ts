/**
 * Which ServiceEntries select which WorkloadEntries, kept up to date one event at a time.
 *
 * istiod up to 1.12 rebuilt this relation with a double loop over every ServiceEntry and every
 * WorkloadEntry of a namespace (`maybeRefreshIndexes` in
 * `pilot/pkg/serviceregistry/serviceentry/servicediscovery.go`), and from 1.13 to 1.29 its WorkloadEntry
 * handler still listed every ServiceEntry of the namespace (`workloadEntryHandler` in
 * `pilot/pkg/serviceregistry/serviceentry/controller.go`). Here an event visits only candidates found
 * through inverted indexes keyed by (namespace, label key, label value):
 *
 * - every ServiceEntry with a non-empty selector is filed under **one** pair of its selector; a workload
 *   event looks up each of the workload's own label pairs, plus the namespace's empty-selector
 *   ServiceEntries, which select every workload of the namespace;
 * - every workload is filed under **every** pair of its labels; a ServiceEntry event looks up the
 *   selector pair carried by the fewest workloads.
 *
 * Each candidate is then checked with `selectsWorkload` from `@skiff/model`, the single definition of
 * "selects" (namespace, label superset, health, DNS-only addresses), so the index can only be faster
 * than the brute-force loop, never different from it. The work per event is proportional to the
 * candidates and to the selection it changes, not to the size of the mesh; `stats` counts it.
 */
import { selectsWorkload, type NormalizedEndpoint, type NormalizedServiceEntry, type ObjectKey } from '@skiff/model';
import { LabelPairIndex } from './label-pair-index.js';
import { compareObjectKeys, ObjectKeyMap } from './object-key.js';
import { plainDataEqual } from './plain-data.js';
import { SlotList } from './slot-list.js';

/**
 * How one ServiceEntry's selection changed in one event. Workload keys are sorted by namespace and name;
 * a workload appears in at most one of the three lists.
 */
export interface SelectionChange {
  readonly serviceEntry: ObjectKey;
  /** Workloads the ServiceEntry selects now and did not select before. */
  readonly added: readonly ObjectKey[];
  /** Workloads the ServiceEntry selected before and no longer selects (or that were deleted). */
  readonly removed: readonly ObjectKey[];
  /** Workloads the ServiceEntry still selects whose normalized content changed (address, ports, labels, ...). */
  readonly updated: readonly ObjectKey[];
}

/** Cumulative work counters. Tests compare them before and after an event; they never reset. */
export interface SelectorIndexStats {
  /** Upserts and deletes of either kind handled so far. */
  readonly events: number;
  /** ServiceEntries checked against a workload during workload events. */
  readonly serviceEntryCandidatesVisited: number;
  /** Workloads checked against a ServiceEntry during ServiceEntry events. */
  readonly workloadCandidatesVisited: number;
  /** Both of the above: every `selectsWorkload` call the index made. */
  readonly candidatesVisited: number;
}

export type SelectorIndexErrorCode = 'NOT_A_WORKLOAD_ENTRY' | 'NAMESPACE_MISMATCH';

/** A caller handed the index something it cannot hold; the index is unchanged. */
export class SelectorIndexError extends Error {
  override readonly name = 'SelectorIndexError';
  constructor(
    readonly code: SelectorIndexErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Where a ServiceEntry is filed in its namespace's index. */
type Filing =
  /** No workloadSelector (inline endpoints or none): selects nothing, filed nowhere. */
  | { readonly kind: 'none' }
  /** `workloadSelector: {}`: selects every workload of the namespace. */
  | { readonly kind: 'all' }
  | { readonly kind: 'pair'; readonly key: string; readonly value: string };

interface ServiceEntryRecord {
  readonly key: ObjectKey;
  serviceEntry: NormalizedServiceEntry;
  filing: Filing;
  /** Its place in the bucket of its selector pair (`SlotList`): one filing, number 0. */
  readonly slots: number[];
  readonly selected: Set<WorkloadRecord>;
  /**
   * The selected endpoints sorted by key: null until `selectedWorkloads()` first asks (then sorted once),
   * then kept sorted one insertion, removal or replacement at a time, so a workload event costs a
   * binary search here instead of a sort of the whole selection.
   */
  sortedSelection: NormalizedEndpoint[] | null;
  /** `sortedSelection` was handed to a caller since its last change, so it is copied before the next one. */
  selectionShared: boolean;
  /** The last workload event in which this ServiceEntry was found to select the workload. */
  matchedInEvent: number;
}

interface WorkloadRecord {
  readonly key: ObjectKey;
  endpoint: NormalizedEndpoint;
  readonly selectedBy: Set<ServiceEntryRecord>;
  /** Its places (`SlotList`): filing 0 in its namespace's workloads, 1 + j in the bucket of its j-th label pair. */
  readonly slots: number[];
  /**
   * The labels it is filed under, in the order that numbered the filings. An upsert with the same
   * labels in another order keeps the filing (and replaces `endpoint`), so unfiling walks these.
   */
  filedLabels: Readonly<Record<string, string>>;
}

/** The filing numbers of a workload's memberships (`WorkloadRecord.slots`). */
const NAMESPACE_FILING = 0;
const FIRST_LABEL_FILING = 1;
/** A ServiceEntry is filed under one pair of its selector. */
const SELECTOR_FILING = 0;

class NamespaceIndex {
  readonly serviceEntriesByPair = new LabelPairIndex<ServiceEntryRecord>();
  readonly emptySelectorServiceEntries = new Set<ServiceEntryRecord>();
  readonly workloadsByPair = new LabelPairIndex<WorkloadRecord>();
  readonly workloads = new SlotList<WorkloadRecord>();

  get isEmpty(): boolean {
    return this.workloads.size === 0 && this.emptySelectorServiceEntries.size === 0 && this.serviceEntriesByPair.isEmpty;
  }
}

const NO_FILING: Filing = { kind: 'none' };
const NO_CANDIDATES: readonly WorkloadRecord[] = Object.freeze([]);

/** The fields `selectsWorkload` reads from a ServiceEntry: when none changed, neither did the selection. */
function sameSelectionInputs(a: NormalizedServiceEntry, b: NormalizedServiceEntry): boolean {
  return (
    a.namespace === b.namespace && a.resolution === b.resolution && plainDataEqual(a.workloadSelector, b.workloadSelector)
  );
}

function compareRecords(a: { readonly key: ObjectKey }, b: { readonly key: ObjectKey }): number {
  return compareObjectKeys(a.key, b.key);
}

/** Where `key` is in endpoints sorted by source key, or where it would be inserted. */
function searchSelection(endpoints: readonly NormalizedEndpoint[], key: ObjectKey): number {
  let low = 0;
  let high = endpoints.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareObjectKeys(endpoints[middle].source, key) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The sorted selection, ready to change in place (copied first if a caller holds it); null when not built yet. */
function writableSelection(record: ServiceEntryRecord): NormalizedEndpoint[] | null {
  if (record.sortedSelection !== null && record.selectionShared) {
    record.sortedSelection = record.sortedSelection.slice();
    record.selectionShared = false;
  }
  return record.sortedSelection;
}

function insertIntoSelection(record: ServiceEntryRecord, endpoint: NormalizedEndpoint): void {
  const selection = writableSelection(record);
  if (selection !== null) selection.splice(searchSelection(selection, endpoint.source), 0, endpoint);
}

function replaceInSelection(record: ServiceEntryRecord, endpoint: NormalizedEndpoint): void {
  const selection = writableSelection(record);
  if (selection !== null) selection[searchSelection(selection, endpoint.source)] = endpoint;
}

function removeFromSelection(record: ServiceEntryRecord, key: ObjectKey): void {
  const selection = writableSelection(record);
  if (selection !== null) selection.splice(searchSelection(selection, key), 1);
}

function sortedKeys(records: Iterable<{ readonly key: ObjectKey }>): ObjectKey[] {
  return [...records].sort(compareRecords).map((record) => record.key);
}

/** Per namespace, which ServiceEntries select which WorkloadEntries; see the module comment. */
export class SelectorIndex {
  readonly #serviceEntries = new ObjectKeyMap<ServiceEntryRecord>();
  readonly #workloads = new ObjectKeyMap<WorkloadRecord>();
  readonly #namespaces = new Map<string, NamespaceIndex>();
  #events = 0;
  #serviceEntryCandidatesVisited = 0;
  #workloadCandidatesVisited = 0;

  get stats(): SelectorIndexStats {
    return {
      events: this.#events,
      serviceEntryCandidatesVisited: this.#serviceEntryCandidatesVisited,
      workloadCandidatesVisited: this.#workloadCandidatesVisited,
      candidatesVisited: this.#serviceEntryCandidatesVisited + this.#workloadCandidatesVisited,
    };
  }

  get serviceEntryCount(): number {
    return this.#serviceEntries.size;
  }

  get workloadCount(): number {
    return this.#workloads.size;
  }

  /** The ServiceEntry as last upserted, or undefined. */
  serviceEntry(key: ObjectKey): NormalizedServiceEntry | undefined {
    return this.#serviceEntries.get(key)?.serviceEntry;
  }

  /** The WorkloadEntry's endpoint as last upserted (healthy or not), or undefined. */
  workload(key: ObjectKey): NormalizedEndpoint | undefined {
    return this.#workloads.get(key)?.endpoint;
  }

  /**
   * Adds or replaces a ServiceEntry and re-evaluates its selection (a selector or resolution change can
   * add and remove workloads). Returns at most one change, for this ServiceEntry, with `added` and
   * `removed` filled; none when its selection is unchanged. Workloads that stay selected are not
   * reported: the ServiceEntry itself changed, and its consumer rebuilds it anyway.
   */
  upsertServiceEntry(serviceEntry: NormalizedServiceEntry): SelectionChange[] {
    this.#events++;
    const key: ObjectKey = { namespace: serviceEntry.namespace, name: serviceEntry.name };
    let record = this.#serviceEntries.get(key);
    if (record !== undefined && sameSelectionInputs(record.serviceEntry, serviceEntry)) {
      record.serviceEntry = serviceEntry;
      return [];
    }
    if (record === undefined) {
      record = { key, serviceEntry, filing: NO_FILING, slots: [], selected: new Set(), sortedSelection: null, selectionShared: false, matchedInEvent: 0 };
      this.#serviceEntries.set(key, record);
    } else {
      this.#unfileServiceEntry(record);
      record.serviceEntry = serviceEntry;
    }
    this.#fileServiceEntry(record);

    const nowSelected = new Set<WorkloadRecord>();
    for (const candidate of this.#candidateWorkloads(serviceEntry)) {
      this.#workloadCandidatesVisited++;
      if (selectsWorkload(serviceEntry, candidate.endpoint)) nowSelected.add(candidate);
    }
    const added: WorkloadRecord[] = [];
    const removed: WorkloadRecord[] = [];
    for (const workload of nowSelected) {
      if (!record.selected.has(workload)) added.push(workload);
    }
    for (const workload of record.selected) {
      if (!nowSelected.has(workload)) removed.push(workload);
    }
    if (added.length === 0 && removed.length === 0) return [];

    for (const workload of added) {
      record.selected.add(workload);
      workload.selectedBy.add(record);
    }
    for (const workload of removed) {
      record.selected.delete(workload);
      workload.selectedBy.delete(record);
    }
    record.sortedSelection = null;
    return [{ serviceEntry: key, added: sortedKeys(added), removed: sortedKeys(removed), updated: [] }];
  }

  /** Removes a ServiceEntry; its change lists every workload it selected as `removed`. */
  deleteServiceEntry(key: ObjectKey): SelectionChange[] {
    this.#events++;
    const record = this.#serviceEntries.get(key);
    if (record === undefined) return [];
    this.#serviceEntries.delete(key);
    this.#unfileServiceEntry(record);
    for (const workload of record.selected) workload.selectedBy.delete(record);
    const removed = sortedKeys(record.selected);
    record.selected.clear();
    record.sortedSelection = null;
    return removed.length === 0 ? [] : [{ serviceEntry: record.key, added: [], removed, updated: [] }];
  }

  /**
   * Adds or replaces a WorkloadEntry (`endpoint.source.kind` must be `WorkloadEntry`; inline
   * `spec.endpoints` belong to their ServiceEntry and are not workloads others can select, docs/istio-behaviour.md#inline-endpoints).
   * Returns one change per affected ServiceEntry, sorted by key: the workload is `added` where it is
   * newly selected (including by a label change or a return to health), `removed` where it no longer
   * is, `updated` where it stays selected but its content changed. Upserting identical content
   * reports nothing.
   */
  upsertWorkload(endpoint: NormalizedEndpoint): SelectionChange[] {
    const { source } = endpoint;
    if (source.kind !== 'WorkloadEntry') {
      throw new SelectorIndexError(
        'NOT_A_WORKLOAD_ENTRY',
        `endpoint ${source.namespace}/${source.name}[${source.index}] is an inline ServiceEntry endpoint, not a WorkloadEntry`,
      );
    }
    if (endpoint.namespace !== source.namespace) {
      throw new SelectorIndexError(
        'NAMESPACE_MISMATCH',
        `WorkloadEntry ${source.namespace}/${source.name} carries namespace ${JSON.stringify(endpoint.namespace)}`,
      );
    }
    this.#events++;
    const key: ObjectKey = { namespace: source.namespace, name: source.name };
    let record = this.#workloads.get(key);
    if (record === undefined) {
      record = { key, endpoint, selectedBy: new Set(), slots: [], filedLabels: endpoint.labels };
      this.#workloads.set(key, record);
      this.#fileWorkload(record);
    } else {
      if (plainDataEqual(record.endpoint, endpoint)) return [];
      if (!plainDataEqual(record.endpoint.labels, endpoint.labels)) {
        this.#unfileWorkload(record);
        record.endpoint = endpoint;
        this.#fileWorkload(record);
      } else {
        record.endpoint = endpoint;
      }
    }

    const event = this.#events;
    const selecting = this.#serviceEntriesSelecting(endpoint, event);
    const changes: SelectionChange[] = [];
    const workloadKey = record.key;
    for (const serviceEntry of selecting) {
      const wasSelected = record.selectedBy.has(serviceEntry);
      changes.push({
        serviceEntry: serviceEntry.key,
        added: wasSelected ? [] : [workloadKey],
        removed: [],
        updated: wasSelected ? [workloadKey] : [],
      });
      serviceEntry.selected.add(record);
      if (wasSelected) replaceInSelection(serviceEntry, endpoint);
      else insertIntoSelection(serviceEntry, endpoint);
    }
    for (const serviceEntry of record.selectedBy) {
      if (serviceEntry.matchedInEvent === event) continue;
      changes.push({ serviceEntry: serviceEntry.key, added: [], removed: [workloadKey], updated: [] });
      serviceEntry.selected.delete(record);
      removeFromSelection(serviceEntry, workloadKey);
      record.selectedBy.delete(serviceEntry);
    }
    for (const serviceEntry of selecting) record.selectedBy.add(serviceEntry);
    if (changes.length > 1) changes.sort((a, b) => compareObjectKeys(a.serviceEntry, b.serviceEntry));
    return changes;
  }

  /** Removes a WorkloadEntry; one change per ServiceEntry that selected it, with the workload `removed`. */
  deleteWorkload(key: ObjectKey): SelectionChange[] {
    this.#events++;
    const record = this.#workloads.get(key);
    if (record === undefined) return [];
    this.#workloads.delete(key);
    this.#unfileWorkload(record);
    const changes: SelectionChange[] = [];
    for (const serviceEntry of record.selectedBy) {
      serviceEntry.selected.delete(record);
      removeFromSelection(serviceEntry, record.key);
      changes.push({ serviceEntry: serviceEntry.key, added: [], removed: [record.key], updated: [] });
    }
    record.selectedBy.clear();
    return changes.sort((a, b) => compareObjectKeys(a.serviceEntry, b.serviceEntry));
  }

  /**
   * The endpoints of the workloads a ServiceEntry selects, sorted by namespace and name (istiod sorts
   * the same way before building instances); empty for an unknown ServiceEntry. The array is shared
   * between calls until the selection changes: do not mutate it.
   */
  selectedWorkloads(serviceEntryKey: ObjectKey): readonly NormalizedEndpoint[] {
    const record = this.#serviceEntries.get(serviceEntryKey);
    if (record === undefined) return [];
    record.sortedSelection ??= [...record.selected].sort(compareRecords).map((workload) => workload.endpoint);
    record.selectionShared = true;
    return record.sortedSelection;
  }

  /** The ServiceEntries that select a workload, sorted by namespace and name; empty for an unknown workload. */
  selectingServiceEntries(workloadKey: ObjectKey): ObjectKey[] {
    const record = this.#workloads.get(workloadKey);
    return record === undefined ? [] : sortedKeys(record.selectedBy);
  }

  #namespace(namespace: string): NamespaceIndex {
    let index = this.#namespaces.get(namespace);
    if (index === undefined) {
      index = new NamespaceIndex();
      this.#namespaces.set(namespace, index);
    }
    return index;
  }

  #dropNamespaceIfEmpty(namespace: string, index: NamespaceIndex): void {
    if (index.isEmpty) this.#namespaces.delete(namespace);
  }

  /**
   * Files a ServiceEntry under the selector pair that keeps workload events cheapest: the pair with the
   * fewest ServiceEntries already filed under it (that bucket is what every workload carrying the pair
   * visits), then the pair carried by the fewest workloads, then the smallest key and value so the
   * choice is deterministic. ServiceEntries whose selectors share a label (`team: payments`) therefore
   * spread over their distinguishing labels instead of piling into one bucket.
   */
  #fileServiceEntry(record: ServiceEntryRecord): void {
    const { namespace, workloadSelector } = record.serviceEntry;
    if (workloadSelector === null) {
      record.filing = NO_FILING;
      return;
    }
    const index = this.#namespace(namespace);
    let best: { key: string; value: string; serviceEntries: number; workloads: number } | undefined;
    for (const [key, value] of Object.entries(workloadSelector)) {
      const serviceEntries = index.serviceEntriesByPair.count(key, value);
      const workloads = index.workloadsByPair.count(key, value);
      if (
        best === undefined ||
        serviceEntries < best.serviceEntries ||
        (serviceEntries === best.serviceEntries &&
          (workloads < best.workloads ||
            (workloads === best.workloads && (key < best.key || (key === best.key && value < best.value)))))
      ) {
        best = { key, value, serviceEntries, workloads };
      }
    }
    if (best === undefined) {
      record.filing = { kind: 'all' };
      index.emptySelectorServiceEntries.add(record);
    } else {
      record.filing = { kind: 'pair', key: best.key, value: best.value };
      index.serviceEntriesByPair.add(best.key, best.value, record, SELECTOR_FILING);
    }
  }

  #unfileServiceEntry(record: ServiceEntryRecord): void {
    const { filing } = record;
    record.filing = NO_FILING;
    if (filing.kind === 'none') return;
    const namespace = record.key.namespace;
    const index = this.#namespaces.get(namespace);
    if (index === undefined) return;
    if (filing.kind === 'all') index.emptySelectorServiceEntries.delete(record);
    else index.serviceEntriesByPair.delete(filing.key, filing.value, record, SELECTOR_FILING);
    this.#dropNamespaceIfEmpty(namespace, index);
  }

  #fileWorkload(record: WorkloadRecord): void {
    const index = this.#namespace(record.key.namespace);
    index.workloads.add(record, NAMESPACE_FILING);
    const { labels } = record.endpoint;
    record.filedLabels = labels;
    let filing = FIRST_LABEL_FILING;
    for (const key in labels) index.workloadsByPair.add(key, labels[key], record, filing++);
  }

  #unfileWorkload(record: WorkloadRecord): void {
    const namespace = record.key.namespace;
    const index = this.#namespaces.get(namespace);
    if (index === undefined) return;
    index.workloads.remove(record, NAMESPACE_FILING);
    const labels = record.filedLabels;
    let filing = FIRST_LABEL_FILING;
    for (const key in labels) index.workloadsByPair.delete(key, labels[key], record, filing++);
    this.#dropNamespaceIfEmpty(namespace, index);
  }

  /**
   * Workloads that may match a ServiceEntry's selector: those carrying its rarest pair (a workload
   * without that pair cannot be a label superset), every workload of the namespace for an empty
   * selector, none without a selector.
   */
  #candidateWorkloads(serviceEntry: NormalizedServiceEntry): readonly WorkloadRecord[] {
    const { namespace, workloadSelector } = serviceEntry;
    const index = this.#namespaces.get(namespace);
    if (workloadSelector === null || index === undefined) return NO_CANDIDATES;
    let rarest: readonly WorkloadRecord[] | undefined;
    for (const [key, value] of Object.entries(workloadSelector)) {
      const carriers = index.workloadsByPair.get(key, value);
      if (carriers === undefined) return NO_CANDIDATES;
      if (rarest === undefined || carriers.length < rarest.length) rarest = carriers;
    }
    return rarest ?? index.workloads.items;
  }

  /**
   * The ServiceEntries that select `endpoint` now, each marked with `matchedInEvent = event` so the
   * caller can tell them from the ones that stopped selecting it without building a set. A ServiceEntry
   * filed under pair P can select the workload only if the workload carries P, so looking up the
   * workload's own pairs (plus the empty-selector ServiceEntries) finds every one of them; each is filed
   * once, so none is visited twice.
   */
  #serviceEntriesSelecting(endpoint: NormalizedEndpoint, event: number): ServiceEntryRecord[] {
    const selecting: ServiceEntryRecord[] = [];
    const index = this.#namespaces.get(endpoint.namespace);
    if (index === undefined) return selecting;
    const { labels } = endpoint;
    for (const key in labels) {
      const filed = index.serviceEntriesByPair.get(key, labels[key]);
      if (filed === undefined) continue;
      for (const serviceEntry of filed) {
        this.#serviceEntryCandidatesVisited++;
        if (!selectsWorkload(serviceEntry.serviceEntry, endpoint)) continue;
        serviceEntry.matchedInEvent = event;
        selecting.push(serviceEntry);
      }
    }
    for (const serviceEntry of index.emptySelectorServiceEntries) {
      this.#serviceEntryCandidatesVisited++;
      if (!selectsWorkload(serviceEntry.serviceEntry, endpoint)) continue;
      serviceEntry.matchedInEvent = event;
      selecting.push(serviceEntry);
    }
    return selecting;
  }
}
