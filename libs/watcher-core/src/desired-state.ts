/**
 * What the store should hold, built from source events: the valid Istio objects, the selector index,
 * and for each ServiceEntry the hash fields it owns (`se`, one `ep:` field per inline endpoint and
 * per selected WorkloadEntry, one `dr:` field per DestinationRule whose host matches one of its
 * hosts, `sib:` fields for the other ServiceEntries of its namespace that share a host with it, and one
 * `vs:` field per VirtualService one of whose hosts matches one of them).
 *
 * Applying an event returns exactly the ServiceEntries whose hash may change: the ServiceEntry itself
 * for a ServiceEntry event, for a WorkloadEntry event the ServiceEntries that select it now or
 * selected it before, found through the index, and for a DestinationRule event the ServiceEntries with
 * a host its old or new host matches, found through the host indexes (never by visiting every
 * ServiceEntry); likewise for a VirtualService event and its hosts; each with its siblings, which
 * hold it.
 *
 * Bad input never changes anything here: an object that fails validation is recorded with its reasons
 * and the last valid version of it (if any) stays in effect, as a Kubernetes admission webhook would
 * have kept it.
 */
import {
  loadParsedObjects,
  normalizeDestinationRule,
  normalizeVirtualService,
  readIstioObject,
  resolveShortnameToFqdn,
  type FieldError,
  type NormalizedDestinationRule,
  type NormalizedEndpoint,
  type NormalizedServiceEntry,
  type NormalizedGateway,
  type NormalizedSidecar,
  type NormalizedVirtualService,
  type ObjectKey,
  type SourceRef,
} from '@skiff/model';
import { ObjectKeyMap, SelectorIndex } from '@skiff/selector-index';
import type { ObjectRef, SourceEvent } from '@skiff/config-sources';
import {
  canonicalJson,
  endpointField,
  FRESH_FIELD_ENCODING,
  parseServiceEntryId,
  serviceEntryFields,
  serviceEntryId,
  siblingEndpointField,
  type FieldEncoding,
  type ServiceEntryId,
} from '@skiff/store';
import { HostIndex } from './host-index.js';

/** How the watcher sees one object: the raw object in effect, and the last rejection if any. */
export interface ObjectStatus {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** The object currently in effect (its last valid version), or null if no version was ever valid. */
  readonly effective: unknown;
  readonly effectiveOrigin: string | null;
  readonly warnings: readonly FieldError[];
  /** Set while the latest version seen was rejected. */
  readonly rejection: { readonly origin: string; readonly errors: readonly FieldError[]; readonly object: unknown } | null;
}

/**
 * What an applied or deleted object changed. `workload` is set for a WorkloadEntry: its endpoint
 * fields (`desiredWorkloadFields`: its own, and its copies under siblings) are then the only fields of
 * each affected ServiceEntry's hash the event may have changed, so a writer holding the rest can write
 * those alone.
 */
interface Changed {
  readonly kind: string;
  readonly affected: readonly ObjectKey[];
  readonly workload?: ObjectKey;
  readonly sidecars?: readonly ObjectKey[];
  readonly gateways?: readonly ObjectKey[];
}

export type ApplyOutcome =
  /** `created`: the object had no valid version before (istiod counts such an event as `add`). */
  | ({ readonly result: 'applied'; readonly created: boolean } & Changed)
  | ({ readonly result: 'deleted' } & Changed)
  /** The new version is invalid; nothing changed. */
  | { readonly result: 'rejected'; readonly kind: string; readonly errors: readonly FieldError[] }
  /** Not an object Skiff reads (unknown shape or an Istio kind it does not use); nothing changed. */
  | { readonly result: 'ignored'; readonly kind: string; readonly reason: string };

export interface DesiredStateOptions {
  /** Namespace for objects that name none (file sources); default `default`. */
  readonly defaultNamespace?: string;
  /**
   * The cluster's domain suffix, completing a DestinationRule's short `spec.host` as istiod does
   * (`ResolveShortnameToFQDN`); default `cluster.local`. A short host is also filed without it (the form
   * istiod gives config read from files), so the translator finds the rule whichever form it uses.
   */
  readonly domainSuffix?: string;
}

/** `encode`, computed once per object (by identity) for as long as the object lives. */
function remembered<T extends object, R>(encode: (entry: T) => R): (entry: T) => R {
  const memo = new WeakMap<T, R>();
  return (entry) => {
    let encoded = memo.get(entry);
    if (encoded === undefined) {
      encoded = encode(entry);
      memo.set(entry, encoded);
    }
    return encoded;
  };
}

/** `file#3` or `kubernetes` as a SourceRef, for the model's messages. */
function sourceRefOf(origin: string): SourceRef {
  return { file: origin, document: 1, line: 1 };
}

function kindOf(object: unknown): string {
  if (object !== null && typeof object === 'object' && 'kind' in object && typeof object.kind === 'string') return object.kind;
  return 'object';
}

export class DesiredState {
  readonly index = new SelectorIndex();
  private readonly defaultNamespace: string;
  private readonly domainSuffix: string;
  /** DestinationRules in effect by `<namespace>/<name>`. */
  private readonly destinationRuleById = new Map<string, NormalizedDestinationRule>();
  /** DestinationRule ids by their (completed) host, and ServiceEntry ids by their hosts: who matches whom. */
  private readonly destinationRuleHosts = new HostIndex<string>();
  private readonly serviceEntryHosts = new HostIndex<ServiceEntryId>();
  /** VirtualServices in effect by `<namespace>/<name>`, and their ids by their (completed) hosts. */
  private readonly virtualServiceById = new Map<string, NormalizedVirtualService>();
  private readonly virtualServiceHosts = new HostIndex<string>();
  /**
   * ServiceEntry ids by `<namespace> <host>`, for each host as written: the entries istiod puts in one
   * endpoint shard (`mergeServicesInstancesByNamespaceHost`), whose hashes carry each other as siblings.
   */
  private readonly entriesByNamespaceHost = new Map<string, Set<ServiceEntryId>>();
  /** How many of those sets hold more than one entry: while none does, no entry has a sibling. */
  private sharedNamespaceHosts = 0;
  /** Inline `spec.endpoints` per ServiceEntry id; the index holds the ServiceEntries themselves. */
  private readonly inlineEndpoints = new Map<ServiceEntryId, readonly NormalizedEndpoint[]>();
  /**
   * Every object seen, by kind, then namespace and name: looked up without building a key string, as
   * each event of a cold sync's 200,000 does.
   */
  private readonly statuses = new Map<string, ObjectKeyMap<ObjectStatus>>();
  /** Sidecars in effect, with the JSON the store holds for each (they change no ServiceEntry hash). */
  private readonly sidecars = new Map<ServiceEntryId, { readonly sidecar: NormalizedSidecar; readonly json: string }>();
  /** Gateways in effect, with the JSON the store holds for each (like Sidecars, they change no ServiceEntry hash). */
  private readonly gateways = new Map<ServiceEntryId, { readonly gateway: NormalizedGateway; readonly json: string }>();
  /** Statuses whose latest version was rejected, kept with every change so reading it is O(1). */
  private rejected = 0;
  /**
   * The hash fields of each normalized entry in effect, by identity: the text of a ServiceEntry, the
   * field name and text of an endpoint or DestinationRule. Entries are never changed once applied (a new
   * version of an object is a new entry), so an unchanged workload is encoded once, not again for every
   * change of another workload its ServiceEntries select; entries that are replaced drop out with them.
   */
  private readonly rememberingEncoding: FieldEncoding = {
    serviceEntry: remembered(FRESH_FIELD_ENCODING.serviceEntry),
    endpoint: remembered(FRESH_FIELD_ENCODING.endpoint),
    destinationRule: remembered(FRESH_FIELD_ENCODING.destinationRule),
    virtualService: remembered(FRESH_FIELD_ENCODING.virtualService),
  };

  constructor(options: DesiredStateOptions = {}) {
    this.defaultNamespace = options.defaultNamespace ?? 'default';
    this.domainSuffix = options.domainSuffix ?? 'cluster.local';
  }

  apply(event: SourceEvent): ApplyOutcome {
    return event.type === 'upsert' ? this.upsert(event.object, event.origin) : this.remove(event.ref);
  }

  private upsert(raw: unknown, origin: string): ApplyOutcome {
    const source = sourceRefOf(origin);
    const read = readIstioObject(raw, source, { defaultNamespace: this.defaultNamespace });
    if (read.type === 'error') return { result: 'ignored', kind: kindOf(raw), reason: `${origin}: ${read.message}` };
    if (read.type === 'ignored') return { result: 'ignored', kind: read.ignored.kind, reason: `${read.ignored.kind} is not used by Skiff` };
    const parsed = read.object;
    const { kind } = parsed;
    const { namespace, name } = parsed.metadata;
    const statuses = this.statusesOf(kind);
    const objectKey: ObjectKey = { namespace, name };
    const loaded = loadParsedObjects({ objects: [parsed], ignored: [], errors: [] }, { defaultNamespace: this.defaultNamespace });
    const previous = statuses.get(objectKey);

    const rejected = loaded.rejected[0];
    if (rejected) {
      this.setStatus(statuses, objectKey, previous, {
        kind,
        namespace,
        name,
        effective: previous?.effective ?? null,
        effectiveOrigin: previous?.effectiveOrigin ?? null,
        warnings: previous?.warnings ?? [],
        rejection: { origin, errors: rejected.errors, object: raw },
      });
      return { result: 'rejected', kind, errors: rejected.errors };
    }
    const warnings = loaded.accepted[0]?.warnings ?? [];
    const created = previous?.effective === undefined || previous.effective === null;
    this.setStatus(statuses, objectKey, previous, { kind, namespace, name, effective: raw, effectiveOrigin: origin, warnings, rejection: null });

    const loadedServiceEntry = loaded.serviceEntries[0];
    if (loadedServiceEntry) {
      const { serviceEntry } = loadedServiceEntry;
      const id = serviceEntryId(serviceEntry);
      const siblingsBefore = this.siblingIds(id);
      this.inlineEndpoints.set(id, loadedServiceEntry.inlineEndpoints);
      this.index.upsertServiceEntry(serviceEntry);
      this.fileUnderNamespaceHosts(id, namespace, this.serviceEntryHosts.hosts(id) ?? [], serviceEntry.hosts);
      this.serviceEntryHosts.set(id, serviceEntry.hosts);
      // Its siblings before and after hold it in their hashes: they change with it.
      const siblings = new Set([...siblingsBefore, ...this.siblingIds(id)]);
      return { result: 'applied', kind, affected: [{ namespace, name }, ...[...siblings].sort().map(parseServiceEntryId)], created };
    }
    const loadedSidecar = loaded.sidecars[0];
    if (loadedSidecar) {
      this.sidecars.set(serviceEntryId(loadedSidecar.sidecar), { sidecar: loadedSidecar.sidecar, json: canonicalJson(loadedSidecar.sidecar) });
      return { result: 'applied', kind, affected: [], created, sidecars: [{ namespace, name }] };
    }
    const loadedGateway = loaded.gateways[0];
    if (loadedGateway) {
      this.gateways.set(serviceEntryId(loadedGateway.gateway), { gateway: loadedGateway.gateway, json: canonicalJson(loadedGateway.gateway) });
      return { result: 'applied', kind, affected: [], created, gateways: [{ namespace, name }] };
    }
    const loadedWorkload = loaded.workloadEntries[0];
    if (loadedWorkload) {
      const changes = this.index.upsertWorkload(loadedWorkload.endpoint);
      return { result: 'applied', kind, affected: this.withSiblings(changes.map((change) => change.serviceEntry)), workload: { namespace, name }, created };
    }
    const object = loaded.accepted[0]?.object;
    if (object?.kind === 'DestinationRule') {
      const rule = normalizeDestinationRule(object);
      const id = `${namespace}/${name}`;
      const before = this.destinationRuleHosts.hosts(id) ?? [];
      this.destinationRuleById.set(id, rule);
      const hosts = this.ruleHosts(rule);
      this.destinationRuleHosts.set(id, hosts);
      return { result: 'applied', kind, affected: this.serviceEntriesMatching([...before, ...hosts]), created };
    }
    if (object?.kind === 'VirtualService') {
      const virtualService = normalizeVirtualService(object);
      const id = `${namespace}/${name}`;
      const before = this.virtualServiceHosts.hosts(id) ?? [];
      this.virtualServiceById.set(id, virtualService);
      const hosts = virtualService.hosts.flatMap((host) => this.completedHosts(host, virtualService.namespace));
      this.virtualServiceHosts.set(id, hosts);
      return { result: 'applied', kind, affected: this.serviceEntriesMatching([...before, ...hosts]), created };
    }
    return { result: 'applied', kind, affected: [], created };
  }

  /** The hosts a rule is filed under: `spec.host`, completed as istiod completes a short name, with and without the domain suffix. */
  private ruleHosts(rule: NormalizedDestinationRule): string[] {
    return this.completedHosts(rule.host, rule.namespace);
  }

  /** A host as istiod completes a short name in `namespace` (`ResolveShortnameToFQDN`), with and without the domain suffix. */
  private completedHosts(host: string, namespace: string): string[] {
    return [...new Set([resolveShortnameToFqdn(host, namespace, this.domainSuffix), resolveShortnameToFqdn(host, namespace, '')])];
  }

  /** Moves `id` of `namespace` from the namespace-host sets of `before` to those of `after`. */
  private fileUnderNamespaceHosts(id: ServiceEntryId, namespace: string, before: readonly string[], after: readonly string[]): void {
    for (const host of before) {
      const key = `${namespace} ${host}`;
      const ids = this.entriesByNamespaceHost.get(key);
      if (ids === undefined || !ids.delete(id)) continue;
      if (ids.size === 1) this.sharedNamespaceHosts -= 1;
      if (ids.size === 0) this.entriesByNamespaceHost.delete(key);
    }
    for (const host of after) {
      const key = `${namespace} ${host}`;
      let ids = this.entriesByNamespaceHost.get(key);
      if (ids === undefined) {
        ids = new Set();
        this.entriesByNamespaceHost.set(key, ids);
      }
      if (ids.has(id)) continue;
      ids.add(id);
      if (ids.size === 2) this.sharedNamespaceHosts += 1;
    }
  }

  /** The other ServiceEntries of `id`'s namespace that share one of its hosts, sorted. */
  private siblingIds(id: ServiceEntryId): ServiceEntryId[] {
    const hosts = this.serviceEntryHosts.hosts(id);
    if (hosts === undefined || this.sharedNamespaceHosts === 0) return [];
    const namespace = parseServiceEntryId(id).namespace;
    const siblings = new Set<ServiceEntryId>();
    for (const host of hosts) for (const other of this.entriesByNamespaceHost.get(`${namespace} ${host}`) ?? []) if (other !== id) siblings.add(other);
    return [...siblings].sort();
  }

  /** `affected` and the siblings of each (whose hashes hold their endpoints), each once. */
  private withSiblings(affected: readonly ObjectKey[]): ObjectKey[] {
    if (this.sharedNamespaceHosts === 0) return [...affected];
    const seen = new Set(affected.map(serviceEntryId));
    const result = [...affected];
    for (const key of affected) {
      for (const sibling of this.siblingIds(serviceEntryId(key))) {
        if (seen.has(sibling)) continue;
        seen.add(sibling);
        result.push(parseServiceEntryId(sibling));
      }
    }
    return result;
  }

  private serviceEntriesMatching(hosts: readonly string[]): ObjectKey[] {
    return [...this.serviceEntryHosts.matching(hosts)].sort().map(parseServiceEntryId);
  }

  private remove(ref: ObjectRef): ApplyOutcome {
    const statuses = this.statuses.get(ref.kind);
    const status = statuses?.get(ref);
    statuses?.delete(ref);
    if (status?.rejection) this.rejected -= 1;
    const objectKey = { namespace: ref.namespace, name: ref.name };
    if (ref.kind === 'ServiceEntry') {
      if (this.index.serviceEntry(objectKey) === undefined) return { result: 'deleted', kind: ref.kind, affected: [] };
      const id = serviceEntryId(objectKey);
      const siblings = this.siblingIds(id);
      this.index.deleteServiceEntry(objectKey);
      this.inlineEndpoints.delete(id);
      this.fileUnderNamespaceHosts(id, ref.namespace, this.serviceEntryHosts.hosts(id) ?? [], []);
      this.serviceEntryHosts.delete(id);
      return { result: 'deleted', kind: ref.kind, affected: [objectKey, ...siblings.sort().map(parseServiceEntryId)] };
    }
    if (ref.kind === 'Sidecar') {
      const existed = this.sidecars.delete(serviceEntryId(objectKey));
      return { result: 'deleted', kind: ref.kind, affected: [], sidecars: existed ? [objectKey] : [] };
    }
    if (ref.kind === 'Gateway') {
      const existed = this.gateways.delete(serviceEntryId(objectKey));
      return { result: 'deleted', kind: ref.kind, affected: [], gateways: existed ? [objectKey] : [] };
    }
    if (ref.kind === 'WorkloadEntry') {
      if (this.index.workload(objectKey) === undefined) return { result: 'deleted', kind: ref.kind, affected: [] };
      const changes = this.index.deleteWorkload(objectKey);
      return { result: 'deleted', kind: ref.kind, affected: this.withSiblings(changes.map((change) => change.serviceEntry)), workload: objectKey };
    }
    if (ref.kind === 'DestinationRule') return this.removeFiledByHost(ref, status, this.destinationRuleHosts, this.destinationRuleById);
    if (ref.kind === 'VirtualService') return this.removeFiledByHost(ref, status, this.virtualServiceHosts, this.virtualServiceById);
    return status ? { result: 'deleted', kind: ref.kind, affected: [] } : { result: 'ignored', kind: ref.kind, reason: 'not known' };
  }

  /** Deletes an object filed by its hosts (a DestinationRule, a VirtualService): the ServiceEntries it matched change. */
  private removeFiledByHost(ref: ObjectRef, status: ObjectStatus | undefined, hostIndex: HostIndex<string>, byId: Map<string, unknown>): ApplyOutcome {
    const id = `${ref.namespace}/${ref.name}`;
    const hosts = hostIndex.hosts(id);
    if (hosts === undefined) return status ? { result: 'deleted', kind: ref.kind, affected: [] } : { result: 'ignored', kind: ref.kind, reason: 'not known' };
    hostIndex.delete(id);
    byId.delete(id);
    return { result: 'deleted', kind: ref.kind, affected: this.serviceEntriesMatching(hosts) };
  }

  /** The ServiceEntry in effect, if any. */
  serviceEntry(key: ObjectKey): NormalizedServiceEntry | undefined {
    return this.index.serviceEntry(key);
  }

  /** Every ServiceEntry in effect. */
  serviceEntryKeys(): ObjectKey[] {
    return [...this.inlineEndpoints.keys()].map((id) => {
      const slash = id.indexOf('/');
      return { namespace: id.slice(0, slash), name: id.slice(slash + 1) };
    });
  }

  /** The JSON the store should hold for the Sidecar `key`, or null when it does not exist. */
  sidecarJson(key: ObjectKey): string | null {
    return this.sidecars.get(serviceEntryId(key))?.json ?? null;
  }

  /** Every Sidecar in effect. */
  sidecarKeys(): ObjectKey[] {
    return [...this.sidecars.values()].map(({ sidecar }) => ({ namespace: sidecar.namespace, name: sidecar.name }));
  }

  /** The JSON the store should hold for the Gateway `key`, or null when it does not exist. */
  gatewayJson(key: ObjectKey): string | null {
    return this.gateways.get(serviceEntryId(key))?.json ?? null;
  }

  /** Every Gateway in effect. */
  gatewayKeys(): ObjectKey[] {
    return [...this.gateways.values()].map(({ gateway }) => ({ namespace: gateway.namespace, name: gateway.name }));
  }

  /**
   * The hash fields `key` should have (field -> JSON), or null when the ServiceEntry does not exist.
   * Endpoints come from inline `spec.endpoints` or from the WorkloadEntries the index says it selects;
   * DestinationRules are those whose host matches one of the ServiceEntry's hosts; siblings are the
   * other ServiceEntries of its namespace sharing one of its hosts, with their endpoints; VirtualServices
   * those with a host that does.
   */
  desiredFields(key: ObjectKey): Record<string, string> | null {
    const serviceEntry = this.index.serviceEntry(key);
    if (serviceEntry === undefined) return null;
    const id = serviceEntryId(key);
    return serviceEntryFields(
      serviceEntry,
      this.endpointsOf(key),
      this.rememberingEncoding,
      this.destinationRulesFor(serviceEntry.hosts),
      this.siblingIds(id).flatMap((sibling) => {
        const siblingKey = parseServiceEntryId(sibling);
        const siblingEntry = this.index.serviceEntry(siblingKey);
        return siblingEntry === undefined ? [] : [{ serviceEntry: siblingEntry, endpoints: this.endpointsOf(siblingKey) }];
      }),
      this.virtualServicesFor(serviceEntry.hosts),
    );
  }

  /** Inline endpoints and selected WorkloadEntries of a ServiceEntry in effect. */
  private endpointsOf(key: ObjectKey): NormalizedEndpoint[] {
    return [...(this.inlineEndpoints.get(serviceEntryId(key)) ?? []), ...this.index.selectedWorkloads(key)];
  }

  /**
   * The fields of `desiredFields(serviceEntry)` that hold the WorkloadEntry `workload`: its endpoint
   * field, and the field under each sibling (`sib:<name>:ep:...`), each with its text while that entry
   * selects the workload, without (undefined) when it does not.
   */
  desiredWorkloadFields(serviceEntry: ObjectKey, workload: ObjectKey): { readonly field: string; readonly text: string | undefined }[] {
    const endpoint = this.index.workload(workload);
    const selecting = endpoint === undefined ? [] : this.index.selectingServiceEntries(workload);
    const fieldIn = (entry: ObjectKey): { readonly field: string; readonly text: string | undefined } => {
      if (endpoint !== undefined && selecting.some((key) => key.namespace === entry.namespace && key.name === entry.name)) return this.rememberingEncoding.endpoint(endpoint);
      return { field: endpointField({ kind: 'WorkloadEntry', namespace: workload.namespace, name: workload.name }), text: undefined };
    };
    const fields = [fieldIn(serviceEntry)];
    for (const sibling of this.siblingIds(serviceEntryId(serviceEntry))) {
      const siblingKey = parseServiceEntryId(sibling);
      const { field, text } = fieldIn(siblingKey);
      fields.push({ field: siblingEndpointField(siblingKey.name, field), text });
    }
    return fields;
  }

  /** The DestinationRules in effect whose host matches one of `hosts`, by namespace and name. */
  destinationRulesFor(hosts: readonly string[]): NormalizedDestinationRule[] {
    return [...this.destinationRuleHosts.matching(hosts)].sort().flatMap((id) => this.destinationRuleById.get(id) ?? []);
  }

  /** The VirtualServices in effect with a host that matches one of `hosts`, by namespace and name. */
  virtualServicesFor(hosts: readonly string[]): NormalizedVirtualService[] {
    return [...this.virtualServiceHosts.matching(hosts)].sort().flatMap((id) => this.virtualServiceById.get(id) ?? []);
  }

  /** Every DestinationRule in effect, by namespace and name. */
  destinationRules(): NormalizedDestinationRule[] {
    return [...this.destinationRuleById.keys()].sort().flatMap((id) => this.destinationRuleById.get(id) ?? []);
  }

  /** Every object seen, valid or rejected, sorted by kind, namespace, name (for `/debug/configz`). */
  objects(): ObjectStatus[] {
    const all: ObjectStatus[] = [];
    for (const ofKind of this.statuses.values()) for (const status of ofKind.values()) all.push(status);
    return all.sort(
      (a, b) => a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
    );
  }

  /**
   * Objects whose latest version was rejected. A counter, not a walk over every object: `/debug/watcherz`
   * and the watcher's status call it, and at 200k objects a walk took milliseconds each time.
   */
  rejectedCount(): number {
    return this.rejected;
  }

  private statusesOf(kind: string): ObjectKeyMap<ObjectStatus> {
    let statuses = this.statuses.get(kind);
    if (statuses === undefined) {
      statuses = new ObjectKeyMap();
      this.statuses.set(kind, statuses);
    }
    return statuses;
  }

  /** Replaces `previous` (what `statuses` held for `key`) with `status`. */
  private setStatus(statuses: ObjectKeyMap<ObjectStatus>, key: ObjectKey, previous: ObjectStatus | undefined, status: ObjectStatus): void {
    if (previous?.rejection) this.rejected -= 1;
    if (status.rejection) this.rejected += 1;
    statuses.set(key, status);
  }
}
