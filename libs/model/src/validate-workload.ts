/**
 * WorkloadEntry (and the WorkloadEntry-shaped `ServiceEntry.spec.endpoints[]`) and WorkloadGroup
 * validation, after istiod's webhook: `validateWorkloadEntry`, `ValidateWorkloadGroup` and
 * `validateReadinessProbe` in `pkg/config/validation/validation.go`.
 */
import type { FieldIssues } from './field-error.js';
import { isIP } from './net.js';
import {
  goQuote,
  validateFQDN,
  validateLabels,
  validatePort,
  validatePortName,
  validateUnixAddress,
} from './istio-rules.js';
import type { HttpHeader, ReadinessProbe, WorkloadEntrySpec, WorkloadGroupSpec } from './objects.js';
import {
  checkOneOf,
  fieldPath,
  indexPath,
  INT32,
  keyPath,
  readInteger,
  readIntegerMap,
  readList,
  readObject,
  readString,
  readStringList,
  readStringMap,
  UINT32,
  warnUnknownFields,
  type JsonObject,
} from './read-fields.js';

export const UNIX_ADDRESS_PREFIX = 'unix://';

const WORKLOAD_ENTRY_FIELDS = ['address', 'ports', 'labels', 'network', 'locality', 'weight', 'serviceAccount'];

/** Reads a WorkloadEntry-shaped object; `at` is its path (`spec`, `spec.endpoints[2]`, `spec.template`). */
export function readWorkloadEntrySpec(object: JsonObject, at: string, issues: FieldIssues): WorkloadEntrySpec {
  warnUnknownFields(object, WORKLOAD_ENTRY_FIELDS, at, issues);
  // Assigned one by one (not spread) so every spec has one shape: this runs once per WorkloadEntry.
  const spec: { -readonly [K in keyof WorkloadEntrySpec]: WorkloadEntrySpec[K] } = {};
  const address = readString(object['address'], fieldPath(at, 'address'), issues);
  if (address !== undefined) spec.address = address;
  const ports = readIntegerMap(object['ports'], fieldPath(at, 'ports'), issues, UINT32);
  if (ports !== undefined) spec.ports = ports;
  if (object['labels'] !== undefined && object['labels'] !== null) spec.labels = readStringMap(object['labels'], fieldPath(at, 'labels'), issues);
  const network = readString(object['network'], fieldPath(at, 'network'), issues);
  if (network !== undefined) spec.network = network;
  const locality = readString(object['locality'], fieldPath(at, 'locality'), issues);
  if (locality !== undefined) spec.locality = locality;
  const weight = readInteger(object['weight'], fieldPath(at, 'weight'), issues, UINT32);
  if (weight !== undefined) spec.weight = weight;
  const serviceAccount = readString(object['serviceAccount'], fieldPath(at, 'serviceAccount'), issues);
  if (serviceAccount !== undefined) spec.serviceAccount = serviceAccount;
  return spec;
}

/**
 * istiod `validateWorkloadEntry(we, servicePorts, allowFQDNAddresses)`. `servicePorts` is the set of the
 * ServiceEntry's port names for inline endpoints, `undefined` for a WorkloadEntry object.
 */
export function validateWorkloadEntrySpec(
  spec: WorkloadEntrySpec,
  at: string,
  issues: FieldIssues,
  servicePorts: ReadonlySet<string> | undefined,
  allowFQDNAddresses: boolean,
): void {
  const address = spec.address ?? '';
  const addressPath = fieldPath(at, 'address');
  if (address === '') {
    if ((spec.network ?? '') === '') {
      // istiod stops here: nothing else about an address-less, network-less workload matters.
      issues.error(addressPath, 'address is required');
      return;
    }
    issues.warning(addressPath, `address is unset with network ${goQuote(spec.network ?? '')}`);
  }

  const ports = spec.ports ?? {};
  const isUnix = address.startsWith(UNIX_ADDRESS_PREFIX);
  if (isUnix) {
    const unixError = validateUnixAddress(address.slice(UNIX_ADDRESS_PREFIX.length));
    if (unixError !== undefined) issues.error(addressPath, unixError);
    if (Object.keys(ports).length !== 0) issues.error(fieldPath(at, 'ports'), `unix endpoint ${address} must not include ports`);
  } else if (address !== '' && !isIP(address)) {
    // Not an IP: a hostname for DNS resolution, which STATIC ServiceEntries cannot use.
    if (!allowFQDNAddresses) issues.error(addressPath, `endpoint address ${goQuote(address)} is not a valid IP address`);
    else if (validateFQDN(address) !== undefined) issues.error(addressPath, `endpoint address ${goQuote(address)} is not a valid FQDN or an IP address`);
  }

  validateEndpointPorts(ports, fieldPath(at, 'ports'), issues, servicePorts);
  for (const { key, reason } of validateLabels(spec.labels ?? {})) issues.error(keyPath(fieldPath(at, 'labels'), key), reason);
  if (isUnix && servicePorts !== undefined && servicePorts.size !== 1) {
    issues.error(addressPath, 'exactly 1 service port required for unix endpoints');
  }
}

/** Endpoint port names must be DNS labels (and, inline, ServiceEntry port names); numbers 1..65535. */
export function validateEndpointPorts(
  ports: Readonly<Record<string, number>>,
  at: string,
  issues: FieldIssues,
  servicePorts: ReadonlySet<string> | undefined,
): void {
  for (const name in ports) {
    const port = ports[name] as number;
    // istiod names the port by number here (`%v` of the port value).
    const undefinedPort = servicePorts !== undefined && !servicePorts.has(name);
    const nameError = validatePortName(name);
    const portError = validatePort(port);
    if (!undefinedPort && nameError === undefined && portError === undefined) continue;
    // The path is built only for a finding: this runs for every port of every WorkloadEntry.
    const portPath = keyPath(at, name);
    if (undefinedPort) issues.error(portPath, `endpoint port ${port} is not defined by the service entry`);
    if (nameError !== undefined) issues.error(portPath, nameError);
    if (portError !== undefined) issues.error(portPath, portError);
  }
}

/** WorkloadEntry objects may use hostnames (`ValidateWorkloadEntry` passes `allowFQDN=true`). */
export function validateWorkloadEntry(rawSpec: unknown, issues: FieldIssues): WorkloadEntrySpec {
  const object = readObject(rawSpec, 'spec', issues) ?? {};
  const spec = readWorkloadEntrySpec(object, 'spec', issues);
  validateWorkloadEntrySpec(spec, 'spec', issues, undefined, true);
  return spec;
}

const PROBE_FIELDS = ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold', 'httpGet', 'tcpSocket', 'exec', 'grpc'];
const PROBE_METHODS = ['httpGet', 'tcpSocket', 'exec', 'grpc'];
const PROBE_COUNTERS = ['periodSeconds', 'initialDelaySeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold'] as const;

function readProbe(object: JsonObject, at: string, issues: FieldIssues): ReadinessProbe {
  warnUnknownFields(object, PROBE_FIELDS, at, issues);
  checkOneOf(object, PROBE_METHODS, at, issues);
  const probe: { -readonly [K in keyof ReadinessProbe]: ReadinessProbe[K] } = {};
  for (const counter of PROBE_COUNTERS) {
    const value = readInteger(object[counter], fieldPath(at, counter), issues, INT32);
    if (value !== undefined) probe[counter] = value;
  }
  const port = (method: JsonObject, methodPath: string): number => readInteger(method['port'], fieldPath(methodPath, 'port'), issues, UINT32) ?? 0;

  const httpGetPath = fieldPath(at, 'httpGet');
  const httpGet = readObject(object['httpGet'], httpGetPath, issues);
  if (httpGet !== undefined) {
    warnUnknownFields(httpGet, ['path', 'port', 'host', 'scheme', 'httpHeaders'], httpGetPath, issues);
    const headersPath = fieldPath(httpGetPath, 'httpHeaders');
    const httpHeaders = (readList(httpGet['httpHeaders'], headersPath, issues) ?? []).map((header, index): HttpHeader | null => {
      const headerPath = indexPath(headersPath, index);
      const headerObject = readObject(header, headerPath, issues);
      if (headerObject === undefined) return null;
      const value = readString(headerObject['value'], fieldPath(headerPath, 'value'), issues);
      return { name: readString(headerObject['name'], fieldPath(headerPath, 'name'), issues) ?? '', ...(value === undefined ? {} : { value }) };
    });
    const path = readString(httpGet['path'], fieldPath(httpGetPath, 'path'), issues);
    const host = readString(httpGet['host'], fieldPath(httpGetPath, 'host'), issues);
    const scheme = readString(httpGet['scheme'], fieldPath(httpGetPath, 'scheme'), issues);
    probe.httpGet = {
      port: port(httpGet, httpGetPath),
      httpHeaders,
      ...(path === undefined ? {} : { path }),
      ...(host === undefined ? {} : { host }),
      ...(scheme === undefined ? {} : { scheme }),
    };
  }
  const tcpSocketPath = fieldPath(at, 'tcpSocket');
  const tcpSocket = readObject(object['tcpSocket'], tcpSocketPath, issues);
  if (tcpSocket !== undefined) {
    warnUnknownFields(tcpSocket, ['host', 'port'], tcpSocketPath, issues);
    const host = readString(tcpSocket['host'], fieldPath(tcpSocketPath, 'host'), issues);
    probe.tcpSocket = { port: port(tcpSocket, tcpSocketPath), ...(host === undefined ? {} : { host }) };
  }
  const execPath = fieldPath(at, 'exec');
  const exec = readObject(object['exec'], execPath, issues);
  if (exec !== undefined) {
    warnUnknownFields(exec, ['command'], execPath, issues);
    probe.exec = { command: readStringList(exec['command'], fieldPath(execPath, 'command'), issues) };
  }
  const grpcPath = fieldPath(at, 'grpc');
  const grpc = readObject(object['grpc'], grpcPath, issues);
  if (grpc !== undefined) {
    warnUnknownFields(grpc, ['port', 'service'], grpcPath, issues);
    const service = readString(grpc['service'], fieldPath(grpcPath, 'service'), issues);
    probe.grpc = { port: port(grpc, grpcPath), ...(service === undefined ? {} : { service }) };
  }
  return probe;
}

/** Probe header names as Kubernetes allows them (`ValidateProbeHeaderName`). */
const PROBE_HEADER_NAME = /^[-A-Za-z0-9]+$/;

/** istiod `validateReadinessProbe`. */
function validateProbe(probe: ReadinessProbe, at: string, issues: FieldIssues): void {
  for (const counter of PROBE_COUNTERS) {
    if ((probe[counter] ?? 0) < 0) issues.error(fieldPath(at, counter), `${counter} must be non-negative`);
  }
  if (probe.httpGet !== undefined) {
    const httpGetPath = fieldPath(at, 'httpGet');
    const portError = validatePort(probe.httpGet.port);
    if (portError !== undefined) issues.error(fieldPath(httpGetPath, 'port'), portError);
    const scheme = probe.httpGet.scheme ?? '';
    if (scheme !== '' && scheme !== 'HTTPS' && scheme !== 'HTTP') issues.error(fieldPath(httpGetPath, 'scheme'), 'httpGet.scheme must be one of "HTTPS", "HTTP"');
    probe.httpGet.httpHeaders.forEach((header, index) => {
      const headerPath = indexPath(fieldPath(httpGetPath, 'httpHeaders'), index);
      if (header === null) issues.error(headerPath, 'invalid nil header');
      else if (header.name === '') issues.error(fieldPath(headerPath, 'name'), 'header name cannot be empty');
      else if (!PROBE_HEADER_NAME.test(header.name)) issues.error(fieldPath(headerPath, 'name'), `header name ${header.name} is not a valid header name`);
    });
  } else if (probe.tcpSocket !== undefined) {
    const portError = validatePort(probe.tcpSocket.port);
    if (portError !== undefined) issues.error(fieldPath(fieldPath(at, 'tcpSocket'), 'port'), portError);
  } else if (probe.exec !== undefined) {
    if (probe.exec.command.length === 0) issues.error(fieldPath(fieldPath(at, 'exec'), 'command'), 'exec.command is required');
  } else if (probe.grpc !== undefined) {
    // istiod's webhook has no case for gRPC probes and rejects them with the Go type name.
    issues.error(fieldPath(at, 'grpc'), 'unknown health check method *v1alpha3.ReadinessProbe_Grpc');
  } else {
    issues.error(at, 'unknown health check method <nil>');
  }
}

/**
 * istiod `ValidateWorkloadGroup`: a template is required (its address is not: auto-registration fills
 * it), metadata labels must be valid labels, and the probe must be well formed. istiod returns at the
 * first failing step; Skiff reports all of them.
 */
export function validateWorkloadGroup(rawSpec: unknown, issues: FieldIssues): WorkloadGroupSpec {
  const object = readObject(rawSpec, 'spec', issues) ?? {};
  warnUnknownFields(object, ['metadata', 'template', 'probe'], 'spec', issues);
  const spec: { -readonly [K in keyof WorkloadGroupSpec]: WorkloadGroupSpec[K] } = {};

  const metadata = readObject(object['metadata'], 'spec.metadata', issues);
  if (metadata !== undefined) {
    warnUnknownFields(metadata, ['labels', 'annotations'], 'spec.metadata', issues);
    spec.metadata = {
      labels: readStringMap(metadata['labels'], 'spec.metadata.labels', issues),
      annotations: readStringMap(metadata['annotations'], 'spec.metadata.annotations', issues),
    };
    // istiod wraps the label errors as one `invalid labels: <all errors>`; Skiff reports one per label.
    for (const { key, reason } of validateLabels(spec.metadata.labels)) issues.error(keyPath('spec.metadata.labels', key), `invalid labels: ${reason}`);
  }

  const template = readObject(object['template'], 'spec.template', issues);
  if (template === undefined) issues.error('spec.template', 'template is required');
  else spec.template = readWorkloadEntrySpec(template, 'spec.template', issues);

  const probe = readObject(object['probe'], 'spec.probe', issues);
  if (probe !== undefined) {
    spec.probe = readProbe(probe, 'spec.probe', issues);
    validateProbe(spec.probe, 'spec.probe', issues);
  }
  return spec;
}
