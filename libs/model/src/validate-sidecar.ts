/**
 * Sidecar validation after istiod's webhook (`ValidateSidecar`, `validateSidecarOutboundTrafficPolicy`,
 * `validateSidecarEgressPortBindAndCaptureMode`, `validateSidecarIngressPortAndBind` in
 * `pkg/config/validation/validation.go`; `ValidateNamespaceSlashWildcardHostname` in
 * `pkg/config/validation/agent/validation.go`). Skiff uses a Sidecar's workload selector, egress
 * listeners and outbound traffic policy to scope what a proxy sees; ingress listeners and the inbound
 * connection pool are checked and then dropped, as Skiff serves no inbound configuration.
 *
 * istiod returns at the first selector error and at an empty spec; Skiff collects every error. Not
 * checked: the contents of ingress `tls` beyond the Sidecar-specific rules (`validateTLSOptions`), and
 * an egress proxy's `validateDestination` beyond its host and port.
 */
import type { FieldIssues } from './field-error.js';
import { isDNS1123Label, validateFQDN, validatePort, validatePortName, validateSelectorLabels, validateUnixAddress, validateWildcardDomain, validatePartialWildcard } from './istio-rules.js';
import { isIP } from './net.js';
import type { ObjectMeta, SidecarEgressListener, SidecarOutboundTrafficPolicy, SidecarPort, SidecarSpec } from './objects.js';
import { isHttpProtocol, isTlsProtocol, parseProtocol } from './protocol.js';
import {
  fieldPath,
  indexPath,
  isSet,
  keyPath,
  readBoolean,
  readEnum,
  readInteger,
  readList,
  readObject,
  readString,
  readStringList,
  readStringMap,
  UINT32,
  type JsonObject,
} from './read-fields.js';
import { validateConnectionPool } from './validate-destination-rule.js';

const UNIX_ADDRESS_PREFIX = 'unix://';
const CAPTURE_MODES = ['DEFAULT', 'IPTABLES', 'NONE'] as const;


/** `SidecarPort`: number, protocol, name (targetPort is deprecated and refused when set). */
function readSidecarPort(value: JsonObject, at: string, issues: FieldIssues): SidecarPort & { readonly targetPort: number } {
  return {
    number: readInteger(value['number'], fieldPath(at, 'number'), issues, UINT32) ?? 0,
    protocol: readString(value['protocol'], fieldPath(at, 'protocol'), issues) ?? '',
    name: readString(value['name'], fieldPath(at, 'name'), issues) ?? '',
    targetPort: readInteger(value['targetPort'], fieldPath(at, 'targetPort'), issues, UINT32) ?? 0,
  };
}

/** `ValidatePortName`, `ValidateProtocol` and `ValidatePort` on a listener port. */
function checkPortNameAndProtocol(port: SidecarPort, at: string, issues: FieldIssues): void {
  if (port.name.length > 0) {
    const reason = validatePortName(port.name);
    if (reason !== undefined) issues.error(fieldPath(at, 'name'), reason);
  }
  if (port.protocol !== '' && parseProtocol(port.protocol) === undefined) issues.error(fieldPath(at, 'protocol'), `unsupported protocol: ${port.protocol}`);
}

function checkBindIp(bind: string, at: string, issues: FieldIssues): void {
  if (bind.length !== 0 && !isIP(bind)) issues.error(at, `${bind} is not a valid IP`);
}

/**
 * `ValidateNamespaceSlashWildcardHostname(host, false, false)`: `namespace/dnsName` where the
 * namespace is `*`, `.`, or a DNS label, optionally `~`-prefixed, and the name is `*` or a FQDN
 * (wildcards only as a leading `*.` label).
 */
export function validateSidecarEgressHost(host: string): string[] {
  const slash = host.indexOf('/');
  if (slash === -1) return ['host must be of form namespace/dnsName'];
  const namespace = host.slice(0, slash);
  const name = host.slice(slash + 1);
  const reasons: string[] = [];
  if (namespace.length === 0 || name.length === 0) reasons.push('config namespace and dnsName in host entry cannot be empty');
  const bare = namespace.startsWith('~') ? namespace.slice(1) : namespace;
  if (bare !== '' && bare !== '*' && bare !== '.' && !isDNS1123Label(bare)) reasons.push(`invalid namespace value "${namespace}" in sidecar`);
  if (name !== '*' && !name.includes('.')) reasons.push('short names (non FQDN) are not allowed');
  // istiod appends the domain error twice for a name that is not an IP either; one report is enough.
  const domainError = validateWildcardDomain(name);
  if (domainError !== undefined) reasons.push(domainError);
  const partial = validatePartialWildcard(name);
  if (partial !== undefined) reasons.push(partial);
  return reasons;
}

function validateIngress(value: unknown, issues: FieldIssues): void {
  const ports = new Set<number>();
  (readList(value, 'spec.ingress', issues) ?? []).forEach((item, index) => {
    const at = indexPath('spec.ingress', index);
    if (item === null) {
      issues.error(at, 'sidecar: ingress may not be null');
      return;
    }
    const listener = readObject(item, at, issues);
    if (listener === undefined) return;
    const portObject = readObject(listener['port'], fieldPath(at, 'port'), issues);
    if (portObject === undefined) {
      issues.error(fieldPath(at, 'port'), 'sidecar: port is required for ingress listeners');
      return;
    }
    const portPath = fieldPath(at, 'port');
    const port = readSidecarPort(portObject, portPath, issues);
    if (port.targetPort > 0) issues.error(fieldPath(portPath, 'targetPort'), 'targetPort has no impact on Sidecars');
    checkPortNameAndProtocol(port, portPath, issues);
    const portError = validatePort(port.number);
    if (portError !== undefined) issues.error(fieldPath(portPath, 'number'), portError);
    checkBindIp(readString(listener['bind'], fieldPath(at, 'bind'), issues) ?? '', fieldPath(at, 'bind'), issues);
    if (ports.has(port.number)) issues.error(fieldPath(portPath, 'number'), 'sidecar: ports on IP bound listeners must be unique');
    ports.add(port.number);
    validateDefaultEndpoint(readString(listener['defaultEndpoint'], fieldPath(at, 'defaultEndpoint'), issues) ?? '', fieldPath(at, 'defaultEndpoint'), issues);
    const tls = readObject(listener['tls'], fieldPath(at, 'tls'), issues);
    if (tls !== undefined) validateIngressTls(tls, port, fieldPath(at, 'tls'), issues);
    const pool = readObject(listener['connectionPool'], fieldPath(at, 'connectionPool'), issues);
    if (pool !== undefined) {
      validateConnectionPool(pool, fieldPath(at, 'connectionPool'), issues);
      if (pool['http'] !== undefined && pool['http'] !== null && !isHttpProtocol(parseProtocol(port.protocol))) {
        issues.warning(
          fieldPath(at, 'connectionPool'),
          `sidecar: HTTP connection pool settings are configured for port ${port.number} ("${port.name}") but its protocol is not HTTP (${port.protocol}); only TCP settings will apply`,
        );
      }
    }
  });
}

/** `127.0.0.1:port`, `0.0.0.0:port`, `[::1]:port`, `[::]:port`, `:port` or `unix://path`. */
function validateDefaultEndpoint(endpoint: string, at: string, issues: FieldIssues): void {
  if (endpoint.length === 0) return;
  if (endpoint.startsWith(UNIX_ADDRESS_PREFIX)) {
    const reason = validateUnixAddress(endpoint.slice(UNIX_ADDRESS_PREFIX.length));
    if (reason !== undefined) issues.error(at, reason);
    return;
  }
  const split = splitHostPort(endpoint);
  if (split === undefined) {
    issues.error(at, `address ${endpoint}: missing port in address`);
    return;
  }
  const { host, port } = split;
  if (host !== '' && host !== '127.0.0.1' && host !== '0.0.0.0' && host !== '::1' && host !== '::') {
    issues.error(at, 'sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset');
  }
  if (!/^[+-]?\d+$/.test(port)) {
    issues.error(at, `sidecar: defaultEndpoint port (${port}) is not a number: strconv.Atoi: parsing "${port}": invalid syntax`);
    return;
  }
  const portError = validatePort(Number(port));
  if (portError !== undefined) issues.error(at, portError);
}

/** Go's `net.SplitHostPort`, enough for the endpoint forms above. */
function splitHostPort(address: string): { host: string; port: string } | undefined {
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close === -1 || address[close + 1] !== ':') return undefined;
    return { host: address.slice(1, close), port: address.slice(close + 2) };
  }
  const colon = address.lastIndexOf(':');
  if (colon === -1 || address.indexOf(':') !== colon) return undefined;
  return { host: address.slice(0, colon), port: address.slice(colon + 1) };
}

function validateIngressTls(tls: JsonObject, port: SidecarPort, at: string, issues: FieldIssues): void {
  if (readStringList(tls['subjectAltNames'], fieldPath(at, 'subjectAltNames'), issues).length > 0) issues.error(fieldPath(at, 'subjectAltNames'), 'sidecar: subjectAltNames is not supported in ingress tls');
  if (readBoolean(tls['httpsRedirect'], fieldPath(at, 'httpsRedirect'), issues) === true) issues.error(fieldPath(at, 'httpsRedirect'), 'sidecar: httpsRedirect is not supported');
  if ((readString(tls['credentialName'], fieldPath(at, 'credentialName'), issues) ?? '') !== '') issues.error(fieldPath(at, 'credentialName'), 'sidecar: credentialName is not currently supported');
  if (readStringList(tls['credentialNames'], fieldPath(at, 'credentialNames'), issues).length > 0) issues.error(fieldPath(at, 'credentialNames'), 'sidecar: credentialNames is not currently supported');
  if ((readList(tls['tlsCertificates'], fieldPath(at, 'tlsCertificates'), issues) ?? []).length > 0) issues.error(fieldPath(at, 'tlsCertificates'), 'sidecar: tls_certificates is not currently supported');
  const mode = readEnum(tls['mode'], fieldPath(at, 'mode'), issues, ['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL']);
  if (mode === 'ISTIO_MUTUAL' || mode === 'AUTO_PASSTHROUGH') issues.error(fieldPath(at, 'mode'), `configuration is invalid: cannot set mode to ${mode} in sidecar ingress tls`);
  if (!isTlsProtocol(parseProtocol(port.protocol))) issues.error(at, 'server cannot have TLS settings for non HTTPS/TLS ports');
}

function validateEgress(value: unknown, namespace: string, issues: FieldIssues): SidecarEgressListener[] {
  const listeners: SidecarEgressListener[] = [];
  const list = readList(value, 'spec.egress', issues) ?? [];
  const ports = new Set<number>();
  const sockets = new Set<string>();
  let catchAllFound = false;
  list.forEach((item, index) => {
    const at = indexPath('spec.egress', index);
    if (item === null) {
      issues.error(at, 'egress listener may not be null');
      return;
    }
    const listener = readObject(item, at, issues);
    if (listener === undefined) return;
    const portPath = fieldPath(at, 'port');
    const portObject = readObject(listener['port'], portPath, issues);
    const bind = readString(listener['bind'], fieldPath(at, 'bind'), issues) ?? '';
    const captureMode = readEnum(listener['captureMode'], fieldPath(at, 'captureMode'), issues, CAPTURE_MODES) ?? 'DEFAULT';
    let port: SidecarPort | undefined;
    // There can be one catch-all listener (no port), and it must be the last.
    if (portObject === undefined) {
      if (catchAllFound) {
        issues.error(at, 'sidecar: egress can have only one listener with empty port');
        return;
      }
      if (index === list.length - 1) catchAllFound = true;
      else issues.error(at, 'sidecar: the egress listener with empty port should be the last listener in the list');
    } else {
      const read = readSidecarPort(portObject, portPath, issues);
      port = { number: read.number, protocol: read.protocol, name: read.name };
      if (read.targetPort > 0) issues.error(fieldPath(portPath, 'targetPort'), 'targetPort has no impact on Sidecars');
      checkPortNameAndProtocol(port, portPath, issues);
      if (port.number === 0) {
        if (!bind.startsWith(UNIX_ADDRESS_PREFIX)) {
          issues.error(fieldPath(at, 'bind'), 'sidecar: ports with 0 value must have a unix domain socket bind address');
        } else {
          const reason = validateUnixAddress(bind.slice(UNIX_ADDRESS_PREFIX.length));
          if (reason !== undefined) issues.error(fieldPath(at, 'bind'), reason);
        }
        if (captureMode !== 'DEFAULT' && captureMode !== 'NONE') issues.error(fieldPath(at, 'captureMode'), 'sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners');
        if (sockets.has(bind)) issues.error(fieldPath(at, 'bind'), 'sidecar: unix domain socket values for listeners must be unique');
        sockets.add(bind);
      } else {
        const portError = validatePort(port.number);
        if (portError !== undefined) issues.error(fieldPath(portPath, 'number'), portError);
        checkBindIp(bind, fieldPath(at, 'bind'), issues);
        if (ports.has(port.number)) issues.error(fieldPath(portPath, 'number'), 'sidecar: ports on IP bound listeners must be unique');
        ports.add(port.number);
      }
    }
    const hostsPath = fieldPath(at, 'hosts');
    const hosts = readStringList(listener['hosts'], hostsPath, issues);
    if (hosts.length === 0) issues.error(hostsPath, 'sidecar: egress listener must contain at least one host');
    checkEgressHosts(hosts, namespace, hostsPath, issues);
    listeners.push({ ...(port === undefined ? {} : { port }), bind, hosts });
  });
  return listeners;
}

/** Per-host rules, and istiod's warnings for hosts a broader import already covers. */
function checkEgressHosts(hosts: readonly string[], namespace: string, at: string, issues: FieldIssues): void {
  const imported = new Map<string, Set<string>>();
  hosts.forEach((host, index) => {
    const hostPath = indexPath(at, index);
    const slash = host.indexOf('/');
    if (slash !== -1 && !host.startsWith('~')) {
      const hostNamespace = host.slice(0, slash) === '.' ? namespace : host.slice(0, slash);
      const name = host.slice(slash + 1);
      let names = imported.get(hostNamespace);
      if (names === undefined) imported.set(hostNamespace, (names = new Set()));
      const duplicate = name === '*' ? names.size !== 0 : names.has(name) || names.has('*');
      if (duplicate) issues.warning(hostPath, `duplicated egress host: ${host}`);
      names.add(name);
    }
    for (const reason of validateSidecarEgressHost(host)) issues.error(hostPath, reason);
  });
  if (imported.get('*')?.has('*') === true && imported.size !== 1) issues.warning(at, '`*/*` host select all resources, no other hosts can be added');
}

function validateOutboundTrafficPolicy(value: unknown, issues: FieldIssues): SidecarOutboundTrafficPolicy | undefined {
  const at = 'spec.outboundTrafficPolicy';
  const policy = readObject(value, at, issues);
  if (policy === undefined) return undefined;
  const modeName = readString(policy['mode'], fieldPath(at, 'mode'), issues) ?? 'REGISTRY_ONLY';
  if (modeName === 'ALLOW_ANY_DYNAMIC_DNS') {
    issues.error(fieldPath(at, 'mode'), 'sidecar: ALLOW_ANY_DYNAMIC_DNS mode is only supported in MeshConfig, not in Sidecar resource');
    return undefined;
  }
  if (modeName !== 'REGISTRY_ONLY' && modeName !== 'ALLOW_ANY') {
    issues.error(fieldPath(at, 'mode'), `unsupported value ${JSON.stringify(modeName)}: must be one of REGISTRY_ONLY, ALLOW_ANY`);
    return undefined;
  }
  const proxyPath = fieldPath(at, 'egressProxy');
  const proxy = readObject(policy['egressProxy'], proxyPath, issues);
  if (proxy === undefined) return { mode: modeName };
  if (modeName !== 'ALLOW_ANY') {
    issues.error(proxyPath, 'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode');
    return { mode: modeName };
  }
  const host = readString(proxy['host'], fieldPath(proxyPath, 'host'), issues) ?? '';
  const hostError = validateFQDN(host);
  if (hostError !== undefined) issues.error(fieldPath(proxyPath, 'host'), hostError);
  const subset = readString(proxy['subset'], fieldPath(proxyPath, 'subset'), issues);
  const portObject = readObject(proxy['port'], fieldPath(proxyPath, 'port'), issues);
  if (portObject === undefined) {
    issues.error(fieldPath(proxyPath, 'port'), 'sidecar: egress_proxy port must be non-nil');
    return { mode: modeName, egressProxy: { host, ...(subset === undefined ? {} : { subset }) } };
  }
  const number = readInteger(portObject['number'], fieldPath(fieldPath(proxyPath, 'port'), 'number'), issues, UINT32) ?? 0;
  const portError = validatePort(number);
  if (portError !== undefined) issues.error(fieldPath(fieldPath(proxyPath, 'port'), 'number'), portError);
  return { mode: modeName, egressProxy: { host, port: number, ...(subset === undefined ? {} : { subset }) } };
}

/** istiod `ValidateSidecar`. */
export function validateSidecar(rawSpec: unknown, metadata: ObjectMeta, issues: FieldIssues): SidecarSpec {
  const object = readObject(rawSpec, 'spec', issues) ?? {};
  let workloadSelector: { labels: Record<string, string> } | undefined;
  const selector = readObject(object['workloadSelector'], 'spec.workloadSelector', issues);
  if (selector !== undefined) {
    workloadSelector = { labels: readStringMap(selector['labels'], 'spec.workloadSelector.labels', issues) };
    for (const { key, reason } of validateSelectorLabels(workloadSelector.labels)) issues.error(keyPath('spec.workloadSelector.labels', key), reason);
    if (Object.keys(workloadSelector.labels).length === 0) {
      issues.warning('spec.workloadSelector', 'sidecar: workload selector specified without labels, will be applied to all services in namespace');
    }
  }
  if (!['egress', 'ingress', 'outboundTrafficPolicy', 'inboundConnectionPool'].some((name) => isSet(object, name))) {
    issues.error('spec', 'sidecar: empty configuration provided');
    return { ...(workloadSelector === undefined ? {} : { workloadSelector }), egress: [] };
  }
  validateIngress(object['ingress'], issues);
  const inboundPool = readObject(object['inboundConnectionPool'], 'spec.inboundConnectionPool', issues);
  if (inboundPool !== undefined) validateConnectionPool(inboundPool, 'spec.inboundConnectionPool', issues);
  const egress = validateEgress(object['egress'], metadata.namespace, issues);
  const outboundTrafficPolicy = validateOutboundTrafficPolicy(object['outboundTrafficPolicy'], issues);
  return {
    ...(workloadSelector === undefined ? {} : { workloadSelector }),
    egress,
    ...(outboundTrafficPolicy === undefined ? {} : { outboundTrafficPolicy }),
  };
}
