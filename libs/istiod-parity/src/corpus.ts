/**
 * Parity cases: Istio YAML and the proxies it is asked as. Every namespace a case names gets an Envoy
 * sidecar and a proxyless gRPC client (subscribed to every `HOST:PORT` the case's ServiceEntries
 * define), and so does `default`, where proxies land when nothing says otherwise.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parityProxy, type ParityProxy } from './proxies.js';

export interface ParityCase {
  /** Unique, file-name safe: the golden's name. */
  readonly name: string;
  readonly config: string;
  /** MeshConfig YAML (`<case>.mesh-config.yaml` beside the case), when not istiod's defaults. */
  readonly meshConfig?: string;
  readonly proxies: readonly ParityProxy[];
}

interface ObjectSummary {
  readonly kind: string;
  readonly namespace: string;
  readonly hosts: readonly string[];
  readonly ports: readonly number[];
  readonly addresses: readonly string[];
  /** A Gateway's `spec.selector` (undefined when unset). */
  readonly selector?: Readonly<Record<string, string>>;
}

function summarize(config: string): ObjectSummary[] {
  const out: ObjectSummary[] = [];
  for (const document of parseAllDocuments(config)) {
    if (document.errors.length > 0) continue;
    const value = document.toJS() as unknown;
    if (typeof value !== 'object' || value === null) continue;
    const object = value as { kind?: unknown; metadata?: { namespace?: unknown }; spec?: { hosts?: unknown; ports?: unknown; addresses?: unknown; selector?: unknown } };
    if (typeof object.kind !== 'string') continue;
    const namespace = typeof object.metadata?.namespace === 'string' && object.metadata.namespace !== '' ? object.metadata.namespace : 'default';
    const hosts = Array.isArray(object.spec?.hosts) ? object.spec.hosts.filter((h): h is string => typeof h === 'string') : [];
    const ports = Array.isArray(object.spec?.ports)
      ? object.spec.ports.map((p: unknown) => (typeof p === 'object' && p !== null ? (p as { number?: unknown }).number : undefined)).filter((n): n is number => typeof n === 'number')
      : [];
    const addresses = Array.isArray(object.spec?.addresses) ? object.spec.addresses.filter((a): a is string => typeof a === 'string') : [];
    const selector =
      typeof object.spec?.selector === 'object' && object.spec.selector !== null && !Array.isArray(object.spec.selector)
        ? Object.fromEntries(Object.entries(object.spec.selector).filter((entry): entry is [string, string] => typeof entry[1] === 'string'))
        : undefined;
    out.push({ kind: object.kind, namespace, hosts, ports, addresses, ...(selector === undefined ? {} : { selector }) });
  }
  return out;
}

/** The `HOST:PORT` targets a gRPC client could dial: every non-wildcard host of every ServiceEntry with every port. */
export function grpcTargetsOf(config: string): string[] {
  const targets = new Set<string>();
  for (const object of summarize(config)) {
    if (object.kind !== 'ServiceEntry') continue;
    for (const host of object.hosts) {
      if (host.includes('*')) continue;
      for (const port of object.ports) targets.add(`${host}:${port}`);
    }
  }
  return [...targets].sort();
}

/**
 * Each host of a ServiceEntry with several addresses, with those addresses. istiod makes one service
 * per address and serves the host from one of them, chosen anew on each push (map order), so which
 * address a gRPC listener and route carry is not istiod's to decide the same way twice.
 */
export function multiAddressHosts(config: string): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  const entries = summarize(config).filter((object) => object.kind === 'ServiceEntry');
  const claims = new Map<string, number>();
  for (const object of entries) for (const host of object.hosts) claims.set(host, (claims.get(host) ?? 0) + object.addresses.length);
  for (const object of entries) {
    // Several addresses for one host, from one entry or from several.
    if (!object.hosts.some((host) => (claims.get(host) ?? 0) > 1)) continue;
    for (const host of object.hosts) if ((claims.get(host) ?? 0) > 1) out.set(host, [...new Set([...(out.get(host) ?? []), ...object.addresses])]);
  }
  return out;
}

/**
 * Hosts that share an address with another host (one entry with several hosts and an address, or
 * entries of different hosts with one address). istiod builds a proxyless gRPC route by building every
 * virtual host of the port and keeping the asked host's; an address domain goes to the first virtual
 * host that has it and is stripped from the later ones (`dedupeDomains`), and the services come in Go
 * map order (`BuildSidecarVirtualHostWrapper` ranges over a map), so which of these hosts' routes
 * carries `ADDRESS` and `ADDRESS:PORT` changes from one istiod run to the next.
 */
export function sharedAddressHosts(config: string): Set<string> {
  const hostsByAddress = new Map<string, Set<string>>();
  for (const object of summarize(config)) {
    if (object.kind !== 'ServiceEntry') continue;
    for (const address of object.addresses) {
      let hosts = hostsByAddress.get(address);
      if (hosts === undefined) hostsByAddress.set(address, (hosts = new Set()));
      for (const host of object.hosts) hosts.add(host);
    }
  }
  const shared = new Set<string>();
  for (const hosts of hostsByAddress.values()) if (hosts.size > 1) for (const host of hosts) shared.add(host);
  return shared;
}

/** The namespaces a case names, plus `default`. */
export function namespacesOf(config: string): string[] {
  return [...new Set(['default', ...summarize(config).map((o) => o.namespace)])].sort();
}

/**
 * Routers for a case with Gateways: in each Gateway's namespace, one with the Gateway's selector as its
 * labels (selected) and one without labels (selected only by a Gateway without selector).
 */
export function routerProxies(config: string): ParityProxy[] {
  const routers = new Map<string, ParityProxy>();
  for (const object of summarize(config)) {
    if (object.kind !== 'Gateway') continue;
    for (const labels of [object.selector ?? {}, {}]) {
      const proxy = parityProxy('router', { namespace: object.namespace, labels });
      const name = `${proxy.name}${Object.keys(labels).length === 0 ? '' : `/${Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort().join(',')}`}`;
      routers.set(name, { ...proxy, name });
    }
  }
  return [...routers.values()];
}

/** A sidecar and a gRPC client in every namespace of the case, and routers for its Gateways. */
export function defaultProxies(config: string): ParityProxy[] {
  const listeners = grpcTargetsOf(config);
  return [...namespacesOf(config).flatMap((namespace) => [parityProxy('sidecar', { namespace }), parityProxy('grpc', { namespace, listeners })]), ...routerProxies(config)];
}

export function parityCase(name: string, config: string, extraProxies: readonly ExtraProxy[] = [], meshConfig?: string): ParityCase {
  const listeners = grpcTargetsOf(config);
  const extra = extraProxies.map((proxy) => parityProxy(proxy.kind, { namespace: proxy.namespace, ...(proxy.labels === undefined ? {} : { labels: proxy.labels }), ...(proxy.locality === undefined ? {} : { locality: proxy.locality }), ...(proxy.kind === 'grpc' ? { listeners } : {}) }));
  return { name, config, ...(meshConfig === undefined ? {} : { meshConfig }), proxies: [...defaultProxies(config), ...extra] };
}

/**
 * More proxies a case is asked as, from `<case>.proxies.json` beside its YAML: a list of
 * `{kind, namespace, locality?, labels?}` (for locality load balancing, which depends on both).
 */
export interface ExtraProxy {
  readonly kind: 'sidecar' | 'grpc';
  readonly namespace: string;
  readonly locality?: { readonly region: string; readonly zone: string; readonly subZone: string };
  readonly labels?: Readonly<Record<string, string>>;
}

function extraProxiesOf(yamlFile: string): ExtraProxy[] {
  const path = yamlFile.replace(/\.(ya?ml)$/, '.proxies.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value)) throw new Error(`${path}: expected a list of proxies`);
  return value.map((item: unknown, index) => {
    const proxy = item as Partial<ExtraProxy>;
    if ((proxy.kind !== 'sidecar' && proxy.kind !== 'grpc') || typeof proxy.namespace !== 'string') throw new Error(`${path}[${index}]: kind (sidecar or grpc) and namespace are required`);
    return proxy as ExtraProxy;
  });
}

/** The suffix of a case's MeshConfig file, beside its YAML (not a case itself). */
const MESH_CONFIG_SUFFIX = '.mesh-config.yaml';

/** The MeshConfig YAML of a case, from `<case>.mesh-config.yaml` beside it, if there is one. */
function meshConfigOf(yamlFile: string): string | undefined {
  try {
    return readFileSync(yamlFile.replace(/\.(ya?ml)$/, MESH_CONFIG_SUFFIX), 'utf8');
  } catch {
    return undefined;
  }
}

function yamlFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) for (const item of yamlFilesUnder(path)) out.push(item);
    else if (/\.(ya?ml)$/.test(entry) && !entry.endsWith(MESH_CONFIG_SUFFIX)) out.push(path);
  }
  return out;
}

const REPO_ROOT = new URL('../../../', import.meta.url);

/** Where the corpus comes from, relative to the repository root; each YAML file is a case. */
export const CORPUS_SOURCES: readonly { readonly prefix: string; readonly dir: string }[] = [
  { prefix: 'translate', dir: 'libs/xds-translate/testdata/in' },
  { prefix: 'translate', dir: 'libs/xds-translate/testdata/destination-rules/in' },
  { prefix: 'examples', dir: 'examples' },
  { prefix: 'istio', dir: 'libs/model/testdata/istio' },
  { prefix: 'parity', dir: 'libs/istiod-parity/testdata/cases' },
];

/** Every case of the corpus, named `<prefix>-<path>` with slashes as dashes. */
export function loadCorpus(root: URL = REPO_ROOT): ParityCase[] {
  const cases: ParityCase[] = [];
  for (const source of CORPUS_SOURCES) {
    const dir = new URL(`${source.dir}/`, root).pathname;
    let files: string[];
    try {
      files = yamlFilesUnder(dir);
    } catch {
      continue;
    }
    for (const file of files) {
      const name = `${source.prefix}-${relative(dir, file).replace(/\.(ya?ml)$/, '').replaceAll('/', '-')}`;
      cases.push(parityCase(name || basename(file), readFileSync(file, 'utf8'), extraProxiesOf(file), meshConfigOf(file)));
    }
  }
  return cases;
}
