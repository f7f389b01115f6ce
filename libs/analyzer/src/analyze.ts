/**
 * `skiffctl analyze`: validation plus checks across objects, reported the way `istioctl analyze`
 * reports (`Warning [CODE] (Kind ns/name file:line) message`). Each message has a fixed code and
 * level, so scripts can filter on them; a code's meaning never changes.
 *
 * Schema and validation problems reuse Istio's analyzer codes (IST0106 SchemaValidationError, IST0001
 * InternalError's place is taken by unparseable documents); DestinationRules get istioctl's own checks
 * with its codes (`destination-rules.ts`); the other cross-object checks are Skiff's own (SKF*), since
 * istiod has no analyzer for them.
 */
import {
  formatSourceRef,
  labelsMatch,
  objectLabel,
  type LoadResult,
  type NormalizedServiceEntry,
  type SourceRef,
} from '@skiff/model';
import { SelectorIndex } from '@skiff/selector-index';
import { analyzeDestinationRules } from './destination-rules.js';
import { DEFAULT_MESH_SETTINGS, serviceVisibility, type ServiceVisibility } from '@skiff/xds-translate';

export type Level = 'Info' | 'Warning' | 'Error';

/** Ordered from least to most severe, as `--failure-threshold` compares them. */
export const LEVELS: readonly Level[] = ['Info', 'Warning', 'Error'];

export interface MessageType {
  readonly code: string;
  readonly name: string;
  readonly level: Level;
}

/** Every message analyze can emit. */
export const MessageTypes = {
  SchemaValidationError: { code: 'IST0106', name: 'SchemaValidationError', level: 'Error' },
  SchemaValidationWarning: { code: 'IST0106', name: 'SchemaValidationError', level: 'Warning' },
  UnparseableDocument: { code: 'SKF0001', name: 'UnparseableDocument', level: 'Error' },
  SelectorMatchesNothing: { code: 'SKF0101', name: 'ServiceEntrySelectsNoWorkloads', level: 'Warning' },
  UnselectedWorkloadEntry: { code: 'SKF0102', name: 'WorkloadEntryNotSelected', level: 'Info' },
  ConflictingHostPort: { code: 'SKF0103', name: 'ConflictingServiceEntryHostPort', level: 'Warning' },
  UndefinedPortName: { code: 'SKF0104', name: 'WorkloadEntryPortNotDefined', level: 'Warning' },
  NoServerCertificateVerificationDestinationLevel: { code: 'IST0128', name: 'NoServerCertificateVerificationDestinationLevel', level: 'Warning' },
  NoServerCertificateVerificationPortLevel: { code: 'IST0129', name: 'NoServerCertificateVerificationPortLevel', level: 'Warning' },
  DestinationRuleSubsetNotSelectPods: { code: 'IST0173', name: 'DestinationRuleSubsetNotSelectPods', level: 'Error' },
  UnknownDestinationRuleHost: { code: 'IST0174', name: 'UnknownDestinationRuleHost', level: 'Warning' },
} as const satisfies Record<string, MessageType>;

export interface AnalysisObject {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** `file:line (document n)`, when known. */
  readonly origin?: string;
}

export interface AnalysisMessage {
  readonly code: string;
  readonly name: string;
  readonly level: Level;
  readonly message: string;
  /** The objects involved; the first is the one the message is about. */
  readonly objects: readonly AnalysisObject[];
}

const levelRank = (level: Level): number => LEVELS.indexOf(level);

/** True when `level` is at least as severe as `threshold`. */
export function atLeast(level: Level, threshold: Level): boolean {
  return levelRank(level) >= levelRank(threshold);
}

/** `Warning [SKF0101] (ServiceEntry ns/name file:3 (document 1)) message` */
export function formatMessage(message: AnalysisMessage): string {
  const subject = message.objects[0];
  const where = subject === undefined ? '' : ` (${objectLabel(subject.kind, subject.namespace, subject.name)}${subject.origin ? ` ${subject.origin}` : ''})`;
  return `${message.level} [${message.code}]${where} ${message.message}`;
}

function describe(type: MessageType, message: string, objects: readonly AnalysisObject[]): AnalysisMessage {
  return { code: type.code, name: type.name, level: type.level, message, objects };
}

const origin = (source: SourceRef): string => formatSourceRef(source);

/** Runs every check over one loaded configuration (`loadIstioConfig` / `loadConfigInputs`). */
export function analyze(load: LoadResult): AnalysisMessage[] {
  const messages: AnalysisMessage[] = [];
  for (const error of load.errors) {
    messages.push(describe(MessageTypes.UnparseableDocument, `${error.message} (document ${error.document}, line ${error.line})`, [{ kind: 'File', namespace: '', name: error.file }]));
  }
  for (const rejected of load.rejected) {
    const object = { kind: rejected.kind, namespace: rejected.namespace, name: rejected.name, origin: origin(rejected.source) };
    for (const error of rejected.errors) {
      messages.push(describe(MessageTypes.SchemaValidationError, error.field === '' ? error.reason : `${error.field}: ${error.reason}`, [object]));
    }
  }
  for (const accepted of load.accepted) {
    const object = { kind: accepted.kind, namespace: accepted.namespace, name: accepted.name, origin: origin(accepted.source) };
    for (const warning of accepted.warnings) {
      messages.push(describe(MessageTypes.SchemaValidationWarning, warning.field === '' ? warning.reason : `${warning.field}: ${warning.reason}`, [object]));
    }
  }

  const index = new SelectorIndex();
  const workloadOrigins = new Map<string, string>();
  for (const { endpoint, source } of load.workloadEntries) {
    index.upsertWorkload(endpoint);
    workloadOrigins.set(`${endpoint.source.namespace}/${endpoint.source.name}`, origin(source));
  }
  const serviceEntryOrigins = new Map<string, string>();
  for (const { serviceEntry, source } of load.serviceEntries) {
    index.upsertServiceEntry(serviceEntry);
    serviceEntryOrigins.set(`${serviceEntry.namespace}/${serviceEntry.name}`, origin(source));
  }
  const serviceEntryObject = (se: Pick<NormalizedServiceEntry, 'namespace' | 'name'>): AnalysisObject => ({
    kind: 'ServiceEntry',
    namespace: se.namespace,
    name: se.name,
    ...optionalOrigin(serviceEntryOrigins.get(`${se.namespace}/${se.name}`)),
  });
  const workloadObject = (namespace: string, name: string): AnalysisObject => ({
    kind: 'WorkloadEntry',
    namespace,
    name,
    ...optionalOrigin(workloadOrigins.get(`${namespace}/${name}`)),
  });

  // A selector that selects nothing: traffic to its hosts has nowhere to go.
  for (const { serviceEntry } of load.serviceEntries) {
    const selector = serviceEntry.workloadSelector;
    if (selector === null) continue;
    if (index.selectedWorkloads(serviceEntry).length > 0) continue;
    const labels = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',') || '(empty selector)';
    // Workloads with matching labels that the selection rule still excludes: unhealthy, or a hostname
    // address that only DNS resolutions may select.
    const excluded = load.workloadEntries.filter(({ endpoint }) => endpoint.namespace === serviceEntry.namespace && labelsMatch(selector, endpoint.labels)).length;
    const hint = excluded === 0 ? '' : `; ${excluded} WorkloadEntr${excluded === 1 ? 'y has' : 'ies have'} matching labels but ${excluded === 1 ? 'is' : 'are'} unhealthy or ${excluded === 1 ? 'has' : 'have'} a hostname address, which only DNS resolution selects`;
    messages.push(describe(MessageTypes.SelectorMatchesNothing, `workloadSelector ${labels} selects no WorkloadEntry in namespace ${serviceEntry.namespace}${hint}`, [serviceEntryObject(serviceEntry)]));
  }

  // A WorkloadEntry nothing selects: it receives no traffic from Skiff's clusters.
  for (const { endpoint } of load.workloadEntries) {
    const key = { namespace: endpoint.source.namespace, name: endpoint.source.name };
    if (index.selectingServiceEntries(key).length > 0) continue;
    messages.push(describe(MessageTypes.UnselectedWorkloadEntry, 'no ServiceEntry selects this WorkloadEntry', [workloadObject(key.namespace, key.name)]));
  }

  // Ports named in a WorkloadEntry's `ports` map that no selecting ServiceEntry defines are ignored.
  for (const { endpoint } of load.workloadEntries) {
    const key = { namespace: endpoint.source.namespace, name: endpoint.source.name };
    const selecting = index.selectingServiceEntries(key);
    if (selecting.length === 0) continue;
    for (const portName of Object.keys(endpoint.ports).sort()) {
      const definers = selecting.filter((se) => index.serviceEntry(se)?.ports.some((port) => port.name === portName));
      if (definers.length === selecting.length) continue;
      const missing = selecting.filter((se) => !definers.includes(se));
      messages.push(
        describe(
          MessageTypes.UndefinedPortName,
          `ports.${portName} is not a port name of ${missing.map((se) => `ServiceEntry ${se.namespace}/${se.name}`).join(', ')}, which ${missing.length === 1 ? 'selects' : 'select'} it; the mapping is ignored there`,
          [workloadObject(key.namespace, key.name), ...missing.map(serviceEntryObject)],
        ),
      );
    }
  }

  // The same host and port claimed by several ServiceEntries with different protocols or resolutions:
  // each proxy sees only one of them (docs/istio-behaviour.md#visibility), which one depends on its namespace and the ages.
  const claims = new Map<string, HostPortClaim[]>();
  for (const { serviceEntry } of load.serviceEntries) {
    for (const host of serviceEntry.hosts) {
      for (const port of serviceEntry.ports) {
        const claim = `${host}:${port.number}`;
        const list = claims.get(claim) ?? [];
        list.push({ serviceEntry, protocol: port.protocol });
        claims.set(claim, list);
      }
    }
  }
  for (const [claim, all] of [...claims].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    // Only claims some namespace sees together conflict: a proxy sees one ServiceEntry per host.
    const list = all.filter((c) => all.some((other) => other !== c && conflicting(c, other) && visibleTogether(c.serviceEntry, other.serviceEntry)));
    if (list.length < 2) continue;
    const protocols = new Set(list.map((c) => c.protocol || '(unset)'));
    const resolutions = new Set(list.map((c) => c.serviceEntry.resolution));
    const conflicts = [protocols.size > 1 ? `protocols ${[...protocols].sort().join(', ')}` : '', resolutions.size > 1 ? `resolutions ${[...resolutions].sort().join(', ')}` : '']
      .filter((part) => part !== '')
      .join(' and ');
    const ordered = [...list].sort((a, b) => a.serviceEntry.creationTime - b.serviceEntry.creationTime || (a.serviceEntry.name < b.serviceEntry.name ? -1 : 1));
    messages.push(
      describe(
        MessageTypes.ConflictingHostPort,
        `${claim} is claimed by ${list.length} ServiceEntries with conflicting ${conflicts}; each proxy uses only one of them`,
        ordered.map((c) => serviceEntryObject(c.serviceEntry)),
      ),
    );
  }

  const ruleOrigins = new Map(load.accepted.filter((a) => a.kind === 'DestinationRule').map((a) => [`${a.namespace}/${a.name}`, origin(a.source)]));
  for (const finding of analyzeDestinationRules(load)) {
    const { namespace, name } = finding.rule;
    messages.push(describe(MessageTypes[finding.type], finding.message, [{ kind: 'DestinationRule', namespace, name, ...optionalOrigin(ruleOrigins.get(`${namespace}/${name}`)) }]));
  }
  return messages;
}

interface HostPortClaim {
  readonly serviceEntry: NormalizedServiceEntry;
  readonly protocol: string;
}

const conflicting = (a: HostPortClaim, b: HostPortClaim): boolean => a.protocol !== b.protocol || a.serviceEntry.resolution !== b.serviceEntry.resolution;

/** Whether some namespace sees both ServiceEntries (exportTo, docs/istio-behaviour.md#visibility). */
function visibleTogether(a: NormalizedServiceEntry, b: NormalizedServiceEntry): boolean {
  const va = serviceVisibility(a, DEFAULT_MESH_SETTINGS);
  const vb = serviceVisibility(b, DEFAULT_MESH_SETTINGS);
  const reach = (v: ServiceVisibility): 'all' | readonly string[] => (v.kind === 'public' ? 'all' : v.kind === 'none' ? [] : v.namespaces);
  const ra = reach(va);
  const rb = reach(vb);
  if (ra === 'all') return rb === 'all' || rb.length > 0;
  if (rb === 'all') return ra.length > 0;
  return ra.some((namespace) => rb.includes(namespace));
}

function optionalOrigin(value: string | undefined): { origin?: string } {
  return value === undefined ? {} : { origin: value };
}
